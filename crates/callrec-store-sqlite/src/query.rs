//! The SQL of `get_records_by_filter`, built in one place so the query-plan tests check exactly
//! what the store runs.
//!
//! Every shape of filter has an index whose leading columns are the equality conditions and
//! whose tail is `start_s DESC, call_id` (see `schema.rs`), so the time range is an index range,
//! the page needs no sort, and the count is index-only.

use callrec_domain::{RecordQuery, ResultFilter};
use rusqlite::types::Value;

use crate::codec::app_to_sql;

/// The `WHERE` clause of a filter query and its parameters (`?1`, `?2`, … in order).
pub(crate) fn filter_where(q: &RecordQuery) -> (String, Vec<Value>) {
    let mut sql = String::from("sdkappid = ?1 AND start_s BETWEEN ?2 AND ?3");
    let mut params = vec![
        Value::Integer(app_to_sql(q.sdkappid)),
        Value::Integer(q.from_secs),
        Value::Integer(q.to_secs),
    ];
    if let Some(t) = q.call_type {
        params.push(Value::Text(t.as_str().to_owned()));
        sql.push_str(&format!(" AND call_type = ?{}", params.len()));
    }
    match q.result {
        // Ended calls: `ended = 1`. Rows without a start have a NULL start_s, which the range
        // already excludes.
        ResultFilter::Ended => sql.push_str(" AND ended = 1"),
        // `ongoing` is stored as a result name like the others, so one index shape serves all.
        ResultFilter::Is(r) => {
            params.push(Value::Text(r.as_str().to_owned()));
            sql.push_str(&format!(" AND result = ?{}", params.len()));
        }
    }
    (sql, params)
}

/// `SELECT COUNT(*)` over the filter.
pub(crate) fn count_sql(where_: &str) -> String {
    format!("SELECT COUNT(*) FROM calls WHERE {where_}")
}

/// The page of call ids, in record order; its last two parameters are `LIMIT` and `OFFSET`.
pub(crate) fn page_sql(where_: &str, nparams: usize) -> String {
    format!(
        "SELECT call_id FROM calls WHERE {where_} ORDER BY start_s DESC, call_id ASC LIMIT ?{} OFFSET ?{}",
        nparams + 1,
        nparams + 2
    )
}

/// The time-out job's query: `?1` = now (ms), `?2` = limit. Served by the partial `calls_due`
/// index in due order.
pub(crate) const DUE_SQL: &str = "SELECT sdkappid, call_id, due_ms FROM calls \
     WHERE due_ms IS NOT NULL AND due_ms <= ?1 ORDER BY due_ms, sdkappid, call_id LIMIT ?2";

/// Picks one purge chunk: `?1` = cutoff (ms), `?2` = chunk size. Uses the same expression as
/// the `calls_by_age` index, so it is an index range.
pub(crate) const PURGE_PICK_SQL: &str = "SELECT sdkappid, call_id FROM calls \
     WHERE COALESCE(start_ms, first_event_ms) < ?1 LIMIT ?2";
