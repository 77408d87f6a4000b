//! `callrec simulate`: generates calls ([`crate::simulate`]) and reports them to a running
//! server in batches, with bounded concurrency, an optional call rate and a progress bar, then
//! prints the server's own counts.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callrec_domain::CallResult;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::cli::SimulateArgs;
use crate::client::ApiClient;
use crate::connection::Connection;
use crate::error::Error;
use crate::simulate::{Generator, event_json};

/// One report request.
#[derive(Debug)]
pub struct Batch {
    /// The events, in wire JSON.
    pub events: Vec<Value>,
    /// Calls whose last event is in this batch (for the progress bar).
    pub calls_completed: u64,
    /// When it may be sent, from the start of the run (paces `--rate`).
    pub due: Duration,
}

/// Cuts the calls' events into batches of at most `batch` events. With a rate, a batch also ends
/// after every `ceil(rate / 5)` calls, so that the calls of one fifth of a second go together.
pub fn batches(calls: &[Vec<Value>], batch: usize, rate: f64) -> Vec<Batch> {
    let batch = batch.max(1);
    // Truncation is fine: a cut every this many calls.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let calls_per_cut = if rate > 0.0 {
        (rate / 5.0).ceil().max(1.0) as usize
    } else {
        usize::MAX
    };
    let due_of = |call_index: usize| {
        if rate > 0.0 {
            #[allow(clippy::cast_precision_loss)]
            Duration::from_secs_f64(call_index as f64 / rate)
        } else {
            Duration::ZERO
        }
    };
    let mut out = Vec::new();
    let mut current = Batch {
        events: Vec::new(),
        calls_completed: 0,
        due: Duration::ZERO,
    };
    for (i, call) in calls.iter().enumerate() {
        for e in call {
            if current.events.len() == batch {
                out.push(std::mem::replace(
                    &mut current,
                    Batch {
                        events: Vec::new(),
                        calls_completed: 0,
                        due: Duration::ZERO,
                    },
                ));
            }
            current.events.push(e.clone());
            current.due = due_of(i);
        }
        current.calls_completed += 1;
        if (i + 1) % calls_per_cut == 0 && !current.events.is_empty() {
            out.push(std::mem::replace(
                &mut current,
                Batch {
                    events: Vec::new(),
                    calls_completed: 0,
                    due: Duration::ZERO,
                },
            ));
        }
    }
    if !current.events.is_empty() {
        out.push(current);
    }
    out
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    failed_requests: AtomicU64,
}

/// Runs `callrec simulate`.
pub async fn run(args: &SimulateArgs) -> Result<ExitCode, Error> {
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err(Error::Usage("--rate must be a number ≥ 0".into()));
    }
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let now_ms = i64::try_from(crate::usersig::unix_now())
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let mut generator = match args.over {
        Some(secs) => Generator::with_window(seed, secs.saturating_mul(1000)),
        None => Generator::new(seed),
    };
    let mut planned_duplicates = 0;
    let mut planned_ongoing = 0;
    let calls: Vec<Vec<Value>> = (0..args.calls)
        .map(|_| {
            let call = generator.call(now_ms);
            planned_duplicates += call.duplicates;
            planned_ongoing += u32::from(call.scenario.expected() == CallResult::Ongoing);
            call.events.iter().map(event_json).collect()
        })
        .collect();
    let batches = batches(&calls, args.batch as usize, args.rate);

    let bar = ProgressBar::new(u64::from(args.calls));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} calls  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let totals = Arc::new(Totals::default());
    let first_error: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
    let started = Instant::now();
    let start_at = tokio::time::Instant::now();

    futures::stream::iter(batches)
        .map(|b| {
            let client = client.clone();
            let totals = Arc::clone(&totals);
            let first_error = Arc::clone(&first_error);
            let bar = bar.clone();
            async move {
                tokio::time::sleep_until(start_at + b.due).await;
                let n = b.events.len() as u64;
                let result = client
                    .call("events/report", &json!({ "events": b.events }))
                    .await;
                totals.sent.fetch_add(n, Ordering::Relaxed);
                match result {
                    Ok(data) => {
                        let count = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
                        totals
                            .accepted
                            .fetch_add(count("accepted"), Ordering::Relaxed);
                        totals
                            .duplicates
                            .fetch_add(count("duplicates"), Ordering::Relaxed);
                        let rejected = data.get("rejected").and_then(Value::as_array);
                        totals
                            .rejected
                            .fetch_add(rejected.map_or(0, |r| r.len() as u64), Ordering::Relaxed);
                        if let Some(first) = rejected.and_then(|r| r.first()) {
                            tracing::warn!(rejected = %first, "the server rejected an event");
                        }
                    }
                    Err(e) => {
                        totals.failed_requests.fetch_add(1, Ordering::Relaxed);
                        let mut slot = first_error.lock().expect("not poisoned");
                        slot.get_or_insert(e);
                    }
                }
                bar.inc(b.calls_completed);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let sent = totals.sent.load(Ordering::Relaxed);
                #[allow(clippy::cast_precision_loss)]
                bar.set_message(format!("{sent} events, {:.0} events/s", sent as f64 / secs));
            }
        })
        .buffer_unordered(args.concurrency as usize)
        .collect::<()>()
        .await;
    bar.finish();

    let elapsed = started.elapsed();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sent = load(&totals.sent);
    println!(
        "calls {} ({planned_ongoing} left ongoing)  events sent {sent}  accepted {}  duplicates {} ({planned_duplicates} sent on purpose)  rejected {}  failed requests {}",
        args.calls,
        load(&totals.accepted),
        load(&totals.duplicates),
        load(&totals.rejected),
        load(&totals.failed_requests),
    );
    #[allow(clippy::cast_precision_loss)]
    let rate = sent as f64 / elapsed.as_secs_f64().max(1e-3);
    println!(
        "elapsed {:.2}s  ({rate:.0} events/s)  seed {seed}",
        elapsed.as_secs_f64()
    );
    if let Some(e) = first_error.lock().expect("not poisoned").take() {
        return Err(e);
    }
    Ok(if load(&totals.rejected) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(sizes: &[usize]) -> Vec<Vec<Value>> {
        sizes
            .iter()
            .map(|&n| (0..n).map(|i| json!(i)).collect())
            .collect()
    }

    #[test]
    fn batches_hold_at_most_the_batch_size_and_every_event_once() {
        let c = calls(&[3, 5, 1, 7]);
        let b = batches(&c, 4, 0.0);
        assert!(b.iter().all(|b| b.events.len() <= 4 && b.due.is_zero()));
        assert_eq!(b.iter().map(|b| b.events.len()).sum::<usize>(), 16);
        assert_eq!(b.iter().map(|b| b.calls_completed).sum::<u64>(), 4);
    }

    #[test]
    fn a_rate_cuts_batches_per_fifth_of_a_second_and_paces_them() {
        let c = calls(&[2; 10]);
        let b = batches(&c, 100, 5.0);
        // One call per cut at 5 calls/s: ten batches, due 0.0, 0.2, … 1.8 s.
        assert_eq!(b.len(), 10);
        assert_eq!(b[9].due, Duration::from_secs_f64(1.8));
        assert!(b.windows(2).all(|w| w[0].due <= w[1].due));
    }
}
