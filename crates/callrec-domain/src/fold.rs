//! The fold: a call's record as a pure function of its set of stored events (docs/api.md).
//!
//! Guarantees: the result depends only on the *set* of events — input order and duplicates (by
//! [`Event::dedupe_key`]) never change it. Events are applied in event order
//! ([`Event::order_cmp`]); an event the rules give no meaning changes nothing. Once the call has
//! ended, later events change nothing either.
//!
//! Time-outs are decided by event time ([`fold_timed`]): a callee still ringing at invitation +
//! ring time-out gets its `no_answer` at that moment, before any later-timed event of the call is
//! applied, and a connected call whose next event comes more than the idle time-out after the
//! previous one was closed at the previous one. So a record never depends on when the time-out
//! job ran or in which order reports arrived. Besides the record, the fold reports who still
//! rings and who is in the call, from which [`CallState::due_events`] derives the time-out events
//! the job stores (as ordinary events with `sys:` event ids) to make them durable and visible.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::event::{CallType, Event, EventType};
use crate::record::{CallResult, Record};

/// The time-outs (docs/api.md), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A callee still ringing this long after its invitation gets a `no_answer`.
    pub ring_ms: i64,
    /// A connected call with no event for this long is closed.
    pub idle_ms: i64,
}

/// Where a member of a call stands at a point of the fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// In the call.
    Calling,
    /// Ringing.
    Waiting,
    /// Neither: not yet invited, or left, rejected, busy, timed out, cancelled.
    Out,
}

/// One event as the fold saw it ([`fold_traced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The event: a stored one, or a time-out the fold decided by event time.
    pub event: Event,
    /// True for a time-out the fold decided that is not (yet) stored.
    pub derived: bool,
    /// True if the event changed the record or a member's presence.
    pub effective: bool,
    /// Each member's presence before the event, by position in [`Trace::members`] (members not
    /// yet known count as out).
    pub before: Vec<Presence>,
    /// Each member's presence after the event (members later events add are missing).
    pub after: Vec<Presence>,
    /// The record's connection time after the event.
    pub accept_ms: Option<i64>,
    /// Set on the event that ended the call: its time and the result.
    pub end: Option<(i64, CallResult)>,
}

/// How the fold saw a call's events: its members and every step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The caller, then the callees in record order.
    pub members: Vec<String>,
    /// Every event in the order the fold applied it, which is event order.
    pub steps: Vec<Step>,
}

/// The outcome of folding a call's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallState {
    /// The record.
    pub record: Record,
    /// Callees still ringing, with the time their ringing began, in callee order.
    pub ringing: Vec<(String, i64)>,
    /// Users in the call (the caller first, then callees in callee order).
    pub in_call: Vec<String>,
    /// The latest time of any stored event of the call, Unix ms.
    pub last_event_ms: i64,
    /// The start's own ring time-out, if it gave one (milliseconds).
    pub ring_timeout_ms: Option<i64>,
    /// The start's chat group, if any.
    pub chat_group_id: Option<String>,
    /// The start's user data, if any.
    pub user_data: Option<String>,
}

impl CallState {
    /// True once the call has ended.
    pub fn is_ended(&self) -> bool {
        self.record.end_ms.is_some()
    }

    /// When the next time-out of this call falls due, if any: the earliest ring time-out of a
    /// ringing callee, or for a connected call with users in it, its last event + idle time-out.
    pub fn next_due_ms(&self, t: Timeouts) -> Option<i64> {
        if self.is_ended() {
            return None;
        }
        let ring_ms = self.ring_timeout_ms.unwrap_or(t.ring_ms);
        let ring = self
            .ringing
            .iter()
            .map(|(_, since)| since.saturating_add(ring_ms))
            .min();
        let idle = self.idle_due_ms(t);
        match (ring, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn idle_due_ms(&self, t: Timeouts) -> Option<i64> {
        (self.record.accept_ms.is_some() && !self.in_call.is_empty())
            .then(|| self.last_event_ms.saturating_add(t.idle_ms))
    }

    /// The system events due at the earliest due moment, if that moment is at or before `now_ms`:
    /// a `no_answer` at invitation + ring time-out for each callee whose ring time-out falls then,
    /// and/or an `offline` at the last event's time for everyone in an idle call. Only the earliest
    /// moment is produced, because storing those events can change what falls due next; callers
    /// store them, fold again and repeat.
    pub fn due_events(&self, t: Timeouts, now_ms: i64) -> Vec<Event> {
        let Some(due) = self.next_due_ms(t).filter(|&d| d <= now_ms) else {
            return Vec::new();
        };
        let call_id = &self.record.call_id;
        let ring_ms = self.ring_timeout_ms.unwrap_or(t.ring_ms);
        let mut out = Vec::new();
        for (user, since) in &self.ringing {
            if since.saturating_add(ring_ms) == due {
                out.push(ring_timeout_event(call_id, user, *since, ring_ms));
            }
        }
        if self.idle_due_ms(t) == Some(due) {
            for user in &self.in_call {
                out.push(idle_timeout_event(call_id, user, self.last_event_ms));
            }
        }
        out
    }
}

/// The `no_answer` a callee ringing since `since` gets when its ring time-out passes.
fn ring_timeout_event(call_id: &str, user: &str, since: i64, ring_ms: i64) -> Event {
    let mut e = Event::new(
        call_id,
        EventType::NoAnswer,
        user,
        since.saturating_add(ring_ms),
    );
    e.event_id = Some(format!("sys:ring:{since}:{user}"));
    e
}

/// The `offline` a user still in a call idle since `last_ms` gets.
fn idle_timeout_event(call_id: &str, user: &str, last_ms: i64) -> Event {
    let mut e = Event::new(call_id, EventType::Offline, user, last_ms);
    e.event_id = Some(format!("sys:idle:{last_ms}:{user}"));
    e
}

/// True for a stored ring time-out (`sys:ring:…`).
fn is_ring_timeout(e: &Event) -> bool {
    e.event_id
        .as_deref()
        .is_some_and(|id| id.starts_with("sys:ring:"))
}

/// True for a stored idle time-out (`sys:idle:…`).
fn is_idle_timeout(e: &Event) -> bool {
    e.event_id
        .as_deref()
        .is_some_and(|id| id.starts_with("sys:idle:"))
}

/// Total order used to make the fold independent of input order: event order, then the payload
/// (only reached by conflicting copies of one dedupe key).
fn total_cmp(a: &Event, b: &Event) -> Ordering {
    a.order_cmp(b)
        .then_with(|| a.callees.cmp(&b.callees))
        .then_with(|| a.invitees.cmp(&b.invitees))
        .then_with(|| a.room_id.cmp(&b.room_id))
        .then_with(|| {
            a.media_type
                .map(|m| m.as_str())
                .cmp(&b.media_type.map(|m| m.as_str()))
        })
        .then_with(|| {
            a.call_type
                .map(|m| m.as_str())
                .cmp(&b.call_type.map(|m| m.as_str()))
        })
        .then_with(|| a.ring_timeout_ms.cmp(&b.ring_timeout_ms))
        .then_with(|| a.room_id_type.cmp(&b.room_id_type))
        .then_with(|| a.chat_group_id.cmp(&b.chat_group_id))
        .then_with(|| a.user_data.cmp(&b.user_data))
        .then_with(|| a.platform.cmp(&b.platform))
        .then_with(|| a.call_id.cmp(&b.call_id))
}

/// What a callee's ringing ended with (for a group call that never connected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Connected,
    Rejected,
    Busy,
    NoAnswer,
    Cancelled,
}

#[derive(Debug, Default)]
struct Member {
    ringing_since: Option<i64>,
    in_call: bool,
    last_outcome: Option<Outcome>,
}

struct Fold<'a> {
    caller: &'a str,
    call_type: CallType,
    callees: Vec<String>,
    members: HashMap<String, Member>,
    caller_in_call: bool,
    connected_ms: Option<i64>,
    end: Option<(i64, CallResult)>,
    /// Every event as the fold saw it, when asked for ([`fold_traced`]).
    trace: Option<Vec<Step>>,
}

impl<'a> Fold<'a> {
    /// Each member's presence, by position (the caller, then the callees in order).
    fn presence(&self) -> Vec<Presence> {
        let mut out = Vec::with_capacity(1 + self.callees.len());
        out.push(if self.caller_in_call {
            Presence::Calling
        } else {
            Presence::Out
        });
        out.extend(self.callees.iter().map(|c| {
            let m = &self.members[c];
            if m.in_call {
                Presence::Calling
            } else if m.ringing_since.is_some() {
                Presence::Waiting
            } else {
                Presence::Out
            }
        }));
        out
    }

    /// Applies `e` (see [`Fold::apply`]), noting the step in the trace when there is one.
    fn step(&mut self, e: &Event, derived: bool) -> Option<CallResult> {
        if self.trace.is_none() {
            return self.apply(e);
        }
        let mut before = self.presence();
        let accept_before = self.connected_ms;
        let result = self.apply(e);
        let after = self.presence();
        before.resize(after.len(), Presence::Out);
        let effective = before != after || result.is_some() || self.connected_ms != accept_before;
        let step = Step {
            event: e.clone(),
            derived,
            effective,
            before,
            after,
            accept_ms: self.connected_ms,
            end: result.map(|r| (e.time_ms, r)),
        };
        if let Some(t) = self.trace.as_mut() {
            t.push(step);
        }
        result
    }

    /// Notes an event that counts for nothing.
    fn skip(&mut self, e: &Event) {
        if self.trace.is_none() {
            return;
        }
        let now = self.presence();
        let step = Step {
            event: e.clone(),
            derived: false,
            effective: false,
            before: now.clone(),
            after: now,
            accept_ms: self.connected_ms,
            end: None,
        };
        if let Some(t) = self.trace.as_mut() {
            t.push(step);
        }
    }

    fn add_callee(&mut self, user: &str) {
        if user != self.caller && !self.members.contains_key(user) {
            self.callees.push(user.to_owned());
            self.members.insert(user.to_owned(), Member::default());
        }
    }

    fn member(&mut self, user: &str) -> Option<&mut Member> {
        self.members.get_mut(user)
    }

    fn is_ringing(&self, user: &str) -> bool {
        self.members
            .get(user)
            .is_some_and(|m| m.ringing_since.is_some())
    }

    fn connect(&mut self, user: &str, t: i64) {
        if let Some(m) = self.member(user) {
            m.ringing_since = None;
            m.in_call = true;
            m.last_outcome = Some(Outcome::Connected);
        }
        self.connected_ms.get_or_insert(t);
    }

    fn stop_ringing(&mut self, user: &str, outcome: Outcome) {
        if let Some(m) = self.member(user) {
            m.ringing_since = None;
            m.last_outcome = Some(outcome);
        }
    }

    fn cancel_all_ringing(&mut self) {
        for m in self.members.values_mut() {
            if m.ringing_since.take().is_some() {
                m.last_outcome = Some(Outcome::Cancelled);
            }
        }
    }

    fn any_ringing(&self) -> bool {
        self.members.values().any(|m| m.ringing_since.is_some())
    }

    fn users_in_call(&self) -> usize {
        usize::from(self.caller_in_call) + self.members.values().filter(|m| m.in_call).count()
    }

    fn leave(&mut self, user: &str) -> bool {
        if user == self.caller {
            return std::mem::take(&mut self.caller_in_call);
        }
        self.member(user)
            .is_some_and(|m| std::mem::take(&mut m.in_call))
    }

    /// Applies one event (after the start, before the end) and returns the result if it ends the call.
    fn apply(&mut self, e: &Event) -> Option<CallResult> {
        let user = e.user_id.as_str();
        let is_caller = user == self.caller;
        let single = self.call_type == CallType::Single;
        let connected = self.connected_ms.is_some();
        match e.kind {
            EventType::Start => None,
            EventType::Invite => {
                if single {
                    return None;
                }
                for invitee in &e.invitees {
                    if invitee == self.caller {
                        continue;
                    }
                    self.add_callee(invitee);
                    if let Some(m) = self.member(invitee)
                        && m.ringing_since.is_none()
                        && !m.in_call
                    {
                        m.ringing_since = Some(e.time_ms);
                    }
                }
                None
            }
            EventType::Join => {
                if is_caller || (single && user != self.callees[0]) {
                    return None;
                }
                self.add_callee(user);
                if self.members.get(user).is_some_and(|m| m.in_call) {
                    return None;
                }
                self.connect(user, e.time_ms);
                None
            }
            EventType::Accept => {
                if self.is_ringing(user) {
                    self.connect(user, e.time_ms);
                }
                None
            }
            EventType::Reject | EventType::Busy | EventType::NoAnswer => {
                if !self.is_ringing(user) {
                    return None;
                }
                let (outcome, result) = match e.kind {
                    EventType::Reject => (Outcome::Rejected, CallResult::Reject),
                    EventType::Busy => (Outcome::Busy, CallResult::CallBusy),
                    _ => (Outcome::NoAnswer, CallResult::NotAnswer),
                };
                self.stop_ringing(user, outcome);
                if single {
                    return Some(result);
                }
                self.group_end_check()
            }
            EventType::Cancel => {
                if !is_caller {
                    return None;
                }
                self.cancel_all_ringing();
                if !connected {
                    return Some(CallResult::Cancel);
                }
                if single {
                    return None;
                }
                self.group_end_check()
            }
            EventType::Hangup | EventType::Offline => {
                let result = if e.kind == EventType::Hangup {
                    CallResult::NormalEnd
                } else {
                    CallResult::Interrupt
                };
                if is_caller && !connected {
                    // Before anyone connected the caller's hang-up is a cancel, its going
                    // offline an interruption.
                    self.cancel_all_ringing();
                    self.caller_in_call = false;
                    return Some(if e.kind == EventType::Hangup {
                        CallResult::Cancel
                    } else {
                        CallResult::Interrupt
                    });
                }
                if !self.leave(user) {
                    return None;
                }
                if single {
                    return Some(result);
                }
                self.group_end_check()
            }
            EventType::End => {
                // Everyone ringing stops, everyone in the call leaves.
                self.cancel_all_ringing();
                self.caller_in_call = false;
                for m in self.members.values_mut() {
                    m.in_call = false;
                }
                Some(if connected {
                    CallResult::NormalEnd
                } else {
                    CallResult::Cancel
                })
            }
        }
    }

    /// Whether `e` is exactly the ring time-out its user's current ringing runs into.
    fn is_pending_ring_timeout(&self, e: &Event, ring_ms: i64) -> bool {
        self.members
            .get(&e.user_id)
            .and_then(|m| m.ringing_since)
            .is_some_and(|since| {
                ring_timeout_event(&e.call_id, &e.user_id, since, ring_ms).dedupe_key()
                    == e.dedupe_key()
            })
    }

    /// The earliest ring time-out of a ringing callee (in event order), if any.
    fn next_ring_timeout(&self, call_id: &str, ring_ms: i64) -> Option<Event> {
        // Ring time-outs differ only in time and user (one ringing per user at a time), so the
        // earliest is the least (due, user); no event is built for the others.
        let (due_ms, user, since) = self
            .callees
            .iter()
            .filter_map(|c| {
                self.members[c]
                    .ringing_since
                    .map(|since| (since.saturating_add(ring_ms), c, since))
            })
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))?;
        debug_assert_eq!(due_ms, since.saturating_add(ring_ms));
        Some(ring_timeout_event(call_id, user, since, ring_ms))
    }

    /// Whether the earliest ring time-out could come before `next` at all: its time is not
    /// later (a cheap test that spares building it for most events).
    fn ring_timeout_may_precede(&self, ring_ms: i64, next: Option<&Event>) -> bool {
        let Some(next) = next else {
            return true;
        };
        self.members.values().any(|m| {
            m.ringing_since
                .is_some_and(|since| since.saturating_add(ring_ms) <= next.time_ms)
        })
    }

    /// Applies every ring time-out that comes before `next` in event order (all remaining ones
    /// when `next` is `None`), and, when the next reported event (at `next_reported_ms`) comes
    /// more than the idle time-out after the last one (`last_ms`) in a connected call, the idle
    /// close at `last_ms`. Returns the end if one of them ended the call.
    fn apply_timeouts(
        &mut self,
        call_id: &str,
        t: Timeouts,
        next: Option<&Event>,
        next_reported_ms: Option<i64>,
        last_ms: i64,
    ) -> Option<(i64, CallResult)> {
        loop {
            let idle_due = self.connected_ms.is_some()
                && self.users_in_call() > 0
                && next_reported_ms.is_some_and(|n| n.saturating_sub(last_ms) > t.idle_ms);
            let ring = self
                .ring_timeout_may_precede(t.ring_ms, next)
                .then(|| self.next_ring_timeout(call_id, t.ring_ms))
                .flatten()
                .filter(|r| next.is_none_or(|n| r.order_cmp(n).is_lt()))
                // An idle close at `last_ms` comes first when the ringing ran out later.
                .filter(|r| !idle_due || r.time_ms <= last_ms);
            if let Some(r) = ring {
                if let Some(result) = self.step(&r, true) {
                    return Some((r.time_ms, result));
                }
                continue;
            }
            if idle_due {
                let mut users: Vec<String> = Vec::new();
                if self.caller_in_call {
                    users.push(self.caller.to_owned());
                }
                users.extend(
                    self.callees
                        .iter()
                        .filter(|c| self.members[*c].in_call)
                        .cloned(),
                );
                for user in users {
                    if let Some(result) =
                        self.step(&idle_timeout_event(call_id, &user, last_ms), true)
                    {
                        return Some((last_ms, result));
                    }
                }
                // Everyone is out now; ring time-outs before `next` may still follow.
                continue;
            }
            return None;
        }
    }

    /// A group call's end condition, checked after an event changed its state.
    fn group_end_check(&self) -> Option<CallResult> {
        if self.any_ringing() {
            return None;
        }
        if self.connected_ms.is_some() {
            return (self.users_in_call() <= 1).then_some(CallResult::NormalEnd);
        }
        let outcomes: Vec<_> = self
            .callees
            .iter()
            .map(|c| self.members[c].last_outcome)
            .collect();
        Some(if outcomes.iter().all(|o| *o == Some(Outcome::Rejected)) {
            CallResult::Reject
        } else if outcomes.iter().all(|o| *o == Some(Outcome::Busy)) {
            CallResult::CallBusy
        } else {
            CallResult::NotAnswer
        })
    }
}

/// Folds a call's stored events into its state without deciding time-outs: only the time-out
/// events already stored count. `None` until a `start` event is among them.
///
/// The events may come in any order and contain duplicates; all must belong to one call.
pub fn fold(sdkappid: u64, events: &[Event]) -> Option<CallState> {
    fold_timed(sdkappid, events, None)
}

/// Folds a call's events into its state, deciding time-outs by event time when `timeouts` is
/// given (see the module docs): before each event, every ring time-out that comes earlier in
/// event order is applied, and an idle gap longer than the idle time-out closes the call at the
/// event before the gap. A stored idle time-out (`sys:idle:…` at time T) counts only while no
/// reported event of the call lies in (T, T + idle]; a stored ring time-out only when it is the
/// very time-out the fold derives at that point. `None` until a `start` event is among them.
pub fn fold_timed(
    sdkappid: u64,
    events: &[Event],
    timeouts: Option<Timeouts>,
) -> Option<CallState> {
    fold_inner(sdkappid, events, timeouts, false).map(|(state, _)| state)
}

/// [`fold_timed`], also answering how the fold saw each event: the [`Trace`] lists every stored
/// event and every time-out the fold decided itself, in the order applied (event order), each
/// with whether it took effect and who was in the call, ringing or out before and after it.
pub fn fold_traced(
    sdkappid: u64,
    events: &[Event],
    timeouts: Option<Timeouts>,
) -> Option<(CallState, Trace)> {
    fold_inner(sdkappid, events, timeouts, true)
        .map(|(state, trace)| (state, trace.unwrap_or_default()))
}

fn fold_inner(
    sdkappid: u64,
    events: &[Event],
    timeouts: Option<Timeouts>,
    tracing: bool,
) -> Option<(CallState, Option<Trace>)> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| total_cmp(a, b));
    let mut seen = HashSet::with_capacity(sorted.len());
    sorted.retain(|e| seen.insert(e.dedupe_key()));
    // The times of the reported (not system) events, ascending (`sorted` is in time order).
    let reported: Vec<i64> = sorted
        .iter()
        .filter(|e| !e.is_system())
        .map(|e| e.time_ms)
        .collect();
    let mut voided: Vec<&Event> = Vec::new();
    if let Some(t) = timeouts {
        // A stored idle close is void once a later event shows the call was not idle that long.
        sorted.retain(|e| {
            let after = reported.partition_point(|&r| r <= e.time_ms);
            let keep = !is_idle_timeout(e)
                || reported
                    .get(after)
                    .is_none_or(|&r| r > e.time_ms.saturating_add(t.idle_ms));
            if !keep && tracing {
                voided.push(e);
            }
            keep
        });
    }

    let start_at = sorted.iter().position(|e| e.kind == EventType::Start)?;
    let start = sorted[start_at];
    let caller = start.user_id.as_str();
    let call_type = start.call_type.unwrap_or(if start.callees.len() == 1 {
        CallType::Single
    } else {
        CallType::Group
    });
    let mut f = Fold {
        caller,
        call_type,
        callees: Vec::new(),
        members: HashMap::new(),
        caller_in_call: true,
        connected_ms: None,
        end: None,
        trace: tracing.then(Vec::new),
    };
    // Events that sort before the start count for nothing (nobody is in the call yet).
    for e in &sorted[..start_at] {
        f.skip(e);
    }
    for c in &start.callees {
        f.add_callee(c);
    }
    for m in f.members.values_mut() {
        m.ringing_since = Some(start.time_ms);
    }
    if f.callees.is_empty() {
        // Validation never stores such a start; a call with nobody to ring has nothing to wait for.
        f.end = Some((start.time_ms, CallResult::Cancel));
    }
    if let Some(t) = f.trace.as_mut() {
        let after = {
            let mut p = vec![Presence::Waiting; 1 + f.callees.len()];
            p[0] = Presence::Calling;
            p
        };
        t.push(Step {
            event: start.clone(),
            derived: false,
            effective: true,
            before: vec![Presence::Out; after.len()],
            after,
            accept_ms: None,
            end: f.end,
        });
    }

    let call_id = start.call_id.as_str();
    let timeouts = timeouts.map(|t| Timeouts {
        ring_ms: start.ring_timeout_ms.unwrap_or(t.ring_ms),
        idle_ms: t.idle_ms,
    });
    // For each position, the time of the first reported (not system) event from there on.
    let mut next_reported: Vec<Option<i64>> = vec![None; sorted.len() + 1];
    for i in (0..sorted.len()).rev() {
        next_reported[i] = if sorted[i].is_system() {
            next_reported[i + 1]
        } else {
            Some(sorted[i].time_ms)
        };
    }
    let mut last_ms = start.time_ms;
    let mut rest = start_at + 1;
    for (i, e) in sorted.iter().enumerate().skip(start_at + 1) {
        if f.end.is_some() {
            break;
        }
        rest = i + 1;
        if let Some(t) = timeouts {
            if let Some(end) = f.apply_timeouts(call_id, t, Some(e), next_reported[i], last_ms) {
                f.end = Some(end);
                rest = i;
                break;
            }
            // A stored ring time-out counts only as the very time-out this fold derives here
            // (the job may have stored it from fewer events than there are now).
            if is_ring_timeout(e) && !f.is_pending_ring_timeout(e, t.ring_ms) {
                f.skip(e);
                continue;
            }
            // Likewise a stored idle close counts only at the time of the last event that counts
            // (which may sort after it at that same time).
            // An idle close only ever closes a connected call.
            if is_idle_timeout(e)
                && (f.connected_ms.is_none()
                    || (e.time_ms != last_ms && reported.binary_search(&e.time_ms).is_err()))
            {
                f.skip(e);
                continue;
            }
        }
        if let Some(result) = f.step(e, false) {
            f.end = Some((e.time_ms, result));
        }
        // Idleness is measured from reported events only: whether the job already stored a
        // time-out must not change it.
        if !e.is_system() {
            last_ms = last_ms.max(e.time_ms);
        }
    }

    // Events after the end count for nothing.
    for e in &sorted[rest.min(sorted.len())..] {
        f.skip(e);
    }
    let trace = f.trace.take().map(|mut steps| {
        // Voided idle closes go where event order puts them.
        for v in voided {
            let at = steps.partition_point(|s| s.event.order_cmp(v).is_le());
            steps.insert(
                at,
                Step {
                    event: v.clone(),
                    derived: false,
                    effective: false,
                    before: Vec::new(),
                    after: Vec::new(),
                    accept_ms: None,
                    end: None,
                },
            );
        }
        let mut members = Vec::with_capacity(1 + f.callees.len());
        members.push(caller.to_owned());
        members.extend(f.callees.iter().cloned());
        Trace { members, steps }
    });
    let ended = f.end.is_some();
    let last_event_ms = if ended {
        sorted
            .iter()
            .map(|e| e.time_ms)
            .max()
            .unwrap_or(start.time_ms)
    } else {
        // The last reported event (see above).
        last_ms
    };
    let ringing = if ended {
        Vec::new()
    } else {
        f.callees
            .iter()
            .filter_map(|c| f.members[c].ringing_since.map(|t| (c.clone(), t)))
            .collect()
    };
    let mut in_call = Vec::new();
    if !ended {
        if f.caller_in_call {
            in_call.push(caller.to_owned());
        }
        in_call.extend(f.callees.iter().filter(|c| f.members[*c].in_call).cloned());
    }
    let record = Record {
        call_id: start.call_id.clone(),
        sdkappid,
        media_type: start.media_type.unwrap_or(crate::MediaType::Audio),
        room_id: start.room_id.clone().unwrap_or_default(),
        start_ms: start.time_ms,
        accept_ms: f.connected_ms,
        end_ms: f.end.map(|(t, _)| t),
        caller: caller.to_owned(),
        call_type,
        result: f.end.map_or(CallResult::Ongoing, |(_, r)| r),
        callees: f.callees,
        room_id_type: start.room_id_type,
    };
    Some((
        CallState {
            record,
            ringing,
            in_call,
            last_event_ms,
            ring_timeout_ms: start.ring_timeout_ms,
            chat_group_id: start.chat_group_id.clone(),
            user_data: start.user_data.clone(),
        },
        trace,
    ))
}
