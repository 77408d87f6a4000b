//! One test per rule of docs/api.md, "How events become a record (the fold)", and its time-out
//! paragraph. Each test is named after the rule it proves and fails if that rule is broken.
//!
//! Calls here are tiny and hand-written: `alice` is the caller unless a test says otherwise, times
//! are milliseconds after `T0` (a whole second), and events are given to the fold in an order other
//! than event order wherever that order could matter, to show that only the set counts.

use CallResult::{CallBusy, Interrupt, NormalEnd, NotAnswer, Ongoing};
use EventType::{Accept, Busy, Cancel as CancelEv, Hangup, Join, NoAnswer, Offline, Reject};
use callrec_domain::{
    CallResult, CallState, CallType, Event, EventType, MediaType, Record, Timeouts, fold,
};

const APP: u64 = 1_400_000_001;
const CALL: &str = "call-1";
/// A whole second, so that `t(ms)` floors to `T0 / 1000 + ms / 1000`.
const T0: i64 = 1_700_000_000_000;
/// The defaults of the starter config: 60 s ring time-out, 12 h idle time-out.
const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};

fn t(ms: i64) -> i64 {
    T0 + ms
}

/// `endTs`/`acceptTs` of an event at `t(ms)`.
fn secs(ms: i64) -> i64 {
    t(ms).div_euclid(1000)
}

fn names(users: &[&str]) -> Vec<String> {
    users.iter().map(|u| (*u).to_owned()).collect()
}

fn ev(kind: EventType, user: &str, ms: i64) -> Event {
    Event::new(CALL, kind, user, t(ms))
}

/// A `start` as validation stores it: `callType` defaulted by the number of callees.
fn start(caller: &str, callees: &[&str], ms: i64) -> Event {
    let mut e = ev(EventType::Start, caller, ms);
    e.callees = names(callees);
    e.media_type = Some(MediaType::Video);
    e.call_type = Some(if callees.len() == 1 {
        CallType::Single
    } else {
        CallType::Group
    });
    e
}

fn single(callee: &str) -> Event {
    start("alice", &[callee], 0)
}

fn group(callees: &[&str]) -> Event {
    let mut e = start("alice", callees, 0);
    e.call_type = Some(CallType::Group);
    e
}

fn invite(inviter: &str, invitees: &[&str], ms: i64) -> Event {
    let mut e = ev(EventType::Invite, inviter, ms);
    e.invitees = names(invitees);
    e
}

fn with_id(mut e: Event, id: &str) -> Event {
    e.event_id = Some(id.to_owned());
    e
}

fn state(events: &[Event]) -> CallState {
    fold(APP, events).expect("a start is among the events")
}

fn record(events: &[Event]) -> Record {
    state(events).record
}

fn ringing(events: &[Event]) -> Vec<(String, i64)> {
    state(events).ringing
}

fn in_call(events: &[Event]) -> Vec<String> {
    state(events).in_call
}

/// Asserts the call ended with `result` at `t(end_ms)`.
#[track_caller]
fn assert_ended(events: &[Event], result: CallResult, end_ms: i64) {
    let r = record(events);
    assert_eq!((r.result, r.end_ms), (result, Some(t(end_ms))), "{r:?}");
    assert_eq!(r.end_secs(), secs(end_ms));
}

#[track_caller]
fn assert_ongoing(events: &[Event]) {
    let r = record(events);
    assert_eq!((r.result, r.end_ms), (Ongoing, None), "{r:?}");
}

/// The events in the reverse of the given order (so they reach the fold out of event order).
fn rev(events: &[Event]) -> Vec<Event> {
    events.iter().rev().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// The set of events, event order, the start
// ---------------------------------------------------------------------------------------------

#[test]
fn arrival_order_and_duplicates_never_change_the_record() {
    let events = vec![
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        invite("bob", &["dave"], 1_500),
        ev(Reject, "carol", 2_000),
        ev(Join, "dave", 2_500),
        ev(Hangup, "bob", 3_000),
        ev(Offline, "alice", 4_000),
    ];
    let expected = state(&events);
    assert_eq!(expected.record.result, NormalEnd, "{expected:?}");
    let mut doubled = rev(&events);
    doubled.extend(events.iter().cloned());
    doubled.extend(events[1..4].iter().cloned());
    assert_eq!(state(&rev(&events)), expected);
    assert_eq!(state(&doubled), expected);
}

#[test]
fn events_sharing_an_event_id_count_once() {
    // A retried report whose copies disagree: only one copy of the eventId counts, so the
    // "hangup" copy does not end the call.
    let events = [
        single("bob"),
        with_id(ev(Accept, "bob", 1_000), "e1"),
        with_id(ev(Hangup, "bob", 2_000), "e1"),
    ];
    let s = state(&events);
    assert_eq!(s.record.result, Ongoing);
    assert_eq!(s.record.accept_ms, Some(t(1_000)));
    assert_eq!(s.in_call, names(&["alice", "bob"]));
    assert_eq!(state(&rev(&events)), s);
}

#[test]
fn nothing_is_visible_until_the_start_arrives_and_earlier_events_then_apply() {
    let early = vec![
        ev(Accept, "bob", 2_000),
        ev(Hangup, "alice", 9_000),
        invite("alice", &["carol"], 1_000),
    ];
    assert_eq!(fold(APP, &early), None);
    assert_eq!(fold(APP, &[]), None);

    let mut all = early;
    all.push(single("bob"));
    let r = record(&all);
    assert_eq!(r.accept_ms, Some(t(2_000)));
    assert_eq!(r.result, NormalEnd);
    assert_eq!(r.end_ms, Some(t(9_000)));
}

#[test]
fn the_first_start_in_event_order_counts() {
    let mut first = start("alice", &["bob"], 0);
    first.room_id = Some("room-1".into());
    let mut later = start("carol", &["dave", "erin"], 500);
    later.media_type = Some(MediaType::Audio);
    later.room_id = Some("room-2".into());
    for events in [vec![first.clone(), later.clone()], vec![later, first]] {
        let r = record(&events);
        assert_eq!(r.caller, "alice");
        assert_eq!(r.callees, names(&["bob"]), "a later start adds no callees");
        assert_eq!(r.start_ms, t(0));
        assert_eq!(r.media_type, MediaType::Video);
        assert_eq!(r.room_id, "room-1");
        assert_eq!(r.call_type, CallType::Single);
    }

    // Equal times: the lower userId; equal userIds too: the one without an eventId, then by eventId.
    let zed = start("zed", &["bob"], 0);
    let amy = start("amy", &["bob"], 0);
    assert_eq!(record(&[zed, amy]).caller, "amy");
    let by_id_b = with_id(start("alice", &["erin"], 0), "b");
    let by_id_a = with_id(start("alice", &["dave"], 0), "a");
    let no_id = start("alice", &["carol"], 0);
    let r = record(&[by_id_b.clone(), by_id_a.clone(), no_id]);
    assert_eq!(r.callees, names(&["carol"]));
    assert_eq!(record(&[by_id_b, by_id_a]).callees, names(&["dave"]));
}

#[test]
fn events_timed_before_the_start_change_nothing() {
    // The start at 1.500 s; every other event is earlier, most of them in the same second.
    let mut s = group(&["bob", "carol"]);
    s.time_ms = t(1_500);
    let events = [
        invite("bob", &["dave"], 1_499),
        ev(Join, "erin", 1_000),
        ev(Accept, "bob", 1_499),
        ev(Reject, "carol", 1_200),
        ev(CancelEv, "alice", 1_400),
        ev(Hangup, "alice", 1_450),
        s,
    ];
    let st = state(&events);
    assert_eq!(st.record.callees, names(&["bob", "carol"]));
    assert_eq!(st.record.accept_ms, None);
    assert_eq!(st.record.result, Ongoing);
    assert_eq!(
        st.ringing,
        vec![("bob".into(), t(1_500)), ("carol".into(), t(1_500))]
    );
    assert_eq!(st.in_call, names(&["alice"]));
}

#[test]
fn events_at_the_same_millisecond_apply_in_type_order() {
    // Each case: two events at one millisecond whose outcome depends on which applies first.
    let cases: Vec<(&str, Vec<Event>, CallResult)> = vec![
        // start before invite: the invite is not "before the start".
        (
            "start<invite",
            vec![
                invite("alice", &["carol"], 0),
                group(&["bob", "dave"]),
                ev(Reject, "bob", 1_000),
                ev(Reject, "dave", 1_000),
            ],
            Ongoing,
        ),
        (
            "join<reject",
            vec![ev(Reject, "bob", 1_000), ev(Join, "bob", 1_000)],
            Ongoing,
        ),
        (
            "accept<reject",
            vec![ev(Reject, "bob", 1_000), ev(Accept, "bob", 1_000)],
            Ongoing,
        ),
        (
            "reject<busy",
            vec![ev(Busy, "bob", 1_000), ev(Reject, "bob", 1_000)],
            CallResult::Reject,
        ),
        (
            "busy<no_answer",
            vec![ev(NoAnswer, "bob", 1_000), ev(Busy, "bob", 1_000)],
            CallBusy,
        ),
        (
            "no_answer<cancel",
            vec![ev(CancelEv, "alice", 1_000), ev(NoAnswer, "bob", 1_000)],
            NotAnswer,
        ),
        (
            "cancel<offline",
            vec![ev(Offline, "alice", 1_000), ev(CancelEv, "alice", 1_000)],
            CallResult::Cancel,
        ),
        (
            "hangup<offline",
            vec![ev(Offline, "alice", 1_000), ev(Hangup, "alice", 1_000)],
            CallResult::Cancel,
        ),
    ];
    for (name, mut events, expected) in cases {
        if !events.iter().any(|e| e.kind == EventType::Start) {
            events.push(single("bob"));
        }
        for order in [events.clone(), rev(&events)] {
            assert_eq!(record(&order).result, expected, "{name}");
        }
    }

    // invite<accept: carol, invited and accepting at the same millisecond, connects.
    let events = [
        ev(Accept, "carol", 1_000),
        invite("bob", &["carol"], 1_000),
        group(&["bob", "dave"]),
    ];
    let r = record(&events);
    assert_eq!(r.accept_ms, Some(t(1_000)), "invite<accept");
    // start<invite: carol, invited at the start's millisecond, is a ringing callee.
    let st = state(&[invite("alice", &["carol"], 0), group(&["bob", "dave"])]);
    assert!(st.ringing.contains(&("carol".into(), t(0))), "start<invite");
}

#[test]
fn events_of_one_type_at_the_same_millisecond_apply_in_user_id_order() {
    let events = [
        invite("zed", &["xena"], 1_000),
        invite("yan", &["will"], 1_000),
        ev(Join, "erin", 2_000),
        ev(Join, "dave", 2_000),
        group(&["bob", "carol"]),
    ];
    for order in [events.to_vec(), rev(&events)] {
        assert_eq!(
            record(&order).callees,
            names(&["bob", "carol", "will", "xena", "dave", "erin"])
        );
    }
}

#[test]
fn events_equal_but_for_their_event_id_apply_without_an_id_first_then_by_event_id() {
    let events = [
        with_id(invite("bob", &["erin"], 1_000), "b"),
        with_id(invite("bob", &["dave"], 1_000), "a"),
        invite("bob", &["frank"], 1_000),
        group(&["bob", "carol"]),
    ];
    for order in [events.to_vec(), rev(&events)] {
        assert_eq!(
            record(&order).callees,
            names(&["bob", "carol", "frank", "dave", "erin"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Call type, callees
// ---------------------------------------------------------------------------------------------

#[test]
fn the_call_type_is_fixed_by_the_start() {
    let mut one_callee_group = start("alice", &["bob"], 0);
    one_callee_group.call_type = Some(CallType::Group);
    let r = record(&[one_callee_group, invite("alice", &["carol"], 1_000)]);
    assert_eq!(r.call_type, CallType::Group);
    assert_eq!(
        r.callees,
        names(&["bob", "carol"]),
        "a group call takes invites"
    );

    let later_group_start = start("alice", &["bob", "carol"], 500);
    let events = [
        single("bob"),
        later_group_start,
        invite("alice", &["carol"], 1_000),
    ];
    let r = record(&events);
    assert_eq!(r.call_type, CallType::Single);
    assert_eq!(r.callees, names(&["bob"]));

    let group_r = record(&[group(&["bob", "carol"])]);
    assert_eq!(group_r.call_type, CallType::Group);
}

#[test]
fn a_single_call_ignores_invites() {
    let events = [
        single("bob"),
        invite("alice", &["carol"], 1_000),
        invite("bob", &["dave"], 1_500),
        ev(Accept, "carol", 2_000),
        ev(Reject, "dave", 2_500),
    ];
    let st = state(&events);
    assert_eq!(st.record.callees, names(&["bob"]));
    assert_eq!(st.record.accept_ms, None);
    assert_eq!(st.record.result, Ongoing);
    assert_eq!(st.ringing, vec![("bob".into(), t(0))]);
}

#[test]
fn a_single_call_ignores_joins_by_anyone_but_its_callee() {
    let mut events = vec![
        single("bob"),
        ev(Join, "carol", 1_000),
        ev(Join, "alice", 1_500),
    ];
    let st = state(&events);
    assert_eq!(st.record.callees, names(&["bob"]));
    assert_eq!(st.record.accept_ms, None);
    assert_eq!(st.in_call, names(&["alice"]));
    assert_eq!(st.ringing, vec![("bob".into(), t(0))]);

    events.push(ev(Join, "bob", 2_000));
    let st = state(&events);
    assert_eq!(st.record.accept_ms, Some(t(2_000)));
    assert_eq!(st.in_call, names(&["alice", "bob"]));
}

#[test]
fn callees_are_every_invited_or_joined_user_but_the_caller_once_in_order_of_first_appearance() {
    let events = [
        invite("carol", &["gina", "erin"], 4_000),
        ev(Join, "dave", 3_000),
        invite("bob", &["frank", "alice", "dave", "carol"], 2_000),
        ev(Join, "erin", 1_000),
        ev(Join, "alice", 1_100),
        group(&["carol", "bob"]),
    ];
    for order in [events.to_vec(), rev(&events)] {
        assert_eq!(
            record(&order).callees,
            names(&["carol", "bob", "erin", "frank", "dave", "gina"])
        );
    }
}

#[test]
fn total_user_number_is_one_plus_the_number_of_callees() {
    let r = record(&[
        group(&["bob", "carol"]),
        invite("bob", &["dave"], 1_000),
        ev(Join, "erin", 2_000),
    ]);
    assert_eq!(r.total_user_number(), 5);
    assert_eq!(record(&[single("bob")]).total_user_number(), 2);
}

// ---------------------------------------------------------------------------------------------
// Ringing
// ---------------------------------------------------------------------------------------------

#[test]
fn a_callee_rings_from_its_invitation_until_its_first_outcome() {
    let events = [
        group(&["bob", "carol", "dave", "erin"]),
        invite("alice", &["frank", "gina"], 500),
        ev(Accept, "bob", 1_000),
        ev(Reject, "carol", 1_100),
        ev(Busy, "dave", 1_200),
        ev(NoAnswer, "erin", 1_300),
        ev(Join, "frank", 1_400),
    ];
    assert_eq!(ringing(&events), vec![("gina".into(), t(500))]);
    assert_eq!(
        ringing(&events[..2]),
        vec![
            ("bob".into(), t(0)),
            ("carol".into(), t(0)),
            ("dave".into(), t(0)),
            ("erin".into(), t(0)),
            ("frank".into(), t(500)),
            ("gina".into(), t(500)),
        ]
    );
}

#[test]
fn an_accept_reject_busy_or_no_answer_from_a_user_who_is_not_ringing_changes_nothing() {
    for kind in [Accept, Reject, Busy, NoAnswer] {
        for who in ["carol", "alice"] {
            let st = state(&[single("bob"), ev(kind, who, 1_000)]);
            assert_eq!(st.record.result, Ongoing, "{kind} by {who}");
            assert_eq!(st.record.accept_ms, None, "{kind} by {who}");
            assert_eq!(st.record.callees, names(&["bob"]), "{kind} by {who}");
            assert_eq!(st.ringing, vec![("bob".into(), t(0))], "{kind} by {who}");
        }
    }

    // A callee whose ringing ended: a later accept does not connect it, a later busy or
    // no_answer does not replace its outcome (so every callee still counts as rejecting).
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        ev(Accept, "bob", 1_100),
        ev(Busy, "bob", 1_200),
        ev(NoAnswer, "bob", 1_300),
        ev(Reject, "carol", 2_000),
    ];
    assert_ended(&events, CallResult::Reject, 2_000);
    assert_eq!(record(&events).accept_ms, None);

    // A callee in the call: its reject, busy or no_answer neither ends nor removes it.
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Reject, "bob", 1_100),
        ev(Busy, "bob", 1_200),
        ev(NoAnswer, "bob", 1_300),
        ev(Accept, "bob", 1_400),
    ];
    let st = state(&events);
    assert_eq!(st.in_call, names(&["alice", "bob"]));
    assert_eq!(st.record.accept_ms, Some(t(1_000)));
    assert_eq!(st.ringing, vec![("carol".into(), t(0))]);
}

#[test]
fn inviting_a_user_who_is_still_ringing_changes_nothing() {
    let events = [
        group(&["bob", "carol"]),
        invite("carol", &["bob"], 30_000),
        invite("alice", &["bob"], 40_000),
    ];
    let st = state(&events);
    assert_eq!(
        st.ringing,
        vec![("bob".into(), t(0)), ("carol".into(), t(0))]
    );
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(t(60_000)));
    assert_eq!(st.record.callees, names(&["bob", "carol"]));
}

#[test]
fn inviting_a_user_who_is_in_the_call_changes_nothing() {
    let mut events = vec![
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        invite("alice", &["bob"], 2_000),
    ];
    let st = state(&events);
    assert_eq!(st.ringing, vec![("carol".into(), t(0))]);
    assert_eq!(st.in_call, names(&["alice", "bob"]));
    // Were bob ringing again, his hangup would not end the call while he rang.
    events.extend([ev(Reject, "carol", 3_000), ev(Hangup, "bob", 4_000)]);
    assert_ended(&events, NormalEnd, 4_000);
}

#[test]
fn inviting_a_user_whose_ringing_ended_makes_it_ring_again() {
    let mut events = vec![
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        invite("alice", &["bob"], 2_000),
    ];
    assert_eq!(
        ringing(&events),
        vec![("bob".into(), t(2_000)), ("carol".into(), t(0))]
    );
    events.push(ev(Accept, "bob", 3_000));
    assert_eq!(record(&events).accept_ms, Some(t(3_000)));

    // Also a user who has left the call.
    events.extend([ev(Hangup, "bob", 4_000), invite("carol", &["bob"], 5_000)]);
    assert_eq!(
        ringing(&events),
        vec![("bob".into(), t(5_000)), ("carol".into(), t(0))]
    );
}

#[test]
fn an_invite_counts_whoever_sends_it() {
    let events = [
        group(&["bob", "carol"]),
        invite("bob", &["dave"], 1_000), // a callee that is still ringing
        invite("zed", &["erin"], 2_000), // a user that takes no part in the call
        invite("alice", &["frank"], 3_000),
    ];
    let st = state(&events);
    assert_eq!(
        st.record.callees,
        names(&["bob", "carol", "dave", "erin", "frank"]),
        "the inviter itself is not named, so not a callee"
    );
    assert_eq!(
        st.ringing,
        vec![
            ("bob".into(), t(0)),
            ("carol".into(), t(0)),
            ("dave".into(), t(1_000)),
            ("erin".into(), t(2_000)),
            ("frank".into(), t(3_000)),
        ]
    );
}

#[test]
fn the_callers_cancel_ends_every_ringing_callee() {
    let events = [
        group(&["bob", "carol", "dave"]),
        ev(Accept, "bob", 1_000),
        ev(CancelEv, "alice", 2_000),
        ev(Accept, "carol", 3_000),
    ];
    let st = state(&events);
    assert_eq!(st.ringing, vec![]);
    assert_eq!(
        st.in_call,
        names(&["alice", "bob"]),
        "carol's accept came too late"
    );
    assert_eq!(st.record.result, Ongoing);
}

// ---------------------------------------------------------------------------------------------
// In the call
// ---------------------------------------------------------------------------------------------

#[test]
fn a_callee_is_in_the_call_from_connecting_until_its_next_hangup_or_offline() {
    let events = [
        group(&["bob", "carol", "dave"]),
        ev(Accept, "bob", 1_000),
        ev(Join, "carol", 2_000),
        ev(Hangup, "bob", 3_000),
        ev(Offline, "carol", 4_000),
        ev(Join, "bob", 5_000),
    ];
    let expected = [
        vec!["alice"],
        vec!["alice", "bob"],
        vec!["alice", "bob", "carol"],
        vec!["alice", "carol"],
        vec!["alice"],
        vec!["alice", "bob"],
    ];
    for (n, want) in expected.iter().enumerate() {
        assert_eq!(in_call(&events[..=n]), names(want), "after {n} events");
    }
    assert_eq!(record(&events).result, Ongoing, "dave still rings");
}

#[test]
fn any_join_connects_the_user_whether_or_not_it_was_ringing() {
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        ev(Join, "bob", 2_000),
        ev(Join, "erin", 3_000),
    ];
    let st = state(&events);
    assert_eq!(st.record.accept_ms, Some(t(2_000)));
    assert_eq!(st.record.callees, names(&["bob", "carol", "erin"]));
    assert_eq!(st.in_call, names(&["alice", "bob", "erin"]));
}

#[test]
fn the_caller_is_in_the_call_from_the_start_until_its_first_hangup_or_offline() {
    let events = [
        group(&["bob", "carol", "dave"]),
        ev(Accept, "bob", 1_000),
        ev(Accept, "carol", 2_000),
        ev(Hangup, "alice", 3_000),
        ev(Accept, "alice", 3_500),
        ev(Hangup, "bob", 4_000),
        ev(Reject, "dave", 5_000),
    ];
    assert_eq!(in_call(&events[..1]), names(&["alice"]));
    assert_eq!(in_call(&events[..5]), names(&["bob", "carol"]));
    // Only carol is left once dave stops ringing.
    assert_eq!(in_call(&events[..6]), names(&["carol"]));
    assert_ended(&events, NormalEnd, 5_000);
}

#[test]
fn accept_ts_is_the_first_time_a_callee_connected() {
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "carol", 2_700),
        ev(Join, "bob", 1_300),
        ev(Hangup, "bob", 3_000),
        ev(Join, "bob", 4_000),
    ];
    let r = record(&events);
    assert_eq!(r.accept_ms, Some(t(1_300)));
    assert_eq!(r.accept_secs(), secs(1_300));
}

// ---------------------------------------------------------------------------------------------
// Before anyone connected, the caller's hangup and offline
// ---------------------------------------------------------------------------------------------

#[test]
fn the_callers_hangup_before_anyone_connected_counts_as_cancel() {
    assert_ended(
        &[single("bob"), ev(Hangup, "alice", 5_000)],
        CallResult::Cancel,
        5_000,
    );
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        ev(Hangup, "alice", 5_000),
    ];
    assert_ended(&events, CallResult::Cancel, 5_000);
}

#[test]
fn the_callers_offline_before_anyone_connected_counts_as_interrupt() {
    assert_ended(
        &[single("bob"), ev(Offline, "alice", 5_000)],
        Interrupt,
        5_000,
    );
    let events = [
        group(&["bob", "carol"]),
        ev(Busy, "bob", 1_000),
        ev(Offline, "alice", 5_000),
    ];
    assert_ended(&events, Interrupt, 5_000);
}

// ---------------------------------------------------------------------------------------------
// Single calls
// ---------------------------------------------------------------------------------------------

#[test]
fn a_single_call_cancelled_by_the_caller_ends_as_cancel() {
    assert_ended(
        &[single("bob"), ev(CancelEv, "alice", 4_200)],
        CallResult::Cancel,
        4_200,
    );
}

#[test]
fn a_single_call_rejected_by_the_callee_ends_as_reject() {
    assert_ended(
        &[single("bob"), ev(Reject, "bob", 4_200)],
        CallResult::Reject,
        4_200,
    );
}

#[test]
fn a_single_call_whose_callee_is_busy_ends_as_call_busy() {
    assert_ended(&[single("bob"), ev(Busy, "bob", 4_200)], CallBusy, 4_200);
}

#[test]
fn a_single_call_not_answered_ends_as_not_answer() {
    assert_ended(
        &[single("bob"), ev(NoAnswer, "bob", 4_200)],
        NotAnswer,
        4_200,
    );
}

#[test]
fn a_connected_single_call_ends_as_normal_end_when_either_party_hangs_up() {
    for who in ["alice", "bob"] {
        let events = [
            single("bob"),
            ev(Accept, "bob", 1_000),
            ev(CancelEv, "alice", 1_500), // not a meaning once connected
            ev(Hangup, who, 9_000),
        ];
        assert_ended(&events, NormalEnd, 9_000);
    }
}

#[test]
fn a_connected_single_call_ends_as_interrupt_when_either_party_goes_offline() {
    for who in ["alice", "bob"] {
        let events = [
            single("bob"),
            ev(Join, "bob", 1_000),
            ev(Offline, who, 9_000),
        ];
        assert_ended(&events, Interrupt, 9_000);
    }
}

// ---------------------------------------------------------------------------------------------
// Group calls that never connected
// ---------------------------------------------------------------------------------------------

#[test]
fn a_group_call_cancelled_before_anyone_connected_ends_as_cancel() {
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        ev(CancelEv, "alice", 2_000),
    ];
    assert_ended(&events, CallResult::Cancel, 2_000);
}

#[test]
fn a_group_call_whose_caller_goes_offline_before_anyone_connected_ends_as_interrupt() {
    let events = [group(&["bob", "carol"]), ev(Offline, "alice", 2_000)];
    assert_ended(&events, Interrupt, 2_000);
}

#[test]
fn a_group_call_that_never_connected_goes_on_while_any_callee_rings() {
    let events = [
        group(&["bob", "carol", "dave"]),
        ev(Reject, "bob", 1_000),
        ev(Busy, "carol", 2_000),
    ];
    assert_ongoing(&events);
    assert_eq!(ringing(&events), vec![("dave".into(), t(0))]);
}

#[test]
fn a_group_call_rejected_by_every_callee_ends_as_reject_when_the_last_one_rejects() {
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "carol", 3_000),
        ev(Reject, "bob", 1_000),
    ];
    assert_ended(&events, CallResult::Reject, 3_000);
}

#[test]
fn a_group_call_busy_for_every_callee_ends_as_call_busy() {
    let events = [
        group(&["bob", "carol"]),
        invite("bob", &["dave"], 500),
        ev(Busy, "carol", 3_000),
        ev(Busy, "bob", 1_000),
        ev(Busy, "dave", 2_000),
    ];
    assert_ended(&events, CallBusy, 3_000);
}

#[test]
fn a_group_call_with_mixed_outcomes_ends_as_not_answer() {
    let mixes = [
        [Reject, Busy],
        [Busy, Reject],
        [Reject, NoAnswer],
        [NoAnswer, NoAnswer],
    ];
    for [a, b] in mixes {
        let events = [
            group(&["bob", "carol"]),
            ev(a, "bob", 1_000),
            ev(b, "carol", 2_000),
        ];
        assert_ended(&events, NotAnswer, 2_000);
    }
}

#[test]
fn a_group_call_judges_each_callee_by_its_last_outcome() {
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        invite("alice", &["bob"], 2_000),
        ev(NoAnswer, "bob", 3_000),
        ev(Reject, "carol", 4_000),
    ];
    assert_ended(&events, NotAnswer, 4_000);

    let events = [
        group(&["bob", "carol"]),
        ev(NoAnswer, "bob", 1_000),
        invite("alice", &["bob"], 2_000),
        ev(Reject, "bob", 3_000),
        ev(Reject, "carol", 4_000),
    ];
    assert_ended(&events, CallResult::Reject, 4_000);
}

// ---------------------------------------------------------------------------------------------
// Group calls that connected
// ---------------------------------------------------------------------------------------------

#[test]
fn a_connected_group_call_ends_as_normal_end_once_at_most_one_user_is_in_it_and_none_rings() {
    // The last user but one may leave by hanging up or by going offline: still normal_end.
    for leave in [Hangup, Offline] {
        for who in ["alice", "bob"] {
            let events = [
                group(&["bob", "carol"]),
                ev(Accept, "bob", 1_000),
                ev(Reject, "carol", 2_000),
                ev(leave, who, 3_000),
            ];
            assert_ongoing(&events[..3]);
            assert_ended(&events, NormalEnd, 3_000);
        }
    }
}

#[test]
fn a_connected_group_call_goes_on_while_a_callee_still_rings() {
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Hangup, "bob", 2_000),
        ev(NoAnswer, "carol", 3_000),
    ];
    assert_ongoing(&events[..3]);
    assert_ended(&events, NormalEnd, 3_000);
}

#[test]
fn a_connected_group_call_goes_on_without_its_caller_while_two_users_remain() {
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Accept, "carol", 2_000),
        ev(Hangup, "alice", 3_000),
        ev(Offline, "carol", 4_000),
    ];
    assert_ongoing(&events[..4]);
    assert_ended(&events, NormalEnd, 4_000);
}

#[test]
fn a_connected_group_call_ends_at_the_callers_cancel_when_that_leaves_no_callee_ringing() {
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Hangup, "bob", 2_000),
        ev(CancelEv, "alice", 3_000),
    ];
    assert_ended(&events, NormalEnd, 3_000);
}

// ---------------------------------------------------------------------------------------------
// The end is final; events without a meaning
// ---------------------------------------------------------------------------------------------

#[test]
fn a_call_ends_at_one_event_and_later_events_change_nothing() {
    let ended = vec![
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Reject, "carol", 2_000),
        ev(Hangup, "bob", 3_000),
    ];
    let expected = record(&ended);
    assert_eq!(
        (expected.result, expected.end_ms),
        (NormalEnd, Some(t(3_000)))
    );
    let mut later = ended;
    later.extend([
        invite("alice", &["dave"], 4_000),
        ev(Join, "erin", 5_000),
        ev(Join, "carol", 6_000),
        ev(Offline, "alice", 7_000),
        start("alice", &["zed"], 8_000),
    ]);
    assert_eq!(record(&later), expected);

    // A single call: a join after the reject does not connect it, the hangup does not end it again.
    let events = [
        single("bob"),
        ev(Reject, "bob", 1_000),
        ev(Join, "bob", 2_000),
        ev(Hangup, "bob", 3_000),
    ];
    let r = record(&events);
    assert_eq!(
        (r.result, r.end_ms, r.accept_ms),
        (CallResult::Reject, Some(t(1_000)), None)
    );
}

#[test]
fn events_after_the_ending_event_at_the_same_millisecond_change_nothing() {
    let events = [
        single("bob"),
        ev(Offline, "alice", 1_000),
        ev(CancelEv, "alice", 1_000),
        ev(NoAnswer, "bob", 1_000),
        ev(Busy, "bob", 1_000),
    ];
    assert_ended(&events, CallBusy, 1_000);
}

#[test]
fn a_cancel_by_anyone_but_the_caller_changes_nothing() {
    for who in ["bob", "carol"] {
        let st = state(&[single("bob"), ev(CancelEv, who, 1_000)]);
        assert_eq!(st.record.result, Ongoing, "{who}");
        assert_eq!(st.ringing, vec![("bob".into(), t(0))], "{who}");
    }
    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(CancelEv, "bob", 2_000),
    ];
    assert_eq!(ringing(&events), vec![("carol".into(), t(0))]);
}

#[test]
fn a_join_by_the_caller_changes_nothing() {
    let st = state(&[group(&["bob", "carol"]), ev(Join, "alice", 500)]);
    assert_eq!(st.record.callees, names(&["bob", "carol"]));
    assert_eq!(st.record.accept_ms, None);

    let events = [
        group(&["bob", "carol"]),
        ev(Accept, "bob", 1_000),
        ev(Hangup, "alice", 2_000),
        ev(Join, "alice", 3_000),
        ev(Reject, "carol", 4_000),
    ];
    assert_eq!(in_call(&events[..4]), names(&["bob"]));
    assert_ended(&events, NormalEnd, 4_000);
}

#[test]
fn a_callees_hangup_while_it_is_still_ringing_changes_nothing() {
    let st = state(&[single("bob"), ev(Hangup, "bob", 1_000)]);
    assert_eq!(st.record.result, Ongoing);
    assert_eq!(st.ringing, vec![("bob".into(), t(0))]);

    // In a group call it is not an outcome either: bob still rings, so the call goes on.
    let events = [
        group(&["bob", "carol"]),
        ev(Hangup, "bob", 1_000),
        ev(Reject, "carol", 2_000),
    ];
    assert_ongoing(&events);
    assert_eq!(ringing(&events), vec![("bob".into(), t(0))]);
}

#[test]
fn a_ringing_callees_offline_changes_nothing() {
    let st = state(&[single("bob"), ev(Offline, "bob", 1_000)]);
    assert_eq!(st.record.result, Ongoing);
    assert_eq!(st.ringing, vec![("bob".into(), t(0))]);
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

#[test]
fn record_timestamps_are_whole_seconds_rounded_down() {
    let mut s = single("bob");
    s.time_ms = t(999);
    let r = record(&[s, ev(Accept, "bob", 1_999), ev(Hangup, "bob", 2_999)]);
    assert_eq!(r.start_secs(), T0 / 1000);
    assert_eq!(r.accept_secs(), T0 / 1000 + 1);
    assert_eq!(r.end_secs(), T0 / 1000 + 2);

    // Floor, not truncation toward zero, even before the epoch.
    let mut early = start("alice", &["bob"], 0);
    early.time_ms = -1;
    let r = record(&[early]);
    assert_eq!(r.start_secs(), -1);
}

#[test]
fn times_are_compared_in_milliseconds_not_seconds() {
    // Both in the same second: the accept 100 ms earlier wins over the reject.
    let events = [
        single("bob"),
        ev(Reject, "bob", 1_200),
        ev(Accept, "bob", 1_100),
    ];
    let r = record(&events);
    assert_eq!((r.result, r.accept_ms), (Ongoing, Some(t(1_100))));

    // An accept 100 ms before a start in the same second is before the start.
    let mut s = single("bob");
    s.time_ms = t(1_500);
    assert_eq!(record(&[s, ev(Accept, "bob", 1_400)]).accept_ms, None);
}

#[test]
fn an_ongoing_call_has_no_end_and_result_ongoing() {
    for events in [
        vec![single("bob")],
        vec![single("bob"), ev(Accept, "bob", 1_000)],
        vec![
            group(&["bob", "carol"]),
            ev(Accept, "bob", 1_000),
            ev(Hangup, "bob", 2_000),
        ],
    ] {
        let r = record(&events);
        assert_eq!(
            (r.result, r.end_ms, r.end_secs()),
            (Ongoing, None, 0),
            "{r:?}"
        );
    }
    assert_eq!(record(&[single("bob")]).accept_secs(), 0);
}

// ---------------------------------------------------------------------------------------------
// Time-outs
// ---------------------------------------------------------------------------------------------

/// Folds `events` plus the time-out events due at `now_ms`, returning the new state and what was added.
fn store_due(events: &mut Vec<Event>, now_ms: i64) -> (CallState, Vec<Event>) {
    let due = state(events).due_events(TIMEOUTS, now_ms);
    events.extend(due.iter().cloned());
    (state(events), due)
}

#[test]
fn a_callee_still_ringing_gets_a_system_no_answer_at_its_invitation_plus_the_ring_timeout() {
    let mut events = vec![
        group(&["bob", "carol", "dave"]),
        ev(Reject, "carol", 1_000),
        invite("alice", &["erin"], 5_000),
    ];
    let st = state(&events);
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(t(60_000)));
    let (st, due) = store_due(&mut events, t(60_000));
    assert_eq!(due.len(), 2, "{due:?}");
    for (e, user) in due.iter().zip(["bob", "dave"]) {
        assert_eq!(
            (e.kind, e.user_id.as_str(), e.time_ms),
            (NoAnswer, user, t(60_000))
        );
        assert_eq!(e.call_id, CALL);
        assert!(e.is_system(), "{e:?}");
        assert!(e.event_id.as_deref().unwrap().starts_with("sys:"));
    }
    assert_ne!(due[0].dedupe_key(), due[1].dedupe_key());
    assert_eq!(st.ringing, vec![("erin".into(), t(5_000))]);
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(t(65_000)));
    assert_eq!(st.record.result, Ongoing);

    // The last ringing callee's time-out ends the never-connected group call.
    let (st, due) = store_due(&mut events, t(65_000));
    assert_eq!(due.len(), 1);
    assert_eq!(
        (st.record.result, st.record.end_ms),
        (NotAnswer, Some(t(65_000)))
    );
}

#[test]
fn a_ring_time_out_is_not_produced_before_it_is_due() {
    let st = state(&[single("bob")]);
    assert_eq!(st.due_events(TIMEOUTS, t(59_999)), vec![]);
    assert_eq!(st.due_events(TIMEOUTS, t(60_000)).len(), 1);
    assert_eq!(st.due_events(TIMEOUTS, t(3_600_000)).len(), 1);
    assert_eq!(st.due_events(TIMEOUTS, t(3_600_000))[0].time_ms, t(60_000));
}

#[test]
fn a_reinvited_callees_ring_time_out_counts_from_its_new_invitation() {
    let events = [
        group(&["bob", "carol"]),
        ev(Reject, "bob", 1_000),
        invite("carol", &["bob"], 20_000),
        ev(Accept, "carol", 2_000),
    ];
    let st = state(&events);
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(t(80_000)));
    let due = st.due_events(TIMEOUTS, t(80_000));
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].user_id.as_str(), due[0].time_ms),
        ("bob", t(80_000))
    );
}

#[test]
fn folding_a_ring_time_out_in_ends_a_single_call_as_not_answer() {
    let mut events = vec![single("bob")];
    let (st, _) = store_due(&mut events, t(61_000));
    assert_eq!(
        (st.record.result, st.record.end_ms),
        (NotAnswer, Some(t(60_000)))
    );
}

#[test]
fn an_idle_connected_call_gets_an_offline_for_everyone_still_in_it_at_its_last_event() {
    let mut events = vec![
        group(&["bob", "carol", "dave", "erin"]),
        ev(Accept, "bob", 1_000),
        ev(Join, "carol", 2_000),
        ev(Hangup, "bob", 2_500),
        ev(Accept, "dave", 2_600),
        ev(Reject, "erin", 3_000),
    ];
    let st = state(&events);
    let due_at = t(3_000) + TIMEOUTS.idle_ms;
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(due_at));
    assert_eq!(st.due_events(TIMEOUTS, due_at - 1), vec![]);
    let (st, due) = store_due(&mut events, due_at);
    let offline: Vec<_> = due
        .iter()
        .map(|e| (e.kind, e.user_id.as_str(), e.time_ms, e.is_system()))
        .collect();
    assert_eq!(
        offline,
        vec![
            (Offline, "alice", t(3_000), true),
            (Offline, "carol", t(3_000), true),
            (Offline, "dave", t(3_000), true),
        ]
    );
    // A connected group call ends normally, at the moment of that last event.
    assert_eq!(
        (st.record.result, st.record.end_ms),
        (NormalEnd, Some(t(3_000)))
    );
}

#[test]
fn folding_idle_time_outs_in_ends_a_single_call_as_interrupt_at_its_last_event() {
    let mut events = vec![single("bob"), ev(Accept, "bob", 1_000)];
    let (st, due) = store_due(&mut events, t(1_000) + TIMEOUTS.idle_ms);
    assert_eq!(due.len(), 2);
    assert_eq!(
        (st.record.result, st.record.end_ms),
        (Interrupt, Some(t(1_000)))
    );
}

#[test]
fn the_idle_time_out_is_measured_from_the_last_stored_event_even_one_without_a_meaning() {
    let events = [
        single("bob"),
        ev(Accept, "bob", 1_000),
        ev(CancelEv, "carol", 10_000),
    ];
    let st = state(&events);
    assert_eq!(st.last_event_ms, t(10_000));
    assert_eq!(st.next_due_ms(TIMEOUTS), Some(t(10_000) + TIMEOUTS.idle_ms));
    let due = st.due_events(TIMEOUTS, t(10_000) + TIMEOUTS.idle_ms);
    assert!(due.iter().all(|e| e.time_ms == t(10_000)), "{due:?}");
}

#[test]
fn a_call_that_never_connected_has_no_idle_time_out() {
    // An idle time-out shorter than the ring time-out must not apply before anyone connected.
    let short_idle = Timeouts {
        ring_ms: 100_000,
        idle_ms: 10_000,
    };
    let st = state(&[group(&["bob", "carol"]), ev(Reject, "bob", 1_000)]);
    assert_eq!(st.next_due_ms(short_idle), Some(t(100_000)));
    assert_eq!(st.due_events(short_idle, t(99_999)), vec![]);
}

#[test]
fn next_due_is_none_once_the_call_has_ended() {
    for events in [
        vec![single("bob"), ev(Reject, "bob", 1_000)],
        vec![
            single("bob"),
            ev(Accept, "bob", 1_000),
            ev(Hangup, "bob", 2_000),
        ],
        vec![group(&["bob", "carol"]), ev(CancelEv, "alice", 1_000)],
    ] {
        let st = state(&events);
        assert!(st.is_ended());
        assert_eq!(st.next_due_ms(TIMEOUTS), None);
        assert_eq!(st.due_events(TIMEOUTS, i64::MAX), vec![]);
        assert_eq!((st.ringing.clone(), st.in_call.clone()), (vec![], vec![]));
    }
}

#[test]
fn running_due_events_again_after_storing_them_produces_nothing_new_or_a_later_due() {
    let mut events = vec![
        group(&["bob", "carol", "dave"]),
        ev(Accept, "bob", 1_000),
        invite("bob", &["erin"], 30_000),
        ev(Reject, "carol", 2_000),
        invite("alice", &["carol"], 40_000),
    ];
    let far = t(10 * TIMEOUTS.idle_ms);
    let mut last_due = i64::MIN;
    for _ in 0..20 {
        let st = state(&events);
        let Some(due_ms) = st.next_due_ms(TIMEOUTS) else {
            break;
        };
        assert!(due_ms > last_due, "due went from {last_due} to {due_ms}");
        last_due = due_ms;
        let due = st.due_events(TIMEOUTS, far);
        assert!(!due.is_empty());
        for e in &due {
            assert!(
                events.iter().all(|s| s.dedupe_key() != e.dedupe_key()),
                "{e:?} was already stored"
            );
        }
        // Asking again before storing gives the same events; after storing, none of them again.
        assert_eq!(st.due_events(TIMEOUTS, far), due);
        events.extend(due);
    }
    let st = state(&events);
    // dave at 60 s, erin at 90 s, carol at 100 s, then the idle time-out from carol's no_answer.
    assert_eq!(st.record.result, NormalEnd);
    assert_eq!(st.record.end_ms, Some(t(100_000)));
    assert_eq!(st.due_events(TIMEOUTS, far), vec![]);
}
