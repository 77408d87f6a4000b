//! Per-app, per-API request rate limits (`[apps.rate_limits]`), built once at start-up, kept
//! either by this node alone or, with `[rate_limit] redis_url`, by every node together.
//!
//! Guarantees:
//! - Each (app, API) pair with a non-zero limit `n` allows `n` requests per second with a burst
//!   of `n`; 0 means unlimited; limits are never shared between apps or APIs.
//! - Without Redis, each node keeps its own token bucket (governor's GCRA).
//! - With Redis, the decision is made by one atomic Lua script in Redis (GCRA on Redis's clock,
//!   key `callrec:rl:<sdkappid>:<api>`), so the limit holds for all nodes together: over any
//!   interval of `d` seconds the cluster allows at most `n + n·d` requests of a pair (the burst
//!   plus the rate; the emission interval is rounded up to whole microseconds, so never more).
//!   Every node must be configured with the same `n`.
//! - Redis never fails a request: a Redis call has [`CALL_TIMEOUT`] (connecting
//!   [`CONNECT_TIMEOUT`]); on an error or time-out the request is decided by this node's local
//!   bucket, a WARN is logged at most once per [`WARN_EVERY`], and Redis is not asked again for
//!   [`RETRY_AFTER`]. While Redis is down the cluster as a whole allows up to
//!   `nodes × n` per second (each node its own `n`).
//! - Decisions are counted in `callrec_rate_limit_backend_total{backend="redis"|"local"}`, Redis
//!   failures in `callrec_rate_limit_redis_errors_total`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redis::aio::MultiplexedConnection;

use crate::config::{App, RateLimitConfig, RedisUrl};
use crate::metrics::Metrics;
use crate::ops::{ENDPOINTS, Endpoint};

/// Longest wait for one Redis script call before the local limiter decides.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);

/// Longest wait for a new Redis connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// After a Redis failure, how long the local limiters decide before Redis is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// At most one "Redis unavailable" warning per this period.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// GCRA in one atomic script. KEYS[1]: the pair's key. ARGV[1]: the emission interval T in
/// microseconds (1 s / n, rounded up). ARGV[2]: the burst tolerance in microseconds (n · T).
/// The key holds the theoretical arrival time (TAT) in microseconds of Redis's clock and expires
/// when it is reached (an absent key and a TAT in the past mean the same: a full bucket).
/// Returns 1 when the request is allowed, 0 when it is refused.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
if new_tat - now > tolerance then
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 1
";

/// The Redis key of an (app, API) pair.
pub fn redis_key(sdkappid: u64, endpoint: &Endpoint) -> String {
    format!("callrec:rl:{sdkappid}:{}", endpoint.name)
}

/// The GCRA parameters (emission interval, burst tolerance) in microseconds for `n` per second.
fn gcra_params(n: NonZeroU32) -> (u64, u64) {
    let interval = 1_000_000_u64.div_ceil(u64::from(n.get()));
    (interval, interval * u64::from(n.get()))
}

struct Limit {
    per_second: NonZeroU32,
    local: DefaultDirectRateLimiter,
}

/// The limiters of every configured app.
pub struct RateLimiters {
    /// By (sdkappid, endpoint index).
    limits: HashMap<(u64, usize), Limit>,
    cluster: Option<ClusterLimiter>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for RateLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiters")
            .field("limits", &self.limits.len())
            .field("redis", &self.cluster.as_ref().map(|c| &c.redacted_url))
            .finish()
    }
}

impl RateLimiters {
    /// One limiter per app and API with a non-zero limit; cluster-wide through Redis when
    /// `settings.redis_url` is set (nothing is connected yet: the first limited request does).
    pub fn new(apps: &[App], settings: &RateLimitConfig, metrics: Arc<Metrics>) -> Self {
        let mut limits = HashMap::new();
        for app in apps {
            for endpoint in &ENDPOINTS {
                if let Some(n) = NonZeroU32::new(app.rate_limits.per_second(endpoint.name)) {
                    limits.insert(
                        (app.sdkappid, endpoint.index),
                        Limit {
                            per_second: n,
                            local: RateLimiter::direct(Quota::per_second(n)),
                        },
                    );
                }
            }
        }
        let cluster = settings
            .redis_url
            .as_ref()
            .and_then(|url| ClusterLimiter::new(url, Arc::clone(&metrics)));
        Self {
            limits,
            cluster,
            metrics,
        }
    }

    /// Whether limits are kept in Redis (when it is reachable).
    pub fn is_cluster_wide(&self) -> bool {
        self.cluster.is_some()
    }

    /// Takes one request from the pair's bucket; false when the rate is exceeded. Never fails:
    /// when Redis cannot answer, this node's own bucket decides.
    pub async fn check(&self, sdkappid: u64, endpoint: &Endpoint) -> bool {
        let Some(limit) = self.limits.get(&(sdkappid, endpoint.index)) else {
            return true;
        };
        if let Some(cluster) = &self.cluster
            && let Some(allowed) = cluster.check(sdkappid, endpoint, limit.per_second).await
        {
            self.metrics.count_rate_limit_decision("redis");
            return allowed;
        }
        self.metrics.count_rate_limit_decision("local");
        limit.local.check().is_ok()
    }
}

/// The Redis side: one multiplexed connection, (re)opened on demand, with a back-off after
/// failures.
struct ClusterLimiter {
    client: redis::Client,
    script: redis::Script,
    redacted_url: String,
    /// The live connection; `None` until connected and after a failure.
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// While set and in the future, Redis is not asked.
    retry_at: Mutex<Option<Instant>>,
    /// When the last "unavailable" warning was logged.
    last_warn: Mutex<Option<Instant>>,
    /// Whether the last Redis call failed (to log the recovery once).
    degraded: Mutex<bool>,
    metrics: Arc<Metrics>,
}

impl ClusterLimiter {
    fn new(url: &RedisUrl, metrics: Arc<Metrics>) -> Option<Self> {
        let redacted_url = url.redacted();
        match redis::Client::open(url.expose()) {
            Ok(client) => {
                tracing::info!(redis = %redacted_url, "rate limits are kept cluster-wide in Redis");
                Some(Self {
                    client,
                    script: redis::Script::new(GCRA_SCRIPT),
                    redacted_url,
                    conn: tokio::sync::Mutex::new(None),
                    retry_at: Mutex::new(None),
                    last_warn: Mutex::new(None),
                    degraded: Mutex::new(false),
                    metrics,
                })
            }
            Err(_) => {
                // The config check refuses such URLs; stay local rather than fail.
                tracing::warn!(redis = %redacted_url, "rate_limit.redis_url is not a valid Redis URL; rate limits are per node");
                None
            }
        }
    }

    fn backing_off(&self) -> bool {
        self.retry_at
            .lock()
            .unwrap()
            .is_some_and(|t| Instant::now() < t)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        // Another request may have failed while this one waited for the lock.
        if self.backing_off() {
            return Err("backing off".into());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT + CALL_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| format!("connecting timed out after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connecting failed: {e}"))?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// The cluster's verdict, or `None` when Redis could not give one in time.
    async fn check(&self, sdkappid: u64, endpoint: &Endpoint, n: NonZeroU32) -> Option<bool> {
        if self.backing_off() {
            return None;
        }
        let mut conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => {
                self.failed(&e, false).await;
                return None;
            }
        };
        let (interval, tolerance) = gcra_params(n);
        let mut invocation = self.script.key(redis_key(sdkappid, endpoint));
        invocation.arg(interval).arg(tolerance);
        let answer = tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async::<i64>(&mut conn))
            .await
            .map_err(|_| format!("no answer within {CALL_TIMEOUT:?}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match answer {
            Ok(v) => {
                self.recovered();
                Some(v == 1)
            }
            Err(e) => {
                self.failed(&e, true).await;
                None
            }
        }
    }

    fn recovered(&self) {
        let mut degraded = self.degraded.lock().unwrap();
        if *degraded {
            *degraded = false;
            tracing::info!(redis = %self.redacted_url, "Redis is reachable again: rate limits are cluster-wide again");
        }
    }

    async fn failed(&self, error: &str, drop_connection: bool) {
        if error == "backing off" {
            return;
        }
        self.metrics.count_rate_limit_redis_error();
        let now = Instant::now();
        *self.retry_at.lock().unwrap() = Some(now + RETRY_AFTER);
        *self.degraded.lock().unwrap() = true;
        let warn = {
            let mut last = self.last_warn.lock().unwrap();
            let due = last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        if warn {
            tracing::warn!(
                redis = %self.redacted_url,
                error = %error,
                retry_after_ms = u64::try_from(RETRY_AFTER.as_millis()).unwrap_or(u64::MAX),
                "Redis rate limiter unavailable: this node applies its own limits meanwhile (logged at most every 10 s)"
            );
        }
        if drop_connection {
            // A broken or stuck connection is replaced on the next try.
            *self.conn.lock().await = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimits;
    use secrecy::SecretString;

    const GET: &Endpoint = &ENDPOINTS[0];
    const FILTER: &Endpoint = &ENDPOINTS[1];
    const REPORT: &Endpoint = &ENDPOINTS[2];

    fn app(sdkappid: u64, limits: RateLimits) -> App {
        App {
            sdkappid,
            secret_key: SecretString::from("k"),
            admins: vec![],
            group_call_package: true,
            rate_limits: limits,
            callback_secret: None,
            callback_token: None,
        }
    }

    fn local(apps: &[App]) -> RateLimiters {
        RateLimiters::new(apps, &RateLimitConfig::default(), Arc::new(Metrics::new()))
    }

    fn with_redis(apps: &[App], url: &str, metrics: Arc<Metrics>) -> RateLimiters {
        let text = format!(
            "[rate_limit]\nredis_url = \"{url}\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n"
        );
        let cfg = crate::Config::from_toml_str(&text, std::path::Path::new("/")).unwrap();
        RateLimiters::new(apps, &cfg.rate_limit, metrics)
    }

    #[tokio::test]
    async fn limiter_allows_burst_of_n_then_refuses() {
        let l = local(&[app(
            1,
            RateLimits::with(&[
                ("get_record_by_callId", 3),
                ("get_records_by_filter", 0),
                ("report_events", 1),
            ]),
        )]);
        for _ in 0..3 {
            assert!(l.check(1, GET).await);
        }
        assert!(!l.check(1, GET).await);
        assert!(l.check(1, REPORT).await);
        assert!(!l.check(1, REPORT).await, "APIs have separate buckets");
        assert!(!l.is_cluster_wide());
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let l = local(&[app(
            1,
            RateLimits::with(&[
                ("get_record_by_callId", 0),
                ("get_records_by_filter", 0),
                ("report_events", 0),
            ]),
        )]);
        for _ in 0..10_000 {
            assert!(l.check(1, FILTER).await);
        }
    }

    #[test]
    fn gcra_parameters_never_exceed_the_rate_and_keep_a_burst_of_n() {
        for n in [1_u32, 3, 7, 20, 200, 999_999, 1_000_000, 3_000_000] {
            let (interval, tolerance) = gcra_params(NonZeroU32::new(n).unwrap());
            assert!(interval >= 1);
            // The sustained rate 1 s / interval is at most n.
            assert!(interval * u64::from(n) >= 1_000_000, "{n}");
            // Exactly n requests fit the tolerance at one instant.
            assert_eq!(tolerance / interval, u64::from(n));
        }
        assert_eq!(
            redis_key(1_400_000_001, GET),
            "callrec:rl:1400000001:get_record_by_callId"
        );
    }

    #[tokio::test]
    async fn unreachable_redis_falls_back_to_the_local_limit_quickly() {
        let metrics = Arc::new(Metrics::new());
        let limits = RateLimits::with(&[
            ("get_record_by_callId", 5),
            ("get_records_by_filter", 0),
            ("report_events", 0),
        ]);
        // Port 1 on loopback: nothing listens, connections are refused.
        let l = with_redis(
            &[app(1, limits)],
            "redis://:hunter2@127.0.0.1:1",
            Arc::clone(&metrics),
        );
        assert!(l.is_cluster_wide());
        assert!(!format!("{l:?}").contains("hunter2"));
        let started = Instant::now();
        let allowed = {
            let mut n = 0;
            for _ in 0..20 {
                n += usize::from(l.check(1, GET).await);
            }
            n
        };
        assert_eq!(allowed, 5, "the local bucket decides");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"callrec_rate_limit_backend_total{backend="local"} 20"#),
            "{text}"
        );
        // One connection attempt, then the back-off: Redis is not hammered.
        assert!(
            text.contains("callrec_rate_limit_redis_errors_total 1\n"),
            "{text}"
        );
    }

    /// Two limiters (two nodes) on one Redis share one bucket. Runs when
    /// `CALLREC_TEST_REDIS_URL` is set.
    #[tokio::test]
    async fn two_nodes_share_one_bucket_in_redis() {
        let Ok(url) = std::env::var("CALLREC_TEST_REDIS_URL") else {
            callrec_store_tests::print_skipped(
                "CALLREC_TEST_REDIS_URL not set (Redis rate-limit test skipped)",
            );
            return;
        };
        // A fresh key namespace: a random app.
        let sdkappid = 1_900_000_000 + u64::from(rand::random::<u32>());
        let limits = RateLimits::with(&[
            ("get_record_by_callId", 10),
            ("get_records_by_filter", 0),
            ("report_events", 0),
        ]);
        let metrics = Arc::new(Metrics::new());
        let a = with_redis(&[app(sdkappid, limits.clone())], &url, Arc::clone(&metrics));
        let b = with_redis(&[app(sdkappid, limits)], &url, Arc::clone(&metrics));
        let mut allowed = 0;
        for i in 0..40 {
            let node = if i % 2 == 0 { &a } else { &b };
            allowed += usize::from(node.check(sdkappid, GET).await);
        }
        // A burst of 10 plus at most what refills while the 40 calls run (10/s).
        assert!((10..=12).contains(&allowed), "allowed {allowed}");
        let text = metrics.render();
        assert!(
            text.contains(r#"callrec_rate_limit_backend_total{backend="redis"} 40"#),
            "{text}"
        );
        // Other APIs and apps are separate keys.
        assert!(a.check(sdkappid, FILTER).await);
    }
}
