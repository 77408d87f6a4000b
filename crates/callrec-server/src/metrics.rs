//! Prometheus metrics, held in the application state (no global registry), and a [`Store`]
//! wrapper that times every store operation.
//!
//! Exposed series: `callrec_requests_total{api,error_code}`,
//! `callrec_request_duration_seconds{api}`, `callrec_events_total{outcome}`,
//! `callrec_store_operation_duration_seconds{op}`, `callrec_rate_limit_backend_total{backend}`
//! (rate-limit decisions made by `redis` or by the node's `local` limiter) and
//! `callrec_rate_limit_redis_errors_total` (failed or timed-out Redis calls), and for callbacks
//! `callrec_callbacks_produced_total{generation}`, `callrec_callback_attempts_total{outcome}`
//! (`delivered`, `retry`, `failed`), `callrec_callback_delivery_seconds` (production to
//! delivery), `callrec_callbacks_pending` and `callrec_callbacks_oldest_pending_seconds`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use callrec_domain::{
    DueCall, Event, IngestItem, IngestOutcome, Participants, PurgeStats, Record, RecordPage,
    RecordQuery, Store, StoreError,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::failure::FailureKind;
use crate::ops::{ENDPOINTS, Endpoint, Generation};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: String,
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GenerationLabel {
    generation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<ApiLabel>,
    events: Family<OutcomeLabel, Counter>,
    store_duration: HistogramFamily<OpLabel>,
    rate_limit_backend: Family<BackendLabel, Counter>,
    rate_limit_redis_errors: Counter,
    callbacks_produced: Family<GenerationLabel, Counter>,
    callback_attempts: Family<OutcomeLabel, Counter>,
    callback_delivery: Histogram,
    callbacks_pending: Gauge,
    callbacks_oldest_pending: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Handles of the hot series, created on first use (so a series appears in the exposition
    /// exactly when it would with `get_or_create`), then used without the family's lock, label
    /// allocation or hashing.
    hot: HotHandles,
}

/// The API slots of [`HotHandles`]: every endpoint, then "unknown" of each generation.
const API_SLOTS: usize = ENDPOINTS.len() + Generation::ALL.len();

/// The outcome slots of [`HotHandles`]: success, then every failure kind.
const OUTCOME_SLOTS: usize = FailureKind::ALL.len() + 1;

/// The store operations timed by [`TimedStore`].
const STORE_OPS: [&str; 9] = [
    "ingest",
    "get_record",
    "filter_records",
    "record_stats",
    "participants",
    "due_calls",
    "call_events",
    "purge_before",
    "ping",
];

#[derive(Default)]
struct HotHandles {
    requests: [[OnceLock<Counter>; OUTCOME_SLOTS]; API_SLOTS],
    request_duration: [OnceLock<Histogram>; API_SLOTS],
    events: [OnceLock<Counter>; 3],
    store_duration: [OnceLock<Histogram>; STORE_OPS.len()],
}

fn api_slot(generation: Generation, endpoint: Option<&Endpoint>) -> usize {
    match endpoint {
        Some(e) => e.index,
        None => {
            ENDPOINTS.len()
                + Generation::ALL
                    .iter()
                    .position(|g| *g == generation)
                    .unwrap_or_default()
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// How one reported event ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Newly stored.
    Accepted,
    /// Already stored.
    Duplicate,
    /// Refused.
    Rejected,
}

impl Metrics {
    /// A fresh registry with every series registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "callrec_requests",
            "API requests by API and errorCode",
            requests.clone(),
        );
        let request_duration: HistogramFamily<ApiLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "callrec_request_duration_seconds",
            "API request latency",
            request_duration.clone(),
        );
        let events = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "callrec_events",
            "Reported events by outcome",
            events.clone(),
        );
        let store_duration: HistogramFamily<OpLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "callrec_store_operation_duration_seconds",
            "Store operation latency",
            store_duration.clone(),
        );
        let rate_limit_backend = Family::<BackendLabel, Counter>::default();
        registry.register(
            "callrec_rate_limit_backend",
            "Rate-limit decisions by the backend that made them (redis: cluster-wide; local: this node)",
            rate_limit_backend.clone(),
        );
        let rate_limit_redis_errors = Counter::default();
        registry.register(
            "callrec_rate_limit_redis_errors",
            "Redis rate-limit calls that failed or timed out (the local limiter decided instead)",
            rate_limit_redis_errors.clone(),
        );
        let callbacks_produced = Family::<GenerationLabel, Counter>::default();
        registry.register(
            "callrec_callbacks_produced",
            "Callbacks produced (stored in the outbox) by generation",
            callbacks_produced.clone(),
        );
        let callback_attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "callrec_callback_attempts",
            "Callback attempts by outcome (delivered; retry: failed, tried again; failed: given up)",
            callback_attempts.clone(),
        );
        // 1 ms … ~35 min.
        let callback_delivery = Histogram::new(exponential_buckets(0.001, 2.0, 22));
        registry.register(
            "callrec_callback_delivery_seconds",
            "Time from a callback's production to its delivery",
            callback_delivery.clone(),
        );
        let callbacks_pending = Gauge::default();
        registry.register(
            "callrec_callbacks_pending",
            "Callbacks waiting for delivery (all nodes)",
            callbacks_pending.clone(),
        );
        let callbacks_oldest_pending = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "callrec_callbacks_oldest_pending_seconds",
            "Age of the oldest pending callback (0 when none)",
            callbacks_oldest_pending.clone(),
        );
        Self {
            registry,
            requests,
            request_duration,
            events,
            store_duration,
            rate_limit_backend,
            rate_limit_redis_errors,
            callbacks_produced,
            callback_attempts,
            callback_delivery,
            callbacks_pending,
            callbacks_oldest_pending,
            hot: HotHandles::default(),
        }
    }

    /// Counts one API request (an unknown API is labelled `unknown`) like
    /// [`Metrics::observe_request`], through cached handles. `kind` is `None` for a success;
    /// `code` is the number the answer carried (for a given endpoint and kind it is always the
    /// same, which is what makes the cache exact).
    pub fn observe_api_request(
        &self,
        generation: Generation,
        endpoint: Option<&Endpoint>,
        kind: Option<FailureKind>,
        code: u32,
        seconds: f64,
    ) {
        let slot = api_slot(generation, endpoint);
        let label = endpoint.map_or("unknown", |e| e.name);
        let outcome = kind.map_or(0, |k| k.index() + 1);
        self.hot.requests[slot][outcome]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&RequestLabels {
                        api: label.to_owned(),
                        error_code: code.to_string(),
                    })
                    .clone()
            })
            .inc();
        self.hot.request_duration[slot]
            .get_or_init(|| {
                self.request_duration
                    .get_or_create(&ApiLabel {
                        api: label.to_owned(),
                    })
                    .clone()
            })
            .observe(seconds);
    }

    /// Counts one API request.
    pub fn observe_request(&self, api: &str, error_code: u32, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                api: api.to_owned(),
                error_code: error_code.to_string(),
            })
            .inc();
        self.request_duration
            .get_or_create(&ApiLabel {
                api: api.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts `n` reported events with one outcome.
    pub fn count_events(&self, outcome: EventOutcome, n: u64) {
        let (slot, outcome) = match outcome {
            EventOutcome::Accepted => (0, "accepted"),
            EventOutcome::Duplicate => (1, "duplicate"),
            EventOutcome::Rejected => (2, "rejected"),
        };
        self.hot.events[slot]
            .get_or_init(|| {
                self.events
                    .get_or_create(&OutcomeLabel {
                        outcome: outcome.to_owned(),
                    })
                    .clone()
            })
            .inc_by(n);
    }

    /// Counts one rate-limit decision made by `backend` (`redis` or `local`).
    pub fn count_rate_limit_decision(&self, backend: &str) {
        self.rate_limit_backend
            .get_or_create(&BackendLabel {
                backend: backend.to_owned(),
            })
            .inc();
    }

    /// Counts `n` produced callbacks of a generation.
    pub fn count_callbacks_produced(&self, generation: Generation, n: u64) {
        self.callbacks_produced
            .get_or_create(&GenerationLabel {
                generation: generation.as_str().to_owned(),
            })
            .inc_by(n);
    }

    /// Counts one callback attempt by outcome (`delivered`, `retry`, `failed`); a delivery also
    /// records its latency since production.
    pub fn count_callback_attempt(&self, outcome: &'static str, since_production: Option<f64>) {
        self.callback_attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
        if let Some(s) = since_production {
            self.callback_delivery.observe(s);
        }
    }

    /// Sets the outbox gauges.
    pub fn set_callbacks_pending(&self, pending: u64, oldest_age_secs: f64) {
        self.callbacks_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.callbacks_oldest_pending.set(oldest_age_secs);
    }

    /// Counts one failed or timed-out Redis rate-limit call.
    pub fn count_rate_limit_redis_error(&self) {
        self.rate_limit_redis_errors.inc();
    }

    fn observe_store(&self, op: &'static str, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        let family = || {
            self.store_duration
                .get_or_create(&OpLabel { op: op.to_owned() })
                .clone()
        };
        match STORE_OPS.iter().position(|o| *o == op) {
            Some(i) => self.hot.store_duration[i]
                .get_or_init(family)
                .observe(seconds),
            None => family().observe(seconds),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A [`Store`] that records the duration of every operation in [`Metrics`].
pub struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    /// Runs `f`, recording its duration as operation `op`.
    async fn timed<T>(&self, op: &'static str, f: impl std::future::Future<Output = T>) -> T {
        let t = Instant::now();
        let r = f.await;
        self.metrics.observe_store(op, t);
        r
    }
}

#[async_trait]
impl Store for TimedStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, StoreError> {
        let t = Instant::now();
        let r = self.inner.ingest(items).await;
        self.metrics.observe_store("ingest", t);
        r
    }

    async fn get_record(&self, sdkappid: u64, call_id: &str) -> Result<Option<Record>, StoreError> {
        let t = Instant::now();
        let r = self.inner.get_record(sdkappid, call_id).await;
        self.metrics.observe_store("get_record", t);
        r
    }

    async fn filter_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError> {
        let t = Instant::now();
        let r = self.inner.filter_records(query).await;
        self.metrics.observe_store("filter_records", t);
        r
    }

    async fn record_stats(
        &self,
        query: &RecordQuery,
        bucket: callrec_domain::StatsBucket,
    ) -> Result<Vec<callrec_domain::BucketStats>, StoreError> {
        let t = Instant::now();
        let r = self.inner.record_stats(query, bucket).await;
        self.metrics.observe_store("record_stats", t);
        r
    }

    async fn participants(
        &self,
        sdkappid: u64,
        call_ids: &[String],
    ) -> Result<HashMap<String, Participants>, StoreError> {
        let t = Instant::now();
        let r = self.inner.participants(sdkappid, call_ids).await;
        self.metrics.observe_store("participants", t);
        r
    }

    async fn due_calls(&self, now_ms: i64, limit: usize) -> Result<Vec<DueCall>, StoreError> {
        let t = Instant::now();
        let r = self.inner.due_calls(now_ms, limit).await;
        self.metrics.observe_store("due_calls", t);
        r
    }

    async fn call_events(&self, sdkappid: u64, call_id: &str) -> Result<Vec<Event>, StoreError> {
        let t = Instant::now();
        let r = self.inner.call_events(sdkappid, call_id).await;
        self.metrics.observe_store("call_events", t);
        r
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<PurgeStats, StoreError> {
        let t = Instant::now();
        let r = self.inner.purge_before(cutoff_ms).await;
        self.metrics.observe_store("purge_before", t);
        r
    }

    async fn callback_config(
        &self,
        sdkappid: u64,
        generation: callrec_domain::Generation,
    ) -> Result<Option<callrec_domain::CallbackConfig>, StoreError> {
        self.timed(
            "callback_config",
            self.inner.callback_config(sdkappid, generation),
        )
        .await
    }

    async fn put_callback_config(
        &self,
        sdkappid: u64,
        config: callrec_domain::CallbackConfig,
        must_exist: bool,
    ) -> Result<bool, StoreError> {
        self.timed(
            "put_callback_config",
            self.inner.put_callback_config(sdkappid, config, must_exist),
        )
        .await
    }

    async fn delete_callback_config(
        &self,
        sdkappid: u64,
        generation: callrec_domain::Generation,
    ) -> Result<bool, StoreError> {
        self.timed(
            "delete_callback_config",
            self.inner.delete_callback_config(sdkappid, generation),
        )
        .await
    }

    async fn claim_callbacks(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<callrec_domain::Delivery>, StoreError> {
        self.timed(
            "claim_callbacks",
            self.inner.claim_callbacks(owner, now_ms, lease_ms, limit),
        )
        .await
    }

    async fn finish_callbacks(
        &self,
        owner: &str,
        results: Vec<callrec_domain::AttemptResult>,
    ) -> Result<(), StoreError> {
        self.timed(
            "finish_callbacks",
            self.inner.finish_callbacks(owner, results),
        )
        .await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        seqs: &[i64],
        until_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.timed(
            "renew_leases",
            self.inner.renew_leases(owner, seqs, until_ms),
        )
        .await
    }

    async fn deliveries(
        &self,
        query: &callrec_domain::DeliveryQuery,
    ) -> Result<Vec<callrec_domain::Delivery>, StoreError> {
        self.timed("deliveries", self.inner.deliveries(query)).await
    }

    async fn redeliver(
        &self,
        sdkappid: u64,
        which: &callrec_domain::Redeliver,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.timed("redeliver", self.inner.redeliver(sdkappid, which, now_ms))
            .await
    }

    async fn outbox_stats(&self) -> Result<callrec_domain::OutboxStats, StoreError> {
        self.timed("outbox_stats", self.inner.outbox_stats()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.ping().await;
        self.metrics.observe_store("ping", t);
        r
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_contain_every_series_name() {
        let m = Metrics::new();
        m.observe_request("get_record_by_callId", 70001, 0.01);
        m.count_events(EventOutcome::Accepted, 3);
        m.observe_api_request(
            Generation::V1,
            Some(&ENDPOINTS[0]),
            Some(FailureKind::InvalidField),
            70001,
            0.01,
        );
        m.observe_api_request(
            Generation::V1,
            None,
            Some(FailureKind::UnknownApi),
            70001,
            0.01,
        );
        m.count_events(EventOutcome::Accepted, 2);
        let text = m.render();
        assert!(
            text.contains(r#"callrec_requests_total{api="unknown",error_code="70001"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"callrec_events_total{outcome="accepted"} 5"#));
        assert!(!text.contains(r#"outcome="duplicate""#));
        assert!(
            text.contains(
                r#"callrec_requests_total{api="get_record_by_callId",error_code="70001"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains("callrec_request_duration_seconds_bucket"));
        assert!(text.contains("callrec_store_operation_duration_seconds"));
        m.count_rate_limit_decision("redis");
        let text = m.render();
        assert!(text.contains(r#"callrec_rate_limit_backend_total{backend="redis"} 1"#));
        assert!(text.contains("callrec_rate_limit_redis_errors_total 0"));
    }
}
