//! Event builders and helpers shared by the checks.

use callrec_domain::{
    CallType, Event, EventType, IngestItem, IngestOutcome, MediaType, Record, Timeouts, fold_timed,
};

/// The app most checks use.
pub const APP: u64 = 1_400_000_001;
/// A second app, for isolation checks.
pub const OTHER_APP: u64 = 1_400_000_002;
/// A base time (Unix ms) all fixtures are relative to; a whole second.
pub const T0: i64 = 1_700_000_000_000;
/// `T0` in seconds.
pub const T0_SECS: i64 = T0 / 1000;

/// An admin identifier (who reports `end` events).
pub const ADMIN_USER: &str = "administrator";

/// Production-like time-outs, so nothing falls due by accident.
pub const LONG_TIMEOUTS: Timeouts = Timeouts {
    ring_ms: 60_000,
    idle_ms: 43_200_000,
};

/// A bare event.
pub fn ev(call: &str, kind: EventType, user: &str, time_ms: i64) -> Event {
    Event::new(call, kind, user, time_ms)
}

/// A `start` by `caller` ringing `callees`, video, with the default call type.
pub fn start(call: &str, caller: &str, callees: &[&str], time_ms: i64) -> Event {
    let mut e = Event::new(call, EventType::Start, caller, time_ms);
    e.callees = callees.iter().map(|c| (*c).to_owned()).collect();
    e.media_type = Some(MediaType::Video);
    e.call_type = Some(if callees.len() == 1 {
        CallType::Single
    } else {
        CallType::Group
    });
    e
}

/// An event with an `eventId`.
pub fn with_id(mut e: Event, id: &str) -> Event {
    e.event_id = Some(id.to_owned());
    e
}

/// Items of `app` for these events.
pub fn items(app: u64, events: &[Event]) -> Vec<IngestItem> {
    events
        .iter()
        .map(|e| IngestItem::internal(app, e.clone()))
        .collect()
}

/// The record the fold makes of `events` (which must contain a start), with time-outs decided
/// by event time under [`LONG_TIMEOUTS`] (what the harnesses of these checks are created with).
pub fn expected(app: u64, events: &[Event]) -> Record {
    fold_timed(app, events, Some(LONG_TIMEOUTS))
        .expect("fixture has a start")
        .record
}

/// Events sorted in event order, for comparing sets.
pub fn sorted(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by(|a, b| {
        a.order_cmp(b)
            .then_with(|| a.dedupe_key().cmp(&b.dedupe_key()))
    });
    events
}

/// `n` Accepted / Duplicate outcomes, for readable assertions.
pub fn outcomes(pattern: &str) -> Vec<IngestOutcome> {
    pattern
        .chars()
        .map(|c| match c {
            'A' => IngestOutcome::Accepted,
            'D' => IngestOutcome::Duplicate,
            other => panic!("outcome pattern uses A and D, not {other:?}"),
        })
        .collect()
}

/// A small deterministic pseudo-random generator (xorshift), so the suite needs no `rand`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles in place.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// A single call that ended with `result` (or is ongoing), started at `start_ms`.
pub fn single_call_ending(call: &str, start_ms: i64, how: &str) -> Vec<Event> {
    use EventType::*;
    let s = start(call, "alice", &["bob"], start_ms);
    let t = start_ms;
    match how {
        "cancel" => vec![s, ev(call, Cancel, "alice", t + 1000)],
        "reject" => vec![s, ev(call, Reject, "bob", t + 1000)],
        "not_answer" => vec![s, ev(call, NoAnswer, "bob", t + 1000)],
        "call_busy" => vec![s, ev(call, Busy, "bob", t + 1000)],
        "normal_end" => vec![
            s,
            ev(call, Accept, "bob", t + 1000),
            ev(call, Hangup, "bob", t + 9000),
        ],
        "interrupt" => vec![
            s,
            ev(call, Accept, "bob", t + 1000),
            ev(call, Offline, "alice", t + 9000),
        ],
        "ongoing" => vec![s, ev(call, Accept, "bob", t + 1000)],
        other => panic!("unknown fixture ending {other}"),
    }
}

/// A group call (alice ringing bob and carol) that ends with `normal_end`.
pub fn group_call(call: &str, start_ms: i64) -> Vec<Event> {
    use EventType::*;
    let t = start_ms;
    vec![
        start(call, "alice", &["bob", "carol"], t),
        ev(call, Accept, "bob", t + 1000),
        ev(call, Reject, "carol", t + 1500),
        ev(call, Hangup, "bob", t + 8000),
    ]
}
