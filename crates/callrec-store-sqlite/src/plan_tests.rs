//! Query-plan checks: every query the store runs is served by an index range, never a scan of
//! `calls` and never a sort. These run `EXPLAIN QUERY PLAN` on the exact SQL the store builds.

use callrec_domain::{CallResult, CallType, RecordQuery, ResultFilter, Timeouts};
use rusqlite::params_from_iter;

use super::*;

const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};

fn plan(conn: &Connection, sql: &str, nparams: usize) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let args = vec![rusqlite::types::Value::Integer(0); nparams];
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

fn query(result: ResultFilter, call_type: Option<CallType>) -> RecordQuery {
    RecordQuery {
        sdkappid: 1,
        from_secs: 0,
        to_secs: 10,
        result,
        call_type,
        offset: 0,
        limit: 100,
    }
}

fn with_store(f: impl FnOnce(&Connection)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.db");
    let _store = SqliteStore::open(&path, TIMEOUTS).unwrap();
    let conn = open_reader_connection(&path).unwrap();
    f(&conn);
}

#[test]
fn every_filter_shape_uses_an_index_range_on_start_s_without_scan_or_sort() {
    let shapes = [
        (
            "all ended",
            query(ResultFilter::Ended, None),
            "calls_by_ended",
        ),
        (
            "one result",
            query(ResultFilter::Is(CallResult::Reject), None),
            "calls_by_result",
        ),
        (
            "ongoing",
            query(ResultFilter::Is(CallResult::Ongoing), None),
            "calls_by_result",
        ),
        (
            "a type",
            query(ResultFilter::Ended, Some(CallType::Group)),
            "calls_by_type_ended",
        ),
        (
            "result and type",
            query(
                ResultFilter::Is(CallResult::NormalEnd),
                Some(CallType::Single),
            ),
            "calls_by_type_result",
        ),
    ];
    with_store(|conn| {
        for (name, q, index) in shapes {
            let (where_, args) = query::filter_where(&q);
            for (what, sql, n) in [
                ("count", query::count_sql(&where_), args.len()),
                ("page", query::page_sql(&where_, args.len()), args.len() + 2),
            ] {
                let plan = plan(conn, &sql, n);
                assert!(
                    plan.contains(&format!("USING COVERING INDEX {index} ")),
                    "{name} {what}: expected {index}, got:\n{plan}"
                );
                assert!(
                    plan.contains("start_s>? AND start_s<?"),
                    "{name} {what}: no range on start_s:\n{plan}"
                );
                assert!(!plan.contains("SCAN"), "{name} {what}: scans:\n{plan}");
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{name} {what}: sorts:\n{plan}"
                );
            }
        }
    });
}

#[test]
fn due_calls_and_purge_use_their_indexes() {
    with_store(|conn| {
        let due = plan(conn, query::DUE_SQL, 2);
        assert!(due.contains("COVERING INDEX calls_due (due_ms"), "{due}");
        assert!(!due.contains("TEMP B-TREE"), "{due}");
        let purge = plan(conn, query::PURGE_PICK_SQL, 2);
        assert!(purge.contains("INDEX calls_by_age (<expr><?)"), "{purge}");
        let events = plan(
            conn,
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE sdkappid = ?1 AND call_id = ?2"),
            2,
        );
        assert!(
            events.contains("USING PRIMARY KEY (sdkappid=? AND call_id=?)"),
            "{events}"
        );
    });
}
