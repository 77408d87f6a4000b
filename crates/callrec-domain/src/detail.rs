//! A call in detail (the `get_call_detail` extension, docs/api.md): who took part, when each was
//! invited, connected and left, how long each talked and how it ended for them, and every stored
//! event with whether it took effect. Read from the fold's own trace ([`fold_traced`]), so it
//! cannot disagree with the record.

use crate::event::{Event, EventType};
use crate::fold::{CallState, Presence, Timeouts, fold_traced};

/// The caller or a callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started the call.
    Caller,
    /// Was called, invited, or joined.
    Callee,
}

/// How the call went for one participant, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantOutcome {
    /// In the call now.
    InCall,
    /// Ringing now.
    Ringing,
    /// Hung up, or was in the call when it ended.
    Left,
    /// Went offline (or was closed by the idle time-out).
    Offline,
    /// Rejected.
    Rejected,
    /// Was busy.
    Busy,
    /// Did not answer (reported, or the ring time-out).
    NotAnswered,
    /// Stopped ringing because the caller cancelled or the call ended.
    Cancelled,
}

impl ParticipantOutcome {
    /// The wire word (`in_call`, `not_answered`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantOutcome::InCall => "in_call",
            ParticipantOutcome::Ringing => "ringing",
            ParticipantOutcome::Left => "left",
            ParticipantOutcome::Offline => "offline",
            ParticipantOutcome::Rejected => "rejected",
            ParticipantOutcome::Busy => "busy",
            ParticipantOutcome::NotAnswered => "not_answered",
            ParticipantOutcome::Cancelled => "cancelled",
        }
    }
}

/// One participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Who.
    pub user_id: String,
    /// Caller or callee.
    pub role: Role,
    /// When they were first invited (the start for the caller and the start's callees; the
    /// invite or, for one who joined uninvited, the join), Unix ms.
    pub invited_ms: i64,
    /// When they first connected (the start for the caller), Unix ms.
    pub connected_ms: Option<i64>,
    /// When they last left the call (`None` if never in it, or still in), Unix ms.
    pub left_ms: Option<i64>,
    /// Total time connected over every span, ms.
    pub talk_ms: i64,
    /// How it went.
    pub outcome: ParticipantOutcome,
}

/// One stored event and whether it took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    /// The stored event.
    pub event: Event,
    /// True if it changed the record or a member's state.
    pub effective: bool,
}

/// A call in detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDetail {
    /// The fold's state (record, user data, …).
    pub state: CallState,
    /// The caller first, then the callees in record order.
    pub participants: Vec<Participant>,
    /// Every stored event, in event order.
    pub events: Vec<EventView>,
}

#[derive(Clone, Copy)]
struct Track {
    invited: Option<i64>,
    connected: Option<i64>,
    in_since: Option<i64>,
    left: Option<i64>,
    talk: i64,
    outcome: ParticipantOutcome,
}

/// The detail of a call from its stored events (time-outs decided by event time), or `None`
/// until its `start` is stored.
pub fn call_detail(sdkappid: u64, events: &[Event], timeouts: Timeouts) -> Option<CallDetail> {
    let (state, trace) = fold_traced(sdkappid, events, Some(timeouts))?;
    let n = trace.members.len();
    let mut tracks = vec![
        Track {
            invited: None,
            connected: None,
            in_since: None,
            left: None,
            talk: 0,
            outcome: ParticipantOutcome::Ringing,
        };
        n
    ];
    let mut end_ms = None;
    for step in trace.steps.iter().filter(|s| s.effective) {
        let t = step.event.time_ms;
        for (i, after) in step.after.iter().enumerate() {
            let before = step.before.get(i).copied().unwrap_or(Presence::Out);
            let tr = &mut tracks[i];
            if before == *after {
                continue;
            }
            match after {
                Presence::Waiting => {
                    tr.invited.get_or_insert(t);
                    tr.outcome = ParticipantOutcome::Ringing;
                }
                Presence::Calling => {
                    tr.invited.get_or_insert(t);
                    tr.connected.get_or_insert(t);
                    tr.in_since = Some(t);
                    tr.outcome = ParticipantOutcome::InCall;
                }
                Presence::Out => {
                    if let Some(since) = tr.in_since.take() {
                        tr.talk += t - since;
                        tr.left = Some(t);
                    }
                    let own = trace.members[i] == step.event.user_id;
                    tr.outcome = match (before, step.event.kind, own) {
                        (Presence::Waiting, EventType::Reject, true) => {
                            ParticipantOutcome::Rejected
                        }
                        (Presence::Waiting, EventType::Busy, true) => ParticipantOutcome::Busy,
                        (Presence::Waiting, EventType::NoAnswer, true) => {
                            ParticipantOutcome::NotAnswered
                        }
                        (Presence::Waiting, _, _) => ParticipantOutcome::Cancelled,
                        (_, EventType::Offline, true) => ParticipantOutcome::Offline,
                        _ => ParticipantOutcome::Left,
                    };
                }
            }
        }
        if let Some((t, _)) = step.end {
            end_ms = Some(t);
        }
    }
    // When the call ends, everyone still in it leaves then; nobody rings on.
    if let Some(end) = end_ms {
        for tr in &mut tracks {
            if let Some(since) = tr.in_since.take() {
                tr.talk += end - since;
                tr.left = Some(end);
                tr.outcome = ParticipantOutcome::Left;
            } else if tr.outcome == ParticipantOutcome::Ringing {
                tr.outcome = ParticipantOutcome::Cancelled;
            }
        }
    }
    let start_ms = state.record.start_ms;
    let participants = trace
        .members
        .iter()
        .zip(&tracks)
        .enumerate()
        .map(|(i, (user, tr))| Participant {
            user_id: user.clone(),
            role: if i == 0 { Role::Caller } else { Role::Callee },
            invited_ms: tr.invited.unwrap_or(start_ms),
            connected_ms: tr.connected,
            left_ms: tr.left,
            talk_ms: tr.talk,
            outcome: tr.outcome,
        })
        .collect();
    let events = trace
        .steps
        .into_iter()
        .filter(|s| !s.derived)
        .map(|s| EventView {
            event: s.event,
            effective: s.effective,
        })
        .collect();
    Some(CallDetail {
        state,
        participants,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CallType;

    const T: Timeouts = Timeouts {
        ring_ms: 60_000,
        idle_ms: 3_600_000,
    };

    fn ev(kind: EventType, user: &str, t: i64) -> Event {
        Event::new("c", kind, user, t)
    }

    fn start(callees: &[&str], t: i64) -> Event {
        let mut e = ev(EventType::Start, "alice", t);
        e.callees = callees.iter().map(|s| s.to_string()).collect();
        e.call_type = Some(if callees.len() == 1 {
            CallType::Single
        } else {
            CallType::Group
        });
        e
    }

    fn outcomes(d: &CallDetail) -> Vec<(&str, &str)> {
        d.participants
            .iter()
            .map(|p| (p.user_id.as_str(), p.outcome.as_str()))
            .collect()
    }

    #[test]
    fn a_group_call_in_detail() {
        let mut invite = ev(EventType::Invite, "alice", 3_000);
        invite.invitees = vec!["dave".into()];
        let events = vec![
            start(&["bob", "carol"], 1_000),
            ev(EventType::Accept, "bob", 2_000),
            ev(EventType::Reject, "carol", 2_500),
            invite,
            ev(EventType::Offline, "bob", 4_000),
            ev(EventType::Join, "bob", 5_000),
            ev(EventType::End, "administrator", 9_000),
            // After the end: stored, not effective.
            ev(EventType::Accept, "dave", 9_500),
        ];
        let d = call_detail(1, &events, T).unwrap();
        assert_eq!(
            outcomes(&d),
            vec![
                ("alice", "left"),
                ("bob", "left"),
                ("carol", "rejected"),
                ("dave", "cancelled")
            ]
        );
        let bob = &d.participants[1];
        assert_eq!(bob.invited_ms, 1_000);
        assert_eq!(bob.connected_ms, Some(2_000));
        // 2 s to 4 s, then 5 s to the end at 9 s.
        assert_eq!(bob.talk_ms, 2_000 + 4_000);
        assert_eq!(bob.left_ms, Some(9_000));
        let alice = &d.participants[0];
        assert_eq!(alice.role, Role::Caller);
        assert_eq!((alice.connected_ms, alice.talk_ms), (Some(1_000), 8_000));
        let dave = &d.participants[3];
        assert_eq!(
            (dave.invited_ms, dave.connected_ms, dave.left_ms),
            (3_000, None, None)
        );
        let effective: Vec<bool> = d.events.iter().map(|e| e.effective).collect();
        assert_eq!(
            effective,
            vec![true, true, true, true, true, true, true, false]
        );
    }

    #[test]
    fn ongoing_calls_show_who_rings_and_who_is_in() {
        let events = vec![
            start(&["bob", "carol"], 1_000),
            ev(EventType::Accept, "bob", 2_000),
        ];
        let d = call_detail(1, &events, T).unwrap();
        assert_eq!(
            outcomes(&d),
            vec![
                ("alice", "in_call"),
                ("bob", "in_call"),
                ("carol", "ringing")
            ]
        );
        assert_eq!(d.participants[1].left_ms, None);
    }

    #[test]
    fn every_outcome_of_a_single_call() {
        let cases = [
            (EventType::Reject, "bob", "rejected"),
            (EventType::Busy, "bob", "busy"),
            (EventType::NoAnswer, "bob", "not_answered"),
            (EventType::Cancel, "alice", "cancelled"),
        ];
        for (kind, user, want) in cases {
            let d = call_detail(1, &[start(&["bob"], 1_000), ev(kind, user, 2_000)], T).unwrap();
            assert_eq!(d.participants[1].outcome.as_str(), want, "{kind:?}");
        }
        let offline = call_detail(
            1,
            &[
                start(&["bob"], 1_000),
                ev(EventType::Accept, "bob", 2_000),
                ev(EventType::Offline, "bob", 3_000),
            ],
            T,
        )
        .unwrap();
        assert_eq!(
            outcomes(&offline),
            vec![("alice", "left"), ("bob", "offline")]
        );
        // A ring time-out the fold decides counts as not answered; it is no stored event.
        let timed = call_detail(
            1,
            &[
                start(&["bob", "carol"], 1_000),
                ev(EventType::Accept, "bob", 2_000),
                ev(EventType::Hangup, "bob", 100_000),
            ],
            T,
        )
        .unwrap();
        assert_eq!(timed.participants[2].outcome.as_str(), "not_answered");
        assert_eq!(timed.events.len(), 3);
    }
}
