//! The call engine operations (v4 `call_engine_http_srv`): the users of a call that has not
//! ended, ending such a call, and starting a call for a robot account.
//!
//! callrec has no signalling of its own: these operations read and write the same stored events
//! as event reporting does. Ending a call stores an `end` event by the requesting admin at now;
//! starting one stores a `start`. Both are durable before the answer.

use callrec_domain::{
    CallState, CallType, Event, EventType, IngestItem, fold_timed, validate_event,
};

use crate::api::{CallInfo, Outcome, RobotCall, UserStatus};
use crate::auth::Caller;
use crate::failure::{Failure, FailureKind};
use crate::records::retention_cutoff_ms;
use crate::state::AppState;

/// The state of `call_id` if it started within the retention window and has not ended
/// ([`FailureKind::CallNotActive`] otherwise).
async fn active_call(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<CallState, Failure> {
    let events = state
        .store
        .call_events(caller.sdkappid, call_id)
        .await
        .map_err(|e| Failure::internal(&e))?;
    fold_timed(caller.sdkappid, &events, Some(state.timeouts()))
        .filter(|s| !s.is_ended() && s.record.start_ms >= retention_cutoff_ms(state))
        .ok_or_else(|| {
            Failure::new(
                FailureKind::CallNotActive,
                format!("call {call_id:?} does not exist, is outside the retention or has ended"),
            )
        })
}

/// The users of a call that has not ended: in the call or ringing, caller first, then the
/// callees in order. A callee whose ring time-out has passed (the time-out job may not have
/// stored it yet) no longer rings.
pub async fn get_call_info(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<Outcome, Failure> {
    let call = active_call(state, caller, call_id).await?;
    let now = state.clock.now_ms();
    let ring_ms = call.ring_timeout_ms.unwrap_or(state.timeouts().ring_ms);
    let r = &call.record;
    let users = std::iter::once(&r.caller)
        .chain(&r.callees)
        .filter_map(|user| {
            if call.in_call.contains(user) {
                Some((user.clone(), UserStatus::Calling))
            } else if call
                .ringing
                .iter()
                .any(|(u, since)| u == user && since.saturating_add(ring_ms) > now)
            {
                Some((user.clone(), UserStatus::Waiting))
            } else {
                None
            }
        })
        .collect();
    Ok(Outcome::CallInfo(CallInfo {
        chat_group_id: call.chat_group_id.clone().unwrap_or_default(),
        users,
        record: call.record,
    }))
}

/// Ends a call that has not ended: an `end` event by the requesting admin at now.
pub async fn end_call(
    state: &AppState,
    caller: &Caller,
    call_id: &str,
) -> Result<Outcome, Failure> {
    active_call(state, caller, call_id).await?;
    let end = Event::new(
        call_id,
        EventType::End,
        &caller.identifier,
        state.clock.now_ms(),
    );
    store(state, caller, end).await?;
    Ok(Outcome::Done)
}

/// Starts a call for a robot account: a `start` at now with a new callId.
pub async fn start_call_by_robot(
    state: &AppState,
    caller: &Caller,
    call: RobotCall,
) -> Result<Outcome, Failure> {
    let call_id = new_call_id();
    let mut start = Event::new(
        &call_id,
        EventType::Start,
        &call.robot,
        state.clock.now_ms(),
    );
    start.call_type = Some(if call.callees.len() == 1 {
        CallType::Single
    } else {
        CallType::Group
    });
    start.callees = call.callees;
    start.media_type = Some(call.media_type);
    start.room_id = call.room_id;
    start.room_id_type = call.room_id_type;
    start.ring_timeout_ms = Some(call.ring_timeout_ms);
    start.user_data = call.user_data;
    let start = validate_event(start, state.clock.now_ms(), state.config.retention_ms())
        .map_err(|e| Failure::invalid(e.0.replace("userId", "Robot_Account")))?;
    store(state, caller, start).await?;
    Ok(Outcome::CallStarted { call_id })
}

/// Stores one event durably.
async fn store(state: &AppState, caller: &Caller, event: Event) -> Result<(), Failure> {
    state
        .store
        .ingest(vec![IngestItem {
            sdkappid: caller.sdkappid,
            event,
            client_ip: caller.client_ip,
        }])
        .await
        .map_err(|e| Failure::internal(&e))?;
    state.kick_deliveries();
    Ok(())
}

/// A random UUID version 4, lower-case hyphenated.
fn new_call_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_ids_are_uuid_v4() {
        let id = super::new_call_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, super::new_call_id());
    }
}
