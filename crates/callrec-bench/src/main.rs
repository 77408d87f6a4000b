//! `callrec-bench`: the tools behind `bench/run.sh`.
//!
//! - `load`: the bulk loader. Writes N calls (with their events) straight into a new SQLite
//!   database of `callrec-store-sqlite`'s exact schema (created by the store's own migration), each
//!   call's row being the fold of its stored events, exactly as the writer's refold would make it.
//! - `report`: the `events/report` load client (P2): many concurrent connections posting batches
//!   of new events; counts what the server acknowledged.
//! - `recheck`: re-posts a sample of acknowledged batches after a restart; every event must come
//!   back as a duplicate (durability of acknowledged events).
//! - `callbacks`: P6, callback delivery to a local receiver with a baseline (`bench/run.sh p6`).
//! - `preload` / `query`: the store comparison (`bench/stores.sh`): report a fixed data set
//!   through the API, then drive `get_record_by_callId` / `get_records_by_filter`.

mod callbacks;
mod load;
mod report;
mod stores;

use clap::{Parser, Subcommand};

/// callrec's benchmark tools (see bench/run.sh).
#[derive(Debug, Parser)]
#[command(name = "callrec-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bulk-load synthetic calls into a new SQLite database.
    Load(load::LoadArgs),
    /// Drive events/report with batches of new events.
    Report(report::ReportArgs),
    /// Re-post sampled acknowledged batches; all must be duplicates.
    Recheck(report::RecheckArgs),
    /// Report a fixed, seeded set of calls through the API (bench/stores.sh).
    Preload(stores::PreloadArgs),
    /// Drive get_record_by_callId or get_records_by_filter (bench/stores.sh).
    Query(stores::QueryArgs),
    /// P6: callback delivery to a local receiver, with a baseline.
    Callbacks(callbacks::CallbacksArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Load(args) => load::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Recheck(args) => report::recheck(&args),
        Command::Preload(args) => stores::preload(&args),
        Command::Query(args) => stores::query(&args),
        Command::Callbacks(args) => callbacks::run(&args),
    }
}

/// Open-loop pacing: waits until request `n` of a run at `rate` requests/s that began at
/// `started` is due; `false` if that is past `deadline` (the run is over). A `rate` of 0 never
/// waits.
async fn pace(
    started: std::time::Instant,
    deadline: std::time::Instant,
    n: u64,
    rate: f64,
) -> bool {
    if rate <= 0.0 {
        return true;
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "request numbers stay far below 2^52"
    )]
    let due = started + std::time::Duration::from_secs_f64(n as f64 / rate);
    if due >= deadline {
        return false;
    }
    tokio::time::sleep_until(due.into()).await;
    true
}
