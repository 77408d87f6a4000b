//! The checks, one public async function each, generic over the backend's [`Harness`].
//! [`store_conformance_tests!`](crate::store_conformance_tests) turns each into a test.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use callrec_domain::{
    CallResult, CallType, Event, EventType, IngestOutcome, MediaType, RecordQuery, ResultFilter,
    Store, StoreError, Timeouts, fold, fold_timed,
};

use crate::Harness;
pub use crate::filters::extension_filters_and_stats_equal_the_model_also_after_changes;
use crate::fixtures::*;

use EventType::*;

fn query(app: u64, from_secs: i64, to_secs: i64) -> RecordQuery {
    RecordQuery {
        sdkappid: app,
        from_secs,
        to_secs,
        result: ResultFilter::Ended,
        call_type: None,
        filter: callrec_domain::RecordFilter::default(),
        order: callrec_domain::Order::Desc,
        offset: 0,
        limit: 1000,
        after: None,
        with_total: true,
    }
}

async fn ids_of<S: Store>(store: &S, q: &RecordQuery) -> (u64, Vec<String>) {
    let page = store.filter_records(q).await.unwrap();
    (
        page.total.expect("asked for"),
        page.records.into_iter().map(|r| r.call_id).collect(),
    )
}

async fn ingest_ok<S: Store>(store: &S, app: u64, events: &[Event]) -> Vec<IngestOutcome> {
    let out = store.ingest(items(app, events)).await.unwrap();
    assert_eq!(out.len(), events.len(), "one outcome per item");
    out
}

/// Ingest answers one outcome per item, in item order; an empty batch answers nothing.
pub async fn ingest_returns_one_outcome_per_item_in_order<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    assert_eq!(s.ingest(Vec::new()).await.unwrap(), Vec::new());
    let first = [
        start("c1", "alice", &["bob"], T0),
        ev("c1", Accept, "bob", T0 + 1000),
        start("c2", "carol", &["dave"], T0),
    ];
    assert_eq!(ingest_ok(&*s, APP, &first).await, outcomes("AAA"));
    let second = [
        ev("c1", Accept, "bob", T0 + 1000),
        ev("c1", Hangup, "alice", T0 + 5000),
        start("c2", "carol", &["dave"], T0),
        ev("c2", Reject, "dave", T0 + 2000),
    ];
    assert_eq!(ingest_ok(&*s, APP, &second).await, outcomes("DADA"));
    let c1 = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(c1.result, CallResult::NormalEnd);
    assert_eq!(c1.end_ms, Some(T0 + 5000));
    let c2 = s.get_record(APP, "c2").await.unwrap().unwrap();
    assert_eq!(c2.result, CallResult::Reject);
}

/// Two events with one `eventId` are one event, whatever their other fields; the first stored
/// copy is the one that counts.
pub async fn duplicates_by_event_id_are_detected_across_batches_and_the_first_copy_wins<
    H: Harness,
>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let s0 = start("c1", "alice", &["bob"], T0);
    let accept = with_id(ev("c1", Accept, "bob", T0 + 2000), "e-1");
    assert_eq!(
        ingest_ok(&*s, APP, &[s0.clone(), accept.clone()]).await,
        outcomes("AA")
    );
    // Same eventId, different type and time: a duplicate, and it must not change the record.
    let imposter = with_id(ev("c1", Reject, "bob", T0 + 1000), "e-1");
    assert_eq!(ingest_ok(&*s, APP, &[imposter]).await, outcomes("D"));
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec, expected(APP, &[s0, accept.clone()]));
    assert_eq!(rec.result, CallResult::Ongoing);
    assert_eq!(rec.accept_ms, Some(T0 + 2000));
    let events = s.call_events(APP, "c1").await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.contains(&accept));
}

/// Without an `eventId`, (type, userId, time) identifies an event.
pub async fn duplicates_by_type_user_and_time_are_detected_across_batches<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let s0 = start("c1", "alice", &["bob", "carol"], T0);
    ingest_ok(&*s, APP, &[s0.clone(), ev("c1", Accept, "bob", T0 + 1000)]).await;
    let again = [
        ev("c1", Accept, "bob", T0 + 1000),   // same key: duplicate
        ev("c1", Accept, "bob", T0 + 1001),   // other time: a new event
        ev("c1", Reject, "bob", T0 + 1000),   // other type: a new event
        ev("c1", Accept, "carol", T0 + 1000), // other user: a new event
        start("c1", "alice", &["bob", "carol"], T0),
    ];
    assert_eq!(ingest_ok(&*s, APP, &again).await, outcomes("DAAAD"));
    assert_eq!(s.call_events(APP, "c1").await.unwrap().len(), 5);
    let mut all = vec![s0];
    all.extend(again);
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec, expected(APP, &all));
}

/// Copies of one event inside one batch count once: the first is accepted, the rest duplicates.
pub async fn duplicates_within_one_batch_are_detected<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let batch = [
        start("c1", "alice", &["bob"], T0),
        start("c1", "alice", &["bob"], T0),
        with_id(ev("c1", Accept, "bob", T0 + 1000), "x"),
        with_id(ev("c1", Accept, "bob", T0 + 1000), "x"),
        with_id(ev("c1", Hangup, "bob", T0 + 3000), "x"),
        ev("c1", Hangup, "alice", T0 + 4000),
        ev("c1", Hangup, "alice", T0 + 4000),
    ];
    assert_eq!(ingest_ok(&*s, APP, &batch).await, outcomes("ADADDAD"));
    assert_eq!(s.call_events(APP, "c1").await.unwrap().len(), 3);
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec, expected(APP, &batch));
    assert_eq!(rec.result, CallResult::NormalEnd);
    assert_eq!(rec.end_ms, Some(T0 + 4000));
}

/// The same event key in another call, or the same call id in another app, is another event.
pub async fn dedupe_keys_are_scoped_per_call_and_per_app<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let batch = [
        with_id(start("c1", "alice", &["bob"], T0), "same"),
        with_id(start("c2", "alice", &["bob"], T0), "same"),
        ev("c1", Accept, "bob", T0 + 1),
        ev("c2", Accept, "bob", T0 + 1),
    ];
    assert_eq!(ingest_ok(&*s, APP, &batch).await, outcomes("AAAA"));
    assert_eq!(ingest_ok(&*s, OTHER_APP, &batch).await, outcomes("AAAA"));
    assert_eq!(ingest_ok(&*s, OTHER_APP, &batch).await, outcomes("DDDD"));
    for app in [APP, OTHER_APP] {
        for call in ["c1", "c2"] {
            assert_eq!(s.call_events(app, call).await.unwrap().len(), 2);
        }
    }
}

/// A busy group call delivered in shuffled batches with duplicates: the stored record is the
/// fold of its distinct events, and so is every intermediate record.
pub async fn record_equals_the_fold_of_the_distinct_events_whatever_the_batching<H: Harness>() {
    let t = T0;
    let mut invite = ev("g", Invite, "bob", t + 3000);
    invite.invitees = vec!["erin".into(), "frank".into()];
    let events = vec![
        start("g", "alice", &["bob", "carol", "dave"], t),
        ev("g", Accept, "bob", t + 1000),
        ev("g", Busy, "carol", t + 1200),
        invite,
        ev("g", Join, "grace", t + 3500),
        ev("g", Accept, "erin", t + 4000),
        ev("g", NoAnswer, "dave", t + 60_000),
        ev("g", NoAnswer, "frank", t + 63_000),
        ev("g", Hangup, "bob", t + 70_000),
        ev("g", Offline, "erin", t + 71_000),
        ev("g", Hangup, "grace", t + 72_000),
        ev("g", Hangup, "alice", t + 80_000),
    ];
    let full = expected(APP, &events);
    assert_eq!(full.result, CallResult::NormalEnd, "fixture sanity");
    for seed in 1..=3 {
        let h = H::create(LONG_TIMEOUTS).await;
        let s = h.store();
        let mut rng = Rng::new(seed);
        let mut delivery: Vec<Event> = events.clone();
        for _ in 0..4 {
            delivery.push(events[rng.below(events.len())].clone());
        }
        rng.shuffle(&mut delivery);
        let mut seen: Vec<Event> = Vec::new();
        let mut accepted = 0;
        let mut rest = &delivery[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(4.min(rest.len()));
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let out = ingest_ok(&*s, APP, batch).await;
            accepted += out
                .iter()
                .filter(|o| **o == IngestOutcome::Accepted)
                .count();
            seen.extend_from_slice(batch);
            let now = s.get_record(APP, "g").await.unwrap();
            let want = fold_timed(APP, &seen, Some(LONG_TIMEOUTS)).map(|st| st.record);
            assert_eq!(now, want, "seed {seed}");
        }
        assert_eq!(
            accepted,
            events.len(),
            "seed {seed}: each distinct event accepted once"
        );
        assert_eq!(s.get_record(APP, "g").await.unwrap(), Some(full.clone()));
    }
}

/// `call_events` gives back exactly the distinct stored events, every field intact.
pub async fn call_events_returns_every_distinct_event_with_every_field<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let mut st = start("c1", "alice", &["bob", "carol"], T0);
    st.media_type = Some(MediaType::Audio);
    st.call_type = Some(CallType::Group);
    st.room_id = Some("room-42".into());
    st.event_id = Some("ev-start".into());
    let mut inv = ev("c1", Invite, "bob", T0 + 500);
    inv.invitees = vec!["dave".into(), "erin".into()];
    let mut solo = start("c2", "zed", &["yan"], T0);
    solo.room_id = Some(String::new());
    let events = vec![
        st,
        inv,
        with_id(ev("c1", Accept, "bob", T0 + 700), "ü-ñ-id"),
        ev("c1", Hangup, "alice", T0 + 9000),
    ];
    let mut batch = events.clone();
    batch.push(events[1].clone());
    batch.push(solo.clone());
    ingest_ok(&*s, APP, &batch).await;
    assert_eq!(
        sorted(s.call_events(APP, "c1").await.unwrap()),
        sorted(events.clone())
    );
    assert_eq!(s.call_events(APP, "c2").await.unwrap(), vec![solo]);
    assert!(s.call_events(APP, "nope").await.unwrap().is_empty());
    assert!(s.call_events(OTHER_APP, "c1").await.unwrap().is_empty());
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec.room_id, "room-42");
    assert_eq!(rec.media_type, MediaType::Audio);
    assert_eq!(rec, expected(APP, &events));
}

/// The optional fields every event may carry (`platform`) and a start may carry (its own ring
/// time-out, room id type, chat group, user data) come back from `call_events` as stored; the
/// record keeps the room id type, and an admin's `end` ends the call.
pub async fn event_additions_and_end_are_stored_and_folded<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let mut st = start("c1", "robot", &["bob", "carol"], T0);
    st.ring_timeout_ms = Some(20_000);
    st.room_id_type = Some(2);
    st.room_id = Some("12345".into());
    st.chat_group_id = Some("group-7".into());
    st.user_data = Some("{\"order\":42}".into());
    st.platform = Some("RESTAPI".into());
    let mut acc = ev("c1", Accept, "bob", T0 + 1000);
    acc.platform = Some("iOS".into());
    let end = ev("c1", End, ADMIN_USER, T0 + 5000);
    let events = vec![st, acc, end];
    ingest_ok(&*s, APP, &events).await;
    assert_eq!(
        sorted(s.call_events(APP, "c1").await.unwrap()),
        sorted(events.clone())
    );
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec.room_id_type, Some(2));
    assert_eq!(rec.result, CallResult::NormalEnd);
    assert_eq!(rec.end_ms, Some(T0 + 5000));
    assert_eq!(rec, expected(APP, &events));

    // Never connected: `end` cancels, and the ringing stops.
    let calls = vec![
        start("c2", "alice", &["dave"], T0),
        ev("c2", End, ADMIN_USER, T0 + 3000),
    ];
    ingest_ok(&*s, APP, &calls).await;
    let rec = s.get_record(APP, "c2").await.unwrap().unwrap();
    assert_eq!(
        (rec.result, rec.end_ms),
        (CallResult::Cancel, Some(T0 + 3000))
    );
    assert!(s.due_calls(T0 + 600_000, 10).await.unwrap().is_empty());
}

/// Time-outs are decided by event time: an accept timed after its callee's ring time-out does
/// not connect the call, whether it arrives before or after the time-out job ran; a start's own
/// ring time-out counts instead of the store's; a late event inside the idle window voids a
/// stored idle close.
pub async fn time_outs_are_decided_by_event_time_not_by_arrival<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    // The accept comes 90 s after the start: the ring time-out (60 s) passed first.
    ingest_ok(
        &*s,
        APP,
        &[
            start("late", "alice", &["bob"], T0),
            ev("late", Accept, "bob", T0 + 90_000),
        ],
    )
    .await;
    let rec = s.get_record(APP, "late").await.unwrap().unwrap();
    assert_eq!(
        (rec.result, rec.end_ms, rec.accept_ms),
        (CallResult::NotAnswer, Some(T0 + 60_000), None)
    );
    // The same accept after the job stored the time-out: the same record.
    ingest_ok(&*s, APP, &[start("job-first", "alice", &["bob"], T0)]).await;
    let events = s.call_events(APP, "job-first").await.unwrap();
    let sys = fold_timed(APP, &events, Some(LONG_TIMEOUTS))
        .unwrap()
        .due_events(LONG_TIMEOUTS, T0 + 61_000);
    assert_eq!(sys.len(), 1);
    ingest_ok(&*s, APP, &sys).await;
    ingest_ok(&*s, APP, &[ev("job-first", Accept, "bob", T0 + 90_000)]).await;
    let rec2 = s.get_record(APP, "job-first").await.unwrap().unwrap();
    assert_eq!((rec2.result, rec2.end_ms), (rec.result, rec.end_ms));

    // A start's own ring time-out.
    let mut short = start("own", "alice", &["bob"], T0);
    short.ring_timeout_ms = Some(10_000);
    ingest_ok(&*s, APP, &[short.clone()]).await;
    let due = s.due_calls(T0 + 3_600_000, 10).await.unwrap();
    let own = due.iter().find(|d| d.call_id == "own").unwrap();
    assert_eq!(own.due_ms, T0 + 10_000);
    ingest_ok(&*s, APP, &[ev("own", Accept, "bob", T0 + 15_000)]).await;
    let rec = s.get_record(APP, "own").await.unwrap().unwrap();
    assert_eq!(rec.result, CallResult::NotAnswer);

    // A stored idle close, voided by an event that arrives late inside the idle window.
    let idle: i64 = LONG_TIMEOUTS.idle_ms;
    let connected = [
        start("idle", "alice", &["bob"], T0),
        ev("idle", Accept, "bob", T0 + 1000),
    ];
    ingest_ok(&*s, APP, &connected).await;
    let events = s.call_events(APP, "idle").await.unwrap();
    let sys = fold_timed(APP, &events, Some(LONG_TIMEOUTS))
        .unwrap()
        .due_events(LONG_TIMEOUTS, T0 + 1000 + idle + 1);
    assert_eq!(sys.len(), 2, "an offline for each of the two");
    ingest_ok(&*s, APP, &sys).await;
    let rec = s.get_record(APP, "idle").await.unwrap().unwrap();
    assert_eq!(rec.result, CallResult::Interrupt);
    ingest_ok(
        &*s,
        APP,
        &[ev("idle", Hangup, "alice", T0 + 1000 + idle - 5)],
    )
    .await;
    let rec = s.get_record(APP, "idle").await.unwrap().unwrap();
    assert_eq!(
        (rec.result, rec.end_ms),
        (CallResult::NormalEnd, Some(T0 + 1000 + idle - 5))
    );
}

/// Events that arrive before the `start` are stored; the call stays invisible everywhere
/// until the start arrives, and then they count.
pub async fn events_before_the_start_are_kept_and_applied_when_it_arrives<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let early = [
        ev("c1", Accept, "bob", T0 + 2000),
        ev("c1", Hangup, "alice", T0 + 5000),
    ];
    assert_eq!(ingest_ok(&*s, APP, &early).await, outcomes("AA"));
    assert_eq!(s.get_record(APP, "c1").await.unwrap(), None);
    assert!(
        s.participants(APP, &["c1".into()])
            .await
            .unwrap()
            .is_empty()
    );
    for result in [ResultFilter::Ended, ResultFilter::Is(CallResult::Ongoing)] {
        let q = RecordQuery {
            result,
            ..query(APP, 0, i64::MAX / 1000)
        };
        assert_eq!(ids_of(&*s, &q).await, (0, vec![]));
    }
    assert!(s.due_calls(i64::MAX, 100).await.unwrap().is_empty());
    assert_eq!(s.call_events(APP, "c1").await.unwrap().len(), 2);

    let st = start("c1", "alice", &["bob"], T0);
    assert_eq!(
        ingest_ok(&*s, APP, std::slice::from_ref(&st)).await,
        outcomes("A")
    );
    let rec = s.get_record(APP, "c1").await.unwrap().unwrap();
    assert_eq!(rec.result, CallResult::NormalEnd);
    assert_eq!(rec.accept_ms, Some(T0 + 2000));
    assert_eq!(rec.end_ms, Some(T0 + 5000));
    let mut all = early.to_vec();
    all.push(st);
    assert_eq!(rec, expected(APP, &all));
    assert_eq!(
        ids_of(&*s, &query(APP, T0_SECS, T0_SECS)).await,
        (1, vec!["c1".to_owned()])
    );
}

/// One call id in two apps is two calls.
pub async fn get_record_is_scoped_per_app<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let a = single_call_ending("same", T0, "reject");
    let b = single_call_ending("same", T0 + 7000, "normal_end");
    ingest_ok(&*s, APP, &a).await;
    ingest_ok(&*s, OTHER_APP, &b).await;
    let ra = s.get_record(APP, "same").await.unwrap().unwrap();
    let rb = s.get_record(OTHER_APP, "same").await.unwrap().unwrap();
    assert_eq!(ra, expected(APP, &a));
    assert_eq!(rb, expected(OTHER_APP, &b));
    assert_eq!((ra.sdkappid, ra.result), (APP, CallResult::Reject));
    assert_eq!((rb.sdkappid, rb.result), (OTHER_APP, CallResult::NormalEnd));
    assert_eq!(s.get_record(APP, "other").await.unwrap(), None);
    assert_eq!(s.get_record(3, "same").await.unwrap(), None);
}

/// The range applies to `startCallTs` (whole seconds) and includes both ends.
pub async fn filter_range_is_inclusive_on_start_seconds<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let base = T0_SECS * 1000;
    let calls = [
        ("before", base - 1),             // second T0_SECS - 1
        ("first-ms", base),               // T0_SECS, first ms
        ("last-ms-of-first", base + 999), // still T0_SECS
        ("middle", base + 5_500),
        ("last", base + 10_999), // T0_SECS + 10, last ms
        ("after", base + 11_000),
    ];
    for (id, t) in calls {
        ingest_ok(&*s, APP, &single_call_ending(id, t, "cancel")).await;
    }
    let (total, ids) = ids_of(&*s, &query(APP, T0_SECS, T0_SECS + 10)).await;
    assert_eq!(total, 4);
    assert_eq!(ids, ["last", "middle", "first-ms", "last-ms-of-first"]);
    assert_eq!(
        ids_of(&*s, &query(APP, T0_SECS + 10, T0_SECS + 10)).await,
        (1, vec!["last".to_owned()])
    );
    assert_eq!(
        ids_of(&*s, &query(APP, T0_SECS + 12, T0_SECS + 99)).await,
        (0, vec![])
    );
    assert_eq!(ids_of(&*s, &query(APP, 0, T0_SECS - 1)).await.0, 1);
}

/// Order: `startCallTs` descending, ties (same second, whatever the milliseconds) by callId.
pub async fn filter_orders_by_start_seconds_descending_then_call_id_ascending<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let base = T0_SECS * 1000;
    let calls = [
        ("b", base + 100),
        ("a", base + 900), // later ms, same second: still before "b"
        ("c", base),
        ("d", base + 2000),
        ("e", base - 1000),
        ("aa", base + 500),
    ];
    for (id, t) in calls {
        ingest_ok(&*s, APP, &single_call_ending(id, t, "reject")).await;
    }
    let (total, ids) = ids_of(&*s, &query(APP, 0, T0_SECS + 100)).await;
    assert_eq!(total, 6);
    assert_eq!(ids, ["d", "a", "aa", "b", "c", "e"]);
}

/// Offset/limit paging walks the full ordered list; the total counts every match on every page.
pub async fn filter_pages_with_offset_and_limit_and_counts_all_matches<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let mut batch = Vec::new();
    for i in 0..25 {
        // Five per second so ties are paged through too.
        batch.extend(single_call_ending(
            &format!("call-{i:02}"),
            T0 + (i / 5) * 1000,
            "cancel",
        ));
    }
    ingest_ok(&*s, APP, &batch).await;
    let all = ids_of(&*s, &query(APP, 0, T0_SECS + 100)).await;
    assert_eq!(all.0, 25);
    let mut paged = Vec::new();
    for (offset, want) in [(0, 10), (10, 10), (20, 5), (25, 0), (40, 0)] {
        let q = RecordQuery {
            offset,
            limit: 10,
            ..query(APP, 0, T0_SECS + 100)
        };
        let page = s.filter_records(&q).await.unwrap();
        assert_eq!(page.total, Some(25), "offset {offset}");
        assert_eq!(page.records.len(), want, "offset {offset}");
        paged.extend(page.records.into_iter().map(|r| r.call_id));
    }
    assert_eq!(paged, all.1);
    assert_eq!(
        &paged[..5],
        ["call-20", "call-21", "call-22", "call-23", "call-24"]
    );
    let one = RecordQuery {
        offset: 7,
        limit: 1,
        ..query(APP, 0, T0_SECS + 100)
    };
    assert_eq!(ids_of(&*s, &one).await, (25, vec![all.1[7].clone()]));
}

/// No result filter means every ended call; each result (incl. `ongoing`) selects exactly its
/// calls; the records returned are the folded records.
pub async fn filter_by_result_defaults_to_ended_calls_and_shows_ongoing_only_on_request<
    H: Harness,
>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let endings = [
        "cancel",
        "reject",
        "not_answer",
        "call_busy",
        "normal_end",
        "interrupt",
        "ongoing",
    ];
    let mut fixtures = BTreeMap::new();
    for (i, how) in endings.iter().enumerate() {
        let events = single_call_ending(&format!("call-{how}"), T0 + i as i64 * 1000, how);
        ingest_ok(&*s, APP, &events).await;
        fixtures.insert(format!("call-{how}"), events);
    }
    let everything = query(APP, 0, T0_SECS + 100);
    let ended = s.filter_records(&everything).await.unwrap();
    assert_eq!(ended.total, Some(6));
    assert!(
        ended
            .records
            .iter()
            .all(|r| r.result != CallResult::Ongoing)
    );
    for r in &ended.records {
        assert_eq!(*r, expected(APP, &fixtures[&r.call_id]));
    }
    for how in endings {
        let result: CallResult = how.parse().unwrap();
        let q = RecordQuery {
            result: ResultFilter::Is(result),
            ..everything.clone()
        };
        let page = s.filter_records(&q).await.unwrap();
        assert_eq!(page.total, Some(1), "{how}");
        assert_eq!(page.records[0].call_id, format!("call-{how}"));
        assert_eq!(page.records[0].result, result);
        assert_eq!(
            page.records[0],
            expected(APP, &fixtures[&format!("call-{how}")])
        );
    }
}

/// The call type filter, alone (ended calls) and combined with a result.
pub async fn filter_by_call_type_alone_and_with_a_result<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    ingest_ok(&*s, APP, &single_call_ending("s-reject", T0, "reject")).await;
    ingest_ok(
        &*s,
        APP,
        &single_call_ending("s-end", T0 + 1000, "normal_end"),
    )
    .await;
    ingest_ok(
        &*s,
        APP,
        &single_call_ending("s-live", T0 + 2000, "ongoing"),
    )
    .await;
    ingest_ok(&*s, APP, &group_call("g-end", T0 + 3000)).await;
    ingest_ok(
        &*s,
        APP,
        &[start("g-live", "alice", &["bob", "carol"], T0 + 4000)],
    )
    .await;
    let base = query(APP, 0, T0_SECS + 100);
    let cases = [
        (
            ResultFilter::Ended,
            Some(CallType::Single),
            vec!["s-end", "s-reject"],
        ),
        (ResultFilter::Ended, Some(CallType::Group), vec!["g-end"]),
        (
            ResultFilter::Ended,
            None,
            vec!["g-end", "s-end", "s-reject"],
        ),
        (
            ResultFilter::Is(CallResult::NormalEnd),
            Some(CallType::Single),
            vec!["s-end"],
        ),
        (
            ResultFilter::Is(CallResult::NormalEnd),
            Some(CallType::Group),
            vec!["g-end"],
        ),
        (
            ResultFilter::Is(CallResult::Reject),
            Some(CallType::Group),
            vec![],
        ),
        (
            ResultFilter::Is(CallResult::Ongoing),
            Some(CallType::Group),
            vec!["g-live"],
        ),
        (
            ResultFilter::Is(CallResult::Ongoing),
            None,
            vec!["g-live", "s-live"],
        ),
    ];
    for (result, call_type, want) in cases {
        let q = RecordQuery {
            result,
            call_type,
            ..base.clone()
        };
        let (total, ids) = ids_of(&*s, &q).await;
        assert_eq!(ids, want, "{result:?} {call_type:?}");
        assert_eq!(total, want.len() as u64, "{result:?} {call_type:?}");
    }
}

/// A query sees only its own app's calls.
pub async fn filter_is_scoped_per_app<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    for i in 0..3 {
        ingest_ok(
            &*s,
            APP,
            &single_call_ending(&format!("a{i}"), T0 + i * 1000, "reject"),
        )
        .await;
    }
    for i in 0..2 {
        ingest_ok(
            &*s,
            OTHER_APP,
            &single_call_ending(&format!("b{i}"), T0, "reject"),
        )
        .await;
    }
    ingest_ok(&*s, OTHER_APP, &single_call_ending("a0", T0, "cancel")).await;
    let (n, ids) = ids_of(&*s, &query(APP, 0, T0_SECS + 100)).await;
    assert_eq!((n, ids), (3, vec!["a2".into(), "a1".into(), "a0".into()]));
    let page = s
        .filter_records(&query(OTHER_APP, 0, T0_SECS + 100))
        .await
        .unwrap();
    assert_eq!(page.total, Some(3));
    assert!(page.records.iter().all(|r| r.sdkappid == OTHER_APP));
    assert_eq!(page.records[0].call_id, "a0");
    assert_eq!(page.records[0].result, CallResult::Cancel);
    assert_eq!(ids_of(&*s, &query(3, 0, T0_SECS + 100)).await, (0, vec![]));
}

/// Participants come from the folded record, and only for started calls of the asked app.
pub async fn participants_are_returned_only_for_calls_with_a_start<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let mut invite = ev("g", Invite, "bob", T0 + 2000);
    invite.invitees = vec!["dave".into()];
    ingest_ok(
        &*s,
        APP,
        &[
            start("g", "alice", &["bob", "carol"], T0),
            ev("g", Accept, "bob", T0 + 1000),
            invite,
            start("s", "erin", &["frank"], T0),
            ev("pending", Accept, "bob", T0),
        ],
    )
    .await;
    let ids: Vec<String> = ["g", "s", "pending", "unknown", "g"]
        .map(String::from)
        .to_vec();
    let got = s.participants(APP, &ids).await.unwrap();
    assert_eq!(got.len(), 2);
    let g = &got["g"];
    assert_eq!(g.caller, "alice");
    assert_eq!(g.callees, ["bob", "carol", "dave"]);
    assert_eq!(g.call_type, CallType::Group);
    assert!(g.includes("dave") && g.includes("alice") && !g.includes("erin"));
    let single = &got["s"];
    assert_eq!(
        (single.caller.as_str(), single.call_type),
        ("erin", CallType::Single)
    );
    assert_eq!(single.callees, ["frank"]);
    assert!(s.participants(OTHER_APP, &ids).await.unwrap().is_empty());
    assert!(s.participants(APP, &[]).await.unwrap().is_empty());
}

const SHORT: Timeouts = Timeouts {
    ring_ms: 1_000,
    idle_ms: 5_000,
};

/// Ongoing calls come out of `due_calls` once their next time-out is due, earliest first, at
/// most `limit`, across apps; ended and unstarted calls never do.
pub async fn due_calls_lists_due_ongoing_calls_earliest_first_within_the_limit<H: Harness>() {
    let h = H::create(SHORT).await;
    let s = h.store();
    ingest_ok(&*s, APP, &[start("ring-1", "alice", &["bob"], T0)]).await;
    ingest_ok(
        &*s,
        OTHER_APP,
        &[start("ring-2", "carol", &["dave", "erin"], T0 + 100)],
    )
    .await;
    ingest_ok(
        &*s,
        APP,
        &[
            start("idle", "frank", &["grace"], T0 + 50),
            ev("idle", Accept, "grace", T0 + 60),
        ],
    )
    .await;
    ingest_ok(&*s, APP, &single_call_ending("ended", T0, "reject")).await;
    ingest_ok(&*s, APP, &[ev("no-start", Accept, "bob", T0)]).await;

    assert!(s.due_calls(T0 + 999, 10).await.unwrap().is_empty());
    let at = |d: &[callrec_domain::DueCall]| -> Vec<(u64, String, i64)> {
        d.iter()
            .map(|c| (c.sdkappid, c.call_id.clone(), c.due_ms))
            .collect()
    };
    assert_eq!(
        at(&s.due_calls(T0 + 1000, 10).await.unwrap()),
        [(APP, "ring-1".to_owned(), T0 + 1000)]
    );
    let all = [
        (APP, "ring-1".to_owned(), T0 + 1000),
        (OTHER_APP, "ring-2".to_owned(), T0 + 1100),
        (APP, "idle".to_owned(), T0 + 60 + 5000),
    ];
    assert_eq!(at(&s.due_calls(T0 + 100_000, 10).await.unwrap()), all);
    assert_eq!(at(&s.due_calls(T0 + 100_000, 2).await.unwrap()), all[..2]);
    assert_eq!(at(&s.due_calls(T0 + 5059, 10).await.unwrap()), all[..2]);
    // The due time stored is the fold's own.
    let events = s.call_events(APP, "idle").await.unwrap();
    assert_eq!(
        fold(APP, &events).unwrap().next_due_ms(SHORT),
        Some(T0 + 5060)
    );
}

/// Storing the time-out events the fold derives (as the server's job does) ends each call and
/// takes it off the due list; storing them twice changes nothing.
pub async fn ingesting_due_events_ends_calls_and_removes_them_from_due_calls<H: Harness>() {
    let h = H::create(SHORT).await;
    let s = h.store();
    ingest_ok(&*s, APP, &[start("ring", "alice", &["bob"], T0)]).await;
    ingest_ok(
        &*s,
        APP,
        &[
            start("idle", "frank", &["grace"], T0),
            ev("idle", Accept, "grace", T0 + 60),
        ],
    )
    .await;
    ingest_ok(
        &*s,
        APP,
        &[
            start("group", "carol", &["dave", "erin"], T0),
            ev("group", Accept, "dave", T0 + 200),
        ],
    )
    .await;
    let now = T0 + 60_000;
    let mut rounds = 0;
    loop {
        let due = s.due_calls(now, 100).await.unwrap();
        if due.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds < 10, "time-outs never settle: {due:?}");
        for d in due {
            let events = s.call_events(d.sdkappid, &d.call_id).await.unwrap();
            let state = fold(d.sdkappid, &events).unwrap();
            let sys = state.due_events(SHORT, now);
            assert!(
                !sys.is_empty(),
                "{} is due but has no due events",
                d.call_id
            );
            let out = ingest_ok(&*s, d.sdkappid, &sys).await;
            assert!(out.iter().all(|o| *o == IngestOutcome::Accepted));
            assert_eq!(
                ingest_ok(&*s, d.sdkappid, &sys).await,
                vec![IngestOutcome::Duplicate; sys.len()]
            );
        }
    }
    let ring = s.get_record(APP, "ring").await.unwrap().unwrap();
    assert_eq!(ring.result, CallResult::NotAnswer);
    assert_eq!(ring.end_ms, Some(T0 + 1000));
    let idle = s.get_record(APP, "idle").await.unwrap().unwrap();
    assert_eq!(idle.result, CallResult::Interrupt);
    assert_eq!(idle.end_ms, Some(T0 + 60));
    let group = s.get_record(APP, "group").await.unwrap().unwrap();
    assert_ne!(group.result, CallResult::Ongoing);
    for call in ["ring", "idle", "group"] {
        let events = s.call_events(APP, call).await.unwrap();
        assert!(events.iter().any(Event::is_system), "{call}");
        assert_eq!(
            s.get_record(APP, call).await.unwrap().unwrap(),
            expected(APP, &events)
        );
    }
    assert!(s.due_calls(i64::MAX, 100).await.unwrap().is_empty());
}

/// Retention removes calls (started or not) older than the cutoff together with their events,
/// and nothing newer; a call's age is its start, else its first event.
pub async fn purge_removes_old_calls_with_their_events_and_keeps_newer_ones<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let cutoff = T0 + 50_000;
    ingest_ok(&*s, APP, &single_call_ending("old", T0, "normal_end")).await; // 3 events
    ingest_ok(
        &*s,
        OTHER_APP,
        &single_call_ending("old-other-app", T0 + 1, "reject"),
    )
    .await; // 2
    ingest_ok(&*s, APP, &[ev("old-unstarted", Accept, "bob", T0 + 100)]).await; // 1
    ingest_ok(&*s, APP, &single_call_ending("new", cutoff, "cancel")).await;
    ingest_ok(&*s, APP, &[ev("new-unstarted", Accept, "bob", cutoff + 5)]).await;
    // Started after the cutoff, with a stray earlier event: judged by its start, so kept.
    ingest_ok(
        &*s,
        APP,
        &[
            ev("late-start", Reject, "bob", T0),
            start("late-start", "alice", &["bob"], cutoff + 10),
        ],
    )
    .await;

    let stats = s.purge_before(cutoff).await.unwrap();
    assert_eq!((stats.calls, stats.events), (3, 6));
    for (app, call) in [
        (APP, "old"),
        (OTHER_APP, "old-other-app"),
        (APP, "old-unstarted"),
    ] {
        assert_eq!(s.get_record(app, call).await.unwrap(), None, "{call}");
        assert!(s.call_events(app, call).await.unwrap().is_empty(), "{call}");
    }
    assert_eq!(
        s.get_record(APP, "new").await.unwrap().unwrap().result,
        CallResult::Cancel
    );
    assert_eq!(s.call_events(APP, "new").await.unwrap().len(), 2);
    assert_eq!(s.call_events(APP, "new-unstarted").await.unwrap().len(), 1);
    assert_eq!(s.call_events(APP, "late-start").await.unwrap().len(), 2);
    assert!(s.get_record(APP, "late-start").await.unwrap().is_some());
    assert_eq!(
        ids_of(&*s, &query(APP, 0, i64::MAX / 1000)).await,
        (1, vec!["new".into()])
    );
    assert_eq!(s.purge_before(cutoff).await.unwrap(), Default::default());
    // A purged call that gets a new start later is a fresh call.
    ingest_ok(
        &*s,
        APP,
        &[start("old-unstarted", "alice", &["bob"], cutoff + 20)],
    )
    .await;
    let rec = s.get_record(APP, "old-unstarted").await.unwrap().unwrap();
    assert_eq!(rec.accept_ms, None);
}

/// 50 tasks report 20 events each at once, every call's events sent by two tasks in different
/// orders and batchings: each distinct event is accepted exactly once, and every record is the
/// fold of its events.
pub async fn concurrent_ingest_from_many_tasks_counts_every_event_exactly_once<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s: Arc<H::Store> = h.store();
    let call_events = |c: usize| -> Vec<Event> {
        let id = format!("call-{c}");
        let t = T0 + c as i64;
        let mut v = vec![
            start(&id, "caller", &["x1", "x2"], t),
            ev(&id, Accept, "x1", t + 1),
            ev(&id, Accept, "x2", t + 2),
        ];
        for k in 0..10 {
            v.push(ev(&id, Join, &format!("z{k}"), t + 10 + k));
        }
        for k in 0..6 {
            v.push(with_id(
                ev(&id, Hangup, &format!("z{k}"), t + 100 + k),
                &format!("h{k}"),
            ));
        }
        v.push(ev(&id, Hangup, "x1", t + 200));
        v
    };
    let calls = 25;
    let mut tasks = Vec::new();
    for task in 0..50 {
        let s = Arc::clone(&s);
        let mut events = call_events(task / 2);
        assert_eq!(events.len(), 20);
        let mut rng = Rng::new(task as u64 + 7);
        rng.shuffle(&mut events);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut rest = &events[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(3.min(rest.len()));
                let (batch, tail) = rest.split_at(n);
                rest = tail;
                let out = s.ingest(items(APP, batch)).await.unwrap();
                assert_eq!(out.len(), batch.len());
                got.extend(batch.iter().cloned().zip(out));
            }
            got
        }));
    }
    let mut accepted_keys = HashSet::new();
    let (mut accepted, mut duplicates) = (0, 0);
    for t in tasks {
        for (e, o) in t.await.unwrap() {
            match o {
                IngestOutcome::Accepted => {
                    accepted += 1;
                    assert!(
                        accepted_keys.insert((e.call_id.clone(), e.dedupe_key())),
                        "accepted twice: {e:?}"
                    );
                }
                IngestOutcome::Duplicate => duplicates += 1,
            }
        }
    }
    assert_eq!((accepted, duplicates), (calls * 20, calls * 20));
    for c in 0..calls {
        let id = format!("call-{c}");
        let rec = s.get_record(APP, &id).await.unwrap().unwrap();
        assert_eq!(rec, expected(APP, &call_events(c)), "{id}");
        assert_eq!(s.call_events(APP, &id).await.unwrap().len(), 20);
    }
    let q = RecordQuery {
        result: ResultFilter::Is(CallResult::Ongoing),
        ..query(APP, 0, i64::MAX / 1000)
    };
    assert_eq!(
        s.filter_records(&q).await.unwrap().total,
        Some(calls as u64)
    );
}

/// After `close`, ingest fails as `Unavailable`; every event acknowledged before (including by
/// ingests racing the close) is there after reopening.
pub async fn close_refuses_new_ingest_and_reopen_keeps_everything_acknowledged<H: Harness>() {
    let mut h = H::create(LONG_TIMEOUTS).await;
    let s = h.store();
    let before = single_call_ending("before", T0, "normal_end");
    ingest_ok(&*s, APP, &before).await;
    let mut racers = Vec::new();
    for i in 0..20 {
        let s = Arc::clone(&s);
        racers.push(tokio::spawn(async move {
            let events = single_call_ending(&format!("race-{i}"), T0 + i, "reject");
            (i, events.clone(), s.ingest(items(APP, &events)).await)
        }));
    }
    tokio::task::yield_now().await;
    s.close().await.unwrap();
    let after = s
        .ingest(items(APP, &[start("after", "a", &["b"], T0)]))
        .await;
    assert!(
        matches!(after, Err(StoreError::Unavailable(_))),
        "{after:?}"
    );
    let mut acknowledged = Vec::new();
    for r in racers {
        let (i, events, result) = r.await.unwrap();
        match result {
            Ok(out) => {
                assert_eq!(out, outcomes("AA"));
                acknowledged.push((format!("race-{i}"), events));
            }
            Err(e) => assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}"),
        }
    }
    drop(s);
    h.reopen().await;
    let s = h.store();
    assert_eq!(
        s.get_record(APP, "before").await.unwrap(),
        Some(expected(APP, &before))
    );
    for (id, events) in &acknowledged {
        assert_eq!(
            s.get_record(APP, id).await.unwrap(),
            Some(expected(APP, events)),
            "{id}"
        );
    }
    assert_eq!(s.get_record(APP, "after").await.unwrap(), None);
    // The reopened store takes writes again.
    assert_eq!(
        ingest_ok(&*s, APP, &[start("after", "a", &["b"], T0)]).await,
        outcomes("A")
    );
    s.close().await.unwrap();
}

/// A freshly opened store answers `ping`.
pub async fn ping_succeeds_on_an_open_store<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    h.store().ping().await.unwrap();
}

// ---- Callbacks: configurations and the outbox -------------------------------------------

use crate::planner::{command_of, now_ms};
use callrec_domain::{
    AfterAttempt, AttemptResult, CallbackConfig, Delivery, DeliveryQuery, DeliveryStatus,
    Generation, Redeliver,
};

fn config(generation: Generation, url: &str, commands: &[&str]) -> CallbackConfig {
    CallbackConfig {
        generation,
        url: url.to_owned(),
        commands: commands.iter().map(|c| (*c).to_owned()).collect(),
    }
}

async fn all_deliveries<S: Store>(store: &S, app: u64) -> Vec<Delivery> {
    store
        .deliveries(&DeliveryQuery {
            sdkappid: app,
            status: None,
            call_id: None,
            limit: 1000,
            before_seq: None,
        })
        .await
        .unwrap()
}

/// The commands of the app's callbacks, oldest first.
async fn commands<S: Store>(store: &S, app: u64) -> Vec<String> {
    let mut d = all_deliveries(store, app).await;
    d.reverse();
    d.into_iter().map(|d| d.callback.command).collect()
}

fn result(seq: i64, next: AfterAttempt) -> AttemptResult {
    AttemptResult {
        seq,
        attempted_ms: now_ms(),
        next,
        error: match next {
            AfterAttempt::Delivered => None,
            _ => Some("HTTP 500".into()),
        },
    }
}

/// Configurations are kept per app and generation, replaced by a put, updated only when one
/// exists, deleted, and kept across a reopen.
pub async fn callback_configs_are_kept_per_app_and_generation_across_reopen<H: Harness>() {
    let mut h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    assert_eq!(
        store.callback_config(APP, Generation::V1).await.unwrap(),
        None
    );
    // Updating nothing stores nothing.
    let v1 = config(Generation::V1, "http://a.example/cb", &["start"]);
    assert!(
        !store
            .put_callback_config(APP, v1.clone(), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store.callback_config(APP, Generation::V1).await.unwrap(),
        None
    );
    assert!(
        store
            .put_callback_config(APP, v1.clone(), false)
            .await
            .unwrap()
    );
    let v4 = config(Generation::V4, "https://b.example/x?k=1", &["*"]);
    assert!(
        store
            .put_callback_config(APP, v4.clone(), false)
            .await
            .unwrap()
    );
    let other = config(Generation::V1, "http://other.example/", &["accept"]);
    assert!(
        store
            .put_callback_config(OTHER_APP, other.clone(), false)
            .await
            .unwrap()
    );
    assert_eq!(
        store.callback_config(APP, Generation::V1).await.unwrap(),
        Some(v1)
    );
    assert_eq!(
        store.callback_config(APP, Generation::V4).await.unwrap(),
        Some(v4.clone())
    );
    // A put replaces; an update replaces what exists.
    let v1b = config(
        Generation::V1,
        "http://a.example/new",
        &["accept", "reject"],
    );
    assert!(
        store
            .put_callback_config(APP, v1b.clone(), true)
            .await
            .unwrap()
    );
    assert_eq!(
        store.callback_config(APP, Generation::V1).await.unwrap(),
        Some(v1b.clone())
    );
    store.close().await.unwrap();
    h.reopen().await;
    let store = h.store();
    assert_eq!(
        store.callback_config(APP, Generation::V1).await.unwrap(),
        Some(v1b)
    );
    assert_eq!(
        store
            .callback_config(OTHER_APP, Generation::V1)
            .await
            .unwrap(),
        Some(other)
    );
    assert!(
        store
            .delete_callback_config(APP, Generation::V4)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_callback_config(APP, Generation::V4)
            .await
            .unwrap()
    );
    assert_eq!(
        store.callback_config(APP, Generation::V4).await.unwrap(),
        None
    );
    assert!(
        store
            .callback_config(APP, Generation::V1)
            .await
            .unwrap()
            .is_some()
    );
}

/// Storing events produces the callbacks of the changes they make, in event order, for every
/// configuration that asks for them, durably with the events; duplicates and apps without a
/// configuration produce nothing, and a configuration applies from its change on.
pub async fn callbacks_are_produced_with_their_events_once_and_kept<H: Harness>() {
    let mut h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    let events = single_call_ending("c1", T0, "normal_end");
    // Before any configuration: nothing.
    ingest_ok(&*store, APP, &events[..1]).await;
    assert!(all_deliveries(&*store, APP).await.is_empty());
    store
        .put_callback_config(
            APP,
            config(Generation::V1, "http://a.example/", &["*"]),
            false,
        )
        .await
        .unwrap();
    store
        .put_callback_config(
            APP,
            config(Generation::V4, "http://b.example/", &["hangup"]),
            false,
        )
        .await
        .unwrap();
    // The rest in one batch, with a duplicate of the start and of the accept.
    let batch = vec![
        events[1].clone(),
        events[0].clone(),
        events[2].clone(),
        events[1].clone(),
    ];
    let out = ingest_ok(&*store, APP, &batch).await;
    assert_eq!(out, outcomes("ADAD"));
    ingest_ok(&*store, APP, &events).await;
    assert_eq!(
        commands(&*store, APP).await,
        vec![
            command_of("accept", "bob", false),
            command_of("hangup", "bob", true),
            command_of("hangup", "bob", true),
        ]
    );
    let all = all_deliveries(&*store, APP).await;
    assert_eq!(all[0].callback.url, "http://b.example/");
    assert_eq!(all[0].callback.generation, Generation::V4);
    assert!(
        all.iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0)
    );
    assert!(all.iter().all(|d| d.callback.call_id == "c1"));
    // Another app, no configuration: nothing.
    ingest_ok(&*store, OTHER_APP, &events).await;
    assert!(all_deliveries(&*store, OTHER_APP).await.is_empty());
    // A late start for a call with events brings them all, in event order.
    let late = single_call_ending("c2", T0 + 10_000, "reject");
    ingest_ok(&*store, APP, &late[1..]).await;
    ingest_ok(&*store, APP, &late[..1]).await;
    let got = commands(&*store, APP).await;
    assert_eq!(
        got[3..],
        [
            command_of("start", "alice", false),
            command_of("reject", "bob", true)
        ]
    );
    store.close().await.unwrap();
    h.reopen().await;
    assert_eq!(commands(&*h.store(), APP).await, got);
}

/// The callbacks of one call to one URL are handed out one at a time in production order; other
/// calls and other URLs go on meanwhile; a retry keeps the line, its end passes it on.
pub async fn claims_hand_out_one_callback_per_call_and_url_at_a_time<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    store
        .put_callback_config(
            APP,
            config(Generation::V1, "http://a.example/", &["*"]),
            false,
        )
        .await
        .unwrap();
    store
        .put_callback_config(
            APP,
            config(Generation::V4, "http://b.example/", &["start"]),
            false,
        )
        .await
        .unwrap();
    ingest_ok(&*store, APP, &single_call_ending("c1", T0, "normal_end")).await;
    ingest_ok(&*store, APP, &single_call_ending("c2", T0, "reject")).await;
    let now = now_ms() + 1;
    let heads = store.claim_callbacks("A", now, 600_000, 100).await.unwrap();
    let mut got: Vec<(String, String, String)> = heads
        .iter()
        .map(|d| {
            (
                d.callback.call_id.clone(),
                d.callback.url.clone(),
                d.callback.command.clone(),
            )
        })
        .collect();
    got.sort();
    let start = command_of("start", "alice", false);
    assert_eq!(
        got,
        vec![
            ("c1".into(), "http://a.example/".into(), start.clone()),
            ("c1".into(), "http://b.example/".into(), start.clone()),
            ("c2".into(), "http://a.example/".into(), start.clone()),
            ("c2".into(), "http://b.example/".into(), start.clone()),
        ]
    );
    // Leased: not handed out again, nor is anything behind them.
    assert!(
        store
            .claim_callbacks("B", now, 600_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let head = |call: &str, url: &str| {
        heads
            .iter()
            .find(|d| d.callback.call_id == call && d.callback.url == url)
            .unwrap()
            .seq
    };
    // c1's v1 line: delivered → the accept is next. c2's: retry later → nothing yet.
    store
        .finish_callbacks(
            "A",
            vec![
                result(head("c1", "http://a.example/"), AfterAttempt::Delivered),
                result(
                    head("c2", "http://a.example/"),
                    AfterAttempt::RetryAt(now + 60_000),
                ),
            ],
        )
        .await
        .unwrap();
    let next = store
        .claim_callbacks("A", now + 1, 600_000, 100)
        .await
        .unwrap();
    assert_eq!(
        next.iter()
            .map(|d| d.callback.command.clone())
            .collect::<Vec<_>>(),
        vec![command_of("accept", "bob", false)]
    );
    // The retry comes due; failing it for good passes the line on.
    let retry = store
        .claim_callbacks("A", now + 60_000, 600_000, 100)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    assert_eq!(retry[0].last_error.as_deref(), Some("HTTP 500"));
    store
        .finish_callbacks("A", vec![result(retry[0].seq, AfterAttempt::Failed)])
        .await
        .unwrap();
    let after = store
        .claim_callbacks("A", now + 60_001, 600_000, 100)
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|d| d.callback.command.clone())
            .collect::<Vec<_>>(),
        vec![command_of("reject", "bob", true)]
    );
    let failed: Vec<Delivery> = store
        .deliveries(&DeliveryQuery {
            sdkappid: APP,
            status: Some(DeliveryStatus::Failed),
            call_id: None,
            limit: 10,
            before_seq: None,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(failed[0].next_attempt_ms, None);
}

/// A lease keeps others off until it runs out; then another owner takes the callback and the
/// first owner's late result is ignored. Renewing extends a lease, releasing ends it.
pub async fn leases_expire_and_only_their_owner_finishes<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    store
        .put_callback_config(
            APP,
            config(Generation::V1, "http://a.example/", &["start"]),
            false,
        )
        .await
        .unwrap();
    ingest_ok(&*store, APP, &single_call_ending("c1", T0, "ongoing")).await;
    ingest_ok(&*store, APP, &single_call_ending("c2", T0, "ongoing")).await;
    let now = now_ms() + 1;
    let a = store.claim_callbacks("A", now, 1_000, 1).await.unwrap();
    assert_eq!(a.len(), 1, "the limit holds");
    let seq = a[0].seq;
    let b = store
        .claim_callbacks("B", now + 500, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_ne!(b[0].seq, seq);
    // A renews its lease; B releases its own.
    store
        .renew_leases("A", &[seq], Some(now + 5_000))
        .await
        .unwrap();
    store.renew_leases("B", &[b[0].seq], None).await.unwrap();
    let again = store
        .claim_callbacks("C", now + 2_000, 60_000, 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![b[0].seq]
    );
    // A's lease runs out: D takes the callback, A's result no longer counts.
    let d = store
        .claim_callbacks("D", now + 5_000, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(d.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![seq]);
    store
        .finish_callbacks("A", vec![result(seq, AfterAttempt::Delivered)])
        .await
        .unwrap();
    let pending = all_deliveries(&*store, APP).await;
    assert!(pending.iter().all(|d| d.status == DeliveryStatus::Pending));
    store
        .finish_callbacks("D", vec![result(seq, AfterAttempt::Delivered)])
        .await
        .unwrap();
    let done = all_deliveries(&*store, APP).await;
    let mine = done.iter().find(|d| d.seq == seq).unwrap();
    assert_eq!(mine.status, DeliveryStatus::Delivered);
    assert_eq!(mine.attempts, 1);
}

fn claimed_created(claimed: &[Delivery], id: &str) -> i64 {
    let d = claimed.iter().find(|d| d.callback.id == id).unwrap();
    assert_eq!(
        d.schedule_ms, d.callback.created_ms,
        "a first schedule starts at production"
    );
    d.callback.created_ms
}

/// Redelivery makes delivered or failed callbacks pending again, due now, with no attempts and
/// their ids, by id or every failed one since a time; unknown ids and other apps' are ignored.
pub async fn redeliver_makes_callbacks_pending_again_with_their_ids<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    for app in [APP, OTHER_APP] {
        store
            .put_callback_config(
                app,
                config(Generation::V1, "http://a.example/", &["start"]),
                false,
            )
            .await
            .unwrap();
    }
    for i in 0..3 {
        ingest_ok(
            &*store,
            APP,
            &single_call_ending(&format!("c{i}"), T0, "ongoing"),
        )
        .await;
    }
    ingest_ok(&*store, OTHER_APP, &single_call_ending("o", T0, "ongoing")).await;
    let now = now_ms() + 1;
    let claimed = store.claim_callbacks("A", now, 30_000, 100).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let results = claimed
        .iter()
        .map(|d| {
            let next = if d.callback.call_id == "c0" {
                AfterAttempt::Delivered
            } else {
                AfterAttempt::Failed
            };
            result(d.seq, next)
        })
        .collect();
    store.finish_callbacks("A", results).await.unwrap();
    assert!(
        store
            .claim_callbacks("A", now + 1, 30_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let id_of = |call: &str| {
        claimed
            .iter()
            .find(|d| d.callback.call_id == call)
            .unwrap()
            .callback
            .id
            .clone()
    };
    let n = store
        .redeliver(
            APP,
            &Redeliver::Ids(vec![id_of("c0"), "msg_unknown".into(), id_of("o")]),
            now + 2,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let again = store
        .claim_callbacks("A", now + 2, 30_000, 100)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].callback.id, id_of("c0"));
    assert_eq!(again[0].attempts, 0);
    assert_eq!(again[0].last_error, None);
    // A fresh schedule: the give-up age counts from the redelivery.
    assert_eq!(again[0].schedule_ms, now + 2);
    assert_eq!(
        again[0].callback.created_ms,
        claimed_created(&claimed, &again[0].callback.id)
    );
    // Every failed one since a time: c1 and c2 (not the other app's).
    let n = store
        .redeliver(APP, &Redeliver::FailedSince(0), now + 3)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let more = store
        .claim_callbacks("A", now + 3, 30_000, 100)
        .await
        .unwrap();
    let mut calls: Vec<String> = more.iter().map(|d| d.callback.call_id.clone()).collect();
    calls.sort();
    assert_eq!(calls, vec!["c1", "c2"]);
    assert_eq!(
        store
            .redeliver(APP, &Redeliver::FailedSince(now + 10_000_000), now + 4)
            .await
            .unwrap(),
        0
    );
}

/// The deliveries list is newest first, filtered by status and by call, paged by sequence.
pub async fn deliveries_list_newest_first_by_status_and_call_in_pages<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    store
        .put_callback_config(
            APP,
            config(Generation::V1, "http://a.example/", &["*"]),
            false,
        )
        .await
        .unwrap();
    for i in 0..5 {
        ingest_ok(
            &*store,
            APP,
            &single_call_ending(&format!("c{i}"), T0 + i * 1000, "reject"),
        )
        .await;
    }
    let all = all_deliveries(&*store, APP).await;
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let ids: HashSet<&str> = all.iter().map(|d| d.callback.id.as_str()).collect();
    assert_eq!(ids.len(), 10, "ids are unique");
    // Pages of 3 walk everything once.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .deliveries(&DeliveryQuery {
                sdkappid: APP,
                status: None,
                call_id: None,
                limit: 3,
                before_seq: before,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|d| d.seq);
        walked.extend(page.into_iter().map(|d| d.seq));
    }
    assert_eq!(walked, all.iter().map(|d| d.seq).collect::<Vec<_>>());
    let of_c3 = store
        .deliveries(&DeliveryQuery {
            sdkappid: APP,
            status: Some(DeliveryStatus::Pending),
            call_id: Some("c3".into()),
            limit: 10,
            before_seq: None,
        })
        .await
        .unwrap();
    assert_eq!(
        of_c3
            .iter()
            .map(|d| d.callback.command.clone())
            .collect::<Vec<_>>(),
        vec![
            command_of("reject", "bob", true),
            command_of("start", "alice", false)
        ]
    );
    let delivered = store
        .deliveries(&DeliveryQuery {
            sdkappid: APP,
            status: Some(DeliveryStatus::Delivered),
            call_id: None,
            limit: 10,
            before_seq: None,
        })
        .await
        .unwrap();
    assert!(delivered.is_empty());
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 10);
    assert!(stats.oldest_pending_ms.is_some());
    assert!(all_deliveries(&*store, OTHER_APP).await.is_empty());
}

/// Retention removes a call's callbacks with the call.
pub async fn purge_removes_callbacks_with_their_call<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    store
        .put_callback_config(
            APP,
            config(Generation::V1, "http://a.example/", &["*"]),
            false,
        )
        .await
        .unwrap();
    ingest_ok(&*store, APP, &single_call_ending("old", T0, "reject")).await;
    ingest_ok(
        &*store,
        APP,
        &single_call_ending("new", T0 + 86_400_000, "reject"),
    )
    .await;
    store.purge_before(T0 + 1000).await.unwrap();
    let left = all_deliveries(&*store, APP).await;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|d| d.callback.call_id == "new"));
}

// ---- Cursor paging -------------------------------------------------------------------------

/// Paging with a key (the last record of the previous page) walks every matching record once,
/// in page order, also when records are added between pages (ties in a second broken by
/// callId); `with_total: false` answers no total.
pub async fn keyset_pages_never_repeat_or_skip_a_record_while_records_arrive<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let store = h.store();
    // 60 calls over 20 seconds: three per second, so ties are everywhere.
    let mut expected: Vec<(i64, String)> = Vec::new();
    for i in 0..60 {
        let id = format!("k{i:02}");
        let t = T0 + (i / 3) * 1000;
        ingest_ok(&*store, APP, &single_call_ending(&id, t, "reject")).await;
        expected.push((t / 1000, id));
    }
    let mut q = query(APP, T0_SECS - 10, T0_SECS + 100);
    q.limit = 7;
    q.with_total = false;
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut round = 0;
    loop {
        let page = store.filter_records(&q).await.unwrap();
        assert_eq!(page.total, None, "no total asked for");
        if page.records.is_empty() {
            break;
        }
        seen.extend(
            page.records
                .iter()
                .map(|r| (r.start_secs(), r.call_id.clone())),
        );
        let last = page.records.last().unwrap();
        q.after = Some(callrec_domain::RecordKey {
            start_secs: last.start_secs(),
            call_id: last.call_id.clone(),
        });
        // Between pages: a call newer than everything (before the cursor: not shown), one in
        // the cursor's own second sorting before it and one after it, and one much older.
        let s = last.start_secs() * 1000;
        for (id, t) in [
            (format!("new{round}"), T0 + 50_000),
            (format!("a{round}"), s),
            (format!("zz{round}"), s),
            (format!("old{round}"), T0 - 5_000),
        ] {
            ingest_ok(&*store, APP, &single_call_ending(&id, t, "reject")).await;
            // Records arriving behind the cursor match and must come; those ahead must not.
            let key = (t / 1000, id.clone());
            let ahead = (key.0 > last.start_secs())
                || (key.0 == last.start_secs() && key.1 <= last.call_id);
            if !ahead {
                expected.push(key);
            }
        }
        round += 1;
        assert!(round < 100, "the walk does not end");
    }
    let ids: HashSet<&(i64, String)> = seen.iter().collect();
    assert_eq!(ids.len(), seen.len(), "a record came twice");
    // Page order: start descending, callId ascending.
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(seen, sorted);
    for e in &expected {
        assert!(ids.contains(e), "{e:?} matched throughout and was skipped");
    }
    // The total, when asked, ignores the cursor.
    q.with_total = true;
    let counted = store.filter_records(&q).await.unwrap().total.unwrap();
    let all = store
        .filter_records(&query(APP, T0_SECS - 10, T0_SECS + 100))
        .await
        .unwrap()
        .total
        .unwrap();
    assert_eq!(counted, all);
}

/// An ended record read (and so possibly cached) still shows every later change at once: a late
/// event that changes it, and its purge. While readers read the call without pause, each
/// acknowledged late invite is visible to the next read.
pub async fn an_ended_record_once_read_shows_every_later_change<H: Harness>() {
    let h = H::create(LONG_TIMEOUTS).await;
    let s: Arc<H::Store> = h.store();
    let mut events = vec![
        start("c", "alice", &["bob", "carol"], T0),
        ev("c", Accept, "bob", T0 + 1000),
        ev("c", End, ADMIN_USER, T0 + 60_000),
    ];
    ingest_ok(&*s, APP, &events).await;
    for _ in 0..3 {
        assert_eq!(
            s.get_record(APP, "c").await.unwrap().unwrap(),
            expected(APP, &events)
        );
    }
    // A join timed before the end arrives late: one more participant.
    let late = ev("c", Join, "dave", T0 + 2000);
    events.push(late.clone());
    ingest_ok(&*s, APP, &[late]).await;
    let rec = s.get_record(APP, "c").await.unwrap().unwrap();
    assert!(rec.callees.contains(&"dave".to_owned()), "{rec:?}");
    assert_eq!(rec, expected(APP, &events));

    // Late invites (timed before the end) while four readers read the call continuously.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.get_record(APP, "c").await.unwrap().unwrap();
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    for k in 0..40 {
        let mut invite = ev("c", Invite, "bob", T0 + 3000 + k);
        invite.invitees = vec![format!("late-{k}")];
        events.push(invite.clone());
        ingest_ok(&*s, APP, &[invite]).await;
        let rec = s.get_record(APP, "c").await.unwrap().unwrap();
        assert!(
            rec.callees.contains(&format!("late-{k}")),
            "invite {k} acknowledged but not in {:?}",
            rec.callees
        );
        assert_eq!(rec, expected(APP, &events));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }

    // Purged: gone, however often it was read before.
    s.purge_before(T0 + 1).await.unwrap();
    assert_eq!(s.get_record(APP, "c").await.unwrap(), None);
}
