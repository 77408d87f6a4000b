//! The retention job (docs/api.md), through restarts of the real server on one data directory.
//!
//! What is checked: calls are reported by a server whose clock stands at T0; a second server on
//! the same data, whose clock stands past T0 + retention, purges them at start-up — observed
//! directly in the SQLite file (no `events` or `calls` rows of those calls remain) and through
//! the API (get → 101050, filter does not list them). A third server whose clock is back at T0
//! (where the calls would be visible again had they only been hidden) still does not find them,
//! and a `start` reported for a purged call makes a record without the purged events. Calls
//! inside the window survive all of it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_domain::{Clock, ManualClock};
use common::{TestApp, TestConfig, call_ids, code, event, single_call, spawn_app_in, start_event};
use serde_json::json;
use tempfile::TempDir;

const DAY_MS: i64 = 86_400_000;

fn config(clock: &Arc<ManualClock>) -> TestConfig {
    TestConfig {
        clock: clock.clone(),
        // No time-out may touch the calls while the clock jumps around.
        timeouts_secs: (30 * 86_400, 30 * 86_400),
        ..TestConfig::default()
    }
}

/// Rows of `call_id` in the server's database (events, calls), read by a separate connection.
fn stored_rows(app: &TestApp, call_id: &str) -> (i64, i64) {
    let conn = rusqlite::Connection::open_with_flags(
        app.data_dir().join("callrec.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE call_id = ?1"),
            [call_id],
            |r| r.get(0),
        )
        .unwrap()
    };
    (count("events"), count("calls"))
}

#[tokio::test]
async fn retention_job_purges_calls_older_than_retention_at_start_up_and_keeps_newer_ones() {
    let t0 = callrec_domain::SystemClock.now_ms().div_euclid(1000) * 1000;
    let clock = Arc::new(ManualClock::new(t0));
    let dir: TempDir = tempfile::tempdir().unwrap();

    // 1. At T0: an ended call, an ongoing call, and events of a call whose start never came.
    let app = spawn_app_in(dir, config(&clock)).await;
    let mut events = single_call("old-ended", t0 - 60_000, "normal_end");
    events.extend(single_call("old-ongoing", t0 - 50_000, "ongoing"));
    events.push(event("old-orphan", "accept", "bob", t0 - 40_000));
    app.report_all(&events).await;
    assert_eq!(stored_rows(&app, "old-ended"), (3, 1));
    assert_eq!(stored_rows(&app, "old-orphan"), (1, 1));
    let dir = app.stop().await;

    // 2. Seven days and two minutes later: a new server on the same data purges at start-up.
    clock.set_ms(t0 + 7 * DAY_MS + 120_000);
    let app = spawn_app_in(dir, config(&clock)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    for id in ["old-ended", "old-ongoing", "old-orphan"] {
        while stored_rows(&app, id) != (0, 0) {
            assert!(
                Instant::now() < deadline,
                "{id} still stored: {:?}",
                stored_rows(&app, id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let young_start = clock.now_ms() - 60_000;
    app.report_all(&single_call("young", young_start, "cancel"))
        .await;
    for id in ["old-ended", "old-ongoing", "old-orphan"] {
        assert_eq!(code(&app.record(id).await), 101050, "{id}");
    }
    for result in [json!(null), json!("ongoing"), json!("normal_end")] {
        let data = app
            .filter(&json!({"startTimestamp": 0, "callResult": result}))
            .await;
        let ids = call_ids(&data);
        assert!(ids.iter().all(|id| id == "young"), "{result}: {data}");
    }
    let dir = app.stop().await;

    // 3. Back at T0: had the calls only been hidden, they would be visible again. They are gone.
    clock.set_ms(t0);
    let app = spawn_app_in(dir, config(&clock)).await;
    for id in ["old-ended", "old-ongoing", "old-orphan"] {
        assert_eq!(code(&app.record(id).await), 101050, "{id}");
    }
    let data = app
        .filter(&json!({"startTimestamp": 0, "callResult": "normal_end"}))
        .await;
    assert_eq!(data["totalNum"], 0, "{data}");
    // The newer call survived both purges (and is found though it lies in this clock's future).
    let young = app.record("young").await;
    assert_eq!(young["data"]["callResult"], "cancel", "{young}");
    // The orphan's accept was deleted too: a start for it now makes a call nobody answered.
    app.report_all(&[start_event("old-orphan", "alice", &["bob"], t0 - 45_000)])
        .await;
    let rec = app.record("old-orphan").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    assert_eq!(rec["acceptTs"], 0);
}
