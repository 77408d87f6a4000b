//! The record operations (docs/api.md): one record by callId, and pages of records by time range,
//! result and type — in domain terms, for both generations.
//!
//! Guarantees: a record whose start is older than the retention window is never returned, even
//! before the retention job has purged it; filter bounds are checked as given and then clamped
//! to the retention window.

use callrec_domain::{CallResult, Record, RecordQuery, ResultFilter, StatsBucket, fill_buckets};

use crate::api::{FilterParams, Outcome, RecordPage};
use crate::auth::Caller;
use crate::failure::{Failure, FailureKind};
use crate::state::AppState;

/// Largest page.
pub const MAX_PER_PAGE: i64 = 1000;

/// Start of the retention window, Unix milliseconds.
pub fn retention_cutoff_ms(state: &AppState) -> i64 {
    state
        .clock
        .now_ms()
        .saturating_sub(state.config.retention_ms())
}

/// The earliest start second a listed record may have (rounded up, so a record older than the
/// window by milliseconds is never listed).
fn earliest_secs(state: &AppState) -> i64 {
    let cutoff = retention_cutoff_ms(state);
    cutoff.div_euclid(1000) + i64::from(cutoff.rem_euclid(1000) != 0)
}

/// The record of `call_id` if it exists within the retention window.
pub async fn find_record(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<Option<Record>, Failure> {
    Ok(state
        .store
        .get_record(caller.sdkappid, call_id)
        .await
        .map_err(|e| Failure::internal(&e))?
        .filter(|r| r.start_ms >= retention_cutoff_ms(state)))
}

/// One record by callId ([`FailureKind::NotFound`] if there is none).
pub async fn get_record(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<Outcome, Failure> {
    find_record(state, caller, call_id)
        .await?
        .map(Outcome::Record)
        .ok_or_else(|| {
            Failure::new(
                FailureKind::NotFound,
                format!("no call record with callId {call_id:?}"),
            )
        })
}

/// One call in detail, from its stored events and the same fold that makes its record.
pub async fn get_call_detail(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<Outcome, Failure> {
    let not_found = || {
        Failure::new(
            FailureKind::NotFound,
            format!("no call record with callId {call_id:?}"),
        )
    };
    let events = state
        .store
        .call_events(caller.sdkappid, call_id)
        .await
        .map_err(|e| Failure::internal(&e))?;
    let detail = callrec_domain::call_detail(caller.sdkappid, &events, state.timeouts())
        .filter(|d| d.state.record.start_ms >= retention_cutoff_ms(state))
        .ok_or_else(not_found)?;
    Ok(Outcome::CallDetail(Box::new(detail)))
}

/// The query of a filter's range and shape (no paging yet), or `None` when the whole range lies
/// before the retention window.
fn base_query(
    state: &AppState,
    caller: &Caller,
    params: &FilterParams,
) -> Result<Option<RecordQuery>, Failure> {
    let earliest = earliest_secs(state);
    let start = params.start_secs.unwrap_or(earliest);
    let end = params.end_secs.unwrap_or_else(|| state.clock.now_secs());
    if end < start {
        let (start_name, end_name) = params.field_names;
        return Err(Failure::invalid(format!(
            "{end_name} {end} is earlier than {start_name} {start}"
        )));
    }
    let query = RecordQuery {
        sdkappid: caller.sdkappid,
        from_secs: start.max(earliest),
        to_secs: end,
        result: params.result,
        call_type: params.call_type,
        filter: params.filter.clone(),
        order: params.order,
        offset: 0,
        limit: EXPORT_CHUNK,
        after: None,
        with_total: false,
    };
    Ok((query.from_secs <= query.to_secs).then_some(query))
}

/// Records an export reads per store round trip (keyset pages: memory stays flat).
pub const EXPORT_CHUNK: u32 = 1000;

/// `export`: checks the filter; the pipeline streams the records.
pub fn export(
    state: &AppState,
    caller: &Caller,
    params: &FilterParams,
    format: crate::api::ExportFormat,
) -> Result<Outcome, Failure> {
    Ok(Outcome::Export {
        query: base_query(state, caller, params)?,
        format,
    })
}

/// Most buckets one `get_stats` answer holds.
pub const MAX_STATS_BUCKETS: i64 = 10_000;

/// `get_stats`: sums over the ended calls matching the filter, every bucket of the range.
pub async fn get_stats(
    state: &AppState,
    caller: &Caller,
    params: &FilterParams,
    bucket: StatsBucket,
) -> Result<Outcome, Failure> {
    if params.result == ResultFilter::Is(CallResult::Ongoing) {
        return Err(Failure::invalid(
            "statistics are over ended calls: callResult ongoing is not allowed here",
        ));
    }
    let base = base_query(state, caller, params)?;
    // The range as given (the query's start may be clamped to the retention window).
    let from = params.start_secs.unwrap_or_else(|| earliest_secs(state));
    let to = params.end_secs.unwrap_or_else(|| state.clock.now_secs());
    let n = bucket.count(from, to);
    if n > MAX_STATS_BUCKETS {
        return Err(Failure::invalid(format!(
            "the range has {n} buckets of this size; at most {MAX_STATS_BUCKETS} are answered"
        )));
    }
    let mut found = match &base {
        Some(q) => state
            .store
            .record_stats(q, bucket)
            .await
            .map_err(|e| Failure::internal(&e))?,
        None => Vec::new(),
    };
    if bucket == StatsBucket::All {
        // One bucket, named by the range's start as given.
        for b in &mut found {
            b.start_secs = from;
        }
    }
    Ok(Outcome::Stats(fill_buckets(bucket, from, to, found)))
}

/// A page of records.
pub async fn filter_records(
    state: &AppState,
    caller: &Caller,
    params: &FilterParams,
) -> Result<Outcome, Failure> {
    let base = base_query(state, caller, params)?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| cursor::decode(state, caller, params, c))
        .transpose()?;
    let Some(base) = base else {
        // The whole range lies before the retention window.
        return Ok(Outcome::Page(RecordPage {
            total: params.with_total.then_some(0),
            page: params.page,
            records: Vec::new(),
            next_cursor: None,
        }));
    };
    let query = RecordQuery {
        offset: if params.with_cursor {
            0
        } else {
            (params.page - 1).saturating_mul(u64::from(params.per_page))
        },
        // Cursor mode reads one more, to know whether a next page exists.
        limit: params.per_page + u32::from(params.with_cursor),
        after,
        with_total: params.with_total,
        ..base
    };
    let mut found = state
        .store
        .filter_records(&query)
        .await
        .map_err(|e| Failure::internal(&e))?;
    let mut next_cursor = None;
    if params.with_cursor && found.records.len() > params.per_page as usize {
        found.records.truncate(params.per_page as usize);
        next_cursor = found
            .records
            .last()
            .map(|r| cursor::encode(state, caller, params, r));
    }
    Ok(Outcome::Page(RecordPage {
        total: found.total,
        page: params.page,
        records: found.records,
        next_cursor,
    }))
}

/// Cursors of `get_records_by_filter`: opaque, tamper-evident, tied to their app and filter.
///
/// A cursor is `<base64url(start seconds "." callId)>.<base64url(16-byte HMAC-SHA256)>`, the MAC
/// keyed with the app's secret key over the app, the filter as the client sent it (start and
/// end as given, result, type, page size, the extension fields, the order) and the position. Any node of the app verifies it; a
/// cursor edited, made for another app or another filter is refused (an invalid field), never
/// answered with a wrong page.
///
/// Public (hidden) only for the fuzz targets (`fuzz/`), which call the keyed halves directly.
#[doc(hidden)]
pub mod cursor {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use callrec_domain::{Record, RecordKey};
    use hmac::{Hmac, Mac};
    use secrecy::ExposeSecret as _;
    use sha2::Sha256;

    use crate::api::FilterParams;
    use crate::auth::Caller;
    use crate::failure::Failure;
    use crate::state::AppState;

    /// The secret key of the caller's app (empty if the app is unknown).
    fn app_key(state: &AppState, caller: &Caller) -> Vec<u8> {
        state
            .config
            .app(caller.sdkappid)
            .map(|a| a.secret_key.expose_secret().as_bytes().to_vec())
            .unwrap_or_default()
    }

    fn mac(
        key: &[u8],
        sdkappid: u64,
        p: &FilterParams,
        start_secs: i64,
        call_id: &str,
    ) -> [u8; 16] {
        // HMAC takes keys of any length.
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        // The extension fields and the order by their (stable) debug form: a cursor made for
        // another user, room, duration, list or order is refused.
        let filter = format!(
            "records-cursor/2|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{start_secs}|",
            sdkappid,
            p.start_secs,
            p.end_secs,
            p.result,
            p.call_type,
            p.per_page,
            p.filter,
            p.order
        );
        m.update(filter.as_bytes());
        m.update(call_id.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// The cursor of the page after `last`.
    pub(super) fn encode(
        state: &AppState,
        caller: &Caller,
        p: &FilterParams,
        last: &Record,
    ) -> String {
        encode_with_key(
            &app_key(state, caller),
            caller.sdkappid,
            p,
            last.start_secs(),
            &last.call_id,
        )
    }

    /// The position a cursor stands for, if this app made it for this filter.
    pub(super) fn decode(
        state: &AppState,
        caller: &Caller,
        p: &FilterParams,
        text: &str,
    ) -> Result<RecordKey, Failure> {
        decode_with_key(&app_key(state, caller), caller.sdkappid, p, text)
    }

    /// [`encode`] under the app's secret key bytes `key`.
    pub fn encode_with_key(
        key: &[u8],
        sdkappid: u64,
        p: &FilterParams,
        start_secs: i64,
        call_id: &str,
    ) -> String {
        let tag = mac(key, sdkappid, p, start_secs, call_id);
        format!(
            "{}.{}",
            B64.encode(format!("{start_secs}.{call_id}")),
            B64.encode(tag)
        )
    }

    /// [`decode`] under the app's secret key bytes `key`.
    pub fn decode_with_key(
        key: &[u8],
        sdkappid: u64,
        p: &FilterParams,
        text: &str,
    ) -> Result<RecordKey, Failure> {
        let refused = || Failure::invalid("cursor is not one this server gave for this filter");
        let (payload, tag) = text.split_once('.').ok_or_else(refused)?;
        let payload = B64.decode(payload).map_err(|_| refused())?;
        let tag = B64.decode(tag).map_err(|_| refused())?;
        let payload = String::from_utf8(payload).map_err(|_| refused())?;
        let (start, call_id) = payload.split_once('.').ok_or_else(refused)?;
        let start: i64 = start.parse().map_err(|_| refused())?;
        let expected = mac(key, sdkappid, p, start, call_id);
        // Compared in constant time.
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            tag.as_slice(),
            expected.as_slice(),
        )) {
            return Err(refused());
        }
        Ok(RecordKey {
            start_secs: start,
            call_id: call_id.to_owned(),
        })
    }
}
