//! Property tests of the fold (docs/api.md): over generated calls — single and group, every event
//! type, with and without eventIds, times squeezed into a few seconds so that ties are common,
//! events before the start, several starts — the record is a function of the *set* of events
//! (any permutation, any duplication gives the same state), the record invariants (docs/api.md)
//! always hold, the end is final, applying the time-outs always ends a call, and with time-outs
//! decided by event time the record depends neither on arrival order nor on when the job ran.
//!
//! Every generated event passes `validate_event`, so these are calls the store could really hold.

use callrec_domain::{
    CallResult, CallState, CallType, Event, EventType, MediaType, Presence, Timeouts,
    changes_of_storing, fold, fold_timed, fold_traced, validate_event,
};
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

const APP: u64 = 1_400_000_001;
const CALL: &str = "call-p";
const BASE: i64 = 1_700_000_000_000;
/// Generated times fall in `BASE + [0, SPAN_MS)`, on a 250 ms grid so that equal times are common.
const SPAN_MS: i64 = 8_000;
const NOW: i64 = BASE + 3_600_000;
const RETENTION: i64 = 7 * 86_400_000;
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
/// Short enough to interact with the generated times.
const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 3_000,
    idle_ms: 5_000,
};

fn user() -> impl Strategy<Value = String> {
    // The caller of most generated starts is alice: give her and her usual callees more events.
    prop_oneof![
        3 => Just("alice"),
        3 => Just("bob"),
        3 => Just("carol"),
        2 => Just("dave"),
        1 => Just("erin"),
        1 => Just("frank"),
    ]
    .prop_map(str::to_owned)
}

fn time() -> impl Strategy<Value = i64> {
    (0..SPAN_MS / 250).prop_map(|n| BASE + n * 250)
}

fn event_id() -> impl Strategy<Value = Option<String>> {
    // Rare collisions between unrelated events are wanted: they exercise deduplication.
    prop_oneof![3 => Just(None), 1 => (0..40u8).prop_map(|n| Some(format!("id-{n}")))]
}

/// Up to `max` distinct users other than `not`, in random order.
fn others(not: &str, max: usize) -> impl Strategy<Value = Vec<String>> + use<> {
    let pool: Vec<String> = USERS
        .iter()
        .filter(|u| **u != not)
        .map(|u| (*u).to_owned())
        .collect();
    subsequence(pool, 1..=max).prop_shuffle()
}

fn valid(e: Event) -> Event {
    validate_event(e, NOW, RETENTION).expect("generated events are valid")
}

fn start_event() -> impl Strategy<Value = Event> {
    (
        prop_oneof![4 => Just("alice".to_owned()), 1 => user()],
        time(),
        event_id(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop_oneof![Just("r1".to_owned()), Just("r2".to_owned())]),
    )
        .prop_flat_map(|(caller, time, id, video, force_group, room)| {
            others(&caller, 4).prop_map(move |callees| {
                let mut e = Event::new(CALL, EventType::Start, &caller, time);
                e.event_id = id.clone();
                e.media_type = Some(if video {
                    MediaType::Video
                } else {
                    MediaType::Audio
                });
                e.call_type = (force_group || callees.len() > 1).then_some(CallType::Group);
                e.room_id = room.clone();
                e.callees = callees;
                valid(e)
            })
        })
}

fn other_event() -> impl Strategy<Value = Event> {
    let kind = prop_oneof![
        1 => Just(EventType::Invite),
        2 => Just(EventType::Join),
        3 => Just(EventType::Accept),
        2 => Just(EventType::Reject),
        1 => Just(EventType::Busy),
        1 => Just(EventType::NoAnswer),
        1 => Just(EventType::Cancel),
        3 => Just(EventType::Hangup),
        1 => Just(EventType::Offline),
    ];
    (kind, user(), time(), event_id()).prop_flat_map(|(kind, user, time, id)| {
        let mut e = Event::new(CALL, kind, &user, time);
        e.event_id = id;
        let invitees = if kind == EventType::Invite {
            others(&user, 3).boxed()
        } else {
            Just(Vec::new()).boxed()
        };
        invitees.prop_map(move |invitees| {
            let mut e = e.clone();
            e.invitees = invitees;
            valid(e)
        })
    })
}

/// Any event, a start now and then.
fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![1 => start_event(), 12 => other_event()]
}

/// The stored events of one call: usually one start, sometimes none or several, and up to 30
/// other events (some before the start).
fn call_events() -> impl Strategy<Value = Vec<Event>> {
    (
        prop::collection::vec(start_event(), 3),
        prop::collection::vec(other_event(), 0..30),
        prop_oneof![1 => Just(0usize), 12 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
    )
        .prop_map(|(mut starts, mut rest, n_starts)| {
            // The first start early in the span, so that most events fall after it; any others
            // anywhere (they may come first and count instead).
            starts[0].time_ms = BASE + (starts[0].time_ms - BASE) / 8;
            starts.truncate(n_starts);
            rest.extend(starts);
            rest
        })
}

/// A call's events together with a shuffled copy in which some events appear several times.
fn call_and_reshuffled_copy() -> impl Strategy<Value = (Vec<Event>, Vec<Event>)> {
    call_events().prop_flat_map(|events| {
        let n = events.len();
        // (`n.max(1)`: a call may have no events at all; then there is nothing to repeat.)
        prop::collection::vec((0..n.max(1), 1..4usize), 0..8).prop_flat_map(move |dups| {
            let mut copy = events.clone();
            for (i, times) in dups.into_iter().filter(|(i, _)| *i < n) {
                copy.extend(std::iter::repeat_n(events[i].clone(), times));
            }
            (Just(events.clone()), Just(copy).prop_shuffle())
        })
    })
}

fn config() -> Config {
    Config {
        cases: 512,
        // Keep no regression files in the source tree; a failure prints its minimal input.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The record invariants (docs/api.md) that hold for every call.
fn check_invariants(st: &CallState) -> Result<(), TestCaseError> {
    let r = &st.record;
    prop_assert_eq!(r.end_ms.is_none(), r.result == CallResult::Ongoing);
    prop_assert_eq!(r.end_secs() == 0, r.result == CallResult::Ongoing);
    prop_assert_eq!(st.is_ended(), r.end_ms.is_some());
    if let Some(accept) = r.accept_ms {
        prop_assert!(accept >= r.start_ms);
        prop_assert!(r.accept_secs() >= r.start_secs());
    } else {
        prop_assert_eq!(r.accept_secs(), 0);
    }
    if let Some(end) = r.end_ms {
        prop_assert!(end >= r.start_ms);
        prop_assert!(r.end_secs() >= r.start_secs());
        if let Some(accept) = r.accept_ms {
            prop_assert!(end >= accept);
        }
        prop_assert!(st.ringing.is_empty() && st.in_call.is_empty());
        prop_assert_eq!(st.next_due_ms(TIMEOUTS), None);
    }
    prop_assert!(!r.callees.contains(&r.caller));
    for (i, c) in r.callees.iter().enumerate() {
        prop_assert!(
            !r.callees[..i].contains(c),
            "{} twice in {:?}",
            c,
            r.callees
        );
    }
    prop_assert_eq!(r.total_user_number(), 1 + r.callees.len() as u64);
    for (user, since) in &st.ringing {
        prop_assert!(r.callees.contains(user));
        prop_assert!(*since >= r.start_ms);
        prop_assert!(
            !st.in_call.contains(user),
            "{} rings and is in the call",
            user
        );
    }
    for user in &st.in_call {
        prop_assert!(*user == r.caller || r.callees.contains(user));
    }
    prop_assert!(st.last_event_ms >= r.start_ms);

    let connected = r.accept_ms.is_some();
    use CallResult::*;
    match (r.call_type, connected) {
        (CallType::Single, _) => {
            prop_assert_eq!(r.callees.len(), 1);
            if connected {
                prop_assert!(matches!(r.result, NormalEnd | Interrupt | Ongoing));
            } else {
                prop_assert!(r.result != NormalEnd);
            }
        }
        (CallType::Group, true) => prop_assert!(matches!(r.result, NormalEnd | Ongoing)),
        (CallType::Group, false) => prop_assert!(r.result != NormalEnd),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_permutation_and_duplication_of_a_calls_events_folds_to_the_same_state(
        (events, copy) in call_and_reshuffled_copy()
    ) {
        prop_assert_eq!(fold(APP, &events), fold(APP, &copy));
    }

    #[test]
    fn every_folded_record_obeys_the_record_invariants(events in call_events()) {
        if let Some(st) = fold(APP, &events) {
            check_invariants(&st)?;
        } else {
            // No start, or each start lost to an event sharing its eventId (the first copy of an
            // eventId in event order counts).
            for s in events.iter().filter(|e| e.kind == EventType::Start) {
                prop_assert!(
                    events.iter().any(|e| e != s && e.dedupe_key() == s.dedupe_key()),
                    "{:?} was ignored", s
                );
            }
        }
    }

    #[test]
    fn the_end_is_final_whatever_comes_after_the_ending_event(
        events in call_events(),
        later in prop::collection::vec(any_event(), 1..12),
    ) {
        let Some(full) = fold(APP, &events) else { return Ok(()) };
        let Some(end) = full.record.end_ms else { return Ok(()) };
        // Only the events up to the ending moment.
        let prefix: Vec<Event> = events.iter().filter(|e| e.time_ms <= end).cloned().collect();
        let cut = fold(APP, &prefix).expect("the counting start is not after the end");
        prop_assert_eq!(&cut.record, &full.record);
        // Any events timed after the end, added to all of them.
        let mut more = events;
        more.extend(later.into_iter().map(|mut e| {
            e.time_ms = end + 1 + (e.time_ms - BASE);
            e
        }));
        let grown = fold(APP, &more).expect("still started");
        prop_assert_eq!(&grown.record, &full.record);
        prop_assert!(grown.ringing.is_empty() && grown.in_call.is_empty());
    }

    #[test]
    fn applying_due_time_outs_until_none_remain_always_ends_the_call(events in call_events()) {
        let Some(mut st) = fold(APP, &events) else { return Ok(()) };
        let mut events = events;
        let far = BASE + 1_000 * TIMEOUTS.idle_ms;
        let mut last_due = i64::MIN;
        let mut rounds = 0;
        while let Some(due_ms) = st.next_due_ms(TIMEOUTS) {
            prop_assert!(due_ms > last_due, "due went from {} to {}", last_due, due_ms);
            last_due = due_ms;
            prop_assert_eq!(st.due_events(TIMEOUTS, due_ms - 1), vec![]);
            let due = st.due_events(TIMEOUTS, far);
            prop_assert!(!due.is_empty());
            for e in &due {
                prop_assert!(e.is_system());
                prop_assert!(e.time_ms <= due_ms);
                prop_assert!(matches!(e.kind, EventType::NoAnswer | EventType::Offline));
                prop_assert!(events.iter().all(|s| s.dedupe_key() != e.dedupe_key()));
            }
            events.extend(due);
            st = fold(APP, &events).expect("still started");
            check_invariants(&st)?;
            rounds += 1;
            prop_assert!(rounds <= 40, "time-outs never settle");
        }
        prop_assert!(st.is_ended(), "{:?}", st);
    }
}

/// What the time-out job does, as often as it is due at `now`: fold what is stored (time-outs by
/// event time), store the due time-out events, repeat.
fn run_job(stored: &mut Vec<Event>, now: i64) {
    for _ in 0..100 {
        let Some(st) = fold_timed(APP, stored, Some(TIMEOUTS)) else {
            return;
        };
        let due = st.due_events(TIMEOUTS, now);
        if due.is_empty() {
            return;
        }
        stored.extend(due);
    }
    panic!("the job never settles");
}

/// Reports arriving in batches in `order`, with a job run at `job_nows[i]` after batch `i`, then
/// a last job run far in the future: the stored events at the end.
fn deliver(events: &[Event], order: &[usize], cuts: &[usize], job_nows: &[i64]) -> Vec<Event> {
    let mut stored = Vec::new();
    let mut next = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        let cut = cut.min(order.len());
        while next < cut {
            stored.push(events[order[next]].clone());
            next += 1;
        }
        run_job(&mut stored, job_nows[i % job_nows.len()]);
    }
    stored.extend(order[next..].iter().map(|&i| events[i].clone()));
    run_job(&mut stored, BASE + 1_000 * TIMEOUTS.idle_ms);
    stored
}

/// A call's distinct events (no two sharing a dedupe key: which of two such copies a store keeps
/// depends on which arrived first, by design), a random arrival order, random batch cuts and
/// random job times.
fn call_with_deliveries() -> impl Strategy<Value = (Vec<Event>, Vec<usize>, Vec<usize>, Vec<i64>)> {
    call_events().prop_flat_map(|mut events| {
        let mut keys = std::collections::HashSet::new();
        events.retain(|e| keys.insert(e.dedupe_key()));
        let n = events.len();
        (
            Just(events),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            prop::collection::vec(0..=n, 1..6).prop_map(|mut c| {
                c.sort_unstable();
                c
            }),
            prop::collection::vec(BASE..BASE + 3 * SPAN_MS, 1..6),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// Time-outs are decided by event time: whatever order the reports arrive in and whenever the
    /// time-out job runs in between, the final record is the one of all events delivered at once
    /// with the job run only at the end.
    #[test]
    fn the_record_does_not_depend_on_arrival_order_or_when_the_job_ran(
        (events, order, cuts, job_nows) in call_with_deliveries()
    ) {
        let reference = deliver(&events, &(0..events.len()).collect::<Vec<_>>(), &[], &[0]);
        let delivered = deliver(&events, &order, &cuts, &job_nows);
        prop_assert_eq!(
            fold_timed(APP, &delivered, Some(TIMEOUTS)).map(|s| s.record),
            fold_timed(APP, &reference, Some(TIMEOUTS)).map(|s| s.record)
        );
    }
}

/// The generator is only useful if it reaches every kind of call: this checks that a few
/// thousand generated calls cover every result for both call types, and calls that connected.
#[test]
fn generated_calls_reach_every_result_of_both_call_types() {
    let mut runner = TestRunner::deterministic();
    let strategy = call_events();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4_000 {
        let events = strategy.new_tree(&mut runner).unwrap().current();
        if let Some(st) = fold(APP, &events) {
            let r = &st.record;
            seen.insert((r.call_type, r.result, r.accept_ms.is_some()));
        }
    }
    use CallResult::*;
    let expected = [
        (CallType::Single, Cancel, false),
        (CallType::Single, Reject, false),
        (CallType::Single, CallBusy, false),
        (CallType::Single, NotAnswer, false),
        (CallType::Single, Interrupt, false),
        (CallType::Single, Ongoing, false),
        (CallType::Single, NormalEnd, true),
        (CallType::Single, Interrupt, true),
        (CallType::Single, Ongoing, true),
        (CallType::Group, Cancel, false),
        (CallType::Group, Reject, false),
        (CallType::Group, CallBusy, false),
        (CallType::Group, NotAnswer, false),
        (CallType::Group, Interrupt, false),
        (CallType::Group, Ongoing, false),
        (CallType::Group, NormalEnd, true),
        (CallType::Group, Ongoing, true),
    ];
    let missing: Vec<_> = expected.iter().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}

/// The dedupe keys of the effective steps of `events`' trace, in order.
fn effective_keys(events: &[Event]) -> Vec<String> {
    fold_traced(APP, events, Some(TIMEOUTS))
        .map(|(_, t)| {
            t.steps
                .iter()
                .filter(|s| s.effective)
                .map(|s| s.event.dedupe_key())
                .collect()
        })
        .unwrap_or_default()
}

/// The changes of storing `events` one at a time in `order`: (key, ends the call) per change.
fn produced(events: &[Event], order: &[usize]) -> Vec<(String, bool)> {
    let mut stored: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    for &i in order {
        let fresh = [&events[i]];
        out.extend(
            changes_of_storing(APP, &stored, &fresh, TIMEOUTS)
                .into_iter()
                .map(|(_, c)| (c.event.dedupe_key(), c.ends_call)),
        );
        stored.push(events[i].clone());
    }
    out
}

proptest! {
    #![proptest_config(config())]

    /// The trace is the same fold: its state is `fold_timed`'s, and the last effective step's
    /// presence is who still rings and who is in the ongoing call.
    #[test]
    fn the_traced_fold_is_the_fold(events in call_events()) {
        let plain = fold_timed(APP, &events, Some(TIMEOUTS));
        let traced = fold_traced(APP, &events, Some(TIMEOUTS));
        prop_assert_eq!(plain.as_ref(), traced.as_ref().map(|(s, _)| s));
        if let Some((st, trace)) = traced {
            let ends = trace.steps.iter().filter(|s| s.end.is_some()).count();
            prop_assert_eq!(ends, usize::from(st.is_ended()));
            if !st.is_ended() {
                let last = trace.steps.iter().rev().find(|s| s.effective).expect("the start");
                let ringing: Vec<&str> = trace.members.iter().zip(&last.after)
                    .filter(|(_, p)| **p == Presence::Waiting).map(|(m, _)| m.as_str()).collect();
                let expected: Vec<&str> = st.ringing.iter().map(|(u, _)| u.as_str()).collect();
                prop_assert_eq!(ringing, expected);
                let calling: Vec<&str> = trace.members.iter().zip(&last.after)
                    .filter(|(_, p)| **p == Presence::Calling).map(|(m, _)| m.as_str()).collect();
                prop_assert_eq!(calling, st.in_call.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }

    /// Events stored in event order, one at a time, produce exactly one change per event that
    /// takes effect in the final fold, in that order, and the end once, last.
    #[test]
    fn events_in_event_order_produce_exactly_the_final_steps(
        (events, _, _, _) in call_with_deliveries()
    ) {
        let mut sorted = events;
        sorted.sort_by(|a, b| a.order_cmp(b));
        let order: Vec<usize> = (0..sorted.len()).collect();
        let got = produced(&sorted, &order);
        let keys: Vec<String> = got.iter().map(|(k, _)| k.clone()).collect();
        prop_assert_eq!(keys, effective_keys(&sorted));
        let ends: Vec<usize> = got.iter().enumerate().filter(|(_, (_, e))| *e).map(|(i, _)| i).collect();
        prop_assert!(ends.is_empty() || ends == vec![got.len() - 1], "{:?}", got);
    }

    /// In any arrival order, every event that takes effect in the final fold has been told at
    /// least once by the time everything is stored.
    #[test]
    fn in_any_order_every_final_step_is_told(
        (events, order, _, _) in call_with_deliveries()
    ) {
        let got = produced(&events, &order);
        let told: std::collections::HashSet<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        for k in effective_keys(&events) {
            prop_assert!(told.contains(k.as_str()), "{} never told; told {:?}", k, got);
        }
    }
}
