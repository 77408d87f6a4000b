//! Query-plan checks: every query the store runs is served by an index range, never a scan of
//! `calls` and never a sort. These run `EXPLAIN QUERY PLAN` on the exact SQL the store builds.

use callrec_domain::{
    CallResult, CallType, MediaType, Order, RecordFilter, RecordQuery, ResultFilter, Timeouts,
};
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
        filter: callrec_domain::RecordFilter::default(),
        order: callrec_domain::Order::Desc,
        offset: 0,
        limit: 100,
        after: None,
        with_total: true,
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
            let b = query::filter_where(&q);
            for (what, sql, n) in [
                ("count", query::count_sql(&b), b.params.len()),
                ("page", query::page_sql(&b, q.order), b.params.len() + 2),
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
fn a_cursor_page_is_the_same_index_range_without_a_sort() {
    let mut q = query(ResultFilter::Is(CallResult::NormalEnd), None);
    q.after = Some(callrec_domain::RecordKey {
        start_secs: 5,
        call_id: "c".into(),
    });
    with_store(|conn| {
        let b = query::page_where(&q);
        let plan = plan(conn, &query::page_sql(&b, q.order), b.params.len() + 2);
        assert!(
            plan.contains("USING COVERING INDEX calls_by_result "),
            "{plan}"
        );
        assert!(plan.contains("start_s>? AND start_s<?"), "{plan}");
        assert!(!plan.contains("SCAN"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    });
}

#[test]
fn each_extension_filter_is_driven_by_its_index_without_a_scan_or_a_full_sort() {
    let some = |v: &str| Some(v.to_owned());
    let with = |f: RecordFilter| RecordQuery {
        filter: f,
        ..query(ResultFilter::Ended, None)
    };
    let shapes: Vec<(&str, RecordQuery, &str)> = vec![
        (
            "user",
            with(RecordFilter {
                user: some("u"),
                ..RecordFilter::default()
            }),
            "SEARCH t USING PRIMARY KEY (sdkappid=? AND user_id=? AND start_s>? AND start_s<?)",
        ),
        (
            "caller and callee",
            with(RecordFilter {
                caller: some("a"),
                callee: some("b"),
                ..RecordFilter::default()
            }),
            "SEARCH p USING PRIMARY KEY (sdkappid=? AND user_id=? AND start_s=? AND call_id=?)",
        ),
        (
            "callee with a room",
            with(RecordFilter {
                callee: some("b"),
                room_id: some("r"),
                ..RecordFilter::default()
            }),
            "USING INDEX calls_by_room (sdkappid=? AND room_id=? AND start_s>? AND start_s<?)",
        ),
        (
            "room",
            with(RecordFilter {
                room_id: some("r"),
                ..RecordFilter::default()
            }),
            "USING INDEX calls_by_room (sdkappid=? AND room_id=? AND start_s>? AND start_s<?)",
        ),
        (
            "call ids",
            with(RecordFilter {
                call_ids: Some(vec!["a".into()]),
                user: some("u"),
                ..RecordFilter::default()
            }),
            "SEARCH t USING INDEX sqlite_autoindex_calls_1 (sdkappid=? AND call_id=?)",
        ),
        (
            "media and duration",
            with(RecordFilter {
                media_type: Some(MediaType::Video),
                min_talk_secs: Some(5),
                ..RecordFilter::default()
            }),
            "INDEX calls_by_ended (sdkappid=? AND ended=? AND start_s>? AND start_s<?)",
        ),
        (
            "ascending",
            RecordQuery {
                order: Order::Asc,
                ..with(RecordFilter {
                    user: some("u"),
                    ..RecordFilter::default()
                })
            },
            "SEARCH t USING PRIMARY KEY (sdkappid=? AND user_id=? AND start_s>? AND start_s<?)",
        ),
    ];
    with_store(|conn| {
        for (name, q, want) in shapes {
            let b = query::filter_where(&q);
            for (what, sql, n) in [
                ("count", query::count_sql(&b), b.params.len()),
                ("page", query::page_sql(&b, q.order), b.params.len() + 2),
                ("stats", query::stats_rows_sql(&b), b.params.len()),
            ] {
                let plan = plan(conn, &sql, n);
                assert!(
                    plan.contains(want),
                    "{name} {what}: expected {want}, got:\n{plan}"
                );
                // Media and duration are tested in the index: counting reads no rows.
                if name == "media and duration" && what == "count" {
                    assert!(plan.contains("COVERING INDEX"), "{name} {what}:\n{plan}");
                }
                // (Reading the list of call ids is a scan of that list.)
                assert!(
                    !plan
                        .lines()
                        .any(|l| l.contains("SCAN") && !l.contains("SCAN json_each")),
                    "{name} {what}: scans:\n{plan}"
                );
                // Call ids are sorted (at most 1000); ascending order sorts ties of a second.
                if what == "page" && name != "call ids" {
                    assert!(
                        !plan.contains("USE TEMP B-TREE FOR ORDER BY"),
                        "{name} {what}: sorts:\n{plan}"
                    );
                }
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

#[test]
fn bucket_sums_are_a_primary_key_range_on_call_counts() {
    let shapes = [
        query(ResultFilter::Ended, None),
        query(ResultFilter::Is(CallResult::Reject), None),
        query(ResultFilter::Ended, Some(CallType::Group)),
        query(
            ResultFilter::Is(CallResult::NormalEnd),
            Some(CallType::Single),
        ),
    ];
    with_store(|conn| {
        for q in shapes {
            let (sql, args) = query::bucket_sum(&q, query::HOUR, 0, 10);
            let plan = plan(conn, &sql, args.len());
            assert!(
                plan.contains(
                    "SEARCH call_counts USING PRIMARY KEY (sdkappid=? AND span=? AND bucket>? AND bucket<?)"
                ),
                "{q:?}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "{q:?}: {plan}");
        }
    });
}

#[test]
fn count_plans_cover_the_range_exactly_once_with_at_most_two_partial_minutes() {
    // Expand a plan back into the seconds it covers and compare with the range.
    let covered = |p: &query::CountPlan| {
        let mut secs: Vec<(i64, i64)> = p.exact.clone();
        for &(span, lo, hi) in &p.buckets {
            secs.push((lo * span, hi * span + span - 1));
        }
        secs.sort_unstable();
        secs
    };
    let cases = [
        (0, 59),
        (0, 60),
        (1, 59),
        (-61, 61),
        (-7200, 7199),
        (-3601, 3600),
        (59, 3660),
        (1_700_000_017, 1_700_604_817),
        (1_700_000_040, 1_700_000_079),
        (5, 4),
        (i64::MIN, i64::MAX),
        (i64::MIN, i64::MIN + 200),
        (i64::MAX - 200, i64::MAX),
    ];
    for (from, to) in cases {
        let p = query::count_plan(from, to);
        assert!(p.exact.len() <= 2, "{from}..={to}: {p:?}");
        assert!(p.buckets.len() <= 3, "{from}..={to}: {p:?}");
        if from > to {
            assert_eq!(p.exact, vec![(from, to)]);
            continue;
        }
        for &(lo, hi) in &p.exact {
            assert!(lo <= hi);
            if !p.buckets.is_empty() {
                assert!(
                    hi - lo < 60,
                    "{from}..={to}: a partial minute too wide: {p:?}"
                );
            }
        }
        let secs = covered(&p);
        assert_eq!(secs.first().unwrap().0, from, "{p:?}");
        assert_eq!(secs.last().unwrap().1, to, "{p:?}");
        for w in secs.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0, "{from}..={to}: gap or overlap: {p:?}");
        }
    }
}
