//! The bulk loader.
//!
//! How it stays fast: the schema comes from `SqliteStore::open` (the store's own migration), then
//! the loader drops the `calls` secondary indexes and triggers (remembering their exact SQL from
//! `sqlite_master`), switches the file to `journal_mode = OFF` / `synchronous = OFF`, inserts in
//! large transactions in primary-key order (call ids are UUIDv7, i.e. time-ordered, and calls are
//! generated in start order), then rebuilds `call_counts` with the store's own SQL, recreates the
//! indexes and triggers and puts the file back into WAL mode.
//! Generation (the `simulate` generator, the fold, row encoding) runs on worker threads; one
//! thread writes. The result is not crash-safe while loading: rerun on failure.
//!
//! How it stays exact: every call comes from `callrec simulate`'s generator (every result, single
//! and group), shifted to its start time, deduplicated by `Event::dedupe_key` (first copy wins,
//! as in the store); time-outs that would be due by now are applied like the server's job would
//! (the fold's `due_events`, stored as `sys:` events) so the server finds nothing to do at start;
//! the `calls` row is then built from `fold` of the final event set with the same columns and
//! encodings as the store's refold.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use callrec::simulate::Generator;
use callrec_domain::{Event, EventType, Store, Timeouts, fold};
use callrec_store_sqlite::SqliteStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};
use serde::Serialize;

/// `callrec-bench load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The database file to create (must not exist unless --force).
    #[arg(long)]
    pub db: PathBuf,
    /// Number of calls.
    #[arg(long, default_value_t = 10_000_000)]
    pub records: u64,
    /// The app.
    #[arg(long, default_value_t = 1_400_000_001)]
    pub sdkappid: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Must equal the server's [calls] ring_timeout_secs.
    #[arg(long, default_value_t = 60)]
    pub ring_timeout_secs: u64,
    /// Must equal the server's [calls] max_idle_secs.
    #[arg(long, default_value_t = 43_200)]
    pub max_idle_secs: u64,
    /// Retention window the calls are spread over, in days.
    #[arg(long, default_value_t = 7)]
    pub days: u64,
    /// Keep the oldest start this far inside the window (so the data set stays valid for a while).
    #[arg(long, default_value_t = 12 * 3600)]
    pub old_margin_secs: u64,
    /// Latest start this long before now.
    #[arg(long, default_value_t = 3600)]
    pub new_margin_secs: u64,
    /// Write this many call ids (evenly spread) to --ids-out.
    #[arg(long, default_value_t = 100_000)]
    pub ids_count: u64,
    /// File for the sampled call ids (one per line).
    #[arg(long)]
    pub ids_out: Option<PathBuf>,
    /// Generator threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Replace an existing database.
    #[arg(long)]
    pub force: bool,
    /// Distinct users the calls' participants are drawn from (0: one per 5 calls). Besides
    /// them, `heavy_user` calls in every 1000th call and `light_user` in exactly 3 calls.
    #[arg(long, default_value_t = 0)]
    pub users: u64,
    /// Create the file with this SQLite page size (512-65536, a power of two) instead of
    /// SQLite's default 4096: an experiment knob (the server keeps whatever size a file has).
    #[arg(long)]
    pub page_size: Option<u32>,
}

/// The user who makes every 1000th call (10 000 calls in 10 M).
pub const HEAVY_USER: &str = "heavy_user";
/// The user who makes exactly 3 calls.
pub const LIGHT_USER: &str = "light_user";

/// Calls per chunk handed from a generator thread to the writer.
const CHUNK: u64 = 2_000;
/// Calls per write transaction.
const TX_CALLS: u64 = 500_000;

/// The event `body` column, exactly as `callrec-store-sqlite`'s codec writes it.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    callees: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    invitees: &'a [String],
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none")]
    media_type: Option<&'static str>,
    #[serde(rename = "callType", skip_serializing_if = "Option::is_none")]
    call_type: Option<&'static str>,
    #[serde(rename = "roomId", skip_serializing_if = "Option::is_none")]
    room_id: Option<&'a str>,
}

fn event_body(e: &Event) -> Option<String> {
    let body = Body {
        callees: &e.callees,
        invitees: &e.invitees,
        media_type: e.media_type.map(|m| m.as_str()),
        call_type: e.call_type.map(|c| c.as_str()),
        room_id: e.room_id.as_deref(),
    };
    let empty = body.callees.is_empty()
        && body.invitees.is_empty()
        && body.media_type.is_none()
        && body.call_type.is_none()
        && body.room_id.is_none();
    (!empty).then(|| serde_json::to_string(&body).unwrap_or_default())
}

struct EventRow {
    dedupe_key: String,
    time_ms: i64,
    kind: &'static str,
    user_id: String,
    event_id: Option<String>,
    body: Option<String>,
}

struct CallRow {
    call_id: String,
    first_event_ms: i64,
    start_ms: i64,
    start_s: i64,
    ended: bool,
    result: &'static str,
    call_type: &'static str,
    media_type: &'static str,
    room_id: String,
    caller: String,
    accept_ms: Option<i64>,
    end_ms: Option<i64>,
    callees: String,
    due_ms: Option<i64>,
    talk_s: i64,
    events: Vec<EventRow>,
}

/// A time-ordered UUID (v7 layout): 48-bit ms timestamp, then random bits, with the call's
/// sequence number in the last group so ids are unique.
fn uuid_v7(ms: i64, seq: u64, rng: &mut StdRng) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    let ra: u16 = rng.random::<u16>() & 0x0fff;
    let rb: u16 = rng.random::<u16>() & 0x3fff;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff,
        0x7000 | ra,
        0x8000 | rb,
        seq & 0xffff_ffff_ffff
    )
}

struct Plan {
    sdkappid: u64,
    records: u64,
    now_ms: i64,
    first_start_ms: i64,
    span_ms: i64,
    timeouts: Timeouts,
    seed: u64,
    users: u64,
}

impl Plan {
    fn make_call(&self, i: u64, generator: &mut Generator, rng: &mut StdRng) -> CallRow {
        let slot = (self.span_ms / i64::try_from(self.records).unwrap_or(i64::MAX)).max(1);
        let target = self.first_start_ms
            + i64::try_from(
                u128::from(i) * u128::from(self.span_ms.unsigned_abs()) / u128::from(self.records),
            )
            .unwrap_or(0)
            + rng.random_range(0..slot);
        let sim = generator.call(self.now_ms);
        let start_time = sim
            .events
            .iter()
            .filter(|e| e.kind == EventType::Start)
            .map(|e| e.time_ms)
            .min()
            .unwrap_or(self.now_ms);
        let delta = target - start_time;
        let call_id = uuid_v7(target, i, rng);
        // The generator's few hundred users become a realistic population: each distinct user
        // of the call is drawn from `users` (distinct within the call); the caller of every
        // 1000th call is the heavy user, and of three calls the light one.
        let caller = sim
            .events
            .iter()
            .find(|e| e.kind == EventType::Start)
            .map(|e| e.user_id.clone())
            .unwrap_or_default();
        let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let fixed = if i.is_multiple_of(1000) {
            Some(HEAVY_USER)
        } else if [
            self.records / 4 + 1,
            self.records / 2 + 1,
            self.records * 3 / 4 + 1,
        ]
        .contains(&i)
        {
            Some(LIGHT_USER)
        } else {
            None
        };
        if let Some(f) = fixed {
            names.insert(caller, f.to_owned());
        }
        let mut rename = |u: &str, rng: &mut StdRng| -> String {
            if let Some(n) = names.get(u) {
                return n.clone();
            }
            let taken: HashSet<String> = names.values().cloned().collect();
            let n = loop {
                let n = format!("u{:07}", rng.random_range(0..self.users));
                if !taken.contains(&n) {
                    break n;
                }
            };
            names.insert(u.to_owned(), n.clone());
            n
        };
        let mut sim = sim;
        for e in &mut sim.events {
            e.user_id = rename(&e.user_id, rng);
            for c in e.callees.iter_mut().chain(e.invitees.iter_mut()) {
                *c = rename(c, rng);
            }
            // Each repeated copy keeps its original's eventId; ids stay unique per call.
        }
        let mut seen = HashSet::with_capacity(sim.events.len() + 4);
        let mut events: Vec<Event> = Vec::with_capacity(sim.events.len() + 4);
        for mut e in sim.events {
            e.call_id.clone_from(&call_id);
            e.time_ms += delta;
            if seen.insert(e.dedupe_key()) {
                events.push(e);
            }
        }
        // Apply the time-outs the server's job would have applied by now.
        let mut state = fold(self.sdkappid, &events).expect("generated calls have a start");
        for _ in 0..64 {
            let due = state.due_events(self.timeouts, self.now_ms);
            if due.is_empty() {
                break;
            }
            for e in due {
                if seen.insert(e.dedupe_key()) {
                    events.push(e);
                }
            }
            state = fold(self.sdkappid, &events).expect("still has a start");
        }
        let first_event_ms = events.iter().map(|e| e.time_ms).min().unwrap_or(target);
        let mut rows: Vec<EventRow> = events
            .iter()
            .map(|e| EventRow {
                dedupe_key: e.dedupe_key(),
                time_ms: e.time_ms,
                kind: e.kind.as_str(),
                user_id: e.user_id.clone(),
                event_id: e.event_id.clone(),
                body: event_body(e),
            })
            .collect();
        rows.sort_by(|a, b| a.dedupe_key.cmp(&b.dedupe_key));
        let r = &state.record;
        CallRow {
            call_id,
            first_event_ms,
            start_ms: r.start_ms,
            start_s: r.start_secs(),
            ended: state.is_ended(),
            result: r.result.as_str(),
            call_type: r.call_type.as_str(),
            media_type: r.media_type.as_str(),
            room_id: r.room_id.clone(),
            caller: r.caller.clone(),
            accept_ms: r.accept_ms,
            end_ms: r.end_ms,
            callees: serde_json::to_string(&r.callees).unwrap_or_else(|_| "[]".into()),
            due_ms: state.next_due_ms(self.timeouts),
            talk_s: r.talk_secs(),
            events: rows,
        }
    }
}

fn generate_chunks(plan: &Plan, thread: usize, threads: usize, tx: &SyncSender<Vec<CallRow>>) {
    let chunks = plan.records.div_ceil(CHUNK);
    let mut generator = Generator::new(plan.seed.wrapping_mul(1000).wrapping_add(thread as u64));
    let mut rng = StdRng::seed_from_u64(plan.seed ^ (0x9e37_79b9 + thread as u64));
    let mut c = thread as u64;
    while c < chunks {
        let lo = c * CHUNK;
        let hi = (lo + CHUNK).min(plan.records);
        let rows = (lo..hi)
            .map(|i| plan.make_call(i, &mut generator, &mut rng))
            .collect();
        if tx.send(rows).is_err() {
            return;
        }
        c += threads as u64;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn create_schema(db: &Path, timeouts: Timeouts, page_size: Option<u32>) -> anyhow::Result<()> {
    if let Some(size) = page_size {
        // Fixed when the first page is written: set on the empty file before the store opens it.
        let conn = Connection::open(db)?;
        conn.execute_batch(&format!("PRAGMA page_size = {size}; VACUUM;"))?;
        let got: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        if got != size {
            bail!("SQLite refused page size {size} (got {got})");
        }
    }
    let store = SqliteStore::open(db, timeouts).context("creating the schema")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(store.close()).context("closing the store")?;
    Ok(())
}

/// Runs the loader.
pub fn run(args: &LoadArgs) -> anyhow::Result<()> {
    if args.records == 0 {
        bail!("--records must be at least 1");
    }
    if args.db.exists() {
        if !args.force {
            bail!("{} exists; use --force to replace it", args.db.display());
        }
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", args.db.display()));
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    let timeouts = Timeouts {
        ring_ms: i64::try_from(args.ring_timeout_secs * 1000)?,
        idle_ms: i64::try_from(args.max_idle_secs * 1000)?,
    };
    let started = Instant::now();
    create_schema(&args.db, timeouts, args.page_size)?;

    let now = now_ms();
    let window_ms = i64::try_from(args.days * 86_400_000)?;
    let first_start_ms = now - window_ms + i64::try_from(args.old_margin_secs * 1000)?;
    let last_start_ms = now - i64::try_from(args.new_margin_secs * 1000)?;
    if last_start_ms <= first_start_ms {
        bail!("the margins leave no time window");
    }
    let plan = Plan {
        sdkappid: args.sdkappid,
        records: args.records,
        now_ms: now,
        first_start_ms,
        span_ms: last_start_ms - first_start_ms,
        timeouts,
        seed: args.seed,
        users: if args.users == 0 {
            (args.records / 5).max(10)
        } else {
            args.users
        },
    };

    let mut conn = Connection::open(&args.db)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("off") {
        bail!("could not leave WAL mode for the load (got {mode})");
    }
    conn.execute_batch(
        "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; PRAGMA threads = 2; \
         PRAGMA temp_store = FILE;",
    )?;
    // The `calls` secondary indexes and the triggers that keep `call_counts`: dropped while
    // loading, `call_counts` rebuilt from `calls` afterwards (the store's own SQL), then both
    // recreated from their exact SQL.
    let indexes: Vec<(String, String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') \
             AND tbl_name = 'calls' AND sql IS NOT NULL ORDER BY type, name",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?
    };
    for (kind, name, _) in &indexes {
        let kind = if kind == "trigger" {
            "TRIGGER"
        } else {
            "INDEX"
        };
        conn.execute_batch(&format!("DROP {kind} \"{name}\""))?;
    }

    let threads = args.threads.max(1);
    let mut receivers: Vec<Receiver<Vec<CallRow>>> = Vec::with_capacity(threads);
    let app = i64::try_from(args.sdkappid)?;
    let ids_every = (args.records / args.ids_count.max(1)).max(1);
    let mut ids_out = match &args.ids_out {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let (mut calls_done, mut events_done) = (0u64, 0u64);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for t in 0..threads {
            let (tx, rx) = sync_channel(4);
            receivers.push(rx);
            let plan = &plan;
            scope.spawn(move || generate_chunks(plan, t, threads, &tx));
        }
        let chunks = args.records.div_ceil(CHUNK);
        let mut tx = conn.transaction()?;
        let mut in_tx = 0u64;
        let mut last_report = Instant::now();
        for c in 0..chunks {
            let rows = receivers[(c % threads as u64) as usize]
                .recv()
                .context("a generator thread stopped")?;
            {
                let mut ins_call = tx.prepare_cached(
                    "INSERT INTO calls (sdkappid, call_id, first_event_ms, start_ms, start_s, ended, \
                     result, call_type, media_type, room_id, caller, accept_ms, end_ms, callees, due_ms, \
                     talk_s) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )?;
                let mut ins_event = tx.prepare_cached(
                    "INSERT INTO events (sdkappid, call_id, dedupe_key, time_ms, kind, user_id, \
                     event_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for row in &rows {
                    ins_call.execute(params![
                        app,
                        row.call_id,
                        row.first_event_ms,
                        row.start_ms,
                        row.start_s,
                        row.ended,
                        row.result,
                        row.call_type,
                        row.media_type,
                        row.room_id,
                        row.caller,
                        row.accept_ms,
                        row.end_ms,
                        row.callees,
                        row.due_ms,
                        row.talk_s,
                    ])?;
                    for e in &row.events {
                        ins_event.execute(params![
                            app,
                            row.call_id,
                            e.dedupe_key,
                            e.time_ms,
                            e.kind,
                            e.user_id,
                            e.event_id,
                            e.body,
                        ])?;
                    }
                    events_done += row.events.len() as u64;
                    if let Some(out) = ids_out.as_mut()
                        && calls_done % ids_every == 0
                    {
                        writeln!(out, "{}", row.call_id)?;
                    }
                    calls_done += 1;
                }
            }
            in_tx += rows.len() as u64;
            if in_tx >= TX_CALLS {
                tx.commit()?;
                tx = conn.transaction()?;
                in_tx = 0;
            }
            if last_report.elapsed().as_secs() >= 10 {
                last_report = Instant::now();
                eprintln!(
                    "load: {calls_done} calls, {events_done} events, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        tx.commit()?;
        Ok(())
    })?;
    if let Some(mut out) = ids_out {
        out.flush()?;
    }
    let loaded = started.elapsed();
    eprintln!(
        "load: {calls_done} calls, {events_done} events inserted in {:.1} s; building indexes",
        loaded.as_secs_f64()
    );
    let t = Instant::now();
    conn.execute_batch(&format!(
        "BEGIN; {} COMMIT;",
        callrec_store_sqlite::REBUILD_DERIVED_SQL
    ))?;
    eprintln!(
        "load: call_counts and call_users in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for (kind, name, sql) in &indexes {
        let t = Instant::now();
        conn.execute_batch(sql)?;
        eprintln!("load: {kind} {name} in {:.1} s", t.elapsed().as_secs_f64());
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("could not return to WAL mode (got {mode})");
    }
    drop(conn);
    let size = std::fs::metadata(&args.db).map(|m| m.len()).unwrap_or(0);
    let total = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "calls": calls_done,
            "heavy_user": HEAVY_USER,
            "light_user": LIGHT_USER,
            "events": events_done,
            "insert_s": (loaded.as_secs_f64() * 10.0).round() / 10.0,
            "total_s": (total * 10.0).round() / 10.0,
            "db_bytes": size,
            "first_start_ms": first_start_ms,
            "last_start_ms": last_start_ms,
            "now_ms": now,
        })
    );
    Ok(())
}
