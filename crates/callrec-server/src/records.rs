//! The record APIs (docs/api.md): `get_record_by_callId` and `get_records_by_filter`.
//!
//! Guarantees: a record whose start is older than the retention window is never returned, even
//! before the retention job has purged it; filter bounds are validated as given and then clamped
//! to the retention window.

use callrec_domain::{CallResult, CallType, MAX_ID_LEN, RecordQuery, ResultFilter};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::wire::{self, FilterData, ResponseData, WireRecord};

/// Default `numberPerPage`.
pub const DEFAULT_PER_PAGE: i64 = 100;

/// Largest `numberPerPage`.
pub const MAX_PER_PAGE: i64 = 1000;

fn retention_cutoff_ms(state: &AppState) -> i64 {
    state
        .clock
        .now_ms()
        .saturating_sub(state.config.retention_ms())
}

/// `POST /v1/records/get_record_by_callId`.
pub async fn get_record_by_call_id(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<ResponseData, ApiError> {
    let call_id = wire::req_str(body, "callId")?;
    let len = call_id.chars().count();
    if len == 0 || len > MAX_ID_LEN {
        return Err(ApiError::invalid(format!(
            "callId must be 1-{MAX_ID_LEN} characters, got {len}"
        )));
    }
    let record = state
        .store
        .get_record(caller.sdkappid, call_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .filter(|r| r.start_ms >= retention_cutoff_ms(state))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no call record with callId {call_id:?}"),
            )
        })?;
    Ok(ResponseData::Record(WireRecord::from(&record)))
}

/// `POST /v1/records/get_records_by_filter`.
pub async fn get_records_by_filter(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<ResponseData, ApiError> {
    let (query, page) = filter_query(state, caller.sdkappid, body)?;
    if query.from_secs > query.to_secs {
        // The whole range lies before the retention window.
        return Ok(ResponseData::Filter(FilterData {
            total_num: 0,
            page,
            call_record_list: Vec::new(),
        }));
    }
    let found = state
        .store
        .filter_records(&query)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(ResponseData::Filter(FilterData {
        total_num: found.total,
        page,
        call_record_list: found.records.iter().map(WireRecord::from).collect(),
    }))
}

/// Validates a filter body into a [`RecordQuery`] (types first: a wrong JSON type anywhere is
/// 70009 before any value is judged).
fn filter_query(
    state: &AppState,
    sdkappid: u64,
    body: &Map<String, Value>,
) -> Result<(RecordQuery, u64), ApiError> {
    let start = wire::opt_int(body, "startTimestamp")?;
    let end = wire::opt_int(body, "endTimestamp")?;
    let result = wire::opt_str(body, "callResult")?;
    let call_type = wire::opt_str(body, "callType")?;
    let per_page = wire::opt_int(body, "numberPerPage")?;
    let page = wire::opt_int(body, "page")?;

    let start = start.ok_or_else(|| ApiError::invalid("startTimestamp is required"))?;
    let now_secs = state.clock.now_secs();
    let end = end.unwrap_or(now_secs);
    if end < start {
        return Err(ApiError::invalid(format!(
            "endTimestamp {end} is earlier than startTimestamp {start}"
        )));
    }
    let result = match result {
        None => ResultFilter::Ended,
        Some(text) => ResultFilter::Is(text.parse::<CallResult>().map_err(|()| {
            ApiError::invalid(format!(
                "callResult {text:?} is not one of cancel, reject, not_answer, call_busy, normal_end, interrupt, ongoing"
            ))
        })?),
    };
    let call_type = call_type
        .map(|text| {
            text.parse::<CallType>().map_err(|()| {
                ApiError::invalid(format!("callType {text:?} is not single or group"))
            })
        })
        .transpose()?;
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::invalid(format!(
            "numberPerPage must be 1-{MAX_PER_PAGE}, got {per_page}"
        )));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::invalid(format!(
            "page must be at least 1, got {page}"
        )));
    }
    // Rounded up, so a record older than the window (by milliseconds) is never listed.
    let earliest = retention_cutoff_ms(state).div_euclid(1000)
        + i64::from(retention_cutoff_ms(state).rem_euclid(1000) != 0);
    let per_page = u32::try_from(per_page).unwrap_or(1);
    let page = u64::try_from(page).unwrap_or(1);
    let query = RecordQuery {
        sdkappid,
        from_secs: start.max(earliest),
        to_secs: end,
        result,
        call_type,
        offset: (page - 1).saturating_mul(u64::from(per_page)),
        limit: per_page,
    };
    Ok((query, page))
}
