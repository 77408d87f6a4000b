//! Event reporting (`/v1/events/report`, docs/api.md): validate, authorize and store a batch of
//! call events.
//!
//! Guarantees: every event is counted exactly once as accepted, duplicate or rejected; a bad or
//! forbidden event rejects only itself; all storable events go to the store in ONE `ingest` call
//! (the store group-commits across requests) and the answer is sent only after it returned, so an
//! event reported as accepted is durable.
//!
//! Authorization of a non-admin reporter (admins may report any event of their app in any
//! order):
//! - an `end` event is an admin's only (else 70004);
//! - the event's `userId` must be the reporter's identifier (else 70004); a `start`'s userId is
//!   its caller, so a user may start calls only as their caller, and a `start` of a call that
//!   already started (stored, or earlier in the batch) only if they are its caller (else 70004);
//! - any other event needs the call's `start`, stored or accepted earlier in the same batch (else
//!   70001 "call has not started yet; retry later");
//! - and the reporter must take part in the call: its caller or a callee (as stored, plus users
//!   named by a `start` or `invite` accepted earlier in the batch). Decision: a `join` of a
//!   *group* call is allowed to anyone of the app, because TUICallKit lets any group member join
//!   a running group call without an invitation (joining is how they become a participant).
//!   Otherwise 70004.

use std::collections::{HashMap, HashSet};

use callrec_domain::{
    CallType, Event, EventType, IngestItem, IngestOutcome, Participants, validate_event,
};

use crate::api::{Outcome, Rejection, ReportOutcome};
use crate::auth::Caller;
use crate::failure::{Failure, FailureKind};
use crate::metrics::EventOutcome;
use crate::state::AppState;

/// Most events in one report.
pub const MAX_EVENTS: usize = 1000;

/// What a batch knows about one call: from the store, then updated by accepted events.
struct CallView {
    caller: String,
    call_type: CallType,
    members: HashSet<String>,
}

impl From<Participants> for CallView {
    fn from(p: Participants) -> Self {
        let mut members: HashSet<String> = p.callees.into_iter().collect();
        members.insert(p.caller.clone());
        CallView {
            caller: p.caller,
            call_type: p.call_type,
            members,
        }
    }
}

/// Stores a batch of events (each already parsed, or refused with the reason).
pub async fn report_events(
    state: &AppState,
    caller: &Caller,
    events: Vec<Result<Event, String>>,
) -> Result<Outcome, Failure> {
    let now_ms = state.clock.now_ms();
    let retention_ms = state.config.retention_ms();

    let mut rejected = Vec::new();
    let mut valid: Vec<(usize, Event)> = Vec::with_capacity(events.len());
    for (index, parsed) in events.into_iter().enumerate() {
        let checked = parsed.and_then(|e| validate_event(e, now_ms, retention_ms).map_err(|e| e.0));
        match checked {
            Ok(event) => valid.push((index, event)),
            Err(message) => rejected.push(Rejection {
                index,
                kind: FailureKind::InvalidField,
                message: format!("events[{index}]: {message}"),
            }),
        }
    }

    let storable = if caller.is_admin {
        valid
    } else {
        authorize(state, caller, valid, &mut rejected).await?
    };

    let items: Vec<IngestItem> = storable
        .iter()
        .map(|(_, event)| IngestItem {
            sdkappid: caller.sdkappid,
            event: event.clone(),
            client_ip: caller.client_ip,
        })
        .collect();
    let outcomes = if items.is_empty() {
        Vec::new()
    } else {
        let outcomes = state
            .store
            .ingest(items)
            .await
            .map_err(|e| Failure::internal(&e))?;
        state.kick_deliveries();
        outcomes
    };
    if outcomes.len() != storable.len() {
        return Err(Failure::internal(
            &"store answered a different number of outcomes",
        ));
    }
    let accepted = outcomes
        .iter()
        .filter(|o| **o == IngestOutcome::Accepted)
        .count() as u64;
    let duplicates = outcomes.len() as u64 - accepted;
    rejected.sort_by_key(|r| r.index);
    state.metrics.count_events(EventOutcome::Accepted, accepted);
    state
        .metrics
        .count_events(EventOutcome::Duplicate, duplicates);
    state
        .metrics
        .count_events(EventOutcome::Rejected, rejected.len() as u64);
    Ok(Outcome::Report(ReportOutcome {
        accepted,
        duplicates,
        rejected,
    }))
}

/// Applies the non-admin rules of the module docs to valid events, in batch order.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    valid: Vec<(usize, Event)>,
    rejected: &mut Vec<Rejection>,
) -> Result<Vec<(usize, Event)>, Failure> {
    let mut call_ids: Vec<String> = valid
        .iter()
        .filter(|(_, e)| e.user_id == caller.identifier)
        .map(|(_, e)| e.call_id.clone())
        .collect();
    call_ids.sort_unstable();
    call_ids.dedup();
    let mut calls: HashMap<String, CallView> = if call_ids.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .participants(caller.sdkappid, &call_ids)
            .await
            .map_err(|e| Failure::internal(&e))?
            .into_iter()
            .map(|(id, p)| (id, CallView::from(p)))
            .collect()
    };

    let mut storable = Vec::with_capacity(valid.len());
    for (index, event) in valid {
        let refuse = |kind: FailureKind, message: String| Rejection {
            index,
            kind,
            message: format!("events[{index}]: {message}"),
        };
        if event.kind == EventType::End {
            rejected.push(refuse(
                FailureKind::NotAllowed,
                "only an admin may report an end event".into(),
            ));
            continue;
        }
        if event.user_id != caller.identifier {
            rejected.push(refuse(
                FailureKind::NotAllowed,
                format!(
                    "userId {:?} is not the reporting identifier; only an admin may report events about other users",
                    event.user_id
                ),
            ));
            continue;
        }
        if event.kind == EventType::Start {
            // A start of a call that already started is the caller's only: anyone else's
            // (timed earlier) would take the call over.
            if let Some(view) = calls.get(&event.call_id)
                && view.caller != event.user_id
            {
                rejected.push(refuse(
                    FailureKind::NotAllowed,
                    format!(
                        "call {:?} was started by another user; a user may report a start only as the call's caller",
                        event.call_id
                    ),
                ));
                continue;
            }
            // A stored start keeps counting as the first; this one only adds its callees to the
            // batch's view when the call was not known yet.
            calls.entry(event.call_id.clone()).or_insert_with(|| {
                let mut members: HashSet<String> = event.callees.iter().cloned().collect();
                members.insert(event.user_id.clone());
                CallView {
                    caller: event.user_id.clone(),
                    call_type: event.call_type.unwrap_or(CallType::Group),
                    members,
                }
            });
            storable.push((index, event));
            continue;
        }
        let Some(view) = calls.get_mut(&event.call_id) else {
            rejected.push(refuse(
                FailureKind::InvalidField,
                format!("call {:?} has not started yet; retry later", event.call_id),
            ));
            continue;
        };
        let open_join = event.kind == EventType::Join && view.call_type == CallType::Group;
        if !open_join && !view.members.contains(&event.user_id) {
            rejected.push(refuse(
                FailureKind::NotAllowed,
                format!(
                    "user {:?} takes no part in call {:?}",
                    event.user_id, event.call_id
                ),
            ));
            continue;
        }
        // A group call's joiner takes part from now on; invitees do too.
        view.members.insert(event.user_id.clone());
        view.members.extend(event.invitees.iter().cloned());
        storable.push((index, event));
    }
    Ok(storable)
}
