//! The store comparison tools (`bench/stores.sh`): the same data set and the same query load
//! against a server on either store.
//!
//! - `preload`: reports a fixed, seeded set of calls through `events/report` (the API, so each
//!   store builds its own rows exactly as in production), spread over the retention window, and
//!   writes their callIds. Calls are kept whole inside one request; requests hold up to `--batch`
//!   events. Every event must be accepted, so both stores end up with the very same data.
//! - `query`: a closed-loop client for the two record APIs. `--connections` tasks, each with its
//!   own keep-alive connection, send requests back to back for `--duration` seconds:
//!   `get_record_by_callId` with a random callId from `--ids`, or `get_records_by_filter` with
//!   `--filter` and a random page 1..=`--pages` of `--per-page`. Every answer must carry
//!   `"errorCode":0` (and, for a lookup, the record asked for); anything else counts as bad.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use callrec::simulate::{Generator, event_json};
use callrec_domain::EventType;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::report::{Target, client, parse_answer, percentile};

/// `callrec-bench preload`.
#[derive(Debug, clap::Args)]
pub struct PreloadArgs {
    /// Where to send.
    #[command(flatten)]
    pub target: Target,
    /// Calls to report.
    #[arg(long, default_value_t = 100_000)]
    pub calls: u64,
    /// Generator seed (the same seed gives the same calls, up to their placement in time).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Most events per request (whole calls only).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Concurrent clients (each its own connection).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Spread call starts over this many hours before now (stay inside the retention window and
    /// under the server's `max_idle_secs`, or its time-out job rewrites ongoing calls meanwhile).
    #[arg(long, default_value_t = 6 * 24)]
    pub spread_hours: u64,
    /// File for the callIds (one per line).
    #[arg(long)]
    pub ids_out: PathBuf,
}

/// Which API `query` drives.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Api {
    /// `records/get_record_by_callId`.
    ByCallId,
    /// `records/get_records_by_filter`.
    ByFilter,
}

/// `callrec-bench query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Where to send.
    #[command(flatten)]
    pub target: Target,
    /// The API.
    #[arg(long, value_enum)]
    pub api: Api,
    /// callIds to look up (one per line), for `by-call-id`.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// The filter's JSON fields without braces, for `by-filter`, e.g.
    /// `"startTimestamp":1,"endTimestamp":2,"callResult":"reject"`.
    #[arg(long)]
    pub filter: Option<String>,
    /// Pages 1..=N are asked for at random.
    #[arg(long, default_value_t = 10)]
    pub pages: u32,
    /// numberPerPage.
    #[arg(long, default_value_t = 100)]
    pub per_page: u32,
    /// Concurrent clients (each its own connection).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Requests per second over all connections, each sent at its due time (open loop); 0: as
    /// fast as the connections go (closed loop).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
}

fn api_url(t: &Target, api: &str) -> String {
    format!(
        "{}/v1/{api}?sdkappid={}&identifier={}&usersig={}&random={}&contenttype=json",
        t.url.trim_end_matches('/'),
        t.sdkappid,
        t.identifier,
        t.usersig,
        rand::random::<u32>()
    )
}

fn now_ms() -> anyhow::Result<i64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_millis()
        .try_into()?)
}

/// Request bodies with their event counts.
type Bodies = Vec<(String, u64)>;

/// The preload's request bodies and callIds.
fn preload_bodies(args: &PreloadArgs) -> anyhow::Result<(Bodies, Vec<String>)> {
    let now = now_ms()?;
    let spread_ms = i64::try_from(args.spread_hours * 3_600_000)?;
    // Starts in [now - spread, now - 10 min]; a generated call lasts well under an hour.
    let first = now - spread_ms;
    let span = (spread_ms - 600_000).max(1);
    let mut generator = Generator::new(args.seed);
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x0051_07e5);
    let calls = i64::try_from(args.calls.max(1))?;
    let mut bodies = Vec::new();
    let mut ids = Vec::with_capacity(usize::try_from(args.calls)?);
    let mut current: Vec<String> = Vec::new();
    let flush = |current: &mut Vec<String>, bodies: &mut Bodies| {
        if !current.is_empty() {
            bodies.push((
                format!("{{\"events\":[{}]}}", current.join(",")),
                current.len() as u64,
            ));
            current.clear();
        }
    };
    for i in 0..calls {
        let slot = (span / calls).max(1);
        let target = first + span * i / calls + rng.random_range(0..slot);
        let sim = generator.call(now);
        let start = sim
            .events
            .iter()
            .filter(|e| e.kind == EventType::Start)
            .map(|e| e.time_ms)
            .min()
            .unwrap_or(now);
        let delta = target - start;
        let mut seen = HashSet::new();
        let mut texts = Vec::with_capacity(sim.events.len());
        for mut e in sim.events {
            if !seen.insert(e.dedupe_key()) {
                continue;
            }
            e.time_ms = (e.time_ms + delta).min(now);
            texts.push(serde_json::to_string(&event_json(&e))?);
        }
        if current.len() + texts.len() > args.batch.max(1) {
            flush(&mut current, &mut bodies);
        }
        current.extend(texts);
        ids.push(sim.call_id);
    }
    flush(&mut current, &mut bodies);
    Ok((bodies, ids))
}

/// Runs the preload.
pub fn preload(args: &PreloadArgs) -> anyhow::Result<()> {
    let (bodies, ids) = preload_bodies(args)?;
    let events: u64 = bodies.iter().map(|(_, n)| n).sum();
    let bodies = Arc::new(bodies);
    let url = Arc::new(api_url(&args.target, "events/report"));
    let next = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (accepted, duplicates, rejected, errors) = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.connections.max(1) {
            let http = client(&args.target)?;
            let (bodies, url, next) = (Arc::clone(&bodies), Arc::clone(&url), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                let (mut acc, mut dup, mut rej, mut err) = (0u64, 0u64, 0u64, 0u64);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, _)) = bodies.get(i) else {
                        break;
                    };
                    // Retry a failed request a few times: the data set must be complete.
                    let mut answer = None;
                    for attempt in 0..5u64 {
                        if attempt > 0 {
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                        if let Ok(r) = http.post(url.as_str()).body(body.clone()).send().await
                            && let Ok(t) = r.text().await
                        {
                            let a = parse_answer(&t);
                            if a.ok {
                                answer = Some(a);
                                break;
                            }
                        }
                    }
                    match answer {
                        Some(a) => {
                            acc += a.accepted;
                            dup += a.duplicates;
                            rej += a.rejected;
                        }
                        None => err += 1,
                    }
                }
                (acc, dup, rej, err)
            }));
        }
        let mut sum = (0u64, 0u64, 0u64, 0u64);
        for t in tasks {
            let (a, d, r, e) = t.await?;
            sum = (sum.0 + a, sum.1 + d, sum.2 + r, sum.3 + e);
        }
        anyhow::Ok(sum)
    })?;
    let secs = started.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.ids_out)
            .with_context(|| format!("creating {}", args.ids_out.display()))?,
    );
    for id in &ids {
        writeln!(out, "{id}")?;
    }
    out.flush()?;
    println!(
        "{}",
        serde_json::json!({
            "calls": ids.len(),
            "events": events,
            "requests": bodies.len(),
            "connections": args.connections,
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected,
            "errors": errors,
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "events_per_s": (accepted as f64 / secs).round(),
        })
    );
    if errors > 0 || rejected > 0 || accepted + duplicates != events {
        bail!("the preload is incomplete: {errors} failed requests, {rejected} rejected events");
    }
    Ok(())
}

/// What one request of `query` sends, and how its answer is checked.
#[derive(Clone)]
enum Work {
    ByCallId(Arc<Vec<String>>),
    ByFilter {
        filter: Arc<str>,
        pages: u32,
        per_page: u32,
    },
}

impl Work {
    /// The body, and the text a good answer must contain.
    fn request(&self, rng: &mut StdRng) -> (String, String) {
        match self {
            Work::ByCallId(ids) => {
                let id = &ids[rng.random_range(0..ids.len())];
                (
                    format!("{{\"callId\":\"{id}\"}}"),
                    format!("\"callId\":\"{id}\""),
                )
            }
            Work::ByFilter {
                filter,
                pages,
                per_page,
            } => (
                format!(
                    "{{{filter},\"numberPerPage\":{per_page},\"page\":{}}}",
                    rng.random_range(1..=*pages)
                ),
                "\"errorCode\":0,".to_owned(),
            ),
        }
    }
}

fn good(text: &str, must: &str) -> bool {
    text.starts_with("{\"errorCode\":0,") && text.contains(must)
}

/// Runs the query load.
pub fn query(args: &QueryArgs) -> anyhow::Result<()> {
    let (api, work) = match args.api {
        Api::ByCallId => {
            let path = args
                .ids
                .as_ref()
                .context("--ids is required for by-call-id")?;
            let file =
                std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
            let ids: Vec<String> = std::io::BufReader::new(file)
                .lines()
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|l| !l.trim().is_empty())
                .collect();
            if ids.is_empty() {
                bail!("{} holds no callIds", path.display());
            }
            (
                "records/get_record_by_callId",
                Work::ByCallId(Arc::new(ids)),
            )
        }
        Api::ByFilter => {
            let filter = args
                .filter
                .as_deref()
                .context("--filter is required for by-filter")?;
            (
                "records/get_records_by_filter",
                Work::ByFilter {
                    filter: Arc::from(filter),
                    pages: args.pages.max(1),
                    per_page: args.per_page,
                },
            )
        }
    };
    let url = Arc::new(api_url(&args.target, api));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let duration = Duration::from_secs_f64(args.duration);
    // The filter's totalNum (the same on every page), from one request before the run.
    let total_num = if let Work::ByFilter { filter, .. } = &work {
        let http = client(&args.target)?;
        let body = format!(
            "{{{filter},\"numberPerPage\":{},\"page\":1}}",
            args.per_page
        );
        let text = rt.block_on(async {
            http.post(url.as_str())
                .body(body)
                .send()
                .await?
                .text()
                .await
        })?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("answer {text}"))?;
        if v["errorCode"].as_u64() != Some(0) {
            bail!("get_records_by_filter failed: {text}");
        }
        v["data"]["totalNum"].as_u64()
    } else {
        None
    };
    let (latencies, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        let seq = Arc::new(AtomicU64::new(0));
        let rate = args.rate;
        for k in 0..args.connections.max(1) {
            let http = client(&args.target)?;
            let (url, ok, bad, work, seq) = (
                Arc::clone(&url),
                Arc::clone(&ok),
                Arc::clone(&bad),
                work.clone(),
                Arc::clone(&seq),
            );
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(rand::random::<u64>() ^ k as u64);
                let mut lat: Vec<u32> = Vec::new();
                let mut last = started;
                while Instant::now() < deadline {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    if !crate::pace(started, deadline, n, rate).await {
                        break;
                    }
                    let (body, must) = work.request(&mut rng);
                    let t0 = Instant::now();
                    let fine = match http.post(url.as_str()).body(body).send().await {
                        Ok(r) => r.text().await.is_ok_and(|t| good(&t, &must)),
                        Err(_) => false,
                    };
                    last = Instant::now();
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if fine { &ok } else { &bad }.fetch_add(1, Ordering::Relaxed);
                }
                (lat, last)
            }));
        }
        let mut lat = Vec::new();
        let mut end = started;
        for t in tasks {
            let (l, last) = t.await?;
            lat.extend(l);
            end = end.max(last);
        }
        anyhow::Ok((lat, end - started))
    })?;
    let mut lat = latencies;
    lat.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "api": api,
            "connections": args.connections,
            "http2": args.target.http2,
            "filter": args.filter,
            "total_num": total_num,
            "requests_ok": ok,
            "bad": bad.load(Ordering::Relaxed),
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "rps": (ok as f64 / secs * 10.0).round() / 10.0,
            "p50_ms": percentile(&lat, 0.50),
            "p99_ms": percentile(&lat, 0.99),
            "max_ms": percentile(&lat, 1.0),
        })
    );
    Ok(())
}
