//! The application state every handler and job shares: trait objects behind `Arc`s, no generics
//! and no globals, so tests can swap the clock and the store.

use std::sync::Arc;

use callrec_domain::{Clock, Store, Timeouts};
use callrec_usersig::VerifyCache;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiters;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The store (already wrapped for metrics).
    pub store: Arc<dyn Store>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Per-app per-API rate limiters (cluster-wide through Redis when configured).
    pub limits: Arc<RateLimiters>,
    /// Memo of successful UserSig verifications.
    pub usersig_cache: Arc<VerifyCache>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes the callback worker (after events are stored or callbacks redelivered).
    pub deliveries_wake: Arc<tokio::sync::Notify>,
    /// Memory all request bodies together may take while read and parsed, in KiB permits
    /// ([`BODY_BUDGET_KIB`]); a request reserves room before reading its body and again before
    /// parsing it (see `pipeline`).
    pub body_budget: Arc<tokio::sync::Semaphore>,
}

/// The global cap on the memory of request bodies being read and parsed: 128 MiB, in KiB
/// (8 full-size 8 MiB reports at once, or over 600 typical 100-event reports; more wait for
/// room, within their deadline).
pub const BODY_BUDGET_KIB: u32 = 128 * 1024;

impl AppState {
    /// Builds the state around a store; limiters come from the config.
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>, clock: Arc<dyn Clock>) -> Self {
        Self::with_metrics(store, config, clock, Arc::new(Metrics::new()))
    }

    /// [`AppState::new`] with metrics made beforehand (the store's callback planner counts into
    /// them).
    pub fn with_metrics(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let store: Arc<dyn Store> =
            Arc::new(crate::metrics::TimedStore::new(store, Arc::clone(&metrics)));
        Self {
            store,
            limits: Arc::new(RateLimiters::new(
                &config.apps,
                &config.rate_limit,
                Arc::clone(&metrics),
            )),
            config,
            clock,
            usersig_cache: Arc::new(VerifyCache::default()),
            metrics,
            deliveries_wake: Arc::new(tokio::sync::Notify::new()),
            body_budget: Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_KIB as usize)),
        }
    }

    /// Tells the callback worker that callbacks may have become due.
    pub fn kick_deliveries(&self) {
        self.deliveries_wake.notify_one();
    }

    /// The configured time-outs, in milliseconds.
    pub fn timeouts(&self) -> Timeouts {
        timeouts(&self.config)
    }
}

/// The configured time-outs of `config`, in milliseconds.
pub fn timeouts(config: &Config) -> Timeouts {
    let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Timeouts {
        ring_ms: ms(config.calls.ring_timeout_secs),
        idle_ms: ms(config.calls.max_idle_secs),
    }
}
