//! The `events/report` load client (P2) and the durability re-check.
//!
//! A pool of realistic calls comes from `callrec simulate`'s generator (deduplicated, so every
//! event of a fresh call is new); each batch takes the next `--batch` events of the pool's flat
//! event list and gives the calls fresh ids (`<run>-<generation>-<call>`), so every request
//! carries new events. Each of `--connections` tasks has its own client (its own TLS connection,
//! kept alive) and posts batches back to back until `--duration` is over. Events per second =
//! events the server acknowledged as accepted / time from the first request to the last answer.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use callrec::simulate::{Generator, event_json};
use serde_json::Value;

/// Connection settings shared by `report` and `recheck`.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Base URL, e.g. https://127.0.0.1:18443.
    #[arg(long)]
    pub url: String,
    /// The app.
    #[arg(long, default_value_t = 1_400_000_001)]
    pub sdkappid: u64,
    /// The identifier (an admin).
    #[arg(long, default_value = "administrator")]
    pub identifier: String,
    /// Its UserSig (`callrec usersig --config …`).
    #[arg(long)]
    pub usersig: String,
    /// PEM certificate to trust (the server's self-signed cert).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Use HTTP/2 (ALPN) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
}

/// `callrec-bench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Where to send.
    #[command(flatten)]
    pub target: Target,
    /// Concurrent clients (each its own connection).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Calls in the generated pool.
    #[arg(long, default_value_t = 5_000)]
    pub pool: usize,
    /// Keep every Nth fully accepted batch for `recheck`.
    #[arg(long, default_value_t = 50)]
    pub sample_every: u64,
    /// Requests per second over all connections, each sent at its due time (open loop); 0: as
    /// fast as the connections go (closed loop).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// File for the sampled batches (JSON lines).
    #[arg(long)]
    pub sample_out: Option<PathBuf>,
}

/// `callrec-bench recheck`.
#[derive(Debug, clap::Args)]
pub struct RecheckArgs {
    /// Where to send.
    #[command(flatten)]
    pub target: Target,
    /// The sample file written by `report --sample-out`.
    #[arg(long)]
    pub sample: PathBuf,
}

pub(crate) fn client(t: &Target) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1);
    b = if t.http2 { b } else { b.http1_only() };
    if let Some(path) = &t.cacert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    Ok(b.build()?)
}

pub(crate) fn report_url(t: &Target) -> String {
    format!(
        "{}/v1/events/report?sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json",
        t.url.trim_end_matches('/'),
        t.sdkappid,
        t.identifier,
        t.usersig,
        rand::random::<u32>()
    )
}

/// One event of the pool as JSON text around its callId.
pub(crate) struct Template {
    call: usize,
    before: String,
    after: String,
    is_start: bool,
}

pub(crate) fn pool(calls: usize) -> anyhow::Result<Vec<Template>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_millis()
        .try_into()?;
    let mut generator = Generator::new(rand::random());
    let mut out = Vec::new();
    const MARK: &str = "\"callId\":\"@@\"";
    for call in 0..calls {
        let sim = generator.call(now);
        let mut seen = HashSet::new();
        for mut e in sim.events {
            if !seen.insert(e.dedupe_key()) {
                continue;
            }
            e.call_id = "@@".into();
            let text = serde_json::to_string(&event_json(&e))?;
            let Some(at) = text.find(MARK) else {
                bail!("unexpected event JSON {text}");
            };
            out.push(Template {
                call,
                before: text[..at].to_owned(),
                after: text[at + MARK.len()..].to_owned(),
                is_start: e.kind == callrec_domain::EventType::Start,
            });
        }
    }
    Ok(out)
}

/// The callIds of the calls whose `start` is in batch `batch_no` (see [`body`]).
pub(crate) fn started_calls(
    templates: &[Template],
    run: u32,
    batch_no: u64,
    batch: usize,
) -> Vec<String> {
    let n = templates.len() as u64;
    (0..batch as u64)
        .filter_map(|k| {
            let global = batch_no * batch as u64 + k;
            let t = &templates[(global % n) as usize];
            t.is_start
                .then(|| format!("{run:08x}-{:08x}-{:012x}", global / n, t.call))
        })
        .collect()
}

pub(crate) fn body(templates: &[Template], run: u32, batch_no: u64, batch: usize) -> String {
    let mut s = String::with_capacity(batch * 180 + 16);
    s.push_str("{\"events\":[");
    let n = templates.len() as u64;
    for k in 0..batch as u64 {
        let global = batch_no * batch as u64 + k;
        let t = &templates[(global % n) as usize];
        let generation = global / n;
        if k > 0 {
            s.push(',');
        }
        s.push_str(&t.before);
        s.push_str(&format!(
            "\"callId\":\"{run:08x}-{generation:08x}-{:012x}\"",
            t.call
        ));
        s.push_str(&t.after);
    }
    s.push_str("]}");
    s
}

/// What one answer said.
#[derive(Default, Clone, Copy)]
pub(crate) struct Answer {
    pub(crate) ok: bool,
    pub(crate) accepted: u64,
    pub(crate) duplicates: u64,
    pub(crate) rejected: u64,
}

pub(crate) fn parse_answer(text: &str) -> Answer {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Answer::default();
    };
    if v["errorCode"].as_u64() != Some(0) {
        return Answer::default();
    }
    let d = &v["data"];
    Answer {
        ok: true,
        accepted: d["accepted"].as_u64().unwrap_or(0),
        duplicates: d["duplicates"].as_u64().unwrap_or(0),
        rejected: d["rejected"].as_array().map_or(0, |a| a.len() as u64),
    }
}

#[derive(Default)]
struct Totals {
    batches: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Runs the report load.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let templates = Arc::new(pool(args.pool)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = Arc::new(report_url(&args.target));
    let totals = Arc::new(Totals::default());
    let next_batch = Arc::new(AtomicU64::new(0));
    let run_id: u32 = rand::random();
    let batch = args.batch;
    let sample_every = args.sample_every.max(1);
    let duration = Duration::from_secs_f64(args.duration);
    let rate = args.rate;
    let (latencies, samples, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for _ in 0..args.connections {
            let http = client(&args.target)?;
            let (templates, url, totals, next_batch) = (
                Arc::clone(&templates),
                Arc::clone(&url),
                Arc::clone(&totals),
                Arc::clone(&next_batch),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat: Vec<u32> = Vec::new();
                let mut samples: Vec<String> = Vec::new();
                let mut last_answer = started;
                while Instant::now() < deadline {
                    let b = next_batch.fetch_add(1, Ordering::Relaxed);
                    if !crate::pace(started, deadline, b, rate).await {
                        break;
                    }
                    let text = body(&templates, run_id, b, batch);
                    let keep = (b % sample_every == 0).then(|| text.clone());
                    let t0 = Instant::now();
                    let resp = http.post(url.as_str()).body(text).send().await;
                    let answer = match resp {
                        Ok(r) => match r.text().await {
                            Ok(t) => parse_answer(&t),
                            Err(_) => Answer::default(),
                        },
                        Err(_) => Answer::default(),
                    };
                    last_answer = Instant::now();
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if !answer.ok {
                        totals.errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    totals.batches.fetch_add(1, Ordering::Relaxed);
                    totals
                        .accepted
                        .fetch_add(answer.accepted, Ordering::Relaxed);
                    totals
                        .duplicates
                        .fetch_add(answer.duplicates, Ordering::Relaxed);
                    totals
                        .rejected
                        .fetch_add(answer.rejected, Ordering::Relaxed);
                    if let Some(t) = keep
                        && answer.accepted == batch as u64
                    {
                        samples.push(t);
                    }
                }
                (lat, samples, last_answer)
            }));
        }
        let mut lat = Vec::new();
        let mut samples = Vec::new();
        let mut end = started;
        for t in tasks {
            let (l, s, last) = t.await?;
            lat.extend(l);
            samples.extend(s);
            end = end.max(last);
        }
        anyhow::Ok((lat, samples, end - started))
    })?;
    let mut lat = latencies;
    lat.sort_unstable();
    if let Some(path) = &args.sample_out {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for s in &samples {
            writeln!(f, "{s}")?;
        }
        f.flush()?;
    }
    let accepted = totals.accepted.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "connections": args.connections,
            "batch": batch,
            "http2": args.target.http2,
            "requests_ok": totals.batches.load(Ordering::Relaxed),
            "errors": totals.errors.load(Ordering::Relaxed),
            "accepted": accepted,
            "duplicates": totals.duplicates.load(Ordering::Relaxed),
            "rejected": totals.rejected.load(Ordering::Relaxed),
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "events_per_s": (accepted as f64 / secs).round(),
            "p50_ms": percentile(&lat, 0.50),
            "p99_ms": percentile(&lat, 0.99),
            "max_ms": percentile(&lat, 1.0),
            "samples": samples.len(),
        })
    );
    Ok(())
}

/// Re-posts the sampled batches; every event must be a duplicate.
pub fn recheck(args: &RecheckArgs) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.sample)
        .with_context(|| format!("reading {}", args.sample.display()))?;
    let bodies: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = client(&args.target)?;
    let url = report_url(&args.target);
    let (mut batches, mut events, mut dup, mut lost, mut errors) = (0u64, 0u64, 0u64, 0u64, 0u64);
    rt.block_on(async {
        for b in &bodies {
            let n = serde_json::from_str::<Value>(b)?["events"]
                .as_array()
                .map_or(0, Vec::len) as u64;
            let text = http.post(&url).body(b.clone()).send().await?.text().await?;
            let a = parse_answer(&text);
            batches += 1;
            events += n;
            if !a.ok {
                errors += 1;
                continue;
            }
            dup += a.duplicates;
            lost += a.accepted;
        }
        anyhow::Ok(())
    })?;
    let ok = errors == 0 && lost == 0 && dup == events;
    println!(
        "{}",
        serde_json::json!({
            "batches": batches,
            "events": events,
            "duplicates": dup,
            "lost": lost,
            "errors": errors,
            "durable": ok,
        })
    );
    if !ok {
        bail!("acknowledged events were lost or the re-check failed");
    }
    Ok(())
}
