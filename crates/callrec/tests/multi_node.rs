//! Several stateless nodes on one PostgreSQL and one Redis: three real `callrec serve` processes
//! share a fresh database; every call's events are spread over all three nodes; every node answers
//! the same records; a per-app rate limit holds for the three nodes together.
//!
//! Needs `CALLREC_TEST_PG_URL` (a database the role may `CREATE DATABASE` from, e.g.
//! `postgres://root@127.0.0.1:5432/test`) and `CALLREC_TEST_REDIS_URL` (e.g.
//! `redis://127.0.0.1:6379`); without them the test prints why and passes without running.
//! It creates its own database `callrec_mn_<random>` (dropped at the end) and uses random
//! sdkappids, so its Redis keys are its own.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{KEY, Server};

const ADMIN: &str = "administrator";

/// get_record_by_callId of the rate-limited app: requests per second for the whole cluster.
const LIMIT: u32 = 20;

/// How long the rate-limit test hammers the three nodes.
const HAMMER: Duration = Duration::from_secs(3);

/// The stated tolerance: the cluster's GCRA allows at most `LIMIT` (burst) + `LIMIT`·d requests
/// in d seconds; we accept 10 % more for rounding at the edges of the measured interval.
const TOLERANCE: f64 = 1.10;

/// `postgres://u@h:5432/test?x=y` with the database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = main.split_once("://").expect("a postgres:// URL");
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut out = format!("{scheme}://{authority}/{db}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn admin_connection(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects to CALLREC_TEST_PG_URL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A database of this test's own, dropped when the guard goes (even after a failure).
struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDatabase {
    async fn create(admin_url: &str) -> TempDatabase {
        let name = format!("callrec_mn_{:016x}", rand::random::<u64>());
        admin_connection(admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        TempDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside the test's runtime: use a runtime of our own on another thread.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Err(e) = admin_connection(&admin_url).await.batch_execute(&sql).await {
                    eprintln!("could not drop the test database: {e}");
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("dropping the test database panicked");
        }
    }
}

/// One node: its process, its directory and a client trusting its own certificate.
struct Node {
    server: Server,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn node_config(dir: &Path, store_url: &str, redis_url: &str, open: u64, limited: u64) -> PathBuf {
    let text = format!(
        r#"listen = "127.0.0.1:0"
data_dir = "data"

[store]
url = "{store_url}"

[rate_limit]
redis_url = "{redis_url}"

[[apps]]
sdkappid = {open}
secret_key = "{KEY}"
admins = ["{ADMIN}"]
[apps.rate_limits]
get_record_by_callId = 0
get_records_by_filter = 0
report_events = 0

[[apps]]
sdkappid = {limited}
secret_key = "{KEY}"
admins = ["{ADMIN}"]
[apps.rate_limits]
get_record_by_callId = {LIMIT}
get_records_by_filter = 0
report_events = 0
"#
    );
    let path = dir.join("callrec.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start_node(store_url: &str, redis_url: &str, open: u64, limited: u64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path(), store_url, redis_url, open, limited);
    let server = Server::start(&config, &[]);
    let pem = std::fs::read(common::cert_path(dir.path())).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    Node {
        server,
        http,
        _dir: dir,
    }
}

impl Node {
    /// The whole envelope of a v1 call as the app's admin.
    async fn call(&self, sdkappid: u64, path: &str, body: &Value) -> Value {
        let now = u64::try_from(common::now_ms() / 1000).unwrap();
        let sig = callrec_usersig::generate(sdkappid, KEY, ADMIN, 3600, now);
        let url = format!(
            "{}/v1/{path}?sdkappid={sdkappid}&identifier={ADMIN}&usersig={sig}&random={}&contenttype=json",
            self.server.url,
            rand::random::<u32>()
        );
        let resp = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("JSON")
    }

    async fn metric(&self, line_prefix: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(line_prefix))
            .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
    }
}

/// A call: its events and the record they must fold into.
struct Call {
    id: String,
    events: Vec<Value>,
    record: Value,
}

fn ev(call_id: &str, kind: &str, user: &str, time: i64) -> Value {
    json!({"callId": call_id, "type": kind, "userId": user, "time": time})
}

/// Calls of every shape, each starting at a distinct second after `base` (whole seconds, ms).
fn calls(sdkappid: u64, base: i64) -> Vec<Call> {
    let mut out = Vec::new();
    let record = |id: &str, t0: i64, media: &str, accept: i64, end: i64| {
        json!({"callId": id, "sdkAppId": sdkappid, "mediaType": media, "roomId": "",
            "startCallTs": t0 / 1000, "acceptTs": accept / 1000, "endTs": end / 1000})
    };
    let merge = |mut a: Value, b: Value| {
        for (k, v) in b.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    for i in 0..4_i64 {
        // single, connected, normal end.
        let t0 = base + (i * 10) * 1000;
        let id = format!("mn-single-normal-{i}");
        out.push(Call {
            events: vec![
                json!({"callId": id, "type": "start", "userId": "alice", "time": t0,
                    "callees": ["bob"], "mediaType": "video", "roomId": format!("room{i}")}),
                ev(&id, "accept", "bob", t0 + 1_500),
                ev(&id, "hangup", "bob", t0 + 42_250),
                // After the end: changes nothing.
                ev(&id, "hangup", "alice", t0 + 43_000),
            ],
            record: merge(
                record(&id, t0, "video", t0 + 1_500, t0 + 42_250),
                json!({"roomId": format!("room{i}"), "caller": "alice", "totalUserNumber": 2,
                    "callType": "single", "callResult": "normal_end", "callees": ["bob"]}),
            ),
            id,
        });
        // single, rejected.
        let t0 = base + (i * 10 + 1) * 1000;
        let id = format!("mn-single-reject-{i}");
        out.push(Call {
            events: vec![
                json!({"callId": id, "type": "start", "userId": "carol", "time": t0,
                    "callees": ["dave"], "mediaType": "audio"}),
                ev(&id, "reject", "dave", t0 + 4_000),
                ev(&id, "hangup", "carol", t0 + 4_100),
            ],
            record: merge(
                record(&id, t0, "audio", 0, t0 + 4_000),
                json!({"caller": "carol", "totalUserNumber": 2, "callType": "single",
                    "callResult": "reject", "callees": ["dave"]}),
            ),
            id,
        });
        // group: two accept, one rejects, an invitee joins; ends when one user is left.
        let t0 = base + (i * 10 + 2) * 1000;
        let id = format!("mn-group-normal-{i}");
        out.push(Call {
            events: vec![
                json!({"callId": id, "type": "start", "userId": "erin", "time": t0,
                    "callees": ["f1", "f2", "f3"], "mediaType": "audio"}),
                ev(&id, "accept", "f1", t0 + 1_000),
                ev(&id, "reject", "f3", t0 + 1_200),
                ev(&id, "accept", "f2", t0 + 2_000),
                json!({"callId": id, "type": "invite", "userId": "f1", "time": t0 + 3_000,
                    "invitees": ["g1"]}),
                ev(&id, "join", "g1", t0 + 5_000),
                ev(&id, "hangup", "f1", t0 + 9_000),
                ev(&id, "hangup", "erin", t0 + 10_000),
                ev(&id, "offline", "g1", t0 + 11_000),
                ev(&id, "hangup", "f2", t0 + 12_000),
            ],
            record: merge(
                record(&id, t0, "audio", t0 + 1_000, t0 + 11_000),
                json!({"caller": "erin", "totalUserNumber": 5, "callType": "group",
                    "callResult": "normal_end", "callees": ["f1", "f2", "f3", "g1"]}),
            ),
            id,
        });
        // group, never connected: everyone rejects.
        let t0 = base + (i * 10 + 3) * 1000;
        let id = format!("mn-group-reject-{i}");
        out.push(Call {
            events: vec![
                json!({"callId": id, "type": "start", "userId": "hank", "time": t0,
                    "callees": ["i1", "i2"], "mediaType": "video", "callType": "group"}),
                ev(&id, "reject", "i2", t0 + 700),
                ev(&id, "reject", "i1", t0 + 2_900),
            ],
            record: merge(
                record(&id, t0, "video", 0, t0 + 2_900),
                json!({"caller": "hank", "totalUserNumber": 3, "callType": "group",
                    "callResult": "reject", "callees": ["i1", "i2"]}),
            ),
            id,
        });
        // single, connected, still going.
        let t0 = base + (i * 10 + 4) * 1000;
        let id = format!("mn-single-ongoing-{i}");
        out.push(Call {
            events: vec![
                json!({"callId": id, "type": "start", "userId": "jill", "time": t0,
                    "callees": ["ken"], "mediaType": "audio"}),
                ev(&id, "accept", "ken", t0 + 3_000),
            ],
            record: merge(
                record(&id, t0, "audio", t0 + 3_000, 0),
                json!({"caller": "jill", "totalUserNumber": 2, "callType": "single",
                    "callResult": "ongoing", "callees": ["ken"]}),
            ),
            id,
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_one_postgres_and_one_redis() {
    let (Ok(pg_url), Ok(redis_url)) = (
        std::env::var("CALLREC_TEST_PG_URL"),
        std::env::var("CALLREC_TEST_REDIS_URL"),
    ) else {
        callrec_store_tests::print_skipped(
            "CALLREC_TEST_PG_URL / CALLREC_TEST_REDIS_URL not set (multi-node test skipped)",
        );
        return;
    };
    let db = TempDatabase::create(&pg_url).await;
    // Random apps: a fresh Redis key namespace and no records but ours.
    let open = 1_600_000_000 + u64::from(rand::random::<u32>() % 100_000_000);
    let limited = open + 100_000_000;
    let nodes: Arc<Vec<Node>> = Arc::new(
        (0..3)
            .map(|_| start_node(&db.url, &redis_url, open, limited))
            .collect(),
    );

    // (a) Every call's events go round-robin to the three nodes, all reports at once.
    let base = (common::now_ms() - 600_000) / 1000 * 1000;
    let calls = calls(open, base);
    let mut reports = Vec::new();
    for call in &calls {
        for (i, event) in call.events.iter().enumerate() {
            let nodes = Arc::clone(&nodes);
            let body = json!({"events": [event]});
            reports.push(tokio::spawn(async move {
                let env = nodes[i % 3].call(open, "events/report", &body).await;
                assert_eq!(env["errorCode"], 0, "{env}");
                assert_eq!(env["data"]["accepted"], 1, "{env}");
            }));
        }
    }
    for r in futures::future::join_all(reports).await {
        r.unwrap();
    }
    for call in &calls {
        let mut answers = Vec::new();
        for node in nodes.iter() {
            let env = node
                .call(
                    open,
                    "records/get_record_by_callId",
                    &json!({"callId": call.id}),
                )
                .await;
            assert_eq!(env["errorCode"], 0, "{}: {env}", call.id);
            answers.push(env["data"].clone());
        }
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(a, &call.record, "node {i}, call {}", call.id);
        }
    }
    // The filter agrees on every node: all ended calls, newest first; then the ongoing ones.
    let mut ended: Vec<&Call> = calls
        .iter()
        .filter(|c| c.record["callResult"] != "ongoing")
        .collect();
    ended.sort_by_key(|c| std::cmp::Reverse(c.record["startCallTs"].as_i64().unwrap()));
    let expected: Vec<Value> = ended.iter().map(|c| c.record.clone()).collect();
    let since = base / 1000 - 10;
    for (i, node) in nodes.iter().enumerate() {
        let env = node
            .call(
                open,
                "records/get_records_by_filter",
                &json!({"startTimestamp": since, "numberPerPage": 1000}),
            )
            .await;
        assert_eq!(env["errorCode"], 0, "{env}");
        assert_eq!(env["data"]["totalNum"], expected.len(), "node {i}");
        assert_eq!(
            env["data"]["callRecordList"],
            Value::Array(expected.clone()),
            "node {i}"
        );
        let env = node
            .call(
                open,
                "records/get_records_by_filter",
                &json!({"startTimestamp": since, "callResult": "ongoing", "callType": "single",
                    "numberPerPage": 2, "page": 2}),
            )
            .await;
        assert_eq!(env["data"]["totalNum"], 4, "node {i}: {env}");
        let ids: Vec<&str> = env["data"]["callRecordList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["callId"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["mn-single-ongoing-1", "mn-single-ongoing-0"],
            "node {i}"
        );
    }

    // (b) The rate limit of `limited` holds for the three nodes together.
    let one = json!({"events": [{"callId": "rl-call", "type": "start", "userId": "alice",
        "time": common::now_ms() - 1_000, "callees": ["bob"], "mediaType": "audio"}]});
    assert_eq!(
        nodes[0].call(limited, "events/report", &one).await["errorCode"],
        0
    );
    let allowed: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let limited_n = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..9 {
        let (nodes, allowed, limited_n) = (
            Arc::clone(&nodes),
            Arc::clone(&allowed),
            Arc::clone(&limited_n),
        );
        workers.push(tokio::spawn(async move {
            let node = w % 3;
            // Paced (about 200 requests per second per worker): far above the limit, without
            // starving the servers of CPU.
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while started.elapsed() < HAMMER {
                tick.tick().await;
                let env = nodes[node]
                    .call(
                        limited,
                        "records/get_record_by_callId",
                        &json!({"callId": "rl-call"}),
                    )
                    .await;
                match env["errorCode"].as_u64() {
                    Some(0) => allowed[node].fetch_add(1, Ordering::Relaxed),
                    Some(70005) => limited_n.fetch_add(1, Ordering::Relaxed),
                    _ => panic!("unexpected answer {env}"),
                };
            }
        }));
    }
    for w in futures::future::join_all(workers).await {
        w.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let per_node: Vec<usize> = allowed.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let total: usize = per_node.iter().sum();
    let refused = limited_n.load(Ordering::Relaxed);
    let mut redis_decisions = 0;
    let mut local_decisions = 0;
    for node in nodes.iter() {
        redis_decisions += node
            .metric(r#"callrec_rate_limit_backend_total{backend="redis"} "#)
            .await;
        local_decisions += node
            .metric(r#"callrec_rate_limit_backend_total{backend="local"} "#)
            .await;
    }
    let n = f64::from(LIMIT);
    let bound = (n + n * secs) * TOLERANCE;
    println!(
        "rate limit {LIMIT}/s over {secs:.2} s on 3 nodes: {total} allowed {per_node:?}, {refused} refused; \
         bound {bound:.0} (+{local_decisions} local decisions); three separate limiters would allow {:.0}",
        3.0 * (n + n * secs)
    );
    assert!(
        refused > total,
        "the hammer must go well past the limit: {total} allowed, {refused} refused"
    );
    // Redis made (nearly) every decision: a brief Redis hiccup may hand one node to its local
    // limiter for a second, and each such decision may allow one request more.
    assert!(
        redis_decisions * 4 >= (redis_decisions + local_decisions) * 3,
        "redis {redis_decisions}, local {local_decisions}"
    );
    #[allow(clippy::cast_precision_loss)]
    let total_f = total as f64;
    #[allow(clippy::cast_precision_loss)]
    let local_f = local_decisions as f64;
    assert!(
        total_f <= bound + local_f,
        "{total} allowed > {bound:.0} (+{local_decisions})"
    );
    assert!(
        total_f >= n * secs * 0.8,
        "the limiter allowed too little: {total} in {secs:.2} s"
    );
    assert!(
        per_node.iter().all(|&a| a > 0),
        "every node allowed some: {per_node:?}"
    );

    // Shut the nodes down cleanly before the database goes.
    let Ok(nodes) = Arc::try_unwrap(nodes) else {
        panic!("a worker still holds the nodes");
    };
    for node in nodes {
        let status = node.server.terminate();
        assert!(status.success(), "{status}");
    }
    drop(db);
}

/// The ids a receiver got, with how often each.
fn id_counts(got: &common::Received) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (id, _, _) in got.lock().unwrap().iter() {
        *out.entry(id.clone()).or_default() += 1;
    }
    out
}

/// Every callback id the app has produced, from a node's deliveries API.
async fn produced_ids(node: &Node, app: u64) -> std::collections::BTreeSet<String> {
    let env = node
        .call(app, "callback/get_deliveries", &json!({"limit": 1000}))
        .await;
    assert_eq!(env["errorCode"], 0, "{env}");
    env["data"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Reports `n` finished single calls named `<prefix><i>`, spreading the reports over `nodes`.
async fn report_calls(nodes: &[Node], app: u64, prefix: &str, n: usize) {
    let t = common::now_ms() - 60_000;
    for i in 0..n {
        let id = format!("{prefix}{i}");
        let events = vec![
            json!({"callId": id, "type": "start", "userId": "alice", "time": t, "callees": ["bob"], "mediaType": "audio"}),
            ev(&id, "accept", "bob", t + 1000),
            ev(&id, "hangup", "alice", t + 5000),
        ];
        let env = nodes[i % nodes.len()]
            .call(app, "events/report", &json!({ "events": events }))
            .await;
        assert_eq!(env["data"]["accepted"], 3, "{env}");
    }
}

/// Two nodes deliver one app's callbacks: in normal operation each exactly once; when one node
/// is killed holding callbacks, the other takes them over (its leases run out within 20 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_every_callback_once_and_take_over_a_dead_nodes() {
    let (Ok(pg_url), Ok(redis_url)) = (
        std::env::var("CALLREC_TEST_PG_URL"),
        std::env::var("CALLREC_TEST_REDIS_URL"),
    ) else {
        callrec_store_tests::print_skipped(
            "CALLREC_TEST_PG_URL / CALLREC_TEST_REDIS_URL not set (multi-node callback test skipped)",
        );
        return;
    };
    let db = TempDatabase::create(&pg_url).await;
    let open = 1_600_000_000 + u64::from(rand::random::<u32>() % 100_000_000);
    let limited = open + 100_000_000;
    let mut nodes: Vec<Node> = (0..2)
        .map(|_| start_node(&db.url, &redis_url, open, limited))
        .collect();

    // Normal operation: every callback exactly once.
    let (got, port, _fast) = common::start_receiver(0, Duration::ZERO).await;
    let env = nodes[0]
        .call(
            open,
            "callback/set",
            &json!({"address": format!("http://127.0.0.1:{port}/"), "actions": ["caller_start_call", "callee_accept_call", "normal_end"]}),
        )
        .await;
    assert_eq!(env["errorCode"], 0, "{env}");
    report_calls(&nodes, open, "a", 100).await;
    let ids = produced_ids(&nodes[1], open).await;
    assert_eq!(ids.len(), 300);
    let deadline = Instant::now() + Duration::from_secs(30);
    while id_counts(&got).len() < 300 {
        assert!(
            Instant::now() < deadline,
            "{} of 300 delivered",
            id_counts(&got).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any duplicate show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = id_counts(&got);
    assert_eq!(
        counts
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    // A slow receiver: both nodes hold callbacks in flight when one is killed.
    let (slow_got, slow_port, _slow) = common::start_receiver(0, Duration::from_millis(1500)).await;
    let env = nodes[1]
        .call(
            open,
            "callback/update",
            &json!({"address": format!("http://127.0.0.1:{slow_port}/"), "actions": ["caller_start_call", "callee_accept_call", "normal_end"]}),
        )
        .await;
    assert_eq!(env["errorCode"], 0, "{env}");
    report_calls(&nodes, open, "b", 100).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let killed = nodes.remove(0);
    killed.server.kill9();
    let killed_at = Instant::now();
    let all = produced_ids(&nodes[0], open).await;
    let new_ids: std::collections::BTreeSet<String> = all.difference(&ids).cloned().collect();
    assert_eq!(new_ids.len(), 300);
    loop {
        let seen: std::collections::BTreeSet<String> = id_counts(&slow_got).into_keys().collect();
        if new_ids.is_subset(&seen) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "{} of 300 arrived since the kill",
            new_ids.intersection(&seen).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "after the kill, every callback arrived within {:?} ({} deliveries for 300)",
        killed_at.elapsed(),
        slow_got.lock().unwrap().len()
    );
    // Stop the survivor before its database goes.
    for node in nodes {
        assert!(node.server.terminate().success());
    }
    drop(db);
}
