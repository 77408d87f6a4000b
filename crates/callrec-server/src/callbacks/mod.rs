//! Callbacks (webhooks, docs/callbacks.md): the configuration and deliveries APIs' handlers, the
//! planner the stores produce callbacks with ([`plan`]), and the delivery worker ([`worker`]).
//!
//! The pieces: a store produces callbacks in the transaction that stores their causing event
//! (the outbox; the domain's `changes_of_storing` says what changed, [`plan::Planner`] turns
//! each change into the v1 and v4 callbacks the app's configurations ask for); the
//! [`worker::Deliverer`] leases due callbacks from the store, sends them (signed), and records
//! each attempt's outcome and the next attempt's time ([`schedule`]).

pub mod address;
pub mod plan;
pub mod schedule;
pub mod sign;
pub mod worker;

use callrec_domain::{CallbackConfig, DeliveryQuery, Generation, Redeliver};

use crate::api::{DeliveriesParams, Outcome};
use crate::auth::Caller;
use crate::failure::{Failure, FailureKind};
use crate::state::AppState;

/// Stores a configuration after checking its URL.
pub async fn set(
    state: &AppState,
    caller: &Caller,
    config: CallbackConfig,
    must_exist: bool,
) -> Result<Outcome, Failure> {
    address::check_url(&config.url, state.config.callbacks.deny_private_addresses)
        .await
        .map_err(Failure::invalid)?;
    let url = config.url.clone();
    let generation = config.generation;
    let stored = state
        .store
        .put_callback_config(caller.sdkappid, config, must_exist)
        .await
        .map_err(|e| Failure::internal(&e))?;
    if !stored {
        return Err(no_config(generation));
    }
    Ok(Outcome::CallbackSet { url })
}

/// The configuration of a generation.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    generation: Generation,
) -> Result<Outcome, Failure> {
    state
        .store
        .callback_config(caller.sdkappid, generation)
        .await
        .map_err(|e| Failure::internal(&e))?
        .map(Outcome::Callback)
        .ok_or_else(|| no_config(generation))
}

/// Removes a configuration (succeeding when there is none).
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    generation: Generation,
) -> Result<Outcome, Failure> {
    state
        .store
        .delete_callback_config(caller.sdkappid, generation)
        .await
        .map_err(|e| Failure::internal(&e))?;
    Ok(Outcome::CallbackDeleted)
}

fn no_config(generation: Generation) -> Failure {
    let how = match generation {
        Generation::V1 => "set one with /v1/callback/set",
        Generation::V4 => "set one with /v4/call_config/set_callback",
    };
    Failure::new(
        FailureKind::NoCallbackConfig,
        format!("no {generation} callback configuration exists; {how}"),
    )
}

/// Cursor text of a deliveries page that ends at `seq`.
fn cursor_of(seq: i64) -> String {
    format!("d{seq}")
}

/// The position a deliveries cursor stands for (public, hidden, for the fuzz targets).
#[doc(hidden)]
pub fn parse_cursor(text: &str) -> Result<i64, Failure> {
    text.strip_prefix('d')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Failure::invalid(format!("cursor {text:?} is not one this server gave")))
}

/// A page of the app's callbacks, newest first.
pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    params: DeliveriesParams,
) -> Result<Outcome, Failure> {
    let before_seq = params.cursor.as_deref().map(parse_cursor).transpose()?;
    let deliveries = state
        .store
        .deliveries(&DeliveryQuery {
            sdkappid: caller.sdkappid,
            status: params.status,
            call_id: params.call_id,
            limit: params.limit,
            before_seq,
        })
        .await
        .map_err(|e| Failure::internal(&e))?;
    let next_cursor = (deliveries.len() == params.limit as usize)
        .then(|| deliveries.last().map(|d| cursor_of(d.seq)))
        .flatten();
    Ok(Outcome::Deliveries {
        deliveries,
        next_cursor,
    })
}

/// Makes callbacks pending again and wakes the worker.
pub async fn redeliver(
    state: &AppState,
    caller: &Caller,
    which: Redeliver,
) -> Result<Outcome, Failure> {
    let n = state
        .store
        .redeliver(caller.sdkappid, &which, schedule::wall_ms())
        .await
        .map_err(|e| Failure::internal(&e))?;
    state.kick_deliveries();
    Ok(Outcome::Queued(n))
}
