//! Store-only load: `get_record` and `filter_records` latency and throughput with N concurrent
//! tasks on a 2-worker runtime (like the server on a 2-core machine), and `ingest` of 100-event
//! batches from N tasks.
//!
//! ```sh
//! cargo run --release -p callrec-store-sqlite --example store_bench -- get    DB IDS_FILE TASKS SECS
//! cargo run --release -p callrec-store-sqlite --example store_bench -- filter DB TASKS SECS
//! cargo run --release -p callrec-store-sqlite --example store_bench -- ingest DB TASKS SECS [spread] [users]
//! ```
//!
//! `get` and `filter` open DB like the server does (migrating it if needed): point them at a
//! copy, not at a database someone else is using. `ingest` adds calls to DB (a fresh file, or a
//! loaded one to measure ingest into a full store). Its calls start now, one after the other,
//! between two users; `spread` starts them anywhere in the last hour instead (as `callrec
//! simulate` and the P2 client place them), `users` draws caller and callee from 500 users (as
//! the simulator does). Both make each transaction touch many more B-tree pages.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callrec_domain::{
    CallResult, CallType, Event, EventType, IngestItem, MediaType, RecordQuery, ResultFilter,
    Store, Timeouts,
};
use callrec_store_sqlite::SqliteStore;

const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};
const APP: u64 = 1_400_000_001;

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
}

fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration, extra: &str) {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{name}: {} ops in {:.1} s = {:.0} ops/s; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms{extra}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

async fn run_tasks<F, Fut>(tasks: usize, secs: u64, f: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let f = Arc::clone(&f);
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                f(t, i).await;
                lat.push(t0.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    (all, started.elapsed())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let t = Instant::now();
        let store = Arc::new(SqliteStore::open(args[2].as_ref(), TIMEOUTS).unwrap());
        eprintln!("open (incl. migration) {:.1} s", t.elapsed().as_secs_f64());
        match args[1].as_str() {
            "get" => {
                let ids: Arc<Vec<String>> = Arc::new(
                    std::fs::read_to_string(&args[3])
                        .unwrap()
                        .lines()
                        .map(str::to_owned)
                        .collect(),
                );
                let tasks: usize = args[4].parse().unwrap();
                let secs: u64 = args[5].parse().unwrap();
                let s = Arc::clone(&store);
                let (lat, el) = run_tasks(tasks, secs, move |t, i| {
                    let s = Arc::clone(&s);
                    let ids = Arc::clone(&ids);
                    async move {
                        let mut r = Rng((t as u64 + 1) * 0x9e37_79b9 + i * 7919 + 1);
                        r.next();
                        let id = &ids[(r.next() % ids.len() as u64) as usize];
                        assert!(s.get_record(APP, id).await.unwrap().is_some());
                    }
                })
                .await;
                report(&format!("get_record x{tasks}"), lat, el, "");
            }
            "filter" => {
                let tasks: usize = args[3].parse().unwrap();
                let secs: u64 = args[4].parse().unwrap();
                let now = now_secs();
                let week = (now - 7 * 86_400, now);
                let mixes = [
                    ("whole_window", week, ResultFilter::Ended, None),
                    (
                        "one_day",
                        (now - 3 * 86_400, now - 2 * 86_400),
                        ResultFilter::Ended,
                        None,
                    ),
                    (
                        "normal_end",
                        week,
                        ResultFilter::Is(CallResult::NormalEnd),
                        None,
                    ),
                    ("reject", week, ResultFilter::Is(CallResult::Reject), None),
                    ("group", week, ResultFilter::Ended, Some(CallType::Group)),
                ];
                for (name, (from, to), result, call_type) in mixes {
                    let s = Arc::clone(&store);
                    let q = RecordQuery {
                        sdkappid: APP,
                        from_secs: from,
                        to_secs: to,
                        result,
                        call_type,
                        filter: callrec_domain::RecordFilter::default(),
                        order: callrec_domain::Order::Desc,
                        offset: 0,
                        limit: 100,
                        after: None,
                        with_total: true,
                    };
                    let total = s.filter_records(&q).await.unwrap().total;
                    let (lat, el) = run_tasks(tasks, secs, move |t, i| {
                        let s = Arc::clone(&s);
                        let mut q = q.clone();
                        q.offset = 100 * ((t as u64 * 31 + i * 7) % 10);
                        async move {
                            let page = s.filter_records(&q).await.unwrap();
                            assert_eq!(page.total, total);
                        }
                    })
                    .await;
                    report(
                        &format!("filter {name} x{tasks}"),
                        lat,
                        el,
                        &format!(" (total {})", total.unwrap_or_default()),
                    );
                }
            }
            "ingest" => {
                let tasks: usize = args[3].parse().unwrap();
                let secs: u64 = args[4].parse().unwrap();
                let spread = args[5..].iter().any(|a| a == "spread");
                let users = args[5..].iter().any(|a| a == "users");
                let s = Arc::clone(&store);
                let base = now_secs() * 1000;
                let (lat, el) = run_tasks(tasks, secs, move |t, i| {
                    let s = Arc::clone(&s);
                    async move {
                        // 25 calls × 4 events, fresh call ids per batch (like the P2 client).
                        let mut items = Vec::with_capacity(100);
                        for c in 0..25 {
                            let call = format!("t{t}-b{i}-c{c}");
                            let ts = if spread {
                                // A scattered offset into the last hour.
                                base - ((i as i64 * 7919 + c * 104_729 + t as i64 * 15_485_863)
                                    % 3_600_000)
                            } else {
                                base + (i as i64) * 10 + c
                            };
                            let caller = if users {
                                format!("user_{:04}", (i * 31 + c as u64 * 7 + t as u64) % 500)
                            } else {
                                "alice".into()
                            };
                            let callee = if users {
                                format!(
                                    "user_{:04}",
                                    (i * 17 + c as u64 * 13 + t as u64 + 250) % 500
                                )
                            } else {
                                "bob".into()
                            };
                            let mut st = Event::new(&call, EventType::Start, &caller, ts);
                            st.callees = vec![callee.clone()];
                            st.media_type = Some(MediaType::Video);
                            st.call_type = Some(CallType::Single);
                            st.room_id = Some(format!("room-{t}-{i}-{c}"));
                            let evs = [
                                st,
                                Event::new(&call, EventType::Accept, &callee, ts + 1000),
                                Event::new(&call, EventType::Join, &callee, ts + 1100),
                                Event::new(&call, EventType::Hangup, &caller, ts + 9000),
                            ];
                            items.extend(
                                evs.into_iter()
                                    .map(|event| IngestItem::internal(APP, event)),
                            );
                        }
                        s.ingest(items).await.unwrap();
                    }
                })
                .await;
                let st = store.writer_stats();
                let n = lat.len();
                report(
                    &format!("ingest 100-event batches x{tasks}"),
                    lat,
                    el,
                    &format!(
                        "; {:.0} events/s; {} tx, {:.0} events/tx",
                        n as f64 * 100.0 / el.as_secs_f64(),
                        st.transactions,
                        st.events as f64 / st.transactions.max(1) as f64
                    ),
                );
            }
            other => panic!("unknown mode {other}"),
        }
        store.close().await.unwrap();
    });
}
