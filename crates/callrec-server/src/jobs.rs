//! Background jobs: the time-out job (ring and idle time-outs become stored system events within
//! about a second of falling due) and the retention job (purges calls older than the retention
//! window at start-up and every 10 minutes).
//!
//! Guarantees: both jobs stop promptly when the shutdown token is cancelled, never in the middle
//! of a store call; a failing store call is logged and retried on the next tick.

use std::time::Duration;

use callrec_domain::{IngestItem, fold_timed};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the time-out job looks for due calls.
pub const TIMEOUT_TICK: Duration = Duration::from_secs(1);

/// How often the retention job purges.
pub const RETENTION_TICK: Duration = Duration::from_secs(600);

/// Due calls handled per store round trip.
const DUE_BATCH: usize = 500;

/// Rounds per tick, so a store that keeps reporting calls as due cannot spin the job forever.
const MAX_ROUNDS_PER_TICK: usize = 100;

/// Starts both jobs; they run until `shutdown` is cancelled.
pub fn spawn(state: &AppState, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(run_every(
            TIMEOUT_TICK,
            shutdown.clone(),
            state.clone(),
            |s| {
                Box::pin(async move {
                    apply_timeouts(&s).await;
                })
            },
        )),
        tokio::spawn(run_every(
            RETENTION_TICK,
            shutdown.clone(),
            state.clone(),
            |s| Box::pin(async move { purge_expired(&s).await }),
        )),
    ]
}

type JobFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn run_every(
    period: Duration,
    shutdown: CancellationToken,
    state: AppState,
    job: fn(AppState) -> JobFuture,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // The job itself is not raced against shutdown: a started ingest finishes.
        job(state.clone()).await;
    }
}

/// Stores the system events of every call whose time-out is due now; repeats while something
/// was due (storing events can make the next time-out of a call due too). Returns the number of
/// system events stored.
pub async fn apply_timeouts(state: &AppState) -> usize {
    let timeouts = state.timeouts();
    let mut stored = 0;
    for _ in 0..MAX_ROUNDS_PER_TICK {
        let now = state.clock.now_ms();
        let due = match state.store.due_calls(now, DUE_BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "time-out job: listing due calls failed");
                return stored;
            }
        };
        if due.is_empty() {
            return stored;
        }
        let mut items = Vec::new();
        for call in &due {
            let events = match state.store.call_events(call.sdkappid, &call.call_id).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, call_id = %call.call_id, "time-out job: reading events failed");
                    continue;
                }
            };
            if let Some(folded) = fold_timed(call.sdkappid, &events, Some(timeouts)) {
                items.extend(
                    folded
                        .due_events(timeouts, now)
                        .into_iter()
                        .map(|event| IngestItem::internal(call.sdkappid, event)),
                );
            }
        }
        if items.is_empty() {
            return stored;
        }
        let n = items.len();
        if let Err(e) = state.store.ingest(items).await {
            tracing::warn!(error = %e, "time-out job: storing time-out events failed");
            return stored;
        }
        stored += n;
        state.kick_deliveries();
    }
    stored
}

/// Deletes calls that started before now − retention.
pub async fn purge_expired(state: &AppState) {
    let cutoff = state
        .clock
        .now_ms()
        .saturating_sub(state.config.retention_ms());
    match state.store.purge_before(cutoff).await {
        Ok(stats) if stats.calls > 0 || stats.events > 0 => {
            tracing::info!(
                calls = stats.calls,
                events = stats.events,
                "retention purge"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "retention purge failed"),
    }
}
