//! The fold (`callrec_domain::fold`, `fold_timed`, `fold_traced`): random sets of a call's
//! events, from a small world (six users, a 250 ms time grid so that ties are common, a few
//! eventIds, stored ring and idle time-outs, start fields on any event, now and then a time
//! anywhere in `i64` or another call's id).
//!
//! Input: two bytes seed the copy (below), then events of three bytes or more each (`read_event`).
//!
//! - the fold never panics (overflow checks are on in the fuzz build), with or without
//!   time-outs, whatever the events;
//! - the permutation property (docs/api.md, `tests/fold_props.rs`): the state depends only on
//!   the *set* of events, so a shuffled copy with some events repeated folds to the same state,
//!   traced or not, with or without time-outs. (Its documented exception, that which of two
//!   *different* events sharing one dedupe key a store keeps depends on arrival order, is about
//!   the store and not the fold: the fold sees both and picks by its total order.)
//! - the traced fold is the timed fold;
//! - for the events that pass `validate_event` (those a store could hold), the record
//!   invariants of `tests/fold_props.rs` hold, and storing the due time-outs until none remain
//!   always ends the call.

use callrec_domain::{
    CallResult, CallState, CallType, Event, EventType, MediaType, Timeouts, fold, fold_timed,
    fold_traced, validate_event,
};

use crate::bytes::Bytes;

const APP: u64 = 1_400_000_001;
const CALL: &str = "call-f";
const BASE: i64 = 1_700_000_000_000;
const NOW: i64 = BASE + 3_600_000;
const RETENTION: i64 = 7 * 86_400_000;
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
/// Short enough to interact with the grid's times (as in `tests/fold_props.rs`).
const TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 3_000,
    idle_ms: 5_000,
};
/// Most events one input makes.
const MAX_EVENTS: usize = 32;

/// One input (see the module docs).
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let seed = u64::from(b.u16());
    let mut events = Vec::new();
    while !b.is_empty() && events.len() < MAX_EVENTS {
        events.push(read_event(&mut b));
    }
    let copy = shuffled_copy(&events, seed);

    let plain = fold(APP, &events);
    assert_eq!(plain, fold(APP, &copy), "fold of a permutation");
    let traced = fold_traced(APP, &events, Some(TIMEOUTS));
    assert_eq!(
        traced,
        fold_traced(APP, &copy, Some(TIMEOUTS)),
        "traced fold of a permutation"
    );
    assert_eq!(
        fold_timed(APP, &events, Some(TIMEOUTS)).as_ref(),
        traced.as_ref().map(|(state, _)| state),
        "the traced fold is the timed fold"
    );

    let valid: Vec<Event> = events
        .into_iter()
        .filter(|e| e.call_id == CALL)
        .filter_map(|e| validate_event(e, NOW, RETENTION).ok())
        .collect();
    if let Some(st) = fold(APP, &valid) {
        check_invariants(&st);
        time_outs_end_the_call(valid, st);
    }
}

/// One event: a kind byte (low nibble: the type; 0x10 an eventId; 0x20 a time anywhere; 0x40
/// another call; 0x80 start and invite fields), a user byte, a time byte, then what the flags
/// ask for.
fn read_event(b: &mut Bytes<'_>) -> Event {
    let flags = b.u8();
    let mut kind = EventType::ALL[usize::from(flags & 0x0f) % EventType::ALL.len()];
    let user = USERS[usize::from(b.u8()) % USERS.len()];
    let mut time = BASE + i64::from(b.u8()) * 250;
    if flags & 0x20 != 0 {
        time = b.i64();
    }
    let mut event_id = None;
    if flags & 0x10 != 0 {
        let id = b.u8();
        event_id = Some(match id {
            0..0x80 => format!("id-{}", id % 40),
            // A stored ring time-out: the no_answer the fold derives for a callee ringing since
            // a grid time (under the configured ring time-out or a start's own).
            0x80..0xc0 => {
                let since = BASE + i64::from(b.u8()) * 250;
                let ring = if id & 1 == 0 {
                    TIMEOUTS.ring_ms
                } else {
                    10_000
                };
                kind = EventType::NoAnswer;
                time = since.saturating_add(ring);
                format!("sys:ring:{since}:{user}")
            }
            // A stored idle close at the event's time.
            _ => {
                kind = EventType::Offline;
                format!("sys:idle:{time}:{user}")
            }
        });
    }
    let call = if flags & 0x40 != 0 { "call-g" } else { CALL };
    let mut e = Event::new(call, kind, user, time);
    e.event_id = event_id;
    if flags & 0x80 != 0 {
        let f = b.u8();
        e.callees = users(b, f & 0x07);
        // Every start has one (else it is invalid); other events only when asked (invalid too).
        e.media_type = match (f & 0x08 != 0, e.kind == EventType::Start) {
            (true, _) => Some(MediaType::Video),
            (false, true) => Some(MediaType::Audio),
            (false, false) => None,
        };
        e.call_type = match (f >> 4) & 0x03 {
            0 => None,
            1 => Some(CallType::Single),
            _ => Some(CallType::Group),
        };
        if f & 0x40 != 0 {
            e.room_id = Some(format!("{}", b.u8() % 4));
            e.room_id_type = Some(b.u8() % 4);
        }
        if f & 0x80 != 0 {
            e.ring_timeout_ms = Some(match b.u8() {
                0..0x80 => 10_000,
                0x80..0xf0 => 10_000 + i64::from(b.u16()) * 10,
                _ => b.i64(),
            });
        }
        if e.kind == EventType::Invite || f & 0x30 == 0x30 {
            let n = b.u8();
            e.invitees = users(b, n & 0x03);
        }
        if f & 0x01 != 0 && f & 0x06 == 0 {
            e.platform = Some("iOS".into());
            e.chat_group_id = Some("g1".into());
            e.user_data = Some("{}".into());
        }
    }
    e
}

/// Up to 7 users, each from a byte (repeats possible).
fn users(b: &mut Bytes<'_>, n: u8) -> Vec<String> {
    (0..n)
        .map(|_| USERS[usize::from(b.u8()) % USERS.len()].to_owned())
        .collect()
}

/// `events` shuffled, with up to four events repeated (xorshift from `seed`).
fn shuffled_copy(events: &[Event], seed: u64) -> Vec<Event> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut copy = events.to_vec();
    if !events.is_empty() {
        for _ in 0..next() % 5 {
            let i = (next() % events.len() as u64) as usize;
            copy.push(events[i].clone());
        }
    }
    for i in (1..copy.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        copy.swap(i, j);
    }
    copy
}

/// The record invariants of `tests/fold_props.rs` (docs/api.md).
fn check_invariants(st: &CallState) {
    let r = &st.record;
    assert_eq!(
        r.end_ms.is_none(),
        r.result == CallResult::Ongoing,
        "{st:?}"
    );
    assert_eq!(r.end_secs() == 0, r.result == CallResult::Ongoing, "{st:?}");
    if let Some(accept) = r.accept_ms {
        assert!(accept >= r.start_ms, "{st:?}");
    } else {
        assert_eq!(r.accept_secs(), 0, "{st:?}");
    }
    if let Some(end) = r.end_ms {
        assert!(end >= r.start_ms, "{st:?}");
        assert!(r.accept_ms.is_none_or(|a| end >= a), "{st:?}");
        assert!(st.ringing.is_empty() && st.in_call.is_empty(), "{st:?}");
        assert_eq!(st.next_due_ms(TIMEOUTS), None, "{st:?}");
    }
    assert!(!r.callees.contains(&r.caller), "{st:?}");
    for (i, c) in r.callees.iter().enumerate() {
        assert!(!r.callees[..i].contains(c), "{st:?}");
    }
    for (user, since) in &st.ringing {
        assert!(r.callees.contains(user), "{st:?}");
        assert!(*since >= r.start_ms, "{st:?}");
        assert!(!st.in_call.contains(user), "{st:?}");
    }
    for user in &st.in_call {
        assert!(*user == r.caller || r.callees.contains(user), "{st:?}");
    }
    assert!(st.last_event_ms >= r.start_ms, "{st:?}");
    let connected = r.accept_ms.is_some();
    use CallResult::{Interrupt, NormalEnd, Ongoing};
    match (r.call_type, connected) {
        (CallType::Single, true) => {
            assert_eq!(r.callees.len(), 1, "{st:?}");
            assert!(
                matches!(r.result, NormalEnd | Interrupt | Ongoing),
                "{st:?}"
            );
        }
        (CallType::Single, false) => {
            assert_eq!(r.callees.len(), 1, "{st:?}");
            assert!(r.result != NormalEnd, "{st:?}");
        }
        (CallType::Group, true) => assert!(matches!(r.result, NormalEnd | Ongoing), "{st:?}"),
        (CallType::Group, false) => assert!(r.result != NormalEnd, "{st:?}"),
    }
}

/// What the time-out job does, until nothing is due: every round's due events are new system
/// events, the due moment only moves forward, and in the end the call has ended.
fn time_outs_end_the_call(mut events: Vec<Event>, mut st: CallState) {
    let far = i64::MAX / 2;
    let mut last_due = i64::MIN;
    for _ in 0..=2 * MAX_EVENTS + 8 {
        let Some(due_ms) = st.next_due_ms(TIMEOUTS) else {
            assert!(st.is_ended(), "nothing due, yet not ended: {st:?}");
            return;
        };
        assert!(due_ms > last_due, "due went from {last_due} to {due_ms}");
        last_due = due_ms;
        assert!(st.due_events(TIMEOUTS, due_ms - 1).is_empty());
        let due = st.due_events(TIMEOUTS, far);
        assert!(!due.is_empty(), "due at {due_ms}, but no events");
        for e in &due {
            assert!(e.is_system() && e.time_ms <= due_ms, "{e:?}");
            assert!(events.iter().all(|s| s.dedupe_key() != e.dedupe_key()));
        }
        events.extend(due);
        st = fold(APP, &events).expect("still started");
        check_invariants(&st);
    }
    panic!("time-outs never settle: {st:?}");
}
