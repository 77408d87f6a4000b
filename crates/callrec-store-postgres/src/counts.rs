//! `call_counts`: the maintained totals behind `get_records_by_filter`'s `totalNum`.
//!
//! Counting the matching `calls` rows of a wide range (a week: ~100 k rows over 7 partitions)
//! cost 70–130 ms per request. Instead, every transaction that changes a `calls` row also
//! adds its effect to `call_counts`: one row per (sdkappid, UTC hour of the start, ended,
//! result, call type, media type, slot) holding how many started calls have those values, how
//! many of them ended after a connection, and the sum of their connected seconds (`talk_s`,
//! 0 until the end). Only calls with a
//! start are counted (the filter needs `start_s`). The writer computes the change (−1 for the
//! row's old values, +1 for its new ones) under the call's advisory lock and upserts the sums in
//! the same transaction, so a snapshot that sees a call row sees its count, and vice versa.
//!
//! A query's total is then the sum over the hours lying wholly inside `[from, to]` plus an exact
//! count of the calls in the partial hours at either edge (at most two hours of rows). Both run
//! in the same snapshot as the page, so the total is still exact. This serves every query
//! whose extension filter sets at most the media type
//! ([`RecordFilter::is_countable`](callrec_domain::RecordFilter::is_countable)), and the
//! statistics of such queries the same way (per hour, summed into days or the whole range);
//! other filters are counted from their driving index (see `query.rs`).
//!
//! **Slots.** Every group-commit writer adds to rows of its own `slot` (a per-store random base
//! plus the writer's index, modulo [`SLOTS`]), so writers of one node never wait for each
//! other's row locks on the hot "now" rows; readers sum over the slots. Two nodes that happen to
//! share a slot only wait, they never miscount.
//!
//! **Retention** removes counts with the calls: a dropped day partition's hours are deleted in
//! the transaction that detaches it; rows deleted in the boundary day are subtracted in the
//! deleting statement.

use std::collections::BTreeMap;

/// Width of a count bucket, seconds.
pub(crate) const BUCKET_SECS: i64 = 3_600;

/// Buckets per partition day.
pub(crate) const BUCKETS_PER_DAY: i64 = 86_400 / BUCKET_SECS;

/// Distinct writer slots.
pub(crate) const SLOTS: i32 = 8;

/// The bucket of a start time (Unix seconds).
pub(crate) fn bucket_of(start_s: i64) -> i64 {
    start_s.div_euclid(BUCKET_SECS)
}

/// SQL for [`bucket_of`] over `col`.
pub(crate) fn bucket_sql(col: &str) -> String {
    format!(
        "div({col} - mod(mod({col}, {BUCKET_SECS}) + {BUCKET_SECS}, {BUCKET_SECS}), {BUCKET_SECS})"
    )
}

/// One counted combination: (sdkappid, bucket, ended, result, call type, media type).
pub(crate) type CountKey = (i64, i64, bool, String, String, String);

/// What a combination counts: calls, connected calls, their connected seconds.
pub(crate) type CountSums = (i64, i64, i64);

/// What a `calls` row is counted under and with: its values, when it has a start.
/// `connected` is "ended after a connection": statistics count ended calls only, and so an
/// accept alone (the call still ongoing) changes neither its counts nor its `call_users` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted<'a> {
    pub(crate) start_s: i64,
    pub(crate) ended: bool,
    pub(crate) result: &'a str,
    pub(crate) call_type: &'a str,
    pub(crate) media_type: &'a str,
    pub(crate) connected: bool,
    pub(crate) talk_s: i64,
}

/// Net changes to `call_counts` of one transaction.
#[derive(Debug, Default)]
pub(crate) struct Deltas(BTreeMap<CountKey, CountSums>);

/// The columns of [`Deltas::columns`]: apps, buckets, ended, results, call types, media types,
/// calls, connected calls, connected seconds.
pub(crate) type DeltaColumns<'a> = (
    Vec<i64>,
    Vec<i64>,
    Vec<bool>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
);

impl Deltas {
    /// Adds `sign` (±1) times a row with these values; rows without a start are not counted.
    pub(crate) fn add(&mut self, app: i64, row: Option<Counted<'_>>, sign: i64) {
        let Some(r) = row else {
            return;
        };
        let e = self
            .0
            .entry((
                app,
                bucket_of(r.start_s),
                r.ended,
                r.result.to_owned(),
                r.call_type.to_owned(),
                r.media_type.to_owned(),
            ))
            .or_default();
        e.0 += sign;
        e.1 += sign * i64::from(r.connected);
        e.2 += sign * r.talk_s;
    }

    /// The non-zero changes as column arrays (in key order, so concurrent upserts lock rows in
    /// the same order).
    pub(crate) fn columns(&self) -> DeltaColumns<'_> {
        let mut c: DeltaColumns<'_> = Default::default();
        for ((app, bucket, ended, result, call_type, media_type), (n, connected, talk)) in &self.0 {
            if (*n, *connected, *talk) != (0, 0, 0) {
                c.0.push(*app);
                c.1.push(*bucket);
                c.2.push(*ended);
                c.3.push(result.as_str());
                c.4.push(call_type.as_str());
                c.5.push(media_type.as_str());
                c.6.push(*n);
                c.7.push(*connected);
                c.8.push(*talk);
            }
        }
        c
    }
}

/// Adds the changes of a transaction (`$1`…`$9` = [`Deltas::columns`], `$10` = the slot).
pub(crate) const UPSERT_SQL: &str = "INSERT INTO call_counts \
     (sdkappid, bucket, ended, result, call_type, media_type, slot, n, connected, talk_s) \
     SELECT a, b, e, r, t, m, $10, n, cn, tk FROM unnest($1::int8[], $2::int8[], $3::bool[], \
     $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[]) \
     AS x(a, b, e, r, t, m, n, cn, tk) ORDER BY a, b, e, r, t, m \
     ON CONFLICT (sdkappid, bucket, ended, result, call_type, media_type, slot) \
     DO UPDATE SET n = call_counts.n + excluded.n, \
     connected = call_counts.connected + excluded.connected, \
     talk_s = call_counts.talk_s + excluded.talk_s";

/// How a start range `[from, to]` (seconds, inclusive) is counted: whole buckets
/// `[lo, hi]` from `call_counts`, and two start ranges counted row by row. Empty ranges are
/// given as `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) buckets: (i64, i64),
    pub(crate) exact: [(i64, i64); 2],
}

const EMPTY: (i64, i64) = (1, 0);

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Splits `[from, to]` into whole buckets and the partial edges.
pub(crate) fn split(from: i64, to: i64) -> Split {
    let w = i128::from(BUCKET_SECS);
    let (f, t) = (i128::from(from), i128::from(to));
    // First bucket starting at or after `from`; last bucket ending at or before `to`.
    let lo = -((-f).div_euclid(w));
    let hi = (t + 1).div_euclid(w) - 1;
    if from > to || lo > hi {
        return Split {
            buckets: EMPTY,
            exact: [(from, to), EMPTY],
        };
    }
    Split {
        buckets: (clamp(lo), clamp(hi)),
        exact: [(from, clamp(lo * w - 1)), (clamp((hi + 1) * w), to)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every second of `[from, to]` is covered exactly once by the split.
    fn check(from: i64, to: i64) {
        let s = split(from, to);
        for x in from.saturating_sub(2 * BUCKET_SECS)..=to.saturating_add(2 * BUCKET_SECS) {
            let inside = (from..=to).contains(&x);
            let by_bucket = (s.buckets.0..=s.buckets.1).contains(&bucket_of(x));
            let by_exact = s
                .exact
                .iter()
                .filter(|(a, b)| (*a..=*b).contains(&x))
                .count();
            assert_eq!(
                usize::from(by_bucket) + by_exact,
                usize::from(inside),
                "{from}..={to} at {x}: {s:?}"
            );
        }
    }

    #[test]
    fn split_covers_the_range_exactly_once() {
        for (f, t) in [
            (0, 3_599),
            (0, 3_600),
            (1, 3_599),
            (1, 7_200),
            (-7_201, 5),
            (-3_600, -1),
            (3_599, 3_600),
            (10, 9),
            (100, 100),
            (1_700_000_123, 1_700_000_123 + 3 * 3_600 + 17),
        ] {
            check(f, t);
        }
        assert_eq!(
            split(3_600, 10_799),
            Split {
                buckets: (1, 2),
                exact: [(3_600, 3_599), (10_800, 10_799)]
            }
        );
        let s = split(i64::MIN, i64::MAX);
        assert!(s.buckets.0 <= s.buckets.1);
    }

    #[test]
    fn buckets_floor_negative_starts() {
        assert_eq!(bucket_of(-1), -1);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(3_599), 0);
        assert_eq!(bucket_of(3_600), 1);
    }
}
