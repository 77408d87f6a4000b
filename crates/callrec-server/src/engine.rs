//! The call engine operations (v4 `call_engine_http_srv`): the users of a running call, ending a
//! call, starting a call for a robot account.

use crate::api::{Outcome, RobotCall};
use crate::auth::Caller;
use crate::failure::{Failure, FailureKind};
use crate::state::AppState;

fn not_served() -> Failure {
    Failure::new(
        FailureKind::UnknownApi,
        "the call engine APIs are not served yet",
    )
}

/// The users of a call that has not ended.
pub async fn get_call_info(
    _state: &AppState,
    _caller: &Caller,
    _call_id: &str,
) -> Result<Outcome, Failure> {
    Err(not_served())
}

/// Ends a call that has not ended.
pub async fn end_call(
    _state: &AppState,
    _caller: &Caller,
    _call_id: &str,
) -> Result<Outcome, Failure> {
    Err(not_served())
}

/// Starts a call for a robot account.
pub async fn start_call_by_robot(
    _state: &AppState,
    _caller: &Caller,
    _call: RobotCall,
) -> Result<Outcome, Failure> {
    Err(not_served())
}
