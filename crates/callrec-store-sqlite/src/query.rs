//! The SQL of `get_records_by_filter`, built in one place so the query-plan tests check exactly
//! what the store runs.
//!
//! Every shape of filter has an index whose leading columns are the equality conditions and
//! whose tail is `start_s DESC, call_id` (see `schema.rs`), so the time range is an index range,
//! the page needs no sort, and the count is index-only.

use callrec_domain::stored::StoredCode as _;
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
        params.push(Value::Text(t.code().to_owned()));
        sql.push_str(&format!(" AND call_type = ?{}", params.len()));
    }
    match q.result {
        // Ended calls: `ended = 1`. Rows without a start have a NULL start_s, which the range
        // already excludes.
        ResultFilter::Ended => sql.push_str(" AND ended = 1"),
        // `ongoing` is stored as a result name like the others, so one index shape serves all.
        ResultFilter::Is(r) => {
            params.push(Value::Text(r.code().to_owned()));
            sql.push_str(&format!(" AND result = ?{}", params.len()));
        }
    }
    (sql, params)
}

/// [`filter_where`] plus, with a cursor (`q.after`), only the records after it in the page order
/// (`start_s DESC, call_id ASC`): an upper bound on `start_s` (so the index range starts at the
/// cursor) and the tie-break on `call_id` among calls of the cursor's second.
pub(crate) fn page_where(q: &RecordQuery) -> (String, Vec<Value>) {
    let Some(k) = &q.after else {
        return filter_where(q);
    };
    // The range's upper end moves to the cursor's second (computed here: given as a second
    // bound, SQLite may keep the query's own end for the index range and filter the rest, which
    // makes every page scan from the newest record).
    let moved = RecordQuery {
        to_secs: q.to_secs.min(k.start_secs),
        ..q.clone()
    };
    let (mut sql, mut params) = filter_where(&moved);
    params.push(Value::Integer(k.start_secs));
    let s = params.len();
    params.push(Value::Text(k.call_id.clone()));
    let c = params.len();
    sql.push_str(&format!(" AND (start_s < ?{s} OR call_id > ?{c})"));
    (sql, params)
}

/// `SELECT COUNT(*)` over the filter.
pub(crate) fn count_sql(where_: &str) -> String {
    format!("SELECT COUNT(*) FROM calls WHERE {where_}")
}

/// The minute and hour bucket widths of `call_counts`, in seconds (see `schema.rs`).
pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 3600;

/// How an exact count over `[from, to]` (inclusive seconds) is answered: whole hours and whole
/// minutes from `call_counts`, and the at most two partial minutes at the edges by counting
/// index entries (at most 2 × 59 seconds of calls).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CountPlan {
    /// Second ranges `[lo, hi]` counted with [`count_sql`].
    pub(crate) exact: Vec<(i64, i64)>,
    /// `(span, first bucket, last bucket)` ranges summed with [`bucket_sum_sql`].
    pub(crate) buckets: Vec<(i64, i64, i64)>,
}

/// The buckets `b` (each covering `[b * ratio, b * ratio + ratio - 1]`) that lie wholly inside
/// `[lo, hi]`: the first and last, or `None` when none does.
fn whole(lo: i128, hi: i128, ratio: i128) -> Option<(i128, i128)> {
    let first = lo.div_euclid(ratio) + i128::from(lo.rem_euclid(ratio) != 0);
    let last = (hi + 1).div_euclid(ratio) - 1;
    (first <= last).then_some((first, last))
}

/// Splits `[from, to]` into a [`CountPlan`].
pub(crate) fn count_plan(from: i64, to: i64) -> CountPlan {
    let mut plan = CountPlan::default();
    if from > to {
        plan.exact.push((from, to));
        return plan;
    }
    let (from_w, to_w) = (i128::from(from), i128::from(to));
    let Some((m_lo, m_hi)) = whole(from_w, to_w, i128::from(MINUTE)) else {
        plan.exact.push((from, to));
        return plan;
    };
    let narrow = |v: i128| i64::try_from(v).expect("within the i64 range it was derived from");
    let minute = i128::from(MINUTE);
    if from_w < m_lo * minute {
        plan.exact.push((from, narrow(m_lo * minute - 1)));
    }
    if to_w >= (m_hi + 1) * minute {
        plan.exact.push((narrow((m_hi + 1) * minute), to));
    }
    let per_hour = i128::from(HOUR / MINUTE);
    match whole(m_lo, m_hi, per_hour) {
        None => plan.buckets.push((MINUTE, narrow(m_lo), narrow(m_hi))),
        Some((h_lo, h_hi)) => {
            if m_lo < h_lo * per_hour {
                plan.buckets
                    .push((MINUTE, narrow(m_lo), narrow(h_lo * per_hour - 1)));
            }
            plan.buckets.push((HOUR, narrow(h_lo), narrow(h_hi)));
            if m_hi >= (h_hi + 1) * per_hour {
                plan.buckets
                    .push((MINUTE, narrow((h_hi + 1) * per_hour), narrow(m_hi)));
            }
        }
    }
    plan
}

/// The sum of `call_counts` over a bucket range for the filter of `q`, and its parameters:
/// `?1` app, `?2` span, `?3`/`?4` first/last bucket, then the type and result as in
/// [`filter_where`].
pub(crate) fn bucket_sum(q: &RecordQuery, span: i64, lo: i64, hi: i64) -> (String, Vec<Value>) {
    let mut sql = String::from(
        "SELECT COALESCE(SUM(n), 0) FROM call_counts \
         WHERE sdkappid = ?1 AND span = ?2 AND bucket BETWEEN ?3 AND ?4",
    );
    let mut params = vec![
        Value::Integer(app_to_sql(q.sdkappid)),
        Value::Integer(span),
        Value::Integer(lo),
        Value::Integer(hi),
    ];
    if let Some(t) = q.call_type {
        params.push(Value::Text(t.code().to_owned()));
        sql.push_str(&format!(" AND call_type = ?{}", params.len()));
    }
    match q.result {
        ResultFilter::Ended => sql.push_str(" AND ended = 1"),
        ResultFilter::Is(r) => {
            params.push(Value::Text(r.code().to_owned()));
            sql.push_str(&format!(" AND result = ?{}", params.len()));
        }
    }
    (sql, params)
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
pub(crate) const PURGE_PICK_SQL: &str = "SELECT sdkappid, call_id, start_s, ended, result, call_type FROM calls \
     WHERE COALESCE(start_ms, first_event_ms) < ?1 LIMIT ?2";
