//! Record queries: the statements behind `filter_records` (page and total) and `record_stats`,
//! and which index serves each filter shape.
//!
//! A query's rows are found from ONE driving index, chosen by the most selective field set;
//! every other condition is checked on the rows it yields. The statement's text depends only on
//! the query's shape (which fields are set, the order, a cursor or not), never on the values,
//! so each shape is prepared once per connection.
//!
//! | filter set | driving index | total / statistics |
//! |---|---|---|
//! | `call_ids` | `calls` primary key: one probe per distinct id (≤ 1000) and partition day | those rows |
//! | `room_id` (no ids) | `calls_by_room` `(sdkappid, room_id, start_s DESC, call_id) WHERE room_id <> ''` | that index's rows |
//! | `caller` / `callee` / `user` (no ids, no room) | `call_users_by_user` `(sdkappid, user_id, start_s DESC, call_id)` | the same index, index-only |
//! | none, or `media_type` only | the result / call-type indexes of `calls` | `call_counts` per hour + exact edges (`counts.rs`) |
//! | `min/max_talk_secs` (± media) only | the result / call-type indexes of `calls` | those rows (a scan of the range) |
//!
//! Every other field set is a condition on the driving rows: on `calls` columns (the user
//! fields as `caller = $u` / `$u = ANY(callees)`), or, driving from `call_users`, on its
//! copies. A room drives before a user: a room holds a few calls, a user may hold thousands.
//!
//! **`call_users`** holds one row per participant (the caller, each callee) of every started
//! call: `(sdkappid, user_id, start_s, call_id)` plus `is_caller` and copies of the columns the
//! filters and statistics read (`ended`, `result`, `call_type`, `media_type`, `talk_s`,
//! `connected` = ended after a connection), all of them in `call_users_by_user` (as `INCLUDE`
//! columns; none of them changes before the end but the participants, so a call's rows are
//! written at its start and rewritten at its end, not at each accept), so a user's calls
//! are listed in page order and counted without touching `calls`: `caller` is the driving
//! user's row with `is_caller`, `callee` without, `user` either. When several user fields are
//! set, the driver is the caller, else the callee, else the user (a `user` equal to the caller or
//! callee adds nothing); each other one is an `EXISTS` probe of the same index for the same
//! call. The page takes the keys of the page from `call_users` first (`LIMIT`/`OFFSET` there)
//! and then reads just those `calls` rows by primary key, so deep offsets cost index entries,
//! not records. The writer keeps the table exact in the transaction that writes the `calls` row
//! (`writer.rs`), and retention removes it with the calls (`schema.rs`).
//!
//! **Orders.** Every listing index is `start_s DESC, call_id`: [`Order::Desc`] reads it forward;
//! [`Order::Asc`] reads it backward (`start_s` ascending) and PostgreSQL's incremental sort puts
//! each second's few rows in `call_id` order. A cursor narrows the `start_s` range to the
//! cursor's second (so the partitions and index ranges already paged through are skipped) and
//! adds `(start_s <|> k OR call_id > c)`.
//!
//! **Statistics** group the matching ended calls by UTC hour of the start (`bucket`), summing
//! calls, connected calls and connected seconds per result; hours are then summed into the
//! asked buckets (a day or the whole range is a union of whole hours of the range).

use std::collections::BTreeMap;

use callrec_domain::stored::{self, StoredCode as _};
use callrec_domain::{
    BucketStats, CallResult, Order, RecordKey, RecordQuery, ResultFilter, StatsBucket, StoreError,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::codec::{RECORD_COLUMNS, app_to_sql, day_of_secs, get};
use crate::counts::{BUCKET_SECS, bucket_sql, split};
use crate::error::corrupt;

/// A statement's parameters, `$1`, `$2`, … in the order bound.
#[derive(Default)]
pub(crate) struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    /// Adds a parameter; answers its placeholder.
    pub(crate) fn bind<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    /// The parameters as the driver takes them.
    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|p| -> &(dyn ToSql + Sync) { &**p })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// One statement and its parameters.
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Params,
}

/// Which of a call's participants a user field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The caller or a callee (`user`).
    Any,
    /// The caller.
    Caller,
    /// A callee.
    Callee,
}

/// The index a query's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive<'a> {
    /// `calls` by primary key.
    Ids,
    /// `call_users_by_user`, for this user in this role.
    User(&'a str, Role),
    /// `calls_by_room`.
    Room,
    /// The result / call-type indexes of `calls`.
    Calls,
}

/// How a query is answered (see the module docs).
pub(crate) struct Shape<'a> {
    q: &'a RecordQuery,
    drive: Drive<'a>,
    /// The user fields the driver does not already imply.
    others: Vec<(&'a str, Role)>,
}

/// SQL for the UTC day (`part_day`) of a start second.
fn day_sql(col: &str) -> String {
    format!("div({col} - mod(mod({col}, 86400) + 86400, 86400), 86400)::int4")
}

/// The record columns, qualified by `alias`.
fn record_columns(alias: &str) -> String {
    RECORD_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_by(alias: &str, order: Order) -> String {
    match order {
        Order::Desc => format!("{alias}.start_s DESC, {alias}.call_id"),
        Order::Asc => format!("{alias}.start_s, {alias}.call_id"),
    }
}

/// Where a query's rows come from and what they must satisfy.
struct Selection {
    /// `FROM` items.
    from: String,
    /// `WHERE` conjuncts.
    preds: Vec<String>,
    /// The alias whose `start_s`, `call_id`, `result`, `talk_s` are the rows'.
    row: &'static str,
    /// SQL telling whether a row's call connected (for ended calls: all statistics count).
    connected: &'static str,
    /// The app's placeholder.
    app: String,
}

impl<'a> Shape<'a> {
    /// The shape of `q`.
    pub(crate) fn of(q: &'a RecordQuery) -> Shape<'a> {
        let f = &q.filter;
        let mut users: Vec<(&str, Role)> = Vec::new();
        if let Some(u) = f.caller.as_deref() {
            users.push((u, Role::Caller));
        }
        if let Some(u) = f.callee.as_deref() {
            users.push((u, Role::Callee));
        }
        if let Some(u) = f.user.as_deref() {
            // The caller or a callee: implied by a caller or callee field naming the same user.
            if !users.iter().any(|(x, _)| *x == u) {
                users.push((u, Role::Any));
            }
        }
        let drive = if f.call_ids.is_some() {
            Drive::Ids
        } else if f.room_id.as_deref().is_some_and(|r| !r.is_empty()) {
            // A room holds a few calls; a user may hold thousands.
            Drive::Room
        } else if !users.is_empty() {
            let (u, role) = users.remove(0);
            Drive::User(u, role)
        } else {
            Drive::Calls
        };
        Shape {
            q,
            drive,
            others: users,
        }
    }

    /// True if the page of this shape reads `call_users` and `calls` both: the transaction
    /// running it must lock `calls` first (see `schema.rs`). Totals and statistics read one of
    /// them (and `call_counts`).
    pub(crate) fn reads_both(&self) -> bool {
        matches!(self.drive, Drive::User(..))
    }

    /// True if the total and the statistics come from `call_counts`.
    fn counted_by_hour(&self) -> bool {
        self.drive == Drive::Calls && self.q.filter.is_countable()
    }

    /// The call type / result / media type conditions on `t` (columns that `calls`,
    /// `call_users` and `call_counts` share). `ended_only`: ongoing calls never match.
    fn shape_preds(&self, p: &mut Params, t: &str, ended_only: bool, w: &mut Vec<String>) {
        let q = self.q;
        if let Some(ty) = q.call_type {
            w.push(format!("{t}.call_type = {}", p.bind(ty.code())));
        }
        match q.result {
            ResultFilter::Ended => w.push(format!("{t}.ended")),
            ResultFilter::Is(r) => {
                w.push(format!("{t}.result = {}", p.bind(r.code())));
                if ended_only {
                    w.push(format!("{t}.ended"));
                }
            }
        }
        if let Some(m) = q.filter.media_type {
            w.push(format!("{t}.media_type = {}", p.bind(m.code())));
        }
    }

    /// The conditions on the columns `calls` and `call_users` share (`t`): the app, the start
    /// range, the shape, the durations, the cursor.
    #[allow(clippy::too_many_arguments)]
    fn row_preds(
        &self,
        p: &mut Params,
        t: &str,
        app: &str,
        (lo, hi): (&str, &str),
        cursor: Option<&RecordKey>,
        ended_only: bool,
        w: &mut Vec<String>,
    ) {
        w.push(format!("{t}.sdkappid = {app}"));
        w.push(format!("{t}.start_s BETWEEN {lo} AND {hi}"));
        self.shape_preds(p, t, ended_only, w);
        let f = &self.q.filter;
        if let Some(m) = f.min_talk_secs {
            w.push(format!("{t}.talk_s >= {}", p.bind(m)));
        }
        if let Some(m) = f.max_talk_secs {
            w.push(format!("{t}.talk_s <= {}", p.bind(m)));
        }
        if let Some(k) = cursor {
            let s = p.bind(k.start_secs);
            let c = p.bind(k.call_id.clone());
            let cmp = match self.q.order {
                Order::Desc => "<",
                Order::Asc => ">",
            };
            w.push(format!("({t}.start_s {cmp} {s} OR {t}.call_id > {c})"));
        }
    }

    /// A user field checked on the `calls` row `c`.
    fn user_on_calls(p: &mut Params, (u, role): (&str, Role)) -> String {
        let u = p.bind(u.to_owned());
        match role {
            Role::Caller => format!("c.caller = {u}"),
            Role::Callee => format!("{u} = ANY(c.callees)"),
            Role::Any => format!("(c.caller = {u} OR {u} = ANY(c.callees))"),
        }
    }

    fn role_sql(alias: &str, role: Role) -> String {
        match role {
            Role::Any => String::new(),
            Role::Caller => format!(" AND {alias}.is_caller"),
            Role::Callee => format!(" AND NOT {alias}.is_caller"),
        }
    }

    /// The rows of the query in `[range]` (after `cursor`, if given).
    fn selection(
        &self,
        p: &mut Params,
        (from, to): (i64, i64),
        cursor: Option<&RecordKey>,
        ended_only: bool,
    ) -> Selection {
        let f = &self.q.filter;
        let app = p.bind(app_to_sql(self.q.sdkappid));
        let lo = p.bind(from);
        let hi = p.bind(to);
        // Only bound where used: a parameter no statement text uses has no type.
        let days = |p: &mut Params| (p.bind(day_of_secs(from)), p.bind(day_of_secs(to)));
        let mut w = Vec::new();
        match self.drive {
            Drive::User(u, role) => {
                self.row_preds(p, "cu", &app, (&lo, &hi), cursor, ended_only, &mut w);
                w.push(format!(
                    "cu.user_id = {}{}",
                    p.bind(u.to_owned()),
                    Self::role_sql("cu", role)
                ));
                for (other, role) in &self.others {
                    w.push(format!(
                        "EXISTS (SELECT 1 FROM call_users o WHERE o.sdkappid = cu.sdkappid \
                         AND o.user_id = {}{} AND o.start_s = cu.start_s \
                         AND o.start_s BETWEEN {lo} AND {hi} AND o.call_id = cu.call_id)",
                        p.bind((*other).to_owned()),
                        Self::role_sql("o", *role)
                    ));
                }
                Selection {
                    from: "call_users cu".to_owned(),
                    preds: w,
                    row: "cu",
                    connected: "cu.connected",
                    app,
                }
            }
            Drive::Ids | Drive::Room | Drive::Calls => {
                self.row_preds(p, "c", &app, (&lo, &hi), cursor, ended_only, &mut w);
                let (d1, d2) = days(p);
                w.push(format!("c.part_day BETWEEN {d1} AND {d2}"));
                if let Some(room) = &f.room_id {
                    w.push(format!("c.room_id = {}", p.bind(room.clone())));
                    if self.drive == Drive::Room {
                        // Lets the planner prove the partial index applies.
                        w.push("c.room_id <> ''".to_owned());
                    }
                }
                for o in &self.others {
                    w.push(Self::user_on_calls(p, *o));
                }
                let from = match &f.call_ids {
                    // One primary-key probe per distinct id: the conditions inside the LATERAL
                    // (kept there by OFFSET 0), or the planner may prefer walking a listing
                    // index in page order and filtering by `call_id = ANY(…)`.
                    Some(ids) => {
                        let ids = p.bind(ids.clone());
                        let from = format!(
                            "(SELECT DISTINCT id FROM unnest({ids}::text[]) AS x(id)) k \
                             CROSS JOIN LATERAL (SELECT * FROM calls c WHERE c.call_id = k.id \
                             AND {} OFFSET 0) c",
                            w.join(" AND ")
                        );
                        w = vec!["true".to_owned()];
                        from
                    }
                    None => "calls c".to_owned(),
                };
                Selection {
                    from,
                    preds: w,
                    row: "c",
                    connected: "c.accept_ms IS NOT NULL",
                    app,
                }
            }
        }
    }

    /// The page: the records of the query in its order, `OFFSET`/`LIMIT` applied.
    pub(crate) fn page(&self) -> Statement {
        let q = self.q;
        // With a cursor the range ends (in the page order) at the cursor's second.
        let range = match (&q.after, q.order) {
            (Some(k), Order::Desc) => (q.from_secs, q.to_secs.min(k.start_secs)),
            (Some(k), Order::Asc) => (q.from_secs.max(k.start_secs), q.to_secs),
            (None, _) => (q.from_secs, q.to_secs),
        };
        let mut p = Params::default();
        let s = self.selection(&mut p, range, q.after.as_ref(), false);
        let limit = p.bind(i64::from(q.limit));
        let offset = p.bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
        let preds = s.preds.join(" AND ");
        let sql = if matches!(self.drive, Drive::User(..)) {
            // The page's keys from the index alone, then just those records.
            let app = &s.app;
            let d1 = p.bind(day_of_secs(range.0));
            let d2 = p.bind(day_of_secs(range.1));
            format!(
                "SELECT c.* FROM (SELECT cu.start_s, cu.call_id FROM {} WHERE {preds} \
                 ORDER BY {} LIMIT {limit} OFFSET {offset}) k \
                 CROSS JOIN LATERAL (SELECT {RECORD_COLUMNS} FROM calls c \
                   WHERE c.sdkappid = {app} AND c.call_id = k.call_id \
                   AND c.part_day = {} AND c.part_day BETWEEN {d1} AND {d2}) c \
                 ORDER BY {}",
                s.from,
                order_by("cu", q.order),
                day_sql("k.start_s"),
                order_by("k", q.order),
            )
        } else {
            format!(
                "SELECT {} FROM {} WHERE {preds} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                record_columns("c"),
                s.from,
                order_by(s.row, q.order),
            )
        };
        Statement { sql, params: p }
    }

    /// The exact number of records the query matches (cursor and paging ignored).
    pub(crate) fn count(&self) -> Statement {
        let q = self.q;
        let mut p = Params::default();
        if !self.counted_by_hour() {
            let s = self.selection(&mut p, (q.from_secs, q.to_secs), None, false);
            let sql = format!(
                "SELECT count(*) FROM {} WHERE {}",
                s.from,
                s.preds.join(" AND ")
            );
            return Statement { sql, params: p };
        }
        // The maintained counts of the whole hours inside the range, plus the matching rows of
        // the partial hours at its edges (see `counts.rs`).
        let sp = split(q.from_secs, q.to_secs);
        let app = p.bind(app_to_sql(q.sdkappid));
        let (b1, b2) = (p.bind(sp.buckets.0), p.bind(sp.buckets.1));
        let mut w = Vec::new();
        self.shape_preds(&mut p, "k", false, &mut w);
        let mut sql = format!(
            "SELECT (SELECT COALESCE(sum(k.n), 0) FROM call_counts k WHERE k.sdkappid = {app} \
             AND k.bucket BETWEEN {b1} AND {b2} AND {})::int8",
            w.join(" AND ")
        );
        for (lo, hi) in sp.exact {
            let s = self.edge(&mut p, &app, (lo, hi), false);
            sql.push_str(&format!(" + (SELECT count(*) FROM calls c WHERE {s})"));
        }
        Statement { sql, params: p }
    }

    /// The conditions on `calls c` of the countable query's calls started in `[lo, hi]`.
    fn edge(&self, p: &mut Params, app: &str, (lo, hi): (i64, i64), ended_only: bool) -> String {
        let mut w = vec![
            format!("c.sdkappid = {app}"),
            format!(
                "c.part_day BETWEEN {} AND {}",
                p.bind(day_of_secs(lo)),
                p.bind(day_of_secs(hi))
            ),
            format!("c.start_s BETWEEN {} AND {}", p.bind(lo), p.bind(hi)),
        ];
        self.shape_preds(p, "c", ended_only, &mut w);
        w.join(" AND ")
    }

    /// The statistics of the query's ended calls per UTC hour and result: rows of
    /// `(bucket, result, calls, connected, talk seconds)` (see [`collect_stats`]).
    pub(crate) fn stats(&self) -> Statement {
        let q = self.q;
        let mut p = Params::default();
        if !self.counted_by_hour() {
            let s = self.selection(&mut p, (q.from_secs, q.to_secs), None, true);
            let t = s.row;
            let sql = format!(
                "SELECT ({})::int8, {t}.result, count(*), count(*) FILTER (WHERE {}), \
                 COALESCE(sum({t}.talk_s), 0)::int8 FROM {} WHERE {} GROUP BY 1, 2",
                bucket_sql(&format!("{t}.start_s")),
                s.connected,
                s.from,
                s.preds.join(" AND ")
            );
            return Statement { sql, params: p };
        }
        let sp = split(q.from_secs, q.to_secs);
        let app = p.bind(app_to_sql(q.sdkappid));
        let (b1, b2) = (p.bind(sp.buckets.0), p.bind(sp.buckets.1));
        let mut w = Vec::new();
        self.shape_preds(&mut p, "k", true, &mut w);
        let mut sql = format!(
            "SELECT k.bucket, k.result, sum(k.n)::int8, sum(k.connected)::int8, \
             sum(k.talk_s)::int8 FROM call_counts k WHERE k.sdkappid = {app} \
             AND k.bucket BETWEEN {b1} AND {b2} AND {} GROUP BY 1, 2",
            w.join(" AND ")
        );
        for (lo, hi) in sp.exact {
            let s = self.edge(&mut p, &app, (lo, hi), true);
            sql.push_str(&format!(
                " UNION ALL SELECT ({})::int8, c.result, count(*), count(c.accept_ms), \
                 COALESCE(sum(c.talk_s), 0)::int8 FROM calls c WHERE {s} GROUP BY 1, 2",
                bucket_sql("c.start_s")
            ));
        }
        Statement { sql, params: p }
    }
}

/// Sums the rows of [`Shape::stats`] into `bucket`s of the range starting at `from_secs`: only
/// buckets with calls, each once, oldest first.
pub(crate) fn collect_stats(
    rows: &[Row],
    bucket: StatsBucket,
    from_secs: i64,
) -> Result<Vec<BucketStats>, StoreError> {
    let mut out: BTreeMap<i64, BucketStats> = BTreeMap::new();
    for row in rows {
        let hour: i64 = get(row, 0)?;
        let code: &str = get(row, 1)?;
        let sums = [get::<i64>(row, 2)?, get(row, 3)?, get(row, 4)?];
        let [n, connected, talk] = sums.map(|v| u64::try_from(v).map_err(|_| v));
        let (Ok(n), Ok(connected), Ok(talk)) = (n, connected, talk) else {
            return Err(corrupt(format!("negative call statistics {sums:?}")));
        };
        if n == 0 {
            continue;
        }
        let result: CallResult = stored::decode("call result", code).map_err(corrupt)?;
        let start = bucket.start_of(hour.saturating_mul(BUCKET_SECS), from_secs);
        out.entry(start)
            .or_insert_with(|| BucketStats::empty(start))
            .add(result, n, connected, talk);
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_domain::RecordFilter;

    fn query(filter: RecordFilter) -> RecordQuery {
        RecordQuery {
            sdkappid: 1,
            from_secs: 86_400 * 3 - 1,
            to_secs: 86_400 * 5,
            result: ResultFilter::Ended,
            call_type: None,
            filter,
            order: Order::Desc,
            offset: 0,
            limit: 10,
            after: None,
            with_total: true,
        }
    }

    #[test]
    fn the_day_range_covers_the_start_range() {
        let q = query(RecordFilter::default());
        let page = Shape::of(&q).page();
        assert!(
            page.sql.contains("c.start_s BETWEEN $2 AND $3"),
            "{}",
            page.sql
        );
        assert!(
            page.sql.contains("c.part_day BETWEEN $4 AND $5"),
            "{}",
            page.sql
        );
        // App, seconds, days, limit, offset.
        assert_eq!(page.params.len(), 7);
        assert_eq!(day_of_secs(q.from_secs), 2);
        assert_eq!(day_of_secs(q.to_secs), 5);
    }

    #[test]
    fn each_shape_drives_from_its_index() {
        let s = |v: &str| Some(v.to_owned());
        let by = |f: RecordFilter| {
            let q = query(f);
            let shape = Shape::of(&q);
            (
                format!("{:?}", shape.drive),
                shape.others.len(),
                shape.counted_by_hour(),
            )
        };
        assert_eq!(by(RecordFilter::default()), ("Calls".into(), 0, true));
        let media = RecordFilter {
            media_type: Some(callrec_domain::MediaType::Video),
            ..RecordFilter::default()
        };
        assert_eq!(by(media), ("Calls".into(), 0, true));
        let talk = RecordFilter {
            min_talk_secs: Some(3),
            ..RecordFilter::default()
        };
        assert_eq!(by(talk), ("Calls".into(), 0, false));
        let user_and_callee = RecordFilter {
            user: s("a"),
            callee: s("a"),
            ..RecordFilter::default()
        };
        assert_eq!(
            by(user_and_callee),
            ("User(\"a\", Callee)".into(), 0, false)
        );
        let three = RecordFilter {
            user: s("a"),
            caller: s("b"),
            callee: s("c"),
            room_id: s("r"),
            ..RecordFilter::default()
        };
        assert_eq!(by(three), ("Room".into(), 3, false));
        let two = RecordFilter {
            user: s("a"),
            caller: s("b"),
            callee: s("c"),
            ..RecordFilter::default()
        };
        assert_eq!(by(two), ("User(\"b\", Caller)".into(), 2, false));
        let room = RecordFilter {
            room_id: s("r"),
            ..RecordFilter::default()
        };
        assert_eq!(by(room), ("Room".into(), 0, false));
        let ids = RecordFilter {
            call_ids: Some(vec!["x".into()]),
            user: s("a"),
            ..RecordFilter::default()
        };
        assert_eq!(by(ids), ("Ids".into(), 1, false));
    }
}
