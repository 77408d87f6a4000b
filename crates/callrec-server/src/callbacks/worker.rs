//! The delivery worker: leases due callbacks from the store, sends them, records the outcomes.
//!
//! Guarantees (docs/callbacks.md):
//! - **At least once.** A callback is pending in the store until an attempt's outcome is
//!   recorded; a node that dies holding it loses its lease ([`LEASE_MS`], renewed every
//!   [`RENEW_EVERY`] while the attempt runs) and another node (or the next start) takes it over.
//! - **Order per call and URL.** The store hands out only the head of each line; the next one
//!   becomes due when the head's outcome is recorded.
//! - **Promptly.** A report's acknowledgement wakes the worker ([`Deliverer::kick`]); without a
//!   wake-up it still looks every [`POLL`], so callbacks another node produced are seen too.
//! - **Bounded.** At most `[callbacks] concurrency` attempts at once; an attempt lasts at most
//!   `attempt_timeout_ms`, redirects are not followed, at most [`MAX_ANSWER`] bytes of an answer
//!   are read.
//! - **Graceful shutdown.** No new attempt starts; those in flight finish and their outcomes are
//!   recorded before [`Deliverer::run`] returns.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callrec_domain::{AfterAttempt, AttemptResult, Delivery, Store};
use secrecy::ExposeSecret;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::address::is_private;
use super::schedule::{after_failure, wall_ms};
use super::sign::{standard_webhooks_signature, tencent_sign};
use crate::config::Config;
use crate::metrics::Metrics;

/// How long a lease lasts; renewed while the attempt runs. A dead node's callbacks are taken
/// over within this plus [`POLL`].
pub const LEASE_MS: i64 = 20_000;

/// How often leases of running attempts are renewed.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// How often the worker looks for due callbacks without being woken.
pub const POLL: Duration = Duration::from_millis(250);

/// Most of an answer that is read.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Callbacks leased per store round trip.
const CLAIM_BATCH: usize = 500;

/// Outcomes recorded per store round trip.
const FINISH_BATCH: usize = 1000;

/// How often the outbox gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(2);

/// Sends callbacks; one per node.
pub struct Deliverer {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    /// This node's lease owner name (random per process).
    owner: String,
    wake: Arc<Notify>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    /// Callbacks this node is attempting (their leases are renewed).
    in_flight: Mutex<HashSet<i64>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to, with what the recorder needs for metrics.
struct Finished {
    result: AttemptResult,
    created_ms: i64,
}

impl Deliverer {
    /// A worker for `store`, woken through `wake`.
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Result<Deliverer, reqwest::Error> {
        let c = &config.callbacks;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("callrec/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_millis(c.attempt_timeout_ms))
            .pool_max_idle_per_host(c.concurrency as usize)
            .pool_idle_timeout(Duration::from_secs(60));
        if c.deny_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build()?;
        use rand::Rng;
        let owner = format!("node-{:016x}", rand::rng().random::<u64>());
        Ok(Deliverer {
            permits: Arc::new(Semaphore::new(c.concurrency as usize)),
            store,
            config,
            metrics,
            owner,
            wake,
            client,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Wakes the worker: callbacks may have become due.
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs until `shutdown` is cancelled, then lets the attempts in flight finish and records
    /// their outcomes.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let (tx, rx) = mpsc::unbounded_channel::<Finished>();
        let recorder = tokio::spawn(Arc::clone(&self).record(rx));
        let housekeeping = tokio::spawn(Arc::clone(&self).housekeeping(shutdown.clone()));
        let concurrency = self.config.callbacks.concurrency as usize;
        let mut claim_failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = self.permits.available_permits().min(CLAIM_BATCH);
            let mut full = false;
            if free > 0 {
                match self
                    .store
                    .claim_callbacks(&self.owner, wall_ms(), LEASE_MS, free)
                    .await
                {
                    Ok(batch) => {
                        claim_failures = 0;
                        full = batch.len() == free;
                        for d in batch {
                            self.start(d, &tx);
                        }
                    }
                    Err(e) => {
                        claim_failures += 1;
                        if claim_failures == 1 || claim_failures.is_multiple_of(100) {
                            tracing::warn!(error = %e, "callbacks: leasing due callbacks failed");
                        }
                    }
                }
            }
            if full && self.permits.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
        // Let the attempts in flight finish (each is bounded by the attempt time-out).
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _drained = self.permits.acquire_many(all).await;
        drop(tx);
        if let Err(e) = recorder.await {
            tracing::warn!(error = %e, "callbacks: the recorder panicked");
        }
        housekeeping.abort();
        tracing::debug!("callback worker stopped");
    }

    /// Starts one attempt (the caller saw a free permit).
    fn start(self: &Arc<Self>, d: Delivery, tx: &mpsc::UnboundedSender<Finished>) {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            // Cannot happen (only this loop takes permits); the lease runs out and it is
            // attempted later.
            return;
        };
        self.in_flight().insert(d.seq);
        let (me, tx) = (Arc::clone(self), tx.clone());
        tokio::spawn(async move {
            let started = wall_ms();
            let outcome = me.attempt(&d).await;
            let now = wall_ms();
            let (next, error) = match outcome {
                Ok(()) => (AfterAttempt::Delivered, None),
                // Refused by `deny_private_addresses`: never attempted, failed at once.
                Err(why) if why == NOT_ALLOWED => (AfterAttempt::Failed, Some(why)),
                Err(why) => {
                    let since = d.schedule_ms;
                    (
                        after_failure(&me.config.callbacks, d.attempts, since, now),
                        Some(why),
                    )
                }
            };
            let _ = tx.send(Finished {
                result: AttemptResult {
                    seq: d.seq,
                    attempted_ms: started,
                    next,
                    error,
                },
                created_ms: d.callback.created_ms,
            });
            drop(permit);
        });
    }

    /// Records outcomes in batches; wakes the loop after each (the next callback of a line may
    /// be due now).
    async fn record(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Finished>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < FINISH_BATCH {
                match rx.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            let now = wall_ms();
            for f in &batch {
                let (label, latency) = match f.result.next {
                    AfterAttempt::Delivered => (
                        "delivered",
                        Some((now - f.created_ms).max(0) as f64 / 1000.0),
                    ),
                    AfterAttempt::RetryAt(_) => ("retry", None),
                    AfterAttempt::Failed => ("failed", None),
                };
                self.metrics.count_callback_attempt(label, latency);
            }
            let seqs: Vec<i64> = batch.iter().map(|f| f.result.seq).collect();
            let results: Vec<AttemptResult> = batch.into_iter().map(|f| f.result).collect();
            let mut tries = 0;
            loop {
                match self
                    .store
                    .finish_callbacks(&self.owner, results.clone())
                    .await
                {
                    Ok(()) => break,
                    Err(e) if tries < 3 => {
                        tries += 1;
                        tracing::warn!(error = %e, "callbacks: recording outcomes failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                    }
                    Err(e) => {
                        // The leases run out and the callbacks are attempted again.
                        tracing::error!(error = %e, n = results.len(), "callbacks: outcomes not recorded");
                        break;
                    }
                }
            }
            {
                let mut in_flight = self.in_flight();
                for s in &seqs {
                    in_flight.remove(s);
                }
            }
            self.wake.notify_one();
        }
    }

    /// Renews the leases of running attempts and refreshes the outbox gauges.
    async fn housekeeping(self: Arc<Self>, shutdown: CancellationToken) {
        let mut renew = tokio::time::interval(RENEW_EVERY);
        let mut stats = tokio::time::interval(STATS_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Still renew while the last attempts finish.
                    renew.tick().await;
                    self.renew().await;
                }
                _ = renew.tick() => self.renew().await,
                _ = stats.tick() => {
                    if let Ok(s) = self.store.outbox_stats().await {
                        let age = s.oldest_pending_ms.map_or(0.0, |t| (wall_ms() - t).max(0) as f64 / 1000.0);
                        self.metrics.set_callbacks_pending(s.pending, age);
                    }
                }
            }
        }
    }

    async fn renew(&self) {
        let seqs: Vec<i64> = self.in_flight().iter().copied().collect();
        if seqs.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .renew_leases(&self.owner, &seqs, Some(wall_ms() + LEASE_MS))
            .await
        {
            tracing::warn!(error = %e, "callbacks: renewing leases failed");
        }
    }

    /// One attempt: `Ok` when delivered, else why not (short and readable).
    async fn attempt(&self, d: &Delivery) -> Result<(), String> {
        let timeout_ms = self.config.callbacks.attempt_timeout_ms;
        let app = self.config.app(d.sdkappid);
        let now_s = wall_ms().div_euclid(1000);
        let cb = &d.callback;
        let mut url = cb.url.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&cb.query);
        if let Some(token) = app.and_then(|a| a.callback_token.as_ref()) {
            let sign = tencent_sign(token.expose_secret(), now_s);
            url.push_str(&format!("&Sign={sign}&RequestTime={now_s}"));
        }
        if self.config.callbacks.deny_private_addresses && literal_private_host(&url) {
            return Err("address not allowed".into());
        }
        let mut request = self
            .client
            .post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &cb.id)
            .body(cb.body.clone());
        if let Some(secret) = app.and_then(|a| a.callback_secret.as_ref()) {
            let signature = standard_webhooks_signature(
                secret.expose_secret(),
                &cb.id,
                now_s,
                cb.body.as_bytes(),
            );
            request = request
                .header("webhook-timestamp", now_s.to_string())
                .header("webhook-signature", signature);
        }
        let exchange = async {
            let response = request.send().await.map_err(|e| describe(&e))?;
            let status = response.status();
            let answer = read_capped(response).await?;
            judge(status, &answer)
        };
        match tokio::time::timeout(Duration::from_millis(timeout_ms), exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("timeout after {timeout_ms} ms")),
        }
    }
}

/// Reads at most [`MAX_ANSWER`] bytes of the answer; a longer one fails the attempt.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answer larger than {} KiB", MAX_ANSWER / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The success rule: HTTP 2xx whose body is empty or JSON with `ErrorCode` 0 or absent.
fn judge(status: reqwest::StatusCode, answer: &[u8]) -> Result<(), String> {
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: serde_json::Value =
        serde_json::from_slice(answer).map_err(|_| "answer is not JSON".to_owned())?;
    match value.get("ErrorCode") {
        None => Ok(()),
        Some(code) if code.as_i64() == Some(0) => Ok(()),
        Some(code) => Err(format!("ErrorCode {code}")),
    }
}

/// A short readable reason for a transport error.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            // An I/O error made around another error keeps it inside, not as its source.
            if let Some(inner) = io.get_ref() {
                if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                    return format!("TLS: {tls}");
                }
                if inner.downcast_ref::<std::io::Error>().is_some() {
                    source = Some(inner);
                    continue;
                }
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::PermissionDenied => return "address not allowed".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                _ => {}
            }
        }
        if s.to_string().contains(NOT_ALLOWED) {
            return "address not allowed".into();
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return format!("TLS: {tls}");
        }
        source = s.source();
    }
    if e.is_timeout() {
        return "timeout".into();
    }
    if e.is_connect() {
        return "connection failed".into();
    }
    if e.is_body() || e.is_decode() {
        return "answer could not be read".into();
    }
    "request failed".into()
}

const NOT_ALLOWED: &str = "address not allowed";

/// True if the URL's host is an IP literal that `deny_private_addresses` refuses.
fn literal_private_host(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return true;
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) => is_private(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_private(ip.into()),
        Some(url::Host::Domain(_)) => false,
        None => true,
    }
}

/// A resolver that drops private addresses, and fails when none is left: with
/// `deny_private_addresses`, the address connected to is the one checked (no second lookup a
/// DNS answer could change in between).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    NOT_ALLOWED,
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_success_rule() {
        let ok = reqwest::StatusCode::OK;
        assert_eq!(judge(ok, b""), Ok(()));
        assert_eq!(judge(ok, b" \n"), Ok(()));
        assert_eq!(
            judge(ok, br#"{"ErrorCode":0,"ErrorMessage":"Success"}"#),
            Ok(())
        );
        assert_eq!(judge(ok, br#"{"ActionStatus":"OK"}"#), Ok(()));
        assert_eq!(judge(reqwest::StatusCode::NO_CONTENT, b""), Ok(()));
        assert_eq!(judge(ok, br#"{"ErrorCode":1}"#), Err("ErrorCode 1".into()));
        assert_eq!(
            judge(ok, br#"{"ErrorCode":"0"}"#),
            Err("ErrorCode \"0\"".into())
        );
        assert_eq!(judge(ok, b"OK"), Err("answer is not JSON".into()));
        assert_eq!(
            judge(reqwest::StatusCode::INTERNAL_SERVER_ERROR, b""),
            Err("HTTP 500".into())
        );
        assert_eq!(
            judge(reqwest::StatusCode::FOUND, b""),
            Err("HTTP 302".into())
        );
    }
}
