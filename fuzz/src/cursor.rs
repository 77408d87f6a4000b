//! The cursor decoders: `get_records_by_filter`'s HMAC cursors
//! (`records::cursor::decode_with_key`) and `callback/get_deliveries`' (`callbacks::parse_cursor`).
//! The first byte picks the mode:
//!
//! - `0 mod 3`: the rest is a records cursor (invalid UTF-8 replaced), decoded for a fixed app,
//!   key and filter. Whatever it is, decoding never panics, and a cursor it accepts stands for a
//!   position whose own cursor decodes to that same position (forgery is the MAC's business: a
//!   fuzzer cannot find one; mutated real cursors from the corpus test the refusals).
//! - `1 mod 3`: the rest gives a position (start second, callId); its cursor decodes to exactly
//!   that position, and is refused under another key, another app or another filter.
//! - `2 mod 3`: the rest is a deliveries cursor: accepted only as `d<n>`, n > 0, and then
//!   `d<n>` itself decodes to n.

use callrec_domain::{Order, RecordFilter, ResultFilter};
use callrec_server::api::FilterParams;
use callrec_server::callbacks::parse_cursor;
use callrec_server::records::cursor::{decode_with_key, encode_with_key};

use crate::bytes::Bytes;

/// The app and key the corpus's records cursors were made with.
pub const APP: u64 = 1_400_000_001;
/// See [`APP`].
pub const KEY: &[u8] = b"fuzz-secret-key";

/// The filter the corpus's records cursors were made for.
pub fn filter() -> FilterParams {
    FilterParams {
        start_secs: Some(1_700_000_000),
        end_secs: None,
        result: ResultFilter::Ended,
        call_type: None,
        per_page: 100,
        page: 1,
        field_names: ("startTimestamp", "endTimestamp"),
        with_cursor: true,
        cursor: None,
        with_total: true,
        filter: RecordFilter::default(),
        order: Order::Desc,
    }
}

/// One input (see the module docs).
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => check_records_text(&String::from_utf8_lossy(rest)),
        1 => check_records_round_trip(rest),
        _ => check_deliveries(&String::from_utf8_lossy(rest)),
    }
}

fn check_records_text(text: &str) {
    let p = filter();
    if let Ok(at) = decode_with_key(KEY, APP, &p, text) {
        let own = encode_with_key(KEY, APP, &p, at.start_secs, &at.call_id);
        assert_eq!(decode_with_key(KEY, APP, &p, &own), Ok(at), "{text:?}");
    }
}

fn check_records_round_trip(data: &[u8]) {
    let mut b = Bytes::new(data);
    let start_secs = b.i64();
    let call_id = String::from_utf8_lossy(b.rest()).into_owned();
    let p = filter();
    let text = encode_with_key(KEY, APP, &p, start_secs, &call_id);
    let at = decode_with_key(KEY, APP, &p, &text).expect("its own cursor decodes");
    assert_eq!(
        (at.start_secs, at.call_id.as_str()),
        (start_secs, call_id.as_str())
    );
    assert!(decode_with_key(b"another key", APP, &p, &text).is_err());
    assert!(decode_with_key(KEY, APP + 1, &p, &text).is_err());
    let other = FilterParams {
        per_page: 99,
        ..filter()
    };
    assert!(decode_with_key(KEY, APP, &other, &text).is_err());
}

fn check_deliveries(text: &str) {
    if let Ok(n) = parse_cursor(text) {
        assert!(n > 0, "{text:?}");
        assert_eq!(parse_cursor(&format!("d{n}")), Ok(n), "{text:?}");
    } else {
        assert!(!text.starts_with('d') || text[1..].parse::<i64>().map_or(true, |n| n <= 0));
    }
}
