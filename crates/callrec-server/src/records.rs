//! The record operations (docs/api.md): one record by callId, and pages of records by time range,
//! result and type — in domain terms, for both generations.
//!
//! Guarantees: a record whose start is older than the retention window is never returned, even
//! before the retention job has purged it; filter bounds are checked as given and then clamped
//! to the retention window.

use callrec_domain::{Record, RecordQuery};

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

/// A page of records.
pub async fn filter_records(
    state: &AppState,
    caller: &Caller,
    params: &FilterParams,
) -> Result<Outcome, Failure> {
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
        offset: (params.page - 1).saturating_mul(u64::from(params.per_page)),
        limit: params.per_page,
    };
    if query.from_secs > query.to_secs {
        // The whole range lies before the retention window.
        return Ok(Outcome::Page(RecordPage {
            total: 0,
            page: params.page,
            records: Vec::new(),
        }));
    }
    let found = state
        .store
        .filter_records(&query)
        .await
        .map_err(|e| Failure::internal(&e))?;
    Ok(Outcome::Page(RecordPage {
        total: found.total,
        page: params.page,
        records: found.records,
    }))
}
