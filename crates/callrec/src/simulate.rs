//! The synthetic-call generator behind `callrec simulate`: realistic calls of every result, as the
//! events a signalling server would report.
//!
//! Guarantees (checked by the tests against [`callrec_domain::fold`]): every generated call folds
//! to the result its [`Scenario`] names, whatever order its events are sent in and however they
//! are duplicated; every event passes [`callrec_domain::validate_event`]; all times lie within the
//! hour before `now` (never in the future); every callee's ringing ends well before the server's
//! ring time-out (60 s), so the server's own time-out events never change a result.

use callrec_domain::{CallResult, CallType, Event, EventType, MediaType};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

/// What a generated call is meant to look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Answered, then one side hangs up.
    SingleNormalEnd,
    /// The caller cancels (or hangs up) while it rings.
    SingleCancel,
    /// The callee rejects.
    SingleReject,
    /// The callee is busy.
    SingleBusy,
    /// The callee's client reports `no_answer` after ringing out.
    SingleNotAnswer,
    /// A party goes offline (after answering, or the caller while it rings).
    SingleInterrupt,
    /// Answered and still going.
    SingleOngoing,
    /// Several callees; some answer, some are invited later and join; all leave.
    GroupNormalEnd,
    /// Every callee rejects.
    GroupReject,
    /// Every callee is busy.
    GroupBusy,
    /// Nobody answers; at least one rings out.
    GroupNotAnswer,
    /// The caller cancels while callees ring.
    GroupCancel,
    /// The caller goes offline while callees ring.
    GroupInterrupt,
    /// Some answered and are still talking.
    GroupOngoing,
}

impl Scenario {
    /// Every scenario, with its weight in a random mix (out of 100).
    pub const MIX: [(Scenario, u32); 14] = [
        (Scenario::SingleNormalEnd, 30),
        (Scenario::SingleCancel, 8),
        (Scenario::SingleReject, 8),
        (Scenario::SingleBusy, 5),
        (Scenario::SingleNotAnswer, 7),
        (Scenario::SingleInterrupt, 5),
        (Scenario::SingleOngoing, 4),
        (Scenario::GroupNormalEnd, 14),
        (Scenario::GroupReject, 3),
        (Scenario::GroupBusy, 2),
        (Scenario::GroupNotAnswer, 4),
        (Scenario::GroupCancel, 4),
        (Scenario::GroupInterrupt, 2),
        (Scenario::GroupOngoing, 4),
    ];

    /// The result the call must fold to.
    pub fn expected(self) -> CallResult {
        match self {
            Scenario::SingleNormalEnd | Scenario::GroupNormalEnd => CallResult::NormalEnd,
            Scenario::SingleCancel | Scenario::GroupCancel => CallResult::Cancel,
            Scenario::SingleReject | Scenario::GroupReject => CallResult::Reject,
            Scenario::SingleBusy | Scenario::GroupBusy => CallResult::CallBusy,
            Scenario::SingleNotAnswer | Scenario::GroupNotAnswer => CallResult::NotAnswer,
            Scenario::SingleInterrupt | Scenario::GroupInterrupt => CallResult::Interrupt,
            Scenario::SingleOngoing | Scenario::GroupOngoing => CallResult::Ongoing,
        }
    }

    /// Single or group.
    pub fn call_type(self) -> CallType {
        match self {
            Scenario::SingleNormalEnd
            | Scenario::SingleCancel
            | Scenario::SingleReject
            | Scenario::SingleBusy
            | Scenario::SingleNotAnswer
            | Scenario::SingleInterrupt
            | Scenario::SingleOngoing => CallType::Single,
            _ => CallType::Group,
        }
    }
}

/// One generated call.
#[derive(Debug, Clone)]
pub struct SimCall {
    /// A UUID v4.
    pub call_id: String,
    /// What it was generated as.
    pub scenario: Scenario,
    /// Its events in the order they are to be sent; may be out of time order and may hold
    /// repeated copies of an event (same eventId).
    pub events: Vec<Event>,
    /// How many of `events` are repeated copies (the server must count them as duplicates).
    pub duplicates: usize,
}

/// How many distinct user identifiers calls are drawn from.
const USERS: usize = 500;
/// Calls start at most this long before now, unless told otherwise.
pub const WINDOW_MS: i64 = 3_600_000;

/// A seeded generator of calls.
pub struct Generator {
    rng: StdRng,
    window_ms: i64,
}

/// Builds one call's events with offsets from its start, before they are placed in time.
struct Draft {
    call_id: String,
    events: Vec<Event>,
}

impl Draft {
    fn push(&mut self, kind: EventType, user: &str, offset_ms: i64) -> &mut Event {
        let mut e = Event::new(&self.call_id, kind, user, offset_ms);
        e.event_id = Some(format!("{}:{}", self.call_id, self.events.len()));
        self.events.push(e);
        self.events.last_mut().expect("just pushed")
    }
}

impl Generator {
    /// A generator whose output is fixed by `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator::with_window(seed, WINDOW_MS)
    }

    /// A generator whose calls lie within `window_ms` before the given now.
    pub fn with_window(seed: u64, window_ms: i64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            window_ms,
        }
    }

    /// A call of a random scenario (weighted by [`Scenario::MIX`]) placed before `now_ms`.
    pub fn call(&mut self, now_ms: i64) -> SimCall {
        let scenario = Scenario::MIX
            .choose_weighted(&mut self.rng, |(_, w)| *w)
            .map(|(s, _)| *s)
            .expect("weights are positive");
        self.call_of(scenario, now_ms)
    }

    /// A call of `scenario` whose events all lie in the window (an hour by default) before
    /// `now_ms`.
    pub fn call_of(&mut self, scenario: Scenario, now_ms: i64) -> SimCall {
        let call_id = uuid_v4(&mut self.rng);
        let mut d = Draft {
            call_id: call_id.clone(),
            events: Vec::new(),
        };
        let callee_count = match scenario.call_type() {
            CallType::Single => 1,
            CallType::Group => self.rng.random_range(2..=4),
        };
        let mut people = self.users(callee_count + 2);
        let caller = people.remove(0);
        let outsider = people.pop().expect("drew enough users");
        let callees = people;
        self.start(&mut d, scenario, &caller, &callees);
        self.body(&mut d, scenario, &caller, &callees, &outsider);

        // Place the call in time: it ends (its last event) before now, starts within the window.
        let span = d.events.iter().map(|e| e.time_ms).max().unwrap_or(0);
        let slack = (self.window_ms - span).max(0);
        let t0 = now_ms - span - self.rng.random_range(0..=slack);
        for e in &mut d.events {
            e.time_ms += t0;
        }

        let mut events = d.events;
        match self.rng.random_range(0..10) {
            0 | 1 => events.shuffle(&mut self.rng),
            2 => events.reverse(),
            _ => {}
        }
        let mut duplicates = 0;
        if self.rng.random_bool(0.15) {
            for _ in 0..self.rng.random_range(1..=2) {
                let i = self.rng.random_range(0..events.len());
                let copy = events[i].clone();
                let at = self.rng.random_range(i + 1..=events.len());
                events.insert(at, copy);
                duplicates += 1;
            }
        }
        SimCall {
            call_id,
            scenario,
            events,
            duplicates,
        }
    }

    fn users(&mut self, n: usize) -> Vec<String> {
        rand::seq::index::sample(&mut self.rng, USERS, n)
            .into_iter()
            .map(|i| format!("user_{i:04}"))
            .collect()
    }

    fn ms(&mut self, from_secs: f64, to_secs: f64) -> i64 {
        // Truncation is fine: these are random offsets.
        #[allow(clippy::cast_possible_truncation)]
        let ms = (self.rng.random_range(from_secs..to_secs) * 1000.0) as i64;
        ms
    }

    fn start(&mut self, d: &mut Draft, scenario: Scenario, caller: &str, callees: &[String]) {
        let media = if self.rng.random_bool(0.5) {
            MediaType::Video
        } else {
            MediaType::Audio
        };
        let explicit_type = self.rng.random_bool(0.5);
        let room = self
            .rng
            .random_bool(0.7)
            .then(|| self.rng.random_range(100_000..1_000_000u32).to_string());
        let e = d.push(EventType::Start, caller, 0);
        e.callees = callees.to_vec();
        e.media_type = Some(media);
        e.call_type = explicit_type.then_some(scenario.call_type());
        e.room_id = room;
    }

    fn body(
        &mut self,
        d: &mut Draft,
        scenario: Scenario,
        caller: &str,
        callees: &[String],
        outsider: &str,
    ) {
        let callee = callees[0].as_str();
        match scenario {
            Scenario::SingleNormalEnd | Scenario::SingleInterrupt | Scenario::SingleOngoing => {
                let accept = self.ms(2.0, 20.0);
                d.push(EventType::Accept, callee, accept);
                let (first, second) = if self.rng.random_bool(0.5) {
                    (caller, callee)
                } else {
                    (callee, caller)
                };
                let leave = accept + self.ms(5.0, 600.0);
                match scenario {
                    Scenario::SingleNormalEnd => {
                        d.push(EventType::Hangup, first, leave);
                        // The other client often reports its own hang-up too; it changes nothing.
                        if self.rng.random_bool(0.5) {
                            let t = leave + self.ms(0.0, 0.5);
                            d.push(EventType::Hangup, second, t);
                        }
                    }
                    Scenario::SingleInterrupt => {
                        d.push(EventType::Offline, first, leave);
                    }
                    _ => {}
                }
            }
            Scenario::SingleCancel => {
                let kind = if self.rng.random_bool(0.5) {
                    EventType::Cancel
                } else {
                    EventType::Hangup
                };
                let t = self.ms(2.0, 30.0);
                d.push(kind, caller, t);
            }
            Scenario::SingleReject => {
                let t = self.ms(1.0, 20.0);
                d.push(EventType::Reject, callee, t);
            }
            Scenario::SingleBusy => {
                let t = self.ms(0.1, 1.0);
                d.push(EventType::Busy, callee, t);
            }
            Scenario::SingleNotAnswer => {
                let t = self.ms(30.0, 59.0);
                d.push(EventType::NoAnswer, callee, t);
                if self.rng.random_bool(0.5) {
                    // The caller's client hangs up afterwards; the call had already ended.
                    let t2 = t + self.ms(0.1, 1.0);
                    d.push(EventType::Hangup, caller, t2);
                }
            }
            Scenario::GroupNormalEnd => self.group_connected(d, caller, callees, outsider, true),
            Scenario::GroupOngoing => self.group_connected(d, caller, callees, outsider, false),
            Scenario::GroupReject | Scenario::GroupBusy => {
                let (kind, from, to) = if scenario == Scenario::GroupReject {
                    (EventType::Reject, 1.0, 30.0)
                } else {
                    (EventType::Busy, 0.1, 1.0)
                };
                for c in callees {
                    let t = self.ms(from, to);
                    d.push(kind, c, t);
                }
            }
            Scenario::GroupNotAnswer => {
                for (i, c) in callees.iter().enumerate() {
                    let (kind, t) = match if i == 0 {
                        0
                    } else {
                        self.rng.random_range(0..3)
                    } {
                        0 => (EventType::NoAnswer, self.ms(30.0, 59.0)),
                        1 => (EventType::Reject, self.ms(1.0, 30.0)),
                        _ => (EventType::Busy, self.ms(0.1, 1.0)),
                    };
                    d.push(kind, c, t);
                }
            }
            Scenario::GroupCancel | Scenario::GroupInterrupt => {
                // Some callees decline early; at least one still rings when the caller leaves.
                let decline = self.rng.random_range(0..callees.len());
                for c in &callees[..decline] {
                    let t = self.ms(1.0, 5.0);
                    d.push(EventType::Reject, c, t);
                }
                let kind = match scenario {
                    Scenario::GroupInterrupt => EventType::Offline,
                    _ if self.rng.random_bool(0.5) => EventType::Cancel,
                    _ => EventType::Hangup,
                };
                let t = self.ms(6.0, 30.0);
                d.push(kind, caller, t);
            }
        }
    }

    /// A group call in which someone answers: every callee's ringing ends (answer, reject, busy
    /// or ring-out), maybe one more user is invited and joins, and, when `ends`, everyone leaves
    /// one after another once nobody rings any more.
    fn group_connected(
        &mut self,
        d: &mut Draft,
        caller: &str,
        callees: &[String],
        outsider: &str,
        ends: bool,
    ) {
        let mut in_call = vec![caller.to_owned()];
        let mut settled = 0;
        let mut first_accept = i64::MAX;
        for (i, c) in callees.iter().enumerate() {
            let choice = if i == 0 {
                0
            } else {
                self.rng.random_range(0..10)
            };
            let (kind, t) = match choice {
                0..=4 => (EventType::Accept, self.ms(2.0, 20.0)),
                5 | 6 => (EventType::Reject, self.ms(1.0, 20.0)),
                7 => (EventType::Busy, self.ms(0.1, 1.0)),
                _ => (EventType::NoAnswer, self.ms(30.0, 59.0)),
            };
            d.push(kind, c, t);
            settled = settled.max(t);
            if kind == EventType::Accept {
                in_call.push(c.clone());
                first_accept = first_accept.min(t);
            }
        }
        if self.rng.random_bool(0.5) {
            // Someone in the call invites one more user, who joins a few seconds later.
            let inviter = in_call.choose(&mut self.rng).expect("caller is in").clone();
            let invited = first_accept + self.ms(1.0, 20.0);
            d.push(EventType::Invite, &inviter, invited).invitees = vec![outsider.to_owned()];
            let joined = invited + self.ms(2.0, 15.0);
            d.push(EventType::Join, outsider, joined);
            in_call.push(outsider.to_owned());
            settled = settled.max(joined);
        }
        if !ends {
            return;
        }
        in_call.shuffle(&mut self.rng);
        let mut t = settled + self.ms(5.0, 300.0);
        for user in &in_call {
            let kind = if self.rng.random_bool(0.8) {
                EventType::Hangup
            } else {
                EventType::Offline
            };
            d.push(kind, user, t);
            t += self.ms(1.0, 30.0);
        }
    }
}

/// A random UUID v4 in its usual text form.
pub fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An event as the v1 report API takes it (camelCase; absent fields left out).
pub fn event_json(e: &Event) -> Value {
    let mut m = Map::new();
    m.insert("callId".into(), e.call_id.clone().into());
    m.insert("type".into(), e.kind.as_str().into());
    m.insert("userId".into(), e.user_id.clone().into());
    m.insert("time".into(), e.time_ms.into());
    if let Some(id) = &e.event_id {
        m.insert("eventId".into(), id.clone().into());
    }
    if !e.callees.is_empty() {
        m.insert("callees".into(), e.callees.clone().into());
    }
    if let Some(media) = e.media_type {
        m.insert("mediaType".into(), media.as_str().into());
    }
    if let Some(t) = e.call_type {
        m.insert("callType".into(), t.as_str().into());
    }
    if let Some(room) = &e.room_id {
        m.insert("roomId".into(), room.clone().into());
    }
    if !e.invitees.is_empty() {
        m.insert("invitees".into(), e.invitees.clone().into());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use callrec_domain::{fold, validate_event};

    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const WEEK_MS: i64 = 7 * 86_400_000;

    fn check(call: &SimCall) {
        let state = fold(1, &call.events).expect("has a start");
        assert_eq!(
            state.record.result,
            call.scenario.expected(),
            "{:?}: {:#?}",
            call.scenario,
            call.events
        );
        assert_eq!(state.record.call_type, call.scenario.call_type());
        for e in &call.events {
            assert!(e.time_ms <= NOW && e.time_ms >= NOW - WINDOW_MS, "{e:?}");
            validate_event(e.clone(), NOW, WEEK_MS).expect("valid");
        }
        let distinct: HashSet<_> = call.events.iter().map(Event::dedupe_key).collect();
        assert_eq!(distinct.len() + call.duplicates, call.events.len());
        // Sorted and without its repeats, the call folds the same: order and copies do not matter.
        let mut clean: Vec<Event> = Vec::new();
        for e in &call.events {
            if !clean.iter().any(|c| c.event_id == e.event_id) {
                clean.push(e.clone());
            }
        }
        clean.sort_by(Event::order_cmp);
        assert_eq!(fold(1, &clean), Some(state));
    }

    #[test]
    fn every_scenario_folds_to_the_result_it_was_meant_to_have() {
        let mut g = Generator::new(7);
        for (scenario, _) in Scenario::MIX {
            for _ in 0..300 {
                check(&g.call_of(scenario, NOW));
            }
        }
    }

    #[test]
    fn the_random_mix_covers_every_result_and_call_type_and_sends_some_out_of_order() {
        let mut g = Generator::new(42);
        let calls: Vec<SimCall> = (0..2_000).map(|_| g.call(NOW)).collect();
        for c in &calls {
            check(c);
        }
        let results: HashSet<_> = calls.iter().map(|c| c.scenario.expected()).collect();
        assert_eq!(results.len(), CallResult::ALL.len());
        assert!(
            calls
                .iter()
                .any(|c| c.scenario.call_type() == CallType::Group)
        );
        assert!(calls.iter().any(|c| c.duplicates > 0));
        assert!(
            calls
                .iter()
                .any(|c| c.events.windows(2).any(|w| w[0].time_ms > w[1].time_ms))
        );
    }

    #[test]
    fn call_ids_are_uuid_v4() {
        let id = uuid_v4(&mut StdRng::seed_from_u64(1));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!("89ab".contains(&id[19..20]));
        assert_eq!(id.matches('-').count(), 4);
    }

    #[test]
    fn events_serialize_to_the_report_wire_shape() {
        let mut e = Event::new("c", EventType::Invite, "alice", 5);
        e.event_id = Some("c:1".into());
        e.invitees = vec!["bob".into()];
        assert_eq!(
            event_json(&e),
            serde_json::json!({"callId": "c", "type": "invite", "userId": "alice", "time": 5,
                "eventId": "c:1", "invitees": ["bob"]})
        );
    }
}
