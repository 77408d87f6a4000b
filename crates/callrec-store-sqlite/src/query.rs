//! The SQL of record queries (`get_records_by_filter`, its extensions, statistics), built in one
//! place so the query-plan tests check exactly what the store runs.
//!
//! A query is driven by one index, chosen from what it filters on (most selective first):
//! - `callIds`: the primary key, one lookup per id;
//! - `roomId`: `calls_by_room`;
//! - `caller`, `callee`, `userId`: the participant table `call_users`, whose key is
//!   `(sdkappid, user_id, start_s DESC, call_id)` and whose rows carry the columns filters test
//!   (ended, result, type, media, talk time), so a user's calls are counted from it alone;
//! - otherwise the time range, on the `calls` index whose leading columns are the equality
//!   conditions (ended or result, type) and whose tail is `start_s DESC, call_id`.
//!
//! The remaining conditions are tested on the driving rows; a second participant is a point
//! lookup in `call_users` (its whole key is known from the driving row). Every driver keeps the
//! page order in its index, so a page needs no sort (ascending order reads the index backwards
//! and sorts only the ties within one second).

use callrec_domain::stored::StoredCode as _;
use callrec_domain::{Order, RecordQuery, ResultFilter};
use rusqlite::types::Value;

use crate::codec::app_to_sql;

/// The index a query is driven by (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    /// The primary key, by the listed ids.
    CallIds,
    /// `calls_by_room`.
    Room,
    /// `call_users`, for the caller.
    Caller,
    /// `call_users`, for a callee.
    Callee,
    /// `call_users`, for the caller or a callee.
    User,
    /// A `calls` index on the time range.
    Time,
}

/// The driver of `q`.
pub(crate) fn driver(q: &RecordQuery) -> Driver {
    let f = &q.filter;
    if f.call_ids.is_some() {
        Driver::CallIds
    } else if f.room_id.is_some() {
        Driver::Room
    } else if f.caller.is_some() {
        Driver::Caller
    } else if f.callee.is_some() {
        Driver::Callee
    } else if f.user.is_some() {
        Driver::User
    } else {
        Driver::Time
    }
}

/// A query's `FROM` and `WHERE` with its parameters (`?1`, `?2`, … in order). The driving
/// table is aliased `t`.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    /// The driver it was built for.
    pub(crate) driver: Driver,
    /// `calls t …` or `call_users t`.
    pub(crate) from: &'static str,
    /// The conditions.
    pub(crate) where_: String,
    /// Their parameters.
    pub(crate) params: Vec<Value>,
}

impl Built {
    /// Adds a parameter; answers its number.
    fn param(&mut self, v: Value) -> usize {
        self.params.push(v);
        self.params.len()
    }

    /// Adds `AND <cond>` where `cond` names the parameter `v` as `{}`.
    fn and(&mut self, cond: &str, v: Value) {
        let n = self.param(v);
        self.where_.push_str(" AND ");
        self.where_.push_str(&cond.replace("{}", &format!("?{n}")));
    }

    /// True if `t` is the participant table.
    fn on_users(&self) -> bool {
        matches!(self.driver, Driver::Caller | Driver::Callee | Driver::User)
    }
}

/// `EXISTS` a `call_users` row of the driving call for `user` (as the caller, a callee, or
/// either) — a point lookup on its key.
const PARTICIPANT: &str = "EXISTS (SELECT 1 FROM call_users p WHERE p.sdkappid = t.sdkappid \
     AND p.user_id = {} AND p.start_s = t.start_s AND p.call_id = t.call_id";

/// The conditions of a filter query (no cursor).
pub(crate) fn filter_where(q: &RecordQuery) -> Built {
    let driver = driver(q);
    let from = match driver {
        Driver::Caller | Driver::Callee | Driver::User => "call_users t",
        Driver::Room => "calls t INDEXED BY calls_by_room",
        // The primary key's index (SQLite names it so); otherwise the planner may prefer a
        // time-range index and test each row against the list.
        Driver::CallIds => "calls t INDEXED BY sqlite_autoindex_calls_1",
        Driver::Time => "calls t",
    };
    let mut b = Built {
        driver,
        from,
        where_: String::from("t.sdkappid = ?1 AND t.start_s BETWEEN ?2 AND ?3"),
        params: vec![
            Value::Integer(app_to_sql(q.sdkappid)),
            Value::Integer(q.from_secs),
            Value::Integer(q.to_secs),
        ],
    };
    let f = &q.filter;
    let text = |s: &str| Value::Text(s.to_owned());
    match driver {
        Driver::CallIds => {
            let ids = f.call_ids.as_deref().unwrap_or_default();
            // Serializing strings cannot fail.
            let json = serde_json::to_string(ids).unwrap_or_default();
            b.and(
                "t.call_id IN (SELECT value FROM json_each({}))",
                Value::Text(json),
            );
        }
        Driver::Room => {}
        Driver::Caller => {
            b.and(
                "t.user_id = {} AND t.is_caller = 1",
                text(f.caller.as_deref().unwrap_or_default()),
            );
        }
        Driver::Callee => {
            b.and(
                "t.user_id = {} AND t.is_caller = 0",
                text(f.callee.as_deref().unwrap_or_default()),
            );
        }
        Driver::User => b.and(
            "t.user_id = {}",
            text(f.user.as_deref().unwrap_or_default()),
        ),
        Driver::Time => {}
    }
    if let Some(t) = q.call_type {
        b.and("t.call_type = {}", text(t.code()));
    }
    match q.result {
        // Ended calls: `ended = 1`. Rows without a start have a NULL start_s, which the range
        // already excludes.
        ResultFilter::Ended => b.where_.push_str(" AND t.ended = 1"),
        // `ongoing` is stored as a result name like the others, so one index shape serves all.
        ResultFilter::Is(r) => b.and("t.result = {}", text(r.code())),
    }
    if let Some(m) = f.media_type {
        b.and("t.media_type = {}", text(m.code()));
    }
    if let Some(min) = f.min_talk_secs {
        b.and("t.talk_s >= {}", Value::Integer(min));
    }
    if let Some(max) = f.max_talk_secs {
        b.and("t.talk_s <= {}", Value::Integer(max));
    }
    if let Some(room) = &f.room_id {
        if b.on_users() {
            b.and(
                "EXISTS (SELECT 1 FROM calls c WHERE c.sdkappid = t.sdkappid \
                 AND c.call_id = t.call_id AND c.room_id = {})",
                text(room),
            );
        } else {
            // The literal `<> ''` lets SQLite use the partial index.
            b.and("t.room_id = {} AND t.room_id <> ''", text(room));
        }
    }
    // Participants the driver did not take.
    let mut also = |user: &Option<String>, role: &str, driven: bool| {
        if let Some(u) = user
            && !driven
        {
            b.and(&format!("{PARTICIPANT}{role})"), text(u));
        }
    };
    also(&f.caller, " AND p.is_caller = 1", driver == Driver::Caller);
    also(&f.callee, " AND p.is_caller = 0", driver == Driver::Callee);
    also(&f.user, "", driver == Driver::User);
    b
}

/// [`filter_where`] plus, with a cursor (`q.after`), only the records after it in the page
/// order: the range's near end moves to the cursor's second (so the index range starts at the
/// cursor) and the tie-break on `call_id` among calls of that second.
pub(crate) fn page_where(q: &RecordQuery) -> Built {
    let Some(k) = &q.after else {
        return filter_where(q);
    };
    // The range's end is moved here rather than given as a second bound: given as one, SQLite
    // may keep the query's own end for the index range and filter the rest, which makes every
    // page scan from the first record.
    let moved = match q.order {
        Order::Desc => RecordQuery {
            to_secs: q.to_secs.min(k.start_secs),
            ..q.clone()
        },
        Order::Asc => RecordQuery {
            from_secs: q.from_secs.max(k.start_secs),
            ..q.clone()
        },
    };
    let mut b = filter_where(&moved);
    let s = b.param(Value::Integer(k.start_secs));
    let c = b.param(Value::Text(k.call_id.clone()));
    let before = match q.order {
        Order::Desc => "<",
        Order::Asc => ">",
    };
    b.where_.push_str(&format!(
        " AND (t.start_s {before} ?{s} OR t.call_id > ?{c})"
    ));
    b
}

/// `SELECT COUNT(*)` over the conditions.
pub(crate) fn count_sql(b: &Built) -> String {
    format!("SELECT COUNT(*) FROM {} WHERE {}", b.from, b.where_)
}

/// The page of call ids, in `order`; its last two parameters are `LIMIT` and `OFFSET`.
pub(crate) fn page_sql(b: &Built, order: Order) -> String {
    let dir = match order {
        Order::Desc => "DESC",
        Order::Asc => "ASC",
    };
    format!(
        "SELECT t.call_id FROM {} WHERE {} ORDER BY t.start_s {dir}, t.call_id ASC LIMIT ?{} OFFSET ?{}",
        b.from,
        b.where_,
        b.params.len() + 1,
        b.params.len() + 2
    )
}

/// The rows statistics sum: `start_s, result, connected (0/1), talk_s` of every match.
pub(crate) fn stats_rows_sql(b: &Built) -> String {
    let connected = if b.on_users() {
        "t.connected"
    } else {
        "t.accept_ms IS NOT NULL"
    };
    format!(
        "SELECT t.start_s, t.result, {connected}, t.talk_s FROM {} WHERE {}",
        b.from, b.where_
    )
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

/// The `call_counts` conditions of `q` over a bucket range: `?1` app, `?2` span, `?3`/`?4`
/// first/last bucket, then the type, result and media type as in [`filter_where`].
fn bucket_where(q: &RecordQuery, span: i64, lo: i64, hi: i64) -> (String, Vec<Value>) {
    let mut sql = String::from("sdkappid = ?1 AND span = ?2 AND bucket BETWEEN ?3 AND ?4");
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
    if let Some(m) = q.filter.media_type {
        params.push(Value::Text(m.code().to_owned()));
        sql.push_str(&format!(" AND media_type = ?{}", params.len()));
    }
    (sql, params)
}

/// The sum of `call_counts` over a bucket range for the filter of `q` (which must be
/// countable: [`RecordFilter::is_countable`](callrec_domain::RecordFilter::is_countable)).
pub(crate) fn bucket_sum(q: &RecordQuery, span: i64, lo: i64, hi: i64) -> (String, Vec<Value>) {
    let (where_, params) = bucket_where(q, span, lo, hi);
    (
        format!("SELECT COALESCE(SUM(n), 0) FROM call_counts WHERE {where_}"),
        params,
    )
}

/// Statistics rows of `call_counts` over a bucket range: `bucket, result, n, connected,
/// talk_s` summed per bucket and result.
pub(crate) fn bucket_stats(q: &RecordQuery, span: i64, lo: i64, hi: i64) -> (String, Vec<Value>) {
    let (where_, params) = bucket_where(q, span, lo, hi);
    (
        format!(
            "SELECT bucket, result, SUM(n), SUM(connected), SUM(talk_s) FROM call_counts \
             WHERE {where_} GROUP BY bucket, result"
        ),
        params,
    )
}

/// The time-out job's query: `?1` = now (ms), `?2` = limit. Served by the partial `calls_due`
/// index in due order.
pub(crate) const DUE_SQL: &str = "SELECT sdkappid, call_id, due_ms FROM calls \
     WHERE due_ms IS NOT NULL AND due_ms <= ?1 ORDER BY due_ms, sdkappid, call_id LIMIT ?2";

/// Picks one purge chunk: `?1` = cutoff (ms), `?2` = chunk size. Uses the same expression as
/// the `calls_by_age` index, so it is an index range.
pub(crate) const PURGE_PICK_SQL: &str = "SELECT sdkappid, call_id, caller, callees, start_s, ended, result, call_type, \
     media_type, accept_ms, talk_s FROM calls \
     WHERE COALESCE(start_ms, first_event_ms) < ?1 LIMIT ?2";
