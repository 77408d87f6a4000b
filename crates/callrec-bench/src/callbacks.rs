//! P6: callback delivery to a local receiver (`bench/run.sh p6`).
//!
//! 1. **Baseline**: this tool posts callback-sized JSON bodies straight to its own receiver with
//!    reqwest over `--concurrency` keep-alive connections for `--duration` seconds: what the
//!    machine can do for the same HTTP work without callrec in between.
//! 2. **Latency**: the app's v1 callbacks (every command) point at the receiver; events are
//!    reported at `--latency-rate` events/s in batches of 100. For each call, the time from the
//!    acknowledgement of the report holding its `start` to the arrival of its first callback
//!    (`caller_start_call`, which waits for no earlier callback of its call) is one sample.
//! 3. **Throughput**: events at `--rate` events/s for `--duration` seconds; callbacks arriving at
//!    the receiver per second during that window (ingest running), then the time to drain what
//!    is left.
//!
//! Prints one JSON line with every figure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::report::{Target, body, client, percentile, pool, report_url, started_calls};

/// `callrec-bench callbacks`.
#[derive(Debug, clap::Args)]
pub struct CallbacksArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Seconds of the baseline and of the throughput phase.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10.0)]
    pub latency_duration: f64,
    /// Events/s offered in the throughput phase.
    #[arg(long, default_value_t = 4000)]
    pub rate: u64,
    /// Events/s offered in the latency phase.
    #[arg(long, default_value_t = 500)]
    pub latency_rate: u64,
    /// Connections of the baseline client (callrec's default `[callbacks] concurrency`).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Report connections.
    #[arg(long, default_value_t = 16)]
    pub report_connections: usize,
}

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    arrivals: Mutex<Vec<Instant>>,
    /// callId → arrival of its `caller_start_call`.
    first: Mutex<HashMap<String, Instant>>,
    total: AtomicU64,
}

const OK: &str = r#"{"ErrorCode":0,"ErrorMessage":"Success"}"#;

async fn receiver(seen: Arc<Seen>) -> anyhow::Result<u16> {
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = Arc::clone(&seen);
        async move {
            let at = Instant::now();
            let first = req
                .uri()
                .query()
                .is_some_and(|q| q.contains("command=caller_start_call"));
            let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            seen.total.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut a) = seen.arrivals.lock() {
                a.push(at);
            }
            if first {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(id) = text
                    .split("\"CallId\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    && let Ok(mut f) = seen.first.lock()
                {
                    f.entry(id.to_owned()).or_insert(at);
                }
            }
            OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(port)
}

/// Posts a callback-sized body to the receiver as fast as `n` connections allow.
async fn baseline(port: u16, n: usize, duration: Duration) -> anyhow::Result<f64> {
    let body = r#"{"UserId":"user_0131","RoomId":"439865","TotalNum":3,"MediaType":"audio","CallType":"group","CallId":"00a7c58d-62bf-4eae-bc56-e940e0d0b499","Role":"caller","Event":"start_call","CallResult":"","EventTime":1796129312,"StartCallTs":1796129312,"AcceptTs":0,"EndTs":0}"#;
    let url = format!(
        "http://127.0.0.1:{port}/baseline?sdkappid=1&command=baseline&contenttype=json&clientip=127.0.0.1&optplatform=RESTAPI"
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(n)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url, done) = (http.clone(), url.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Ok(r) = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    && r.bytes().await.is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Acknowledged batches: when, and the callIds whose start each held.
type Acks = Vec<(Instant, Vec<String>)>;

/// Reports events at `rate`/s for `duration`: (batches acknowledged with the callIds started in
/// each and when, events accepted).
async fn ingest(
    target: &Target,
    connections: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<(Acks, u64)> {
    let templates = Arc::new(pool(2000)?);
    let url = Arc::new(report_url(target));
    let clients: Vec<reqwest::Client> = (0..connections)
        .map(|_| client(target))
        .collect::<anyhow::Result<_>>()?;
    let run: u32 = rand::random();
    let acks: Arc<Mutex<Acks>> = Arc::default();
    let accepted = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(tokio::sync::Semaphore::new(connections));
    let batches_per_s = (rate as f64 / 100.0).max(0.1);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / batches_per_s));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut batch_no = 0u64;
    let mut tasks = Vec::new();
    while started.elapsed() < duration {
        ticker.tick().await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let http = clients[batch_no as usize % clients.len()].clone();
        let text = body(&templates, run, batch_no, 100);
        let calls = started_calls(&templates, run, batch_no, 100);
        batch_no += 1;
        let (url, acks, accepted) = (Arc::clone(&url), Arc::clone(&acks), Arc::clone(&accepted));
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            if let Ok(r) = http.post(url.as_str()).body(text).send().await
                && let Ok(t) = r.text().await
            {
                let at = Instant::now();
                let a = crate::report::parse_answer(&t);
                if a.ok {
                    accepted.fetch_add(a.accepted, Ordering::Relaxed);
                    if let Ok(mut acks) = acks.lock() {
                        acks.push((at, calls));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let acks = std::mem::take(&mut *acks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    Ok((acks, accepted.load(Ordering::Relaxed)))
}

async fn v1_call(target: &Target, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
    let url = report_url(target).replace("/v1/events/report", &format!("/v1/{path}"));
    let text = client(target)?
        .post(url)
        .body(body.to_string())
        .send()
        .await?
        .text()
        .await?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    anyhow::ensure!(v["errorCode"] == 0, "{path}: {text}");
    Ok(())
}

async fn produced(target: &Target) -> anyhow::Result<u64> {
    let text = client(target)?
        .get(format!("{}/metrics", target.url.trim_end_matches('/')))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("callrec_callbacks_produced_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// Waits until `seen` has `want` callbacks or none arrived for 3 s; answers when the last came.
async fn drain(seen: &Seen, want: u64, limit: Duration) -> Instant {
    let started = Instant::now();
    let mut last_n = 0;
    let mut last_change = Instant::now();
    loop {
        let n = seen.total.load(Ordering::Relaxed);
        if n != last_n {
            last_n = n;
            last_change = Instant::now();
        }
        if n >= want || last_change.elapsed() > Duration::from_secs(3) || started.elapsed() > limit
        {
            return seen
                .arrivals
                .lock()
                .ok()
                .and_then(|a| a.last().copied())
                .unwrap_or(started);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs P6.
pub fn run(args: &CallbacksArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let seen = Arc::new(Seen::default());
        let port = receiver(Arc::clone(&seen)).await?;
        let duration = Duration::from_secs_f64(args.duration);
        let base_rps = baseline(port, args.concurrency, duration).await?;
        seen.total.store(0, Ordering::Relaxed);
        seen.arrivals
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clear();

        // Every v1 command (the ones no event produces change nothing).
        let mut every_v1 = callrec_server::v1::callbacks::EVENT_COMMANDS.to_vec();
        every_v1.extend(callrec_server::v1::callbacks::STATUS_COMMANDS);
        v1_call(
            &args.target,
            "callback/set",
            &json!({"address": format!("http://127.0.0.1:{port}/cb"), "actions": every_v1}),
        )
        .await
        .context("configuring the callback")?;

        // Latency at a moderate load.
        let produced0 = produced(&args.target).await?;
        let (acks, lat_accepted) = ingest(
            &args.target,
            args.report_connections,
            args.latency_rate,
            Duration::from_secs_f64(args.latency_duration),
        )
        .await?;
        let lat_produced = produced(&args.target).await? - produced0;
        drain(&seen, lat_produced, Duration::from_secs(30)).await;
        let mut lat: Vec<u32> = Vec::new();
        let mut missing = 0u64;
        {
            let first = seen.first.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            for (acked, calls) in &acks {
                for c in calls {
                    match first.get(c) {
                        Some(at) => lat.push(
                            u32::try_from(at.saturating_duration_since(*acked).as_micros())
                                .unwrap_or(u32::MAX),
                        ),
                        None => missing += 1,
                    }
                }
            }
        }
        lat.sort_unstable();

        // Throughput with ingest running.
        let before_total = seen.total.load(Ordering::Relaxed);
        let before_produced = produced(&args.target).await?;
        let window_start = Instant::now();
        let (_, tp_accepted) =
            ingest(&args.target, args.report_connections, args.rate, duration).await?;
        let window = window_start.elapsed();
        let in_window = seen.total.load(Ordering::Relaxed) - before_total;
        let tp_produced = produced(&args.target).await? - before_produced;
        let last = drain(&seen, before_total + tp_produced, Duration::from_secs(120)).await;
        let delivered = seen.total.load(Ordering::Relaxed) - before_total;
        let window_s = window.as_secs_f64();
        let total_s = last.saturating_duration_since(window_start).as_secs_f64();
        println!(
            "{}",
            json!({
                "baseline_rps": base_rps.round(),
                "baseline_connections": args.concurrency,
                "latency_events_per_s": (lat_accepted as f64 / args.latency_duration).round(),
                "latency_callbacks": lat_produced,
                "first_attempt_samples": lat.len(),
                "first_attempt_missing": missing,
                "first_attempt_p50_ms": percentile(&lat, 0.50),
                "first_attempt_p99_ms": percentile(&lat, 0.99),
                "first_attempt_max_ms": percentile(&lat, 1.0),
                "throughput_events_per_s": (tp_accepted as f64 / window_s).round(),
                "throughput_produced": tp_produced,
                "produced_per_s": (tp_produced as f64 / window_s).round(),
                "delivered_in_window_per_s": (in_window as f64 / window_s).round(),
                "delivered": delivered,
                "delivered_per_s_until_drained": (delivered as f64 / total_s.max(window_s)).round(),
                "drained_s_after_ingest": ((total_s - window_s).max(0.0) * 100.0).round() / 100.0,
            })
        );
        anyhow::Ok(())
    })
}
