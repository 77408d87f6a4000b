//! Record-query latency on PostgreSQL: loads a data set through the store (so the participant
//! rows and counts are the writers'), then times every filter shape of `filter_records` (a page
//! of 100 with the exact total, the same with offset 9 900, a cursor page) and `record_stats`.
//!
//! ```sh
//! cargo run --release -p callrec-store-postgres --example filter_bench -- URL SCHEMA load CALLS
//! cargo run --release -p callrec-store-postgres --example filter_bench -- URL SCHEMA query
//! ```
//!
//! `load` writes CALLS calls over the 7 days before now into SCHEMA (created if missing; use a
//! fresh one): 100 000 users, each call a caller and 1–3 callees, one user (`hot`) in 10 000 of
//! them, rooms on a third; each call's events in separate batches, as they arrive live. `query` prints, per shape, the median and worst of 5 runs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callrec_domain::{
    CallResult, CallType, Event, EventType, IngestItem, MediaType, Order, RecordFilter, RecordKey,
    RecordQuery, ResultFilter, StatsBucket, Store, Timeouts,
};
use callrec_store_postgres::{PgOptions, PgStore};

const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};
const APP: u64 = 1_400_000_001;
const USERS: u64 = 100_000;
const HOT_CALLS: u64 = 10_000;
const WEEK_S: i64 = 7 * 86_400;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn event(call: &str, kind: EventType, user: &str, time_ms: i64) -> Event {
    Event::new(call, kind, user, time_ms)
}

/// The events of call `i` of `n`.
fn call_events(rng: &mut Rng, i: u64, n: u64, end_s: i64) -> Vec<Event> {
    let id = format!("call-{i:09}");
    let t = (end_s - WEEK_S) * 1000 + (i as i64 * WEEK_S * 1000) / n as i64;
    let mut people: Vec<String> = Vec::new();
    let k = 2 + rng.below(3);
    while (people.len() as u64) < k {
        let u = format!("user{}", rng.below(USERS));
        if !people.contains(&u) {
            people.push(u);
        }
    }
    if rng.below(n) < HOT_CALLS {
        let at = rng.below(k) as usize;
        people[at] = "hot".into();
    }
    let mut start = event(&id, EventType::Start, &people[0], t);
    start.callees = people[1..].to_vec();
    start.call_type = Some(if k == 2 {
        CallType::Single
    } else {
        CallType::Group
    });
    start.media_type = Some(if rng.below(2) == 0 {
        MediaType::Audio
    } else {
        MediaType::Video
    });
    if rng.below(3) == 0 {
        start.room_id = Some(format!("room{}", rng.below(1000)));
    }
    let answer = t + 1000 + rng.below(20_000) as i64;
    match rng.below(5) {
        0 => vec![start, event(&id, EventType::Reject, &people[1], answer)],
        1 => vec![start, event(&id, EventType::Cancel, &people[0], answer)],
        _ => vec![
            start,
            event(&id, EventType::Accept, &people[1], answer),
            event(
                &id,
                EventType::Hangup,
                &people[0],
                answer + 1000 * rng.below(600) as i64,
            ),
        ],
    }
}

async fn load(store: &PgStore, n: u64) {
    let end_s = now_secs();
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batch = Vec::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    // A call's later events arrive 1 000 calls after its start (another batch), like a live
    // feed: each call's row (and participant rows) is written once per event.
    let mut later: std::collections::BTreeMap<u64, Vec<Event>> = Default::default();
    for i in 0..n + 2_001 {
        if i < n {
            for (k, e) in call_events(&mut rng, i, n, end_s).into_iter().enumerate() {
                later.entry(i + 1_000 * k as u64).or_default().push(e);
            }
        }
        for e in later.remove(&i).unwrap_or_default() {
            batch.push(IngestItem::internal(APP, e));
        }
        if batch.len() >= 500 || (i >= n && later.is_empty() && !batch.is_empty()) {
            pending.push(store.ingest(std::mem::take(&mut batch)));
            if pending.len() >= 6 {
                futures::StreamExt::next(&mut pending)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        if i % 100_000 == 0 && i > 0 {
            println!("{i} calls in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    while let Some(r) = futures::StreamExt::next(&mut pending).await {
        r.unwrap();
    }
    println!("{n} calls in {:.0} s", started.elapsed().as_secs_f64());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn time<F, Fut>(name: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut lat = Vec::new();
    let mut what = String::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        what = f().await;
        lat.push(t0.elapsed());
    }
    lat.sort();
    println!(
        "{name:<44} p50 {:>8.2} ms  max {:>8.2} ms  {what}",
        ms(lat[2]),
        ms(lat[4])
    );
}

async fn query(store: &PgStore) {
    let to_secs = now_secs();
    let base = RecordQuery {
        sdkappid: APP,
        from_secs: to_secs - WEEK_S,
        to_secs,
        result: ResultFilter::Ended,
        call_type: None,
        filter: RecordFilter::default(),
        order: Order::Desc,
        offset: 0,
        limit: 100,
        after: None,
        with_total: true,
    };
    let s = |v: &str| Some(v.to_owned());
    let ids: Vec<String> = (0..1000).map(|i| format!("call-{:09}", i * 97)).collect();
    let shapes: Vec<(&str, RecordFilter)> = vec![
        ("none", RecordFilter::default()),
        (
            "mediaType",
            RecordFilter {
                media_type: Some(MediaType::Video),
                ..RecordFilter::default()
            },
        ),
        (
            "userId (10k calls)",
            RecordFilter {
                user: s("hot"),
                ..RecordFilter::default()
            },
        ),
        (
            "caller (hot)",
            RecordFilter {
                caller: s("hot"),
                ..RecordFilter::default()
            },
        ),
        (
            "callee (hot) + minTalk 60",
            RecordFilter {
                callee: s("hot"),
                min_talk_secs: Some(60),
                ..RecordFilter::default()
            },
        ),
        (
            "userId (typical)",
            RecordFilter {
                user: s("user4242"),
                ..RecordFilter::default()
            },
        ),
        (
            "roomId",
            RecordFilter {
                room_id: s("room7"),
                ..RecordFilter::default()
            },
        ),
        (
            "userId (hot) + roomId",
            RecordFilter {
                user: s("hot"),
                room_id: s("room7"),
                ..RecordFilter::default()
            },
        ),
        ("callIds (1000)", {
            RecordFilter {
                call_ids: Some(ids),
                ..RecordFilter::default()
            }
        }),
        (
            "minTalk 300 (scan)",
            RecordFilter {
                min_talk_secs: Some(300),
                ..RecordFilter::default()
            },
        ),
    ];
    for (name, filter) in shapes {
        for order in [Order::Desc, Order::Asc] {
            let q = RecordQuery {
                filter: filter.clone(),
                order,
                ..base.clone()
            };
            time(&format!("{name} {order:?} page+total"), || async {
                let p = store.filter_records(&q).await.unwrap();
                format!("total {:?}, {} records", p.total, p.records.len())
            })
            .await;
            let deep = RecordQuery {
                offset: 9_900,
                ..q.clone()
            };
            time(&format!("{name} {order:?} offset 9900"), || async {
                let p = store.filter_records(&deep).await.unwrap();
                format!("{} records", p.records.len())
            })
            .await;
            let first = store
                .filter_records(&RecordQuery {
                    with_total: false,
                    ..q.clone()
                })
                .await
                .unwrap();
            if let Some(last) = first.records.last() {
                let next = RecordQuery {
                    after: Some(RecordKey::of(last)),
                    with_total: false,
                    ..q.clone()
                };
                time(&format!("{name} {order:?} cursor page"), || async {
                    let p = store.filter_records(&next).await.unwrap();
                    format!("{} records", p.records.len())
                })
                .await;
            }
        }
        let q = RecordQuery {
            filter: filter.clone(),
            ..base.clone()
        };
        for bucket in [StatsBucket::Hour, StatsBucket::All] {
            time(&format!("{name} stats {bucket:?}"), || async {
                let b = store.record_stats(&q, bucket).await.unwrap();
                let n: u64 = b.iter().map(|b| b.total).sum();
                let normal: u64 = b.iter().map(|b| b.by_result[4]).sum();
                format!(
                    "{} buckets, {n} calls, {normal} {}",
                    b.len(),
                    CallResult::NormalEnd
                )
            })
            .await;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, schema, cmd, rest @ ..] = args.as_slice() else {
        eprintln!("usage: filter_bench URL SCHEMA load CALLS | query");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = PgOptions {
            schema: Some(schema.clone()),
            ..PgOptions::default()
        };
        let store = PgStore::connect_with(url, TIMEOUTS, options).await.unwrap();
        match (cmd.as_str(), rest) {
            ("load", [n]) => load(&store, n.parse().unwrap()).await,
            ("query", []) => query(&store).await,
            _ => {
                eprintln!("usage: filter_bench URL SCHEMA load CALLS | query");
                std::process::exit(2);
            }
        }
        store.close().await.unwrap();
    });
}
