//! Behaviour specific to the PostgreSQL store: partition pruning, retention by whole
//! partitions, several nodes (independent `PgStore`s = separate pools) writing the same calls
//! and running the jobs at once (time-outs and callback delivery), group commit, migrations.
//! Each test uses its own schema in the database named by `CALLREC_TEST_PG_URL`, and is skipped
//! (passes, saying so) without it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use callrec_domain::{
    CallResult, Event, EventType, IngestOutcome, RecordQuery, ResultFilter, Store, StoreError,
    Timeouts, fold,
};
use callrec_store_postgres::{PgOptions, PgStore};
use callrec_store_tests::fixtures::{
    APP, LONG_TIMEOUTS, Rng, T0, ev, items, single_call_ending, start, with_id,
};
use common::TestSchema;

use EventType::*;

const DAY: i64 = 86_400_000;

/// Midnight UTC at the start of T0's day (2023-11-14).
const DAY0: i64 = T0 - T0.rem_euclid(DAY);

fn query(from_secs: i64, to_secs: i64) -> RecordQuery {
    RecordQuery {
        sdkappid: APP,
        from_secs,
        to_secs,
        result: ResultFilter::Ended,
        call_type: None,
        filter: callrec_domain::RecordFilter::default(),
        order: callrec_domain::Order::Desc,
        offset: 0,
        limit: 100,
        after: None,
        with_total: true,
    }
}

/// Names of the partition tables of `table` that exist in the schema.
async fn partitions(schema: &TestSchema, table: &str) -> Vec<String> {
    let client = schema.client().await;
    client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname LIKE $2 ORDER BY 1",
            &[&schema.name, &format!("{table}\\_p%")],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_day_filter_reads_exactly_one_calls_partition() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema.store(LONG_TIMEOUTS).await;
    for d in 0..4 {
        let events = single_call_ending(&format!("c{d}"), DAY0 + d * DAY + 3_600_000, "reject");
        store.ingest(items(APP, &events)).await.unwrap();
    }
    let day1 = (DAY0 + DAY) / 1000;
    let q = query(day1, day1 + 86_399);
    let plan = store.explain_filter(&q).await.unwrap().join("\n");
    let scanned: BTreeSet<&str> = plan
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.strip_prefix("calls_p")
                .is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    assert_eq!(
        scanned,
        BTreeSet::from(["calls_p20231115"]),
        "the plan should touch only that day's partition:\n{plan}"
    );
    let page = store.filter_records(&q).await.unwrap();
    assert_eq!(page.total, Some(1));
    assert_eq!(page.records[0].call_id, "c1");
    // Two days: two partitions.
    let plan = store
        .explain_filter(&query(day1, day1 + 2 * 86_400 - 1))
        .await
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("calls_p20231115") && plan.contains("calls_p20231116"),
        "{plan}"
    );
    assert!(
        !plan.contains("calls_p20231114") && !plan.contains("calls_p20231117"),
        "{plan}"
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_drops_whole_day_partitions_and_deletes_rows_only_in_the_cutoff_day() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema.store(LONG_TIMEOUTS).await;
    // Day 0: two calls (5 events). Day 1: one call (3 events) and an unstarted call (1 event).
    // Day 2: one call before the cutoff (2 events), one after (2 events).
    store
        .ingest(items(
            APP,
            &single_call_ending("d0-a", DAY0 + 1000, "normal_end"),
        ))
        .await
        .unwrap();
    store
        .ingest(items(
            APP,
            &single_call_ending("d0-b", DAY0 + 2000, "reject"),
        ))
        .await
        .unwrap();
    store
        .ingest(items(
            APP,
            &single_call_ending("d1-a", DAY0 + DAY + 5, "interrupt"),
        ))
        .await
        .unwrap();
    store
        .ingest(items(
            APP,
            &[ev("d1-unstarted", Accept, "bob", DAY0 + DAY + 9)],
        ))
        .await
        .unwrap();
    let cutoff = DAY0 + 2 * DAY + 3_600_000;
    store
        .ingest(items(
            APP,
            &single_call_ending("d2-old", cutoff - 10_000, "cancel"),
        ))
        .await
        .unwrap();
    store
        .ingest(items(
            APP,
            &single_call_ending("d2-new", cutoff + 10, "cancel"),
        ))
        .await
        .unwrap();
    assert!(
        partitions(&schema, "calls")
            .await
            .contains(&"calls_p20231114".to_owned())
    );

    let stats = store.purge_before(cutoff).await.unwrap();
    assert_eq!((stats.calls, stats.events), (5, 11));
    for table in ["calls", "events"] {
        let parts = partitions(&schema, table).await;
        for gone in ["p20231114", "p20231115"] {
            assert!(
                !parts.contains(&format!("{table}_{gone}")),
                "{table}: {parts:?}"
            );
        }
        assert!(
            parts.contains(&format!("{table}_p20231116")),
            "{table}: {parts:?}"
        );
    }
    for call in ["d0-a", "d0-b", "d1-a", "d2-old"] {
        assert_eq!(store.get_record(APP, call).await.unwrap(), None, "{call}");
        assert!(store.call_events(APP, call).await.unwrap().is_empty());
    }
    assert!(
        store
            .call_events(APP, "d1-unstarted")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_record(APP, "d2-new").await.unwrap().is_some());
    assert_eq!(store.call_events(APP, "d2-new").await.unwrap().len(), 2);
    assert_eq!(
        store.purge_before(cutoff).await.unwrap(),
        Default::default()
    );
    // A write for a dropped day recreates its partition.
    store
        .ingest(items(
            APP,
            &single_call_ending("d0-again", DAY0 + 5, "reject"),
        ))
        .await
        .unwrap();
    assert!(store.get_record(APP, "d0-again").await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_on_another_day_than_earlier_events_moves_the_call_and_its_events() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema.store(LONG_TIMEOUTS).await;
    let t = DAY0 + DAY - 1000; // one second before midnight
    // The callee's accept is reported first, timed after midnight.
    store
        .ingest(items(APP, &[ev("m", Accept, "bob", t + 2000)]))
        .await
        .unwrap();
    let client = schema.client().await;
    let where_ = |table: &str| {
        format!("SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE call_id = 'm'")
    };
    let located =
        |rows: Vec<tokio_postgres::Row>| -> Vec<String> { rows.iter().map(|r| r.get(0)).collect() };
    assert_eq!(
        located(client.query(&where_("calls"), &[]).await.unwrap()),
        ["calls_p20231115"]
    );
    store
        .ingest(items(APP, &[start("m", "alice", &["bob"], t)]))
        .await
        .unwrap();
    assert_eq!(
        located(client.query(&where_("calls"), &[]).await.unwrap()),
        ["calls_p20231114"]
    );
    assert_eq!(
        located(client.query(&where_("events"), &[]).await.unwrap()),
        ["events_p20231114"]
    );
    let events = store.call_events(APP, "m").await.unwrap();
    assert_eq!(events.len(), 2);
    let rec = store.get_record(APP, "m").await.unwrap().unwrap();
    assert_eq!(rec, fold(APP, &events).unwrap().record);
    assert_eq!(rec.accept_ms, Some(t + 2000));
    store.close().await.unwrap();
}

/// The events of call `c`: a group call that starts near midnight for some calls, with a stray
/// event two hours before its start (so the call's day moves when the start arrives), joins,
/// hangups by eventId, and an end.
fn call_events(c: usize) -> Vec<Event> {
    let id = format!("n-{c}");
    let t = DAY0 + DAY - 3_600_000 + c as i64 * 400_000; // 23:00 … 01:07
    let mut v = vec![
        ev(&id, Reject, "early", t - 7_200_000),
        start(&id, "caller", &["x1", "x2", "x3"], t),
        ev(&id, Accept, "x1", t + 1000),
        ev(&id, Reject, "x2", t + 1500),
        ev(&id, Busy, "x3", t + 1500),
    ];
    for k in 0..8 {
        v.push(ev(&id, Join, &format!("z{k}"), t + 2000 + k));
    }
    for k in 0..5 {
        v.push(with_id(
            ev(&id, Hangup, &format!("z{k}"), t + 5000 + k),
            &format!("h{k}"),
        ));
    }
    v.push(ev(&id, Hangup, "x1", t + 9000));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_reporting_the_same_calls_at_once_give_exactly_the_fold() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let nodes: Vec<Arc<PgStore>> = vec![
        Arc::new(schema.store(LONG_TIMEOUTS).await),
        Arc::new(schema.store(LONG_TIMEOUTS).await),
        Arc::new(schema.store(LONG_TIMEOUTS).await),
    ];
    let calls = 20;
    // Every event twice, shuffled, dealt to 36 tasks that send batches of 1–4 to random nodes.
    let mut all: Vec<Event> = (0..calls).flat_map(call_events).collect();
    let distinct = all.len();
    all.extend(all.clone());
    let mut rng = Rng::new(0x5eed);
    rng.shuffle(&mut all);
    let tasks = 36;
    let mut handles = Vec::new();
    for (t, chunk) in all.chunks(all.len().div_ceil(tasks)).enumerate() {
        let chunk = chunk.to_vec();
        let nodes = nodes.clone();
        let mut rng = Rng::new(t as u64 + 11);
        handles.push(tokio::spawn(async move {
            let (mut acc, mut dup) = (Vec::new(), 0usize);
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(4.min(rest.len()));
                let (batch, tail) = rest.split_at(n);
                rest = tail;
                let node = &nodes[rng.below(nodes.len())];
                let out = node.ingest(items(APP, batch)).await.unwrap();
                for (e, o) in batch.iter().zip(out) {
                    match o {
                        IngestOutcome::Accepted => acc.push((e.call_id.clone(), e.dedupe_key())),
                        IngestOutcome::Duplicate => dup += 1,
                    }
                }
            }
            (acc, dup)
        }));
    }
    let mut accepted = HashSet::new();
    let mut duplicates = 0;
    for h in handles {
        let (acc, dup) = h.await.unwrap();
        for k in acc {
            assert!(accepted.insert(k.clone()), "accepted twice: {k:?}");
        }
        duplicates += dup;
    }
    assert_eq!((accepted.len(), duplicates), (distinct, distinct));
    for c in 0..calls {
        let id = format!("n-{c}");
        let want = fold(APP, &call_events(c)).unwrap().record;
        for node in &nodes {
            assert_eq!(
                node.get_record(APP, &id).await.unwrap(),
                Some(want.clone()),
                "{id}"
            );
        }
        assert_eq!(
            nodes[0].call_events(APP, &id).await.unwrap().len(),
            19,
            "{id}"
        );
    }
    // One row per call, in its start's day, events alongside.
    let client = schema.client().await;
    let rows = client
        .query(
            "SELECT c.call_id, count(*) OVER (PARTITION BY c.call_id), c.part_day, \
             (SELECT count(*) FROM events e WHERE e.call_id = c.call_id AND e.part_day = c.part_day) \
             FROM calls c",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), calls);
    for r in &rows {
        assert_eq!(r.get::<_, i64>(1), 1);
        assert_eq!(r.get::<_, i64>(3), 19);
    }
    for node in &nodes {
        node.close().await.unwrap();
    }
}

const SHORT: Timeouts = Timeouts {
    ring_ms: 1_000,
    idle_ms: 5_000,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_calls_on_three_nodes_at_once_hands_each_due_call_to_exactly_one() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Arc::new(schema.store(SHORT).await));
    }
    let calls = 60;
    for c in 0..calls {
        let e = start(&format!("r-{c}"), "alice", &["bob"], T0 + c as i64);
        nodes[c % 3].ingest(items(APP, &[e])).await.unwrap();
    }
    let now = T0 + 100_000;
    for round in 0..5 {
        let claims: Vec<_> = nodes
            .iter()
            .map(|n| {
                let n = Arc::clone(n);
                tokio::spawn(async move { n.due_calls(now + round, 1000).await.unwrap() })
            })
            .collect();
        let mut seen = BTreeMap::new();
        for (i, h) in claims.into_iter().enumerate() {
            for d in h.await.unwrap() {
                assert!(
                    seen.insert(d.call_id.clone(), i).is_none(),
                    "{} twice",
                    d.call_id
                );
            }
        }
        if round == 0 {
            assert_eq!(seen.len(), calls, "every due call goes to some node");
        }
        // Rounds after the first: each node gets back exactly what it had claimed.
        if round > 0 {
            assert_eq!(seen.len(), calls);
        }
    }
    // Later than the lease: anyone may claim again. Each node now runs the time-out job
    // (claim 7, handle them by storing their time-out events, repeat) at the same time; every
    // due call is handled by exactly one node.
    let later = now + 5 + PgOptions::default().lease_ms;
    let jobs: Vec<_> = nodes
        .iter()
        .map(|n| {
            let n = Arc::clone(n);
            tokio::spawn(async move {
                let mut handled = Vec::new();
                loop {
                    let due = n.due_calls(later, 7).await.unwrap();
                    if due.is_empty() {
                        return handled;
                    }
                    for d in due {
                        let events = n.call_events(d.sdkappid, &d.call_id).await.unwrap();
                        let sys = fold(APP, &events).unwrap().due_events(SHORT, later);
                        n.ingest(items(APP, &sys)).await.unwrap();
                        handled.push(d.call_id);
                    }
                }
            })
        })
        .collect();
    let mut handled_by = BTreeMap::new();
    let mut per_node = Vec::new();
    for (i, j) in jobs.into_iter().enumerate() {
        let handled = j.await.unwrap();
        per_node.push(handled.len());
        for call in handled {
            assert!(
                handled_by.insert(call.clone(), i).is_none(),
                "{call} handled twice"
            );
        }
    }
    eprintln!("due calls handled per node: {per_node:?}");
    assert_eq!(handled_by.len(), calls, "handled per node: {per_node:?}");
    for n in &nodes {
        assert!(n.due_calls(i64::MAX / 2, 1000).await.unwrap().is_empty());
    }
    let rec = nodes[0].get_record(APP, "r-0").await.unwrap().unwrap();
    assert_eq!(rec.result, CallResult::NotAnswer);
    for n in &nodes {
        n.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_puts_200_concurrent_ingests_in_a_few_transactions() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = Arc::new(schema.store(LONG_TIMEOUTS).await);
    // Make the day's partition exist, then stall every writer on a table lock held by
    // another session while 200 ingests queue up.
    store
        .ingest(items(APP, &[start("warm", "a", &["b"], T0)]))
        .await
        .unwrap();
    let mut blocker = schema.client().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE calls IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let before = store.writer_stats();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let e = start(&format!("c{i}"), "alice", &["bob"], T0 + i);
            store.ingest(items(APP, &[e])).await.unwrap()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    tx.rollback().await.unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap(), vec![IngestOutcome::Accepted]);
    }
    let after = store.writer_stats();
    let txs = after.transactions - before.transactions;
    assert_eq!(after.ingest_jobs - before.ingest_jobs, 200);
    assert!(txs <= 10, "200 queued ingests took {txs} transactions");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_once_when_nodes_start_together_and_again_is_a_no_op() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let schema = Arc::new(schema);
    let starts: Vec<_> = (0..5)
        .map(|_| {
            let schema = Arc::clone(&schema);
            tokio::spawn(async move { schema.store(LONG_TIMEOUTS).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap());
    }
    let again = schema.store(LONG_TIMEOUTS).await;
    again.ping().await.unwrap();
    let client = schema.client().await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM callrec_schema_migrations ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    for s in stores.iter().chain([&again]) {
        s.close().await.unwrap();
    }
    // A schema from a newer build is refused.
    client
        .execute(
            "INSERT INTO callrec_schema_migrations (version) VALUES (999)",
            &[],
        )
        .await
        .unwrap();
    let err = PgStore::connect_with(&schema.url, LONG_TIMEOUTS, schema.options())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_database_is_unavailable_and_the_error_hides_the_password() {
    if common::url_or_skip().is_none() {
        return;
    }
    let url = "postgres://someone:s3cret-pw@127.0.0.1:1/nodb";
    let options = PgOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..PgOptions::default()
    };
    let err = PgStore::connect_with(url, LONG_TIMEOUTS, options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_time_outs_recompute_due_times_at_connect() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema.store(LONG_TIMEOUTS).await;
    store
        .ingest(items(APP, &[start("ring", "alice", &["bob"], T0)]))
        .await
        .unwrap();
    assert!(store.due_calls(T0 + 2000, 10).await.unwrap().is_empty());
    store.close().await.unwrap();
    let store = schema.store(SHORT).await;
    let due = store.due_calls(T0 + 2000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due_ms, T0 + 1000);
    store.close().await.unwrap();
}

/// The direct count of the calls matching `q` (what `totalNum` must equal).
async fn direct_count(client: &tokio_postgres::Client, q: &RecordQuery) -> u64 {
    let ty = q.call_type.map(|t| t.as_str().to_owned());
    let (ended, result) = match q.result {
        ResultFilter::Ended => (true, None),
        ResultFilter::Is(r) => (false, Some(r.as_str().to_owned())),
    };
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM calls WHERE sdkappid = $1 AND start_s BETWEEN $2 AND $3 \
             AND ($4::text IS NULL OR call_type = $4) AND (NOT $5 OR ended) \
             AND ($6::text IS NULL OR result = $6)",
            &[
                &(q.sdkappid as i64),
                &q.from_secs,
                &q.to_secs,
                &ty,
                &ended,
                &result,
            ],
        )
        .await
        .unwrap()
        .get(0);
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filter_totals_from_maintained_counts_equal_direct_counts_through_changes_and_purge() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = Arc::new(schema.store(LONG_TIMEOUTS).await);
    let mut rng = Rng::new(7);
    let endings = [
        "cancel",
        "reject",
        "not_answer",
        "call_busy",
        "normal_end",
        "interrupt",
        "ongoing",
    ];
    // Calls over three days, reported in two halves: the first half leaves many calls ongoing
    // (or unstarted: a stray accept before the start, which moves the call when it arrives),
    // the second changes their result.
    let mut first = Vec::new();
    let mut second = Vec::new();
    for c in 0..400 {
        let id = format!("k{c}");
        let start_ms = DAY0 + (rng.below(3 * 24 * 60) as i64) * 60_000 + rng.below(60_000) as i64;
        let mut events = if c % 9 == 0 {
            callrec_store_tests::fixtures::group_call(&id, start_ms)
        } else {
            single_call_ending(&id, start_ms, endings[rng.below(endings.len())])
        };
        if c % 13 == 0 {
            // Reported first: an accept timed on the next day.
            first.push(ev(&id, Accept, "bob", start_ms + DAY));
        }
        let split_at = 1 + rng.below(events.len());
        second.extend(events.split_off(split_at));
        first.extend(events);
    }
    for half in [first, second] {
        let mut tasks = Vec::new();
        for chunk in half.chunks(37) {
            let store = Arc::clone(&store);
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                store.ingest(items(APP, &chunk)).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let client = schema.client().await;
    let shapes: Vec<(ResultFilter, Option<callrec_domain::CallType>)> = [
        ResultFilter::Ended,
        ResultFilter::Is(CallResult::NormalEnd),
        ResultFilter::Is(CallResult::Ongoing),
        ResultFilter::Is(CallResult::Cancel),
    ]
    .into_iter()
    .flat_map(|r| {
        [
            None,
            Some(callrec_domain::CallType::Single),
            Some(callrec_domain::CallType::Group),
        ]
        .map(|t| (r, t))
    })
    .collect();
    let check = |rng: &mut Rng, lo: i64, span: i64| {
        let a = lo + rng.below(span as usize) as i64;
        let b = match rng.below(3) {
            0 => a + rng.below(7_200) as i64,
            1 => a - a.rem_euclid(3_600) + 3_600 * rng.below(30) as i64 - 1,
            _ => a + rng.below(span as usize) as i64,
        };
        (a, b)
    };
    let lo = DAY0 / 1000 - 7_200;
    let span = 4 * 86_400;
    let compare = async |rng: &mut Rng| {
        for i in 0..150 {
            let (from_secs, to_secs) = if i == 0 {
                (lo, lo + span)
            } else {
                check(rng, lo, span)
            };
            let (result, call_type) = shapes[i % shapes.len()];
            let q = RecordQuery {
                result,
                call_type,
                ..query(from_secs, to_secs)
            };
            let got = store.filter_records(&q).await.unwrap().total;
            assert_eq!(got, Some(direct_count(&client, &q).await), "{q:?}");
        }
    };
    compare(&mut rng).await;
    // A purge drops the first day whole and cuts into the second.
    store
        .purge_before(DAY0 + DAY + 5 * 3_600_000 + 123)
        .await
        .unwrap();
    compare(&mut rng).await;
    let whole = query(lo, lo + span);
    assert!(store.filter_records(&whole).await.unwrap().total > Some(0));
    store.close().await.unwrap();
}

/// The rows of `call_users` that differ from what the `calls` rows say (both ways), the
/// `call_counts` sums that differ from the direct sums, and the `talk_s` values that differ
/// from the end and accept times: all must be none.
async fn derived_mismatches(client: &tokio_postgres::Client) -> (i64, i64, i64) {
    let users: i64 = client
        .query_one(
            "WITH want AS (SELECT c.sdkappid, u.user_id, c.start_s, c.call_id, \
               u.user_id = c.caller AS is_caller, c.ended, c.result, c.call_type, c.media_type, \
               c.talk_s, c.ended AND c.accept_ms IS NOT NULL AS connected FROM calls c \
               CROSS JOIN LATERAL unnest(array_prepend(c.caller, c.callees)) AS u(user_id) \
               WHERE c.start_s IS NOT NULL), \
             have AS (SELECT sdkappid, user_id, start_s, call_id, is_caller, ended, result, \
               call_type, media_type, talk_s, connected FROM call_users) \
             SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) a) \
                  + (SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) b)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let counts: i64 = client
        .query_one(
            "WITH want AS (SELECT sdkappid, div(start_s - mod(mod(start_s, 3600) + 3600, 3600), \
               3600)::int8 AS bucket, ended, result, call_type, media_type, count(*) AS n, \
               count(*) FILTER (WHERE ended AND accept_ms IS NOT NULL) AS connected, \
               sum(talk_s)::int8 AS talk_s FROM calls \
               WHERE start_s IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6), \
             have AS (SELECT sdkappid, bucket, ended, result, call_type, media_type, \
               sum(n)::int8 AS n, sum(connected)::int8 AS connected, sum(talk_s)::int8 AS talk_s \
               FROM call_counts GROUP BY 1, 2, 3, 4, 5, 6 \
               HAVING (sum(n), sum(connected), sum(talk_s)) <> (0, 0, 0)) \
             SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) a) \
                  + (SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) b)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let talk: i64 = client
        .query_one(
            "SELECT count(*) FROM calls WHERE talk_s IS DISTINCT FROM \
             CASE WHEN accept_ms IS NOT NULL AND end_ms IS NOT NULL THEN GREATEST(0, \
               floor(end_ms / 1000.0)::int8 - floor(accept_ms / 1000.0)::int8) ELSE 0 END",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    (users, counts, talk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn participant_rows_and_counts_follow_every_change_move_and_purge() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = Arc::new(schema.store(LONG_TIMEOUTS).await);
    let client = schema.client().await;
    let mut rng = Rng::new(5);
    let people = ["ann", "ben", "cat", "dan", "eve", "fay"];
    // Three days of calls in two rounds: the first leaves calls ongoing, unstarted (an event
    // before the start), or started by a later start than the one that counts; the second
    // ends them, brings the starts (some a day earlier: the call moves) and earlier starts
    // with another caller and callees (the participants change).
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for c in 0..300 {
        let id = format!("p{c}");
        let t = DAY0 + DAY + (rng.below(2 * 24 * 60) as i64) * 60_000 + rng.below(60_000) as i64;
        let caller = people[rng.below(people.len())];
        let callees: Vec<&str> = people
            .iter()
            .copied()
            .filter(|p| *p != caller)
            .take(1 + rng.below(3))
            .collect();
        let mut s = start(&id, caller, &callees, t);
        s.media_type = Some(if c % 2 == 0 {
            callrec_domain::MediaType::Audio
        } else {
            callrec_domain::MediaType::Video
        });
        s.room_id = (c % 3 == 0).then(|| format!("room{}", c % 7));
        let accept = ev(&id, Accept, callees[0], t + 1_500 + rng.below(5_000) as i64);
        let hangup = ev(&id, Hangup, caller, t + 2_000 + rng.below(400_000) as i64);
        match c % 6 {
            0 => {
                first.push(s);
                second.extend([accept, hangup]);
            }
            1 => {
                first.extend([s, accept]);
                second.push(hangup);
            }
            2 => {
                // Unstarted at first: an accept timed after the start.
                first.push(accept);
                second.extend([s, hangup]);
            }
            3 => {
                // The counting start arrives second: a day earlier, another caller.
                let other = people.iter().find(|p| **p != caller).unwrap();
                let callees_then: Vec<&str> = people
                    .iter()
                    .copied()
                    .filter(|p| p != other)
                    .take(2)
                    .collect();
                let earlier = start(&id, other, &callees_then, t - DAY);
                first.extend([s, accept]);
                second.extend([earlier, hangup]);
            }
            4 => first.extend([s, accept, hangup]),
            _ => {
                // A group call gains a callee while ongoing: one more participant row.
                let mut group = start(&id, caller, &callees, t);
                group.call_type = Some(callrec_domain::CallType::Group);
                let mut invite = ev(&id, Invite, caller, t + 1_000);
                invite.invitees = people
                    .iter()
                    .filter(|p| **p != caller && !callees.contains(p))
                    .take(1)
                    .map(|p| (*p).to_owned())
                    .collect();
                first.push(group);
                second.push(invite);
            }
        }
    }
    for (round, half) in [first, second].into_iter().enumerate() {
        let mut tasks = Vec::new();
        for chunk in half.chunks(23) {
            let store = Arc::clone(&store);
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                store.ingest(items(APP, &chunk)).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            derived_mismatches(&client).await,
            (0, 0, 0),
            "round {round}"
        );
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM call_users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(rows > 600, "{rows}");
    let grown: i64 = client
        .query_one(
            "SELECT count(*) FROM calls WHERE call_id ~ '^p[0-9]+$' \
             AND substr(call_id, 2)::int % 6 = 5 AND call_type = 'group' \
             AND cardinality(callees) = 4 AND NOT ended",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Three callees at the start at most: a fourth came by the invite.
    assert!(grown > 5, "{grown}");
    // A purge drops the first day whole and cuts into the second.
    store
        .purge_before(DAY0 + DAY + 7 * 3_600_000 + 321)
        .await
        .unwrap();
    assert_eq!(
        derived_mismatches(&client).await,
        (0, 0, 0),
        "after the purge"
    );
    let parts = partitions(&schema, "call_users").await;
    assert!(
        !parts.contains(&"call_users_p20231114".to_owned()),
        "{parts:?}"
    );
    assert!(
        parts.contains(&"call_users_p20231115".to_owned()),
        "{parts:?}"
    );
    store.close().await.unwrap();
}

/// Migration 5 builds `call_users`, `talk_s` and the new `call_counts` from the `calls` rows of
/// a database written before it: undone by hand on a store's data and applied again at
/// connect, it gives back exactly what the writers kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_participant_migration_rebuilds_what_the_writers_keep() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema.store(LONG_TIMEOUTS).await;
    let mut events = Vec::new();
    for c in 0..60 {
        let t = DAY0 + (c as i64) * 2_700_000;
        let mut call = if c % 4 == 0 {
            callrec_store_tests::fixtures::group_call(&format!("m{c}"), t)
        } else {
            single_call_ending(
                &format!("m{c}"),
                t,
                ["normal_end", "reject", "ongoing"][c % 3],
            )
        };
        if c % 5 == 0 {
            call[0].media_type = Some(callrec_domain::MediaType::Audio);
        }
        events.extend(call);
    }
    store.ingest(items(APP, &events)).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let client = schema.client().await;
    let snapshot = async || -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT format('%s', array_agg(t ORDER BY t::text)) FROM \
             (SELECT sdkappid, user_id, start_s, call_id, is_caller, ended, result, call_type, \
              media_type, talk_s, connected FROM call_users) t",
            "SELECT format('%s', array_agg(t ORDER BY t::text)) FROM \
             (SELECT sdkappid, bucket, ended, result, call_type, media_type, sum(n), \
              sum(connected), sum(talk_s) FROM call_counts GROUP BY 1, 2, 3, 4, 5, 6) t",
            "SELECT format('%s', array_agg(t ORDER BY t::text)) FROM \
             (SELECT call_id, talk_s FROM calls) t",
        ] {
            out.push(client.query_one(sql, &[]).await.unwrap().get(0));
        }
        out
    };
    let before = snapshot().await;
    assert!(before[2].contains("(m3,8)"), "{}", before[2]);
    // Back to version 4.
    client
        .batch_execute(
            "DROP TABLE call_users; DROP INDEX calls_by_room; \
             ALTER TABLE calls DROP COLUMN talk_s; DROP TABLE call_counts; \
             CREATE TABLE call_counts (sdkappid BIGINT NOT NULL, bucket BIGINT NOT NULL, \
               ended BOOLEAN NOT NULL, result TEXT NOT NULL, call_type TEXT NOT NULL, \
               slot INTEGER NOT NULL, n BIGINT NOT NULL, \
               PRIMARY KEY (sdkappid, bucket, ended, result, call_type, slot)); \
             DELETE FROM callrec_schema_migrations WHERE version = 5;",
        )
        .await
        .unwrap();
    let store = schema.store(LONG_TIMEOUTS).await;
    assert_eq!(snapshot().await, before);
    assert_eq!(derived_mismatches(&client).await, (0, 0, 0));
    let q = RecordQuery {
        filter: callrec_domain::RecordFilter {
            user: Some("carol".into()),
            ..Default::default()
        },
        ..query(DAY0 / 1000, DAY0 / 1000 + 2 * 86_400)
    };
    assert_eq!(store.filter_records(&q).await.unwrap().total, Some(15));
    store.close().await.unwrap();
}

// ---- Callbacks on several nodes -------------------------------------------------------------

fn every_change(url: &str) -> callrec_domain::CallbackConfig {
    callrec_domain::CallbackConfig {
        generation: callrec_domain::Generation::V1,
        url: url.to_owned(),
        commands: vec!["*".to_owned()],
    }
}

/// Two nodes (one planner between them, so the test planner's ids stay unique).
async fn two_callback_nodes(schema: &TestSchema) -> [Arc<PgStore>; 2] {
    let planner = callrec_store_tests::planner::planner();
    [
        Arc::new(
            schema
                .store_with_planner(LONG_TIMEOUTS, Arc::clone(&planner))
                .await,
        ),
        Arc::new(schema.store_with_planner(LONG_TIMEOUTS, planner).await),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_claiming_at_once_never_hold_the_same_callback() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let nodes = two_callback_nodes(&schema).await;
    let config = callrec_domain::CallbackConfig {
        commands: vec!["start".to_owned()],
        ..every_change("http://a.example/")
    };
    nodes[0]
        .put_callback_config(APP, config, false)
        .await
        .unwrap();
    // 200 calls, each one start: 200 heads, produced through both nodes.
    for c in 0..200 {
        let e = start(&format!("k{c}"), "alice", &["bob"], T0 + c as i64);
        nodes[c % 2].ingest(items(APP, &[e])).await.unwrap();
    }
    assert_eq!(nodes[1].outbox_stats().await.unwrap().pending, 200);
    let now = callrec_store_tests::planner::now_ms() + 1;
    let claims: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let n = Arc::clone(n);
            tokio::spawn(async move {
                let owner = format!("node-{i}");
                let mut mine = Vec::new();
                loop {
                    let got = n.claim_callbacks(&owner, now, 600_000, 7).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.seq));
                }
            })
        })
        .collect();
    let mut held = Vec::new();
    for h in claims {
        held.push(h.await.unwrap());
    }
    eprintln!(
        "callbacks claimed per node: {:?}",
        held.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let a: HashSet<i64> = held[0].iter().copied().collect();
    let b: HashSet<i64> = held[1].iter().copied().collect();
    assert_eq!(a.len(), held[0].len(), "a node was handed a callback twice");
    assert_eq!(b.len(), held[1].len(), "a node was handed a callback twice");
    assert!(
        a.is_disjoint(&b),
        "both nodes hold {:?}",
        a.intersection(&b)
    );
    assert_eq!(a.len() + b.len(), 200);
    // While the leases run, nobody gets them again; each node finishes its own, and a node's
    // result for the other's callback is ignored.
    assert!(
        nodes[0]
            .claim_callbacks("node-2", now + 1_000, 600_000, 1000)
            .await
            .unwrap()
            .is_empty()
    );
    let delivered = |seqs: &[i64]| {
        seqs.iter()
            .map(|s| callrec_domain::AttemptResult {
                seq: *s,
                attempted_ms: now,
                next: callrec_domain::AfterAttempt::Delivered,
                error: None,
            })
            .collect::<Vec<_>>()
    };
    nodes[0]
        .finish_callbacks("node-0", delivered(&held[1]))
        .await
        .unwrap();
    assert_eq!(nodes[0].outbox_stats().await.unwrap().pending, 200);
    for (i, n) in nodes.iter().enumerate() {
        n.finish_callbacks(&format!("node-{i}"), delivered(&held[i]))
            .await
            .unwrap();
    }
    assert_eq!(nodes[0].outbox_stats().await.unwrap().pending, 0);
    for n in &nodes {
        n.close().await.unwrap();
    }
}

/// A claimed callback: its line (call, URL) and sequence number.
type Claimed = ((String, String), i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lines_stay_in_order_while_nodes_produce_and_deliver_at_once() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let nodes = two_callback_nodes(&schema).await;
    for u in ["http://a.example/", "http://b.example/"] {
        let mut config = every_change(u);
        if u.contains('b') {
            config.generation = callrec_domain::Generation::V4;
        }
        nodes[0]
            .put_callback_config(APP, config, false)
            .await
            .unwrap();
    }
    // Group calls reported event by event through random nodes, while both nodes deliver.
    let calls = 30;
    let mut all: Vec<Event> = (0..calls)
        .flat_map(|c| callrec_store_tests::fixtures::group_call(&format!("g{c}"), T0 + c as i64))
        .collect();
    let mut rng = Rng::new(99);
    rng.shuffle(&mut all);
    let producing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Every claim, in claim order.
    let log: Arc<std::sync::Mutex<Vec<Claimed>>> = Arc::default();
    let dispatchers: Vec<_> =
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (n, producing, log) = (Arc::clone(n), Arc::clone(&producing), Arc::clone(&log));
                tokio::spawn(async move {
                    let owner = format!("node-{i}");
                    loop {
                        let done = !producing.load(std::sync::atomic::Ordering::SeqCst);
                        let now = callrec_store_tests::planner::now_ms();
                        let got = n.claim_callbacks(&owner, now, 600_000, 5).await.unwrap();
                        if got.is_empty() {
                            if done {
                                return;
                            }
                            tokio::task::yield_now().await;
                            continue;
                        }
                        log.lock().unwrap().extend(got.iter().map(|d| {
                            ((d.callback.call_id.clone(), d.callback.url.clone()), d.seq)
                        }));
                        let results = got
                            .iter()
                            .map(|d| callrec_domain::AttemptResult {
                                seq: d.seq,
                                attempted_ms: now,
                                next: callrec_domain::AfterAttempt::Delivered,
                                error: None,
                            })
                            .collect();
                        n.finish_callbacks(&owner, results).await.unwrap();
                    }
                })
            })
            .collect();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let k = 1 + rng.below(3.min(rest.len()));
        let (batch, tail) = rest.split_at(k);
        rest = tail;
        nodes[rng.below(2)].ingest(items(APP, batch)).await.unwrap();
    }
    producing.store(false, std::sync::atomic::Ordering::SeqCst);
    for d in dispatchers {
        d.await.unwrap();
    }
    let all_deliveries = nodes[0]
        .deliveries(&callrec_domain::DeliveryQuery {
            sdkappid: APP,
            status: None,
            call_id: None,
            limit: 100_000,
            before_seq: None,
        })
        .await
        .unwrap();
    eprintln!(
        "{} callbacks delivered by two nodes while produced",
        all_deliveries.len()
    );
    assert!(all_deliveries.len() > 100, "{}", all_deliveries.len());
    for d in &all_deliveries {
        assert_eq!(
            (d.status, d.attempts),
            (callrec_domain::DeliveryStatus::Delivered, 1),
            "{d:?}"
        );
    }
    let log = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(
        log.len(),
        all_deliveries.len(),
        "each delivered exactly once"
    );
    let mut last: BTreeMap<&(String, String), i64> = BTreeMap::new();
    for (line, seq) in log.iter() {
        if let Some(prev) = last.insert(line, *seq) {
            assert!(prev < *seq, "line {line:?}: {seq} after {prev}");
        }
    }
    for n in &nodes {
        n.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_deletes_the_callbacks_of_dropped_days_and_of_the_cutoff_day() {
    let Some(url) = common::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let store = schema
        .store_with_planner(LONG_TIMEOUTS, callrec_store_tests::planner::planner())
        .await;
    store
        .put_callback_config(APP, every_change("http://a.example/"), false)
        .await
        .unwrap();
    let cutoff = DAY0 + 2 * DAY + 3_600_000;
    for (call, t) in [
        ("d0", DAY0 + 1000),
        ("d1", DAY0 + DAY + 5),
        ("d2-old", cutoff - 10_000),
        ("d2-new", cutoff + 10),
        ("d3", DAY0 + 3 * DAY),
    ] {
        store
            .ingest(items(APP, &single_call_ending(call, t, "reject")))
            .await
            .unwrap();
    }
    let calls_left = async || {
        let mut calls: Vec<String> = store
            .deliveries(&callrec_domain::DeliveryQuery {
                sdkappid: APP,
                status: None,
                call_id: None,
                limit: 1000,
                before_seq: None,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.callback.call_id)
            .collect();
        calls.sort();
        calls.dedup();
        calls
    };
    assert_eq!(calls_left().await.len(), 5);
    let stats = store.purge_before(cutoff).await.unwrap();
    assert_eq!(stats.calls, 3);
    assert_eq!(calls_left().await, ["d2-new", "d3"]);
    assert_eq!(store.outbox_stats().await.unwrap().pending, 4);
    store.close().await.unwrap();
}
