//! Behaviour specific to the SQLite store: durability across reopen, group commit, schema
//! versioning, and purging in chunks.

use std::sync::Arc;
use std::time::Duration;

use callrec_domain::{CallResult, Store, StoreError, Timeouts};
use callrec_store_sqlite::SqliteStore;
use callrec_store_tests::fixtures::{APP, T0, items, single_call_ending, start};
use rusqlite::Connection;

const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};

#[tokio::test]
async fn acknowledged_data_survives_dropping_the_store_without_close_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/callrec.db");
    {
        let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
        for i in 0..10 {
            let events = single_call_ending(&format!("c{i}"), T0 + i, "normal_end");
            store.ingest(items(APP, &events)).await.unwrap();
        }
    }
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    for i in 0..10 {
        let rec = store
            .get_record(APP, &format!("c{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.result, CallResult::NormalEnd);
    }
    let mode: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_puts_200_concurrent_single_event_ingests_in_a_few_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = Arc::new(SqliteStore::open(&path, TIMEOUTS).unwrap());
    // Hold the database's write lock from another connection so the writer stalls on its
    // first transaction while all 200 ingests queue up; without this the test would depend on
    // how fast the machine fsyncs.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let e = start(&format!("c{i}"), "alice", &["bob"], T0 + i);
            store.ingest(items(APP, &[e])).await
        }));
    }
    // Reads are not blocked by a writer under WAL.
    assert_eq!(store.get_record(APP, "c0").await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute_batch("COMMIT").unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 1);
    }
    let stats = store.writer_stats();
    assert_eq!(stats.ingest_jobs, 200);
    assert_eq!(stats.events, 200);
    assert!(
        stats.transactions <= 3,
        "200 queued ingests took {} transactions",
        stats.transactions
    );
    for i in [0, 99, 199] {
        assert!(
            store
                .get_record(APP, &format!("c{i}"))
                .await
                .unwrap()
                .is_some()
        );
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_write_lock_held_too_long_fails_ingest_as_unavailable_and_the_store_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let events = single_call_ending("c1", T0, "reject");
    let err = store.ingest(items(APP, &events)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    blocker.execute_batch("COMMIT").unwrap();
    let out = store.ingest(items(APP, &events)).await.unwrap();
    assert_eq!(
        out.len(),
        2,
        "nothing of the failed batch was stored, so both are new"
    );
    assert!(
        out.iter()
            .all(|o| *o == callrec_domain::IngestOutcome::Accepted)
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_database_with_a_newer_schema_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    store.close().await.unwrap();
    drop(store);
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    let err = SqliteStore::open(&path, TIMEOUTS).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("999")),
        "{err:?}"
    );
}

#[tokio::test]
async fn reopening_a_current_database_applies_no_migration_and_keeps_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    store.close().await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    store.close().await.unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(&path, TIMEOUTS).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_more_calls_than_one_chunk_in_several_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    let n = 12_000;
    let events: Vec<_> = (0..n)
        .map(|i| start(&format!("c{i}"), "alice", &["bob"], T0 + i))
        .collect();
    for chunk in events.chunks(1000) {
        store.ingest(items(APP, chunk)).await.unwrap();
    }
    store
        .ingest(items(
            APP,
            &[start("keep", "alice", &["bob"], T0 + 1_000_000)],
        ))
        .await
        .unwrap();
    let before = store.writer_stats().transactions;
    let stats = store.purge_before(T0 + 1_000_000).await.unwrap();
    assert_eq!((stats.calls, stats.events), (n as u64, n as u64));
    assert_eq!(
        store.writer_stats().transactions - before,
        3,
        "5000 + 5000 + 2000"
    );
    assert!(store.get_record(APP, "c0").await.unwrap().is_none());
    assert!(store.get_record(APP, "keep").await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test]
async fn close_is_idempotent_and_ping_reports_a_closed_store_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("callrec.db"), TIMEOUTS).unwrap();
    store.ping().await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.purge_before(T0).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn reopening_with_other_time_outs_recomputes_when_ongoing_calls_fall_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    store
        .ingest(items(APP, &[start("c1", "alice", &["bob"], T0)]))
        .await
        .unwrap();
    let due = store.due_calls(i64::MAX, 10).await.unwrap();
    assert_eq!(due[0].due_ms, T0 + 60_000);
    store.close().await.unwrap();
    drop(store);
    let shorter = Timeouts {
        ring_ms: 5_000,
        idle_ms: 10_000,
    };
    let store = SqliteStore::open(&path, shorter).unwrap();
    let due = store.due_calls(i64::MAX, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due_ms, T0 + 5_000);
    store.close().await.unwrap();
}

/// Environment variable that turns the kill test into its own child process.
const KILL_CHILD_DB: &str = "CALLREC_TEST_KILL_CHILD_DB";

/// The child side: ingest calls forever, printing each one's id once `ingest` acknowledged it.
fn ingest_until_killed(path: &std::path::Path) {
    use std::io::Write;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(path, TIMEOUTS).unwrap();
        for i in 0.. {
            let events = single_call_ending(&format!("c{i}"), T0 + i, "normal_end");
            store.ingest(items(APP, &events)).await.unwrap();
            let mut out = std::io::stdout().lock();
            writeln!(out, "acked c{i}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn every_ingest_acknowledged_before_a_kill_9_is_there_after_restart() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if let Some(path) = std::env::var_os(KILL_CHILD_DB) {
        ingest_until_killed(std::path::Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "every_ingest_acknowledged_before_a_kill_9_is_there_after_restart",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(id) = line.unwrap().strip_prefix("acked ") {
            acked.push(id.to_owned());
            if acked.len() == 200 {
                // SIGKILL on Unix: no destructor, no close, the writer may be mid-transaction.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 200, "the child stopped early");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
        for id in &acked {
            let rec = store.get_record(APP, id).await.unwrap();
            assert_eq!(rec.map(|r| r.result), Some(CallResult::NormalEnd), "{id}");
        }
        store.close().await.unwrap();
    });
}

/// The filter's total straight from `calls`, the way the store counted before `call_counts`.
fn count_directly(conn: &Connection, q: &callrec_domain::RecordQuery) -> u64 {
    use callrec_domain::ResultFilter;
    let mut sql = String::from(
        "SELECT COUNT(*) FROM calls WHERE sdkappid = ?1 AND start_s BETWEEN ?2 AND ?3",
    );
    let mut args: Vec<rusqlite::types::Value> = vec![
        (q.sdkappid as i64).into(),
        q.from_secs.into(),
        q.to_secs.into(),
    ];
    if let Some(t) = q.call_type {
        args.push(t.as_str().to_owned().into());
        sql.push_str(&format!(" AND call_type = ?{}", args.len()));
    }
    match q.result {
        ResultFilter::Ended => sql.push_str(" AND ended = 1"),
        ResultFilter::Is(r) => {
            args.push(r.as_str().to_owned().into());
            sql.push_str(&format!(" AND result = ?{}", args.len()));
        }
    }
    conn.query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as u64
}

/// A row of `call_counts` or `call_users`, its columns joined (`n` first for counts).
type CountRow = String;

/// `call_counts` and `call_users` as stored, and as recomputed from `calls`.
fn counts_table_and_recomputed(conn: &Connection) -> (Vec<CountRow>, Vec<CountRow>) {
    let read = |conn: &Connection| {
        let mut rows = Vec::new();
        for sql in [
            "SELECT n, sdkappid, span, bucket, ended, result, call_type, media_type, connected, \
             talk_s FROM call_counts ORDER BY 2, 3, 4, 5, 6, 7, 8",
            "SELECT 'user', * FROM call_users ORDER BY sdkappid, user_id, start_s, call_id",
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let mut q = stmt.query([]).unwrap();
            while let Some(r) = q.next().unwrap() {
                let cols: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                rows.push(cols.join("|"));
            }
        }
        rows
    };
    let stored = read(conn);
    conn.execute_batch("SAVEPOINT recompute").unwrap();
    conn.execute_batch(callrec_store_sqlite::REBUILD_DERIVED_SQL)
        .unwrap();
    let recomputed = read(conn);
    conn.execute_batch("ROLLBACK TO recompute; RELEASE recompute")
        .unwrap();
    (stored, recomputed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_totals_equal_count_star_after_random_ingests_refolds_and_purges() {
    use callrec_domain::{CallType, EventType, RecordQuery, ResultFilter};
    use callrec_store_tests::fixtures::{OTHER_APP, Rng, ev, group_call};

    let endings = [
        "cancel",
        "reject",
        "not_answer",
        "call_busy",
        "normal_end",
        "interrupt",
        "ongoing",
    ];
    let filters = [
        (ResultFilter::Ended, None),
        (ResultFilter::Ended, Some(CallType::Group)),
        (ResultFilter::Ended, Some(CallType::Single)),
        (ResultFilter::Is(CallResult::NormalEnd), None),
        (ResultFilter::Is(CallResult::Reject), Some(CallType::Single)),
        (ResultFilter::Is(CallResult::Ongoing), None),
        (ResultFilter::Is(CallResult::Cancel), None),
    ];
    for seed in [7_u64, 1234, 99_991] {
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callrec.db");
        let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
        // Calls spread over 5 hours, starting at arbitrary milliseconds, so minute and hour
        // edges fall everywhere. Some arrive event by event (the record changes result on each
        // refold), some with an event before their start.
        let span_ms: i64 = 5 * 3_600_000;
        let base = T0 - 1_234_567;
        let mut pieces: Vec<(u64, callrec_domain::Event)> = Vec::new();
        for i in 0..400 {
            let call = format!("s{seed}-c{i}");
            let t = base + (rng.next_u64() % span_ms as u64) as i64;
            let app = if rng.below(10) == 0 { OTHER_APP } else { APP };
            let mut events = if rng.below(6) == 0 {
                group_call(&call, t)
            } else {
                single_call_ending(&call, t, endings[rng.below(endings.len())])
            };
            if rng.below(8) == 0 {
                // An event that arrives before the start (the row first has no start).
                events.push(ev(&call, EventType::Hangup, "alice", t + 20_000));
            }
            pieces.extend(events.into_iter().map(|e| (app, e)));
        }
        rng.shuffle(&mut pieces);
        let conn = Connection::open(&path).unwrap();
        let check = |store_total: u64, q: &RecordQuery, what: &str| {
            assert_eq!(
                store_total,
                count_directly(&conn, q),
                "seed {seed}, {what}: {q:?}"
            );
        };
        let mut purged_to = base - 1;
        let mut rounds = 0;
        while !pieces.is_empty() {
            let n = (1 + rng.below(40)).min(pieces.len());
            let batch: Vec<_> = pieces.drain(..n).collect();
            for app in [APP, OTHER_APP] {
                let events: Vec<_> = batch
                    .iter()
                    .filter(|(a, _)| *a == app)
                    .map(|(_, e)| e.clone())
                    .collect();
                if !events.is_empty() {
                    store.ingest(items(app, &events)).await.unwrap();
                }
            }
            rounds += 1;
            if rounds % 15 == 0 {
                purged_to += (rng.next_u64() % 1_800_000) as i64;
                store.purge_before(purged_to).await.unwrap();
            }
            if rounds % 3 != 0 {
                continue;
            }
            for _ in 0..6 {
                let (result, call_type) = filters[rng.below(filters.len())];
                let secs = |ms: i64| ms.div_euclid(1000);
                let a = secs(base) - 100 + (rng.next_u64() % (span_ms as u64 / 1000 + 200)) as i64;
                let b = secs(base) - 100 + (rng.next_u64() % (span_ms as u64 / 1000 + 200)) as i64;
                let (mut from, mut to) = (a.min(b), a.max(b));
                match rng.below(4) {
                    0 => from -= from.rem_euclid(60),
                    1 => to += 59 - to.rem_euclid(3600),
                    2 => (from, to) = (secs(base) - 10_000, secs(base + span_ms) + 10_000),
                    _ => {}
                }
                let q = RecordQuery {
                    sdkappid: if rng.below(5) == 0 { OTHER_APP } else { APP },
                    from_secs: from,
                    to_secs: to,
                    result,
                    call_type,
                    filter: callrec_domain::RecordFilter::default(),
                    order: callrec_domain::Order::Desc,
                    offset: 0,
                    limit: 1,
                    after: None,
                    with_total: true,
                };
                let page = store.filter_records(&q).await.unwrap();
                check(page.total.unwrap_or_default(), &q, "total");
            }
        }
        let (stored, recomputed) = counts_table_and_recomputed(&conn);
        assert_eq!(stored, recomputed, "seed {seed}: call_counts drifted");
        assert!(
            stored
                .iter()
                .all(|row| !row.starts_with("0|") && !row.starts_with('-')),
            "zero rows are deleted"
        );
        // Purging everything leaves no count rows behind.
        store.purge_before(T0 + 1_000_000_000).await.unwrap();
        let (stored, _) = counts_table_and_recomputed(&conn);
        assert!(stored.is_empty(), "{stored:?}");
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn migrations_backfill_counts_and_participants_from_existing_calls() {
    use callrec_domain::{RecordQuery, ResultFilter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    for i in 0..50 {
        let events = single_call_ending(&format!("c{i}"), T0 + i * 37_000, "normal_end");
        store.ingest(items(APP, &events)).await.unwrap();
    }
    store.close().await.unwrap();
    drop(store);
    // Make it a version-1 database again: no counts table (the triggers of version 2 are
    // already gone in version 3), no room_id_type column (version 4), no callback tables
    // (version 5), no talk_s, call_users or room index (version 6).
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE call_counts; ALTER TABLE calls DROP COLUMN room_id_type; \
         DROP TABLE callbacks; DROP TABLE callback_configs; DELETE FROM sqlite_sequence; \
         DROP INDEX calls_by_room; DROP TABLE call_users; \
         DROP INDEX calls_by_ended; DROP INDEX calls_by_result; DROP INDEX calls_by_type_ended; \
         DROP INDEX calls_by_type_result; \
         CREATE INDEX calls_by_ended ON calls (sdkappid, ended, start_s DESC, call_id); \
         CREATE INDEX calls_by_result ON calls (sdkappid, result, start_s DESC, call_id); \
         CREATE INDEX calls_by_type_ended ON calls (sdkappid, call_type, ended, start_s DESC, call_id); \
         CREATE INDEX calls_by_type_result ON calls (sdkappid, call_type, result, start_s DESC, call_id); \
         ALTER TABLE calls DROP COLUMN talk_s; \
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    let q = RecordQuery {
        sdkappid: APP,
        from_secs: T0 / 1000 - 3600,
        to_secs: T0 / 1000 + 7200,
        result: ResultFilter::Ended,
        call_type: None,
        filter: callrec_domain::RecordFilter::default(),
        order: callrec_domain::Order::Desc,
        offset: 0,
        limit: 10,
        after: None,
        with_total: true,
    };
    assert_eq!(store.filter_records(&q).await.unwrap().total, Some(50));
    // Durations (8 s each) and participants were backfilled too.
    let q8 = RecordQuery {
        filter: callrec_domain::RecordFilter {
            min_talk_secs: Some(8),
            max_talk_secs: Some(8),
            callee: Some("bob".into()),
            ..Default::default()
        },
        ..q.clone()
    };
    assert_eq!(store.filter_records(&q8).await.unwrap().total, Some(50));
    let conn = Connection::open(&path).unwrap();
    let (stored, recomputed) = counts_table_and_recomputed(&conn);
    assert!(!stored.is_empty());
    assert_eq!(stored, recomputed);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_database_file_belongs_to_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    let first = SqliteStore::open(&path, TIMEOUTS).unwrap();
    let lock = callrec_store_sqlite::lock_path(&path);
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        std::process::id().to_string(),
        "the lock file names its owner"
    );
    match SqliteStore::open(&path, TIMEOUTS) {
        Err(StoreError::Unavailable(msg)) => {
            let want = format!(
                "{} is in use by another callrec process (process {})",
                path.display(),
                std::process::id()
            );
            assert!(msg.starts_with(&want), "{msg}");
        }
        other => panic!("a second open must be refused, got {other:?}"),
    }
    // Closed (or merely dropped), the file is free again.
    first.close().await.unwrap();
    let second = SqliteStore::open(&path, TIMEOUTS).unwrap();
    drop(second);
    let third = SqliteStore::open(&path, TIMEOUTS).unwrap();
    third.close().await.unwrap();
}
