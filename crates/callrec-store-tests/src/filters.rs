//! Checks of the record extensions' queries: every filter field alone and combined, both
//! orders, offset and keyset paging, and statistics — each answer compared with the domain's
//! model ([`RecordQuery::matches`], [`Order::cmp`], [`stats_of`]) over the records the fold
//! makes of the same events, also after calls change (they end) and after a purge.

use std::collections::HashMap;

use callrec_domain::{
    CallResult, CallType, Event, EventType, MediaType, Order, Record, RecordFilter, RecordKey,
    RecordQuery, ResultFilter, StatsBucket, Store, fill_buckets, stats_of,
};

use crate::Harness;
use crate::fixtures::*;

use EventType::*;

const USERS: [&str; 8] = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const ROOMS: [&str; 4] = ["", "r1", "r2", "r3"];

/// A data set: each call's events by app and id.
struct World {
    calls: Vec<(u64, String, Vec<Event>)>,
}

impl World {
    /// 260 calls of `APP` (and 20 of `OTHER_APP`, same users) over about 50 hours from a start
    /// that is not on an hour, every outcome, durations from 0 to 300 s, ties in seconds.
    fn generate() -> World {
        let mut rng = Rng::new(7);
        let mut calls = Vec::new();
        let mut t = T0 - 3_600_000 * 10;
        for i in 0..280 {
            let app = if i % 14 == 13 { OTHER_APP } else { APP };
            if i % 9 != 0 {
                t += 500_000 + (rng.next_u64() % 400_000) as i64;
            }
            let id = format!("c{i:03}");
            let mut people: Vec<&str> = USERS.to_vec();
            rng.shuffle(&mut people);
            let callees = &people[1..=1 + rng.below(3)];
            let caller = people[0];
            let mut s = start(&id, caller, callees, t);
            s.media_type = Some(if rng.below(2) == 0 {
                MediaType::Audio
            } else {
                MediaType::Video
            });
            let room = ROOMS[rng.below(ROOMS.len())];
            s.room_id = (!room.is_empty()).then(|| room.to_owned());
            let answer = t + 1000 + rng.below(20_000) as i64;
            let talk_ms = (rng.below(301) as i64) * 1000 + rng.below(1000) as i64;
            let events = match rng.below(6) {
                0 => vec![s, ev(&id, Accept, callees[0], answer)],
                1 => vec![s, ev(&id, Reject, callees[0], answer)],
                2 => vec![s, ev(&id, Cancel, caller, answer)],
                3 => vec![
                    s,
                    ev(&id, Accept, callees[0], answer),
                    ev(&id, Hangup, caller, answer + talk_ms),
                ],
                4 => vec![s],
                _ => vec![
                    s,
                    ev(&id, Accept, callees[0], answer),
                    ev(&id, Offline, callees[0], answer + talk_ms),
                ],
            };
            calls.push((app, id, events));
        }
        World { calls }
    }

    /// The records of `APP` and `OTHER_APP`, as the fold makes them.
    fn records(&self) -> Vec<Record> {
        self.calls
            .iter()
            .map(|(app, _, events)| expected(*app, events))
            .collect()
    }
}

/// The model's answer: the matching records in the query's order.
fn model(q: &RecordQuery, records: &[Record]) -> Vec<String> {
    let mut found: Vec<&Record> = records.iter().filter(|r| q.matches(r)).collect();
    found.sort_by(|a, b| q.order.cmp(&RecordKey::of(a), &RecordKey::of(b)));
    found.into_iter().map(|r| r.call_id.clone()).collect()
}

/// Filters alone and combined, over the fixture's users, rooms and durations.
fn filters(records: &[Record]) -> Vec<RecordFilter> {
    let f = RecordFilter::default();
    let s = |v: &str| Some(v.to_owned());
    let mut ids: Vec<String> = records
        .iter()
        .step_by(5)
        .map(|r| r.call_id.clone())
        .collect();
    ids.push("no-such-call".into());
    vec![
        f.clone(),
        RecordFilter {
            user: s("u0"),
            ..f.clone()
        },
        RecordFilter {
            user: s("u7"),
            ..f.clone()
        },
        RecordFilter {
            user: s("nobody"),
            ..f.clone()
        },
        RecordFilter {
            caller: s("u1"),
            ..f.clone()
        },
        RecordFilter {
            callee: s("u1"),
            ..f.clone()
        },
        RecordFilter {
            caller: s("u1"),
            callee: s("u2"),
            ..f.clone()
        },
        RecordFilter {
            user: s("u1"),
            callee: s("u1"),
            ..f.clone()
        },
        RecordFilter {
            user: s("u2"),
            caller: s("u3"),
            ..f.clone()
        },
        RecordFilter {
            user: s("u4"),
            caller: s("u4"),
            callee: s("u4"),
            ..f.clone()
        },
        RecordFilter {
            media_type: Some(MediaType::Video),
            ..f.clone()
        },
        RecordFilter {
            media_type: Some(MediaType::Audio),
            user: s("u3"),
            ..f.clone()
        },
        RecordFilter {
            room_id: s("r1"),
            ..f.clone()
        },
        RecordFilter {
            room_id: s("r2"),
            media_type: Some(MediaType::Video),
            ..f.clone()
        },
        RecordFilter {
            room_id: s("r3"),
            caller: s("u5"),
            ..f.clone()
        },
        RecordFilter {
            min_talk_secs: Some(60),
            ..f.clone()
        },
        RecordFilter {
            max_talk_secs: Some(30),
            ..f.clone()
        },
        RecordFilter {
            min_talk_secs: Some(10),
            max_talk_secs: Some(120),
            ..f.clone()
        },
        RecordFilter {
            max_talk_secs: Some(0),
            ..f.clone()
        },
        RecordFilter {
            min_talk_secs: Some(1),
            media_type: Some(MediaType::Audio),
            ..f.clone()
        },
        RecordFilter {
            call_ids: Some(ids.clone()),
            ..f.clone()
        },
        RecordFilter {
            call_ids: Some(ids.clone()),
            user: s("u6"),
            ..f.clone()
        },
        RecordFilter {
            call_ids: Some(ids),
            min_talk_secs: Some(100),
            room_id: s("r1"),
            ..f.clone()
        },
        RecordFilter {
            user: s("u2"),
            min_talk_secs: Some(5),
            media_type: Some(MediaType::Video),
            ..f.clone()
        },
        RecordFilter {
            callee: s("u6"),
            room_id: s("r2"),
            max_talk_secs: Some(200),
            ..f
        },
    ]
}

fn base(app: u64, records: &[Record]) -> RecordQuery {
    let starts: Vec<i64> = records.iter().map(Record::start_secs).collect();
    let (lo, hi) = (
        starts.iter().min().copied().unwrap_or(T0_SECS),
        starts.iter().max().copied().unwrap_or(T0_SECS),
    );
    RecordQuery {
        sdkappid: app,
        // Cut off a little at both ends, off any minute or hour.
        from_secs: lo + 1234,
        to_secs: hi - 777,
        result: ResultFilter::Ended,
        call_type: None,
        filter: RecordFilter::default(),
        order: Order::Desc,
        offset: 0,
        limit: 1000,
        after: None,
        with_total: true,
    }
}

/// Every filter × result × type × order: the total and the whole list equal the model's.
async fn check_all<S: Store>(store: &S, records: &[Record], stage: &str) {
    let results = [
        ResultFilter::Ended,
        ResultFilter::Is(CallResult::NormalEnd),
        ResultFilter::Is(CallResult::Ongoing),
        ResultFilter::Is(CallResult::Reject),
    ];
    let mut checked = 0;
    for filter in filters(records) {
        for (i, result) in results.iter().enumerate() {
            for call_type in [None, Some(CallType::Group)] {
                for order in [Order::Desc, Order::Asc] {
                    // Every filter with every result; the rest of the grid on a subset.
                    if i > 0 && (call_type.is_some() || order == Order::Asc) && checked % 3 != 0 {
                        checked += 1;
                        continue;
                    }
                    checked += 1;
                    let q = RecordQuery {
                        result: *result,
                        call_type,
                        order,
                        filter: filter.clone(),
                        ..base(APP, records)
                    };
                    let want = model(&q, records);
                    let page = store.filter_records(&q).await.unwrap();
                    let got: Vec<String> = page.records.iter().map(|r| r.call_id.clone()).collect();
                    assert_eq!(got, want, "{stage}: records of {q:?}");
                    assert_eq!(
                        page.total,
                        Some(want.len() as u64),
                        "{stage}: total of {q:?}"
                    );
                    for r in &page.records {
                        let full = records.iter().find(|m| m.call_id == r.call_id).unwrap();
                        assert_eq!(r, full, "{stage}: the record itself");
                    }
                }
            }
        }
    }
}

/// Offset pages and cursor walks in both orders give the model's list in slices.
async fn check_paging<S: Store>(store: &S, records: &[Record]) {
    for filter in filters(records).into_iter().step_by(4) {
        for order in [Order::Desc, Order::Asc] {
            let q = RecordQuery {
                order,
                filter: filter.clone(),
                ..base(APP, records)
            };
            let want = model(&q, records);
            let page = store
                .filter_records(&RecordQuery {
                    offset: 3,
                    limit: 9,
                    ..q.clone()
                })
                .await
                .unwrap();
            let got: Vec<String> = page.records.iter().map(|r| r.call_id.clone()).collect();
            let slice: Vec<String> = want.iter().skip(3).take(9).cloned().collect();
            assert_eq!(got, slice, "offset page of {q:?}");
            assert_eq!(page.total, Some(want.len() as u64));
            let mut walk = RecordQuery {
                limit: 7,
                with_total: false,
                ..q.clone()
            };
            let mut seen = Vec::new();
            for _ in 0..200 {
                let page = store.filter_records(&walk).await.unwrap();
                assert_eq!(page.total, None);
                let Some(last) = page.records.last() else {
                    break;
                };
                walk.after = Some(RecordKey::of(last));
                seen.extend(page.records.iter().map(|r| r.call_id.clone()));
            }
            assert_eq!(seen, want, "cursor walk of {q:?}");
        }
    }
}

/// Statistics per hour, day and all, for several filters, equal the model's.
async fn check_stats<S: Store>(store: &S, records: &[Record], stage: &str) {
    let all = filters(records);
    let picks: Vec<(RecordFilter, ResultFilter, Option<CallType>)> = vec![
        (all[0].clone(), ResultFilter::Ended, None),
        (
            all[0].clone(),
            ResultFilter::Is(CallResult::NormalEnd),
            None,
        ),
        (all[0].clone(), ResultFilter::Ended, Some(CallType::Single)),
        (all[10].clone(), ResultFilter::Ended, None),
        (all[11].clone(), ResultFilter::Ended, Some(CallType::Group)),
        (all[1].clone(), ResultFilter::Ended, None),
        (
            all[5].clone(),
            ResultFilter::Is(CallResult::Interrupt),
            None,
        ),
        (all[12].clone(), ResultFilter::Ended, None),
        (all[15].clone(), ResultFilter::Ended, None),
        (all[20].clone(), ResultFilter::Ended, None),
    ];
    for (filter, result, call_type) in picks {
        for bucket in [StatsBucket::Hour, StatsBucket::Day, StatsBucket::All] {
            let q = RecordQuery {
                filter: filter.clone(),
                result,
                call_type,
                ..base(APP, records)
            };
            let want = stats_of(&q, bucket, records);
            let got = fill_buckets(
                bucket,
                q.from_secs,
                q.to_secs,
                store.record_stats(&q, bucket).await.unwrap(),
            );
            assert_eq!(got, want, "{stage}: {bucket:?} stats of {q:?}");
        }
    }
    // A range with no calls at all: every bucket present and empty.
    let q = RecordQuery {
        from_secs: T0_SECS + 86_400 * 30,
        to_secs: T0_SECS + 86_400 * 30 + 7200,
        ..base(APP, records)
    };
    let got = fill_buckets(
        StatsBucket::Hour,
        q.from_secs,
        q.to_secs,
        store.record_stats(&q, StatsBucket::Hour).await.unwrap(),
    );
    assert_eq!(got, stats_of(&q, StatsBucket::Hour, records));
    assert!(got.len() >= 2 && got.iter().all(|b| b.total == 0));
}

/// Every filter field alone and combined with each other and with TRTC's, in both orders,
/// counts and lists exactly the records the model selects; offset and cursor pages slice the
/// same list; statistics per hour, day and all equal the model's. All of it again after the
/// ongoing calls end (records change: result, duration) and after a purge.
pub async fn extension_filters_and_stats_equal_the_model_also_after_changes<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    let mut world = World::generate();
    let mut batch = Vec::new();
    for (app, _, events) in &world.calls {
        batch.extend(items(*app, events));
    }
    // Shuffled and in a few batches: arrival order must not matter.
    let mut rng = Rng::new(11);
    rng.shuffle(&mut batch);
    for chunk in batch.chunks(200) {
        store.ingest(chunk.to_vec()).await.unwrap();
    }
    let records = world.records();
    let app_records: Vec<Record> = records
        .iter()
        .filter(|r| r.sdkappid == APP)
        .cloned()
        .collect();
    assert!(app_records.iter().any(|r| r.result == CallResult::Ongoing));
    check_all(&*store, &records, "stored").await;
    check_paging(&*store, &records).await;
    check_stats(&*store, &records, "stored").await;

    // Every ongoing call ends: its result, end and duration change.
    let mut more = Vec::new();
    let by_id: HashMap<String, Record> = records
        .iter()
        .map(|r| (format!("{}/{}", r.sdkappid, r.call_id), r.clone()))
        .collect();
    for (app, id, events) in &mut world.calls {
        let r = &by_id[&format!("{app}/{id}")];
        if r.result == CallResult::Ongoing {
            let last = events.iter().map(|e| e.time_ms).max().unwrap();
            let e = ev(id, End, ADMIN_USER, last + 42_500);
            events.push(e.clone());
            more.extend(items(*app, &[e]));
        }
    }
    store.ingest(more).await.unwrap();
    let records = world.records();
    assert!(records.iter().all(|r| r.result != CallResult::Ongoing));
    check_all(&*store, &records, "after the ends").await;
    check_stats(&*store, &records, "after the ends").await;

    // A purge of the older half.
    let mut starts: Vec<i64> = records.iter().map(|r| r.start_ms).collect();
    starts.sort_unstable();
    let cutoff = starts[starts.len() / 2];
    store.purge_before(cutoff).await.unwrap();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|r| r.start_ms >= cutoff)
        .collect();
    check_all(&*store, &kept, "after the purge").await;
    check_stats(&*store, &kept, "after the purge").await;
}
