//! What storing an event changed: the input of callbacks (docs/callbacks.md).
//!
//! A callback describes a change as callrec learns it. Storing an event can make *several* events
//! take effect (a `start` arriving after its `accept` brings both), and the call's end can appear
//! with it. [`changes`] compares how the fold saw the call before and after (two [`Trace`]s) and
//! answers, in event order, each event that took effect now and had not before, with the call as
//! it stood right after that event. Nothing already reported is taken back: an event that took
//! effect before and no longer does, or took effect differently, yields nothing.
//!
//! Generation-neutral: the v1 and v4 callbacks are both mappings of a [`Change`].

use std::collections::HashSet;

use crate::event::Event;
use crate::fold::{CallState, Presence, Timeouts, Trace, fold_traced};
use crate::record::{CallResult, Record};

/// One event that took effect, with the call around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The event (stored, or a time-out the fold decided by event time).
    pub event: Event,
    /// The caller, then the callees known after the event, in record order.
    pub members: Vec<String>,
    /// Each member's presence before the event (same positions as `members`).
    pub before: Vec<Presence>,
    /// Each member's presence after the event.
    pub after: Vec<Presence>,
    /// The record as it stood right after the event (ended if the event ended the call).
    pub record: Record,
    /// True if this event ended the call.
    pub ends_call: bool,
    /// The start's chat group, if any.
    pub chat_group_id: Option<String>,
}

impl Change {
    /// The caller's user id.
    pub fn caller(&self) -> &str {
        &self.members[0]
    }

    /// True if `user` is the caller.
    pub fn is_caller(&self, user: &str) -> bool {
        self.caller() == user
    }

    /// Position of `user` among the members.
    pub fn position(&self, user: &str) -> Option<usize> {
        self.members.iter().position(|m| m == user)
    }

    /// Members (in order) whose presence went from `from` to `to` with this event.
    pub fn moved(&self, from: Presence, to: Presence) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .zip(self.before.iter().zip(&self.after))
            .filter(move |(_, (b, a))| **b == from && **a == to)
            .map(|(m, _)| m.as_str())
    }

    /// Presence of member `i` before / after the event.
    pub fn presence(&self, i: usize) -> (Presence, Presence) {
        (self.before[i], self.after[i])
    }
}

/// A call folded with its trace.
pub type Traced = (CallState, Trace);

/// The events that take effect in `after` and did not in `before` (`None`: no start stored yet),
/// in event order, each with the call as it stood right after it.
pub fn changes(before: Option<&Traced>, after: &Traced) -> Vec<Change> {
    let known: HashSet<String> = before
        .map(|(_, t)| {
            t.steps
                .iter()
                .filter(|s| s.effective)
                .map(|s| s.event.dedupe_key())
                .collect()
        })
        .unwrap_or_default();
    let (state, trace) = after;
    let mut out = Vec::new();
    for step in trace.steps.iter().filter(|s| s.effective) {
        if known.contains(&step.event.dedupe_key()) {
            continue;
        }
        let n = step.after.len();
        let mut record = state.record.clone();
        record.callees = trace.members[1..n].to_vec();
        record.accept_ms = step.accept_ms;
        match step.end {
            Some((t, result)) => {
                record.end_ms = Some(t);
                record.result = result;
            }
            None => {
                record.end_ms = None;
                record.result = CallResult::Ongoing;
            }
        }
        out.push(Change {
            event: step.event.clone(),
            members: trace.members[..n].to_vec(),
            before: step.before.clone(),
            after: step.after.clone(),
            record,
            ends_call: step.end.is_some(),
            chat_group_id: state.chat_group_id.clone(),
        });
    }
    out
}

/// The changes of storing `fresh` (in this order) on top of `stored`, one item at a time: each
/// comes with the index in `fresh` of the event whose storing produced it. Both stores call this
/// inside the transaction that stores the events, so callbacks are produced exactly once.
pub fn changes_of_storing(
    sdkappid: u64,
    stored: &[Event],
    fresh: &[&Event],
    timeouts: Timeouts,
) -> Vec<(usize, Change)> {
    let mut events: Vec<Event> = Vec::with_capacity(stored.len() + fresh.len());
    events.extend_from_slice(stored);
    let mut prev = fold_traced(sdkappid, &events, Some(timeouts));
    let mut out = Vec::new();
    for (i, e) in fresh.iter().enumerate() {
        events.push((*e).clone());
        let next = fold_traced(sdkappid, &events, Some(timeouts));
        if let Some(next_state) = &next {
            out.extend(
                changes(prev.as_ref(), next_state)
                    .into_iter()
                    .map(|c| (i, c)),
            );
        }
        prev = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CallType, EventType};

    const T: Timeouts = Timeouts {
        ring_ms: 60_000,
        idle_ms: 3_600_000,
    };

    fn start(callees: &[&str], t: i64) -> Event {
        let mut e = Event::new("c", EventType::Start, "alice", t);
        e.callees = callees.iter().map(|s| s.to_string()).collect();
        e.call_type = Some(if callees.len() == 1 {
            CallType::Single
        } else {
            CallType::Group
        });
        e
    }

    fn ev(kind: EventType, user: &str, t: i64) -> Event {
        Event::new("c", kind, user, t)
    }

    fn kinds(changes: &[(usize, Change)]) -> Vec<(usize, EventType, String)> {
        changes
            .iter()
            .map(|(i, c)| (*i, c.event.kind, c.event.user_id.clone()))
            .collect()
    }

    #[test]
    fn events_in_order_each_produce_their_own_change() {
        let s = start(&["bob"], 1_000);
        let a = ev(EventType::Accept, "bob", 2_000);
        let h = ev(EventType::Hangup, "alice", 3_000);
        let got = changes_of_storing(1, &[], &[&s, &a, &h], T);
        assert_eq!(
            kinds(&got),
            vec![
                (0, EventType::Start, "alice".into()),
                (1, EventType::Accept, "bob".into()),
                (2, EventType::Hangup, "alice".into()),
            ]
        );
        let accept = &got[1].1;
        assert_eq!(accept.before, vec![Presence::Calling, Presence::Waiting]);
        assert_eq!(accept.after, vec![Presence::Calling, Presence::Calling]);
        assert_eq!(accept.record.accept_ms, Some(2_000));
        assert!(!accept.ends_call);
        let end = &got[2].1;
        assert!(end.ends_call);
        assert_eq!(end.record.result, CallResult::NormalEnd);
        assert_eq!(end.record.end_ms, Some(3_000));
    }

    #[test]
    fn a_late_start_brings_the_events_before_it() {
        let s = start(&["bob"], 1_000);
        let a = ev(EventType::Accept, "bob", 2_000);
        let got = changes_of_storing(1, &[], &[&a, &s], T);
        assert_eq!(
            kinds(&got),
            vec![
                (1, EventType::Start, "alice".into()),
                (1, EventType::Accept, "bob".into()),
            ]
        );
        // The start's change shows the call as it stood after the start, not after the accept.
        assert_eq!(got[0].1.record.accept_ms, None);
        assert_eq!(got[1].1.record.accept_ms, Some(2_000));
    }

    #[test]
    fn duplicates_and_events_without_effect_produce_nothing() {
        let s = start(&["bob"], 1_000);
        let a = ev(EventType::Accept, "bob", 2_000);
        // A second accept, a cancel of a connected single call: no effect.
        let a2 = ev(EventType::Accept, "bob", 2_500);
        let c = ev(EventType::Cancel, "alice", 2_600);
        let got = changes_of_storing(1, &[s, a.clone()], &[&a, &a2, &c], T);
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_ring_time_out_decided_by_a_later_event_is_a_change_once() {
        let s = start(&["bob", "carol"], 1_000);
        let a = ev(EventType::Accept, "bob", 2_000);
        // carol's ring time-out (61 000) passes before this hang-up.
        let h = ev(EventType::Hangup, "bob", 70_000);
        let got = changes_of_storing(1, &[s.clone(), a.clone()], &[&h], T);
        assert_eq!(
            kinds(&got),
            vec![
                (0, EventType::NoAnswer, "carol".into()),
                (0, EventType::Hangup, "bob".into()),
            ]
        );
        // The job storing that very time-out later adds nothing.
        let timeout = got[0].1.event.clone();
        let again = changes_of_storing(1, &[s, a, h], &[&timeout], T);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn nothing_is_taken_back() {
        // bob rejects at 2 000 (the single call ends); an accept that would have come first
        // arrives later: the stored set now folds to a connected call, but the reject was already
        // told and the accept now takes effect too.
        let s = start(&["bob"], 1_000);
        let r = ev(EventType::Reject, "bob", 2_000);
        let a = ev(EventType::Accept, "bob", 1_500);
        let got = changes_of_storing(1, &[s, r], &[&a], T);
        assert_eq!(kinds(&got), vec![(0, EventType::Accept, "bob".into())]);
    }
}
