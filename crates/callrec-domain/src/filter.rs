//! What a record query selects, as a pure function: the extensions' filter fields, the page
//! order, and the statistics of a set of records.
//!
//! Stores answer queries from their indexes; [`RecordQuery::matches`] and [`Order::cmp`] are the
//! meaning those answers must have (the conformance suite checks every store against them), and
//! [`BucketStats`] is what `get_stats` sums.

use std::cmp::Ordering;

use crate::event::MediaType;
use crate::record::{CallResult, Record};
use crate::store::{RecordKey, RecordQuery, ResultFilter};

/// Most call ids one query may name.
pub const MAX_CALL_IDS: usize = 1000;

/// The extensions' filter fields (docs/api.md); the default matches every record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RecordFilter {
    /// The caller or a callee.
    pub user: Option<String>,
    /// The caller.
    pub caller: Option<String>,
    /// A callee.
    pub callee: Option<String>,
    /// The call's media type.
    pub media_type: Option<MediaType>,
    /// The call's room (never empty).
    pub room_id: Option<String>,
    /// Least connected time, seconds (inclusive; see [`Record::talk_secs`]).
    pub min_talk_secs: Option<i64>,
    /// Most connected time, seconds (inclusive).
    pub max_talk_secs: Option<i64>,
    /// Only these calls (1–[`MAX_CALL_IDS`] ids).
    pub call_ids: Option<Vec<String>>,
}

impl RecordFilter {
    /// True if no field is set.
    pub fn is_empty(&self) -> bool {
        *self == RecordFilter::default()
    }

    /// True if `r` passes every set field.
    pub fn matches(&self, r: &Record) -> bool {
        let is_callee = |u: &str| r.callees.iter().any(|c| c == u);
        let talk = r.talk_secs();
        self.user
            .as_deref()
            .is_none_or(|u| r.caller == u || is_callee(u))
            && self.caller.as_deref().is_none_or(|u| r.caller == u)
            && self.callee.as_deref().is_none_or(is_callee)
            && self.media_type.is_none_or(|m| r.media_type == m)
            && self.room_id.as_deref().is_none_or(|room| r.room_id == room)
            && self.min_talk_secs.is_none_or(|m| talk >= m)
            && self.max_talk_secs.is_none_or(|m| talk <= m)
            && self
                .call_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&r.call_id))
    }

    /// True if only fields a store can count from per-bucket counts are set (none, or the
    /// media type).
    pub fn is_countable(&self) -> bool {
        RecordFilter {
            media_type: None,
            ..self.clone()
        }
        .is_empty()
    }
}

/// The order of pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// `startCallTs` descending, then `callId` ascending (TRTC's order).
    #[default]
    Desc,
    /// `startCallTs` ascending, then `callId` ascending.
    Asc,
}

impl Order {
    /// How two records' keys compare in this order.
    pub fn cmp(self, a: &RecordKey, b: &RecordKey) -> Ordering {
        let by_start = a.start_secs.cmp(&b.start_secs);
        let by_start = match self {
            Order::Desc => by_start.reverse(),
            Order::Asc => by_start,
        };
        by_start.then_with(|| a.call_id.cmp(&b.call_id))
    }
}

impl RecordKey {
    /// The key of a record.
    pub fn of(r: &Record) -> RecordKey {
        RecordKey {
            start_secs: r.start_secs(),
            call_id: r.call_id.clone(),
        }
    }
}

impl RecordQuery {
    /// True if `r` is one of the records this query selects, ignoring paging (`offset`, `limit`)
    /// but not the cursor (`after`). `r` must be of the query's app.
    pub fn matches(&self, r: &Record) -> bool {
        let start = r.start_secs();
        let result = match self.result {
            ResultFilter::Ended => r.result != CallResult::Ongoing,
            ResultFilter::Is(x) => r.result == x,
        };
        r.sdkappid == self.sdkappid
            && (self.from_secs..=self.to_secs).contains(&start)
            && result
            && self.call_type.is_none_or(|t| r.call_type == t)
            && self.filter.matches(r)
            && self
                .after
                .as_ref()
                .is_none_or(|k| self.order.cmp(k, &RecordKey::of(r)) == Ordering::Less)
    }
}

/// How `get_stats` groups calls by `startCallTs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsBucket {
    /// UTC hours.
    Hour,
    /// UTC days.
    Day,
    /// The whole range as one bucket.
    All,
}

impl StatsBucket {
    /// The bucket width in seconds; `None` for [`StatsBucket::All`].
    pub fn secs(self) -> Option<i64> {
        match self {
            StatsBucket::Hour => Some(3600),
            StatsBucket::Day => Some(86_400),
            StatsBucket::All => None,
        }
    }

    /// The start of the bucket `start_secs` falls in, for a range starting at `range_start`.
    pub fn start_of(self, start_secs: i64, range_start: i64) -> i64 {
        match self.secs() {
            Some(w) => start_secs.div_euclid(w) * w,
            None => range_start,
        }
    }

    /// The start of every bucket of `[from, to]`, oldest first.
    pub fn starts(self, from: i64, to: i64) -> Vec<i64> {
        match self.secs() {
            None => vec![from],
            Some(w) => {
                let (first, last) = (from.div_euclid(w), to.div_euclid(w));
                (first..=last).map(|b| b * w).collect()
            }
        }
    }

    /// How many buckets `[from, to]` has.
    pub fn count(self, from: i64, to: i64) -> i64 {
        match self.secs() {
            None => 1,
            Some(w) => to.div_euclid(w) - from.div_euclid(w) + 1,
        }
    }
}

/// The sums of one statistics bucket: ended calls only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketStats {
    /// The bucket's start, Unix seconds.
    pub start_secs: i64,
    /// Calls.
    pub total: u64,
    /// Calls with a connection (`acceptTs > 0`).
    pub connected: u64,
    /// Calls per result, in [`CallResult::ALL`] order (the `Ongoing` slot stays 0).
    pub by_result: [u64; 7],
    /// Σ connected seconds ([`Record::talk_secs`]) over the connected calls.
    pub talk_secs: u64,
}

impl BucketStats {
    /// An empty bucket.
    pub fn empty(start_secs: i64) -> BucketStats {
        BucketStats {
            start_secs,
            ..BucketStats::default()
        }
    }

    /// Counts `n` calls of `result`, `connected` of them connected, with `talk_secs` connected
    /// seconds between them.
    pub fn add(&mut self, result: CallResult, n: u64, connected: u64, talk_secs: u64) {
        let slot = CallResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or_default();
        self.by_result[slot] += n;
        self.total += n;
        self.connected += connected;
        self.talk_secs += talk_secs;
    }

    /// Counts one record.
    pub fn add_record(&mut self, r: &Record) {
        let connected = r.accept_ms.is_some();
        let talk = u64::try_from(r.talk_secs()).unwrap_or(0);
        self.add(r.result, 1, u64::from(connected), talk);
    }

    /// `connected / total`, 0 when there are no calls.
    pub fn answer_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            ratio(self.connected, self.total)
        }
    }

    /// `talk_secs / connected`, 0 when none connected.
    pub fn avg_talk_secs(&self) -> f64 {
        if self.connected == 0 {
            0.0
        } else {
            ratio(self.talk_secs, self.connected)
        }
    }
}

/// `a / b` as a float (counts far below 2^52 convert exactly).
#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

/// Every bucket of `[from, to]`, oldest first, with the sums in `found` (buckets a store
/// returned, keyed by start; missing ones are empty).
pub fn fill_buckets(
    bucket: StatsBucket,
    from: i64,
    to: i64,
    found: Vec<BucketStats>,
) -> Vec<BucketStats> {
    let mut by_start: std::collections::HashMap<i64, BucketStats> =
        std::collections::HashMap::new();
    for b in found {
        let slot = by_start
            .entry(b.start_secs)
            .or_insert_with(|| BucketStats::empty(b.start_secs));
        for (i, n) in b.by_result.iter().enumerate() {
            slot.by_result[i] += n;
        }
        slot.total += b.total;
        slot.connected += b.connected;
        slot.talk_secs += b.talk_secs;
    }
    bucket
        .starts(from, to)
        .into_iter()
        .map(|s| by_start.remove(&s).unwrap_or_else(|| BucketStats::empty(s)))
        .collect()
}

/// The statistics of `records` (the model stores are checked against): those `query` matches
/// and that have ended, by bucket. `query.result` must not select ongoing calls.
pub fn stats_of<'a>(
    query: &RecordQuery,
    bucket: StatsBucket,
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<BucketStats> {
    let mut found = Vec::new();
    for r in records {
        if r.result != CallResult::Ongoing && query.matches(r) {
            let mut b = BucketStats::empty(bucket.start_of(r.start_secs(), query.from_secs));
            b.add_record(r);
            found.push(b);
        }
    }
    fill_buckets(bucket, query.from_secs, query.to_secs, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CallType;

    fn record(id: &str, start_ms: i64) -> Record {
        Record {
            call_id: id.into(),
            sdkappid: 1,
            media_type: MediaType::Audio,
            room_id: String::new(),
            start_ms,
            accept_ms: None,
            end_ms: Some(start_ms + 1000),
            caller: "alice".into(),
            call_type: CallType::Single,
            result: CallResult::Cancel,
            callees: vec!["bob".into()],
            room_id_type: None,
        }
    }

    fn query() -> RecordQuery {
        RecordQuery {
            sdkappid: 1,
            from_secs: 0,
            to_secs: 1_000_000,
            result: ResultFilter::Ended,
            call_type: None,
            filter: RecordFilter::default(),
            order: Order::Desc,
            offset: 0,
            limit: 100,
            after: None,
            with_total: true,
        }
    }

    #[test]
    fn each_field_narrows_and_the_default_matches_everything() {
        let mut r = record("c1", 10_000);
        r.accept_ms = Some(10_900);
        r.end_ms = Some(75_100);
        r.result = CallResult::NormalEnd;
        r.room_id = "42".into();
        r.media_type = MediaType::Video;
        assert_eq!(r.talk_secs(), 65);
        let f = RecordFilter::default();
        assert!(f.matches(&r) && f.is_empty() && f.is_countable());
        let cases: Vec<(RecordFilter, bool)> = vec![
            (
                RecordFilter {
                    user: Some("alice".into()),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    user: Some("bob".into()),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    user: Some("carol".into()),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    caller: Some("bob".into()),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    callee: Some("bob".into()),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    callee: Some("alice".into()),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    media_type: Some(MediaType::Audio),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    room_id: Some("42".into()),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    min_talk_secs: Some(65),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    min_talk_secs: Some(66),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    max_talk_secs: Some(65),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    max_talk_secs: Some(64),
                    ..f.clone()
                },
                false,
            ),
            (
                RecordFilter {
                    call_ids: Some(vec!["x".into(), "c1".into()]),
                    ..f.clone()
                },
                true,
            ),
            (
                RecordFilter {
                    call_ids: Some(vec!["x".into()]),
                    ..f
                },
                false,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(f.matches(&r), want, "{f:?}");
        }
        // Never connected, or not ended: duration 0.
        let mut ongoing = record("c2", 10_000);
        ongoing.accept_ms = Some(11_000);
        ongoing.end_ms = None;
        assert_eq!(ongoing.talk_secs(), 0);
        assert_eq!(record("c3", 10_000).talk_secs(), 0);
    }

    #[test]
    fn orders_and_cursors() {
        let a = RecordKey {
            start_secs: 5,
            call_id: "b".into(),
        };
        let b = RecordKey {
            start_secs: 5,
            call_id: "c".into(),
        };
        let c = RecordKey {
            start_secs: 6,
            call_id: "a".into(),
        };
        assert_eq!(Order::Desc.cmp(&c, &a), Ordering::Less);
        assert_eq!(Order::Desc.cmp(&a, &b), Ordering::Less);
        assert_eq!(Order::Asc.cmp(&a, &b), Ordering::Less);
        assert_eq!(Order::Asc.cmp(&a, &c), Ordering::Less);
        let mut q = query();
        q.after = Some(a);
        assert!(q.matches(&record("c", 5_999)));
        assert!(!q.matches(&record("b", 5_000)));
        assert!(q.matches(&record("a", 4_000)));
        assert!(!q.matches(&record("a", 6_000)));
        q.order = Order::Asc;
        assert!(q.matches(&record("a", 6_000)));
        assert!(!q.matches(&record("a", 4_000)));
    }

    #[test]
    fn stats_have_every_bucket_and_skip_ongoing_calls() {
        let mut q = query();
        q.from_secs = 3600 + 1800;
        q.to_secs = 4 * 3600 - 1;
        let mut talk = record("t", (3600 + 1900) * 1000);
        talk.accept_ms = Some((3600 + 1910) * 1000);
        talk.end_ms = Some((3600 + 1970) * 1000);
        talk.result = CallResult::NormalEnd;
        let mut ongoing = record("o", (2 * 3600) * 1000);
        ongoing.result = CallResult::Ongoing;
        ongoing.end_ms = None;
        let early = record("e", 3600 * 1000);
        let recs = [talk, ongoing, early, record("x", (3 * 3600 + 5) * 1000)];
        let hours = stats_of(&q, StatsBucket::Hour, &recs);
        assert_eq!(
            hours.iter().map(|b| b.start_secs).collect::<Vec<_>>(),
            vec![3600, 7200, 10800]
        );
        assert_eq!(hours[0].total, 1);
        assert_eq!(hours[0].connected, 1);
        assert_eq!(hours[0].talk_secs, 60);
        assert!((hours[0].answer_rate() - 1.0).abs() < f64::EPSILON);
        assert!((hours[0].avg_talk_secs() - 60.0).abs() < f64::EPSILON);
        assert_eq!(hours[1], BucketStats::empty(7200));
        assert_eq!(hours[2].by_result[0], 1);
        assert!(hours[1].answer_rate().abs() < f64::EPSILON);
        let all = stats_of(&q, StatsBucket::All, &recs);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].start_secs, all[0].total), (q.from_secs, 2));
        assert_eq!(StatsBucket::Day.count(0, 86_400), 2);
    }
}
