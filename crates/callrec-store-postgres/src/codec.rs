//! Conversions between domain values and table rows.
//!
//! Enums are stored by the stable codes of `callrec_domain::stored` (`no_answer`, `call_busy`, …),
//! like the SQLite store; a code this build does not know reads back as `Corrupt`. An event's
//! optional fields are that module's small JSON object in `body` (JSONB), NULL when there are
//! none; the record's callees are a `TEXT[]`.

use callrec_domain::stored::{self, StoredCode};
use callrec_domain::{Event, Record, StoreError};
use tokio_postgres::Row;

use crate::error::corrupt;

/// One UTC day in milliseconds: the partition granularity.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// App ids are `u64` in the domain and `BIGINT` here; the bit-preserving cast round-trips.
pub(crate) fn app_to_sql(sdkappid: u64) -> i64 {
    sdkappid as i64
}

/// Inverse of [`app_to_sql`].
pub(crate) fn app_from_sql(v: i64) -> u64 {
    v as u64
}

/// The partition day (days since the Unix epoch, UTC) of a Unix-ms time.
pub(crate) fn day_of_ms(ms: i64) -> i32 {
    clamp_day(ms.div_euclid(DAY_MS))
}

/// The partition day of a Unix-seconds time.
pub(crate) fn day_of_secs(secs: i64) -> i32 {
    clamp_day(secs.div_euclid(86_400))
}

fn clamp_day(d: i64) -> i32 {
    d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `(year, month, day)` of a day number (days since 1970-01-01), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i32) -> (i64, u32, u32) {
    let z = i64::from(z) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day number of a civil date (inverse of [`civil_from_days`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn decode<T: StoredCode>(what: &str, code: &str) -> Result<T, StoreError> {
    stored::decode(what, code).map_err(corrupt)
}

/// Column `idx` of `row`, a type mismatch or NULL where none may be read back as `Corrupt`.
pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| corrupt(format!("column {idx}: {e}")))
}

/// Columns [`event_from_row`] reads, in order.
pub(crate) const EVENT_COLUMNS: &str = "call_id, kind, user_id, time_ms, event_id, body::text";

/// Rebuilds an [`Event`] from a row selected with [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(row: &Row) -> Result<Event, StoreError> {
    let kind: &str = get(row, 1)?;
    let body: Option<&str> = get(row, 5)?;
    stored::event_from_parts(
        get(row, 0)?,
        kind,
        get(row, 2)?,
        get(row, 3)?,
        get(row, 4)?,
        body,
    )
    .map_err(corrupt)
}

/// Columns [`record_from_row`] reads, in order.
pub(crate) const RECORD_COLUMNS: &str = "sdkappid, call_id, media_type, room_id, start_ms, \
     accept_ms, end_ms, caller, call_type, result, callees, room_id_type";

/// Rebuilds a [`Record`] from a `calls` row (with a start) selected with [`RECORD_COLUMNS`].
pub(crate) fn record_from_row(row: &Row) -> Result<Record, StoreError> {
    let media: &str = get(row, 2)?;
    let call_type: &str = get(row, 8)?;
    let result: &str = get(row, 9)?;
    Ok(Record {
        sdkappid: app_from_sql(get(row, 0)?),
        call_id: get(row, 1)?,
        media_type: decode("media type", media)?,
        room_id: get(row, 3)?,
        start_ms: get(row, 4)?,
        accept_ms: get(row, 5)?,
        end_ms: get(row, 6)?,
        caller: get(row, 7)?,
        call_type: decode("call type", call_type)?,
        result: decode("call result", result)?,
        callees: get(row, 10)?,
        room_id_type: get::<Option<i16>>(row, 11)?
            .map(|t| u8::try_from(t).map_err(|_| corrupt(format!("room_id_type {t}"))))
            .transpose()?,
    })
}

/// Participants columns: `call_id, caller, callees, call_type`.
pub(crate) fn participants_from_row(
    row: &Row,
) -> Result<(String, callrec_domain::Participants), StoreError> {
    let call_type: &str = get(row, 3)?;
    Ok((
        get(row, 0)?,
        callrec_domain::Participants {
            caller: get(row, 1)?,
            callees: get(row, 2)?,
            call_type: decode("call type", call_type)?,
        },
    ))
}

/// FNV-1a, 64 bit: a hash that is the same in every process and every build (the lock keys
/// of several nodes must agree), unlike std's `DefaultHasher`.
pub(crate) fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for d in [-800_000, -1, 0, 1, 19_675, 20_000, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), i64::from(d), "{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // T0 of the conformance fixtures: 2023-11-14T22:13:20Z.
        assert_eq!(
            civil_from_days(day_of_ms(1_700_000_000_000)),
            (2023, 11, 14)
        );
        assert_eq!(day_of_ms(-1), -1);
        assert_eq!(day_of_secs(86_399), 0);
    }

    #[test]
    fn lock_hash_is_stable_and_separates_parts() {
        assert_eq!(fnv64(&[b"a"]), fnv64(&[b"a"]));
        assert_ne!(fnv64(&[b"ab", b"c"]), fnv64(&[b"a", b"bc"]));
    }
}
