//! The single writer: one thread owns the only read-write connection and applies every write.
//!
//! SQLite allows one writer at a time anyway; funnelling writes through one thread turns lock
//! contention into a queue and makes **group commit** possible: the thread blocks for one job,
//! then takes every ingest job already queued (up to [`MAX_BATCH_ITEMS`] events) and applies them
//! all in ONE transaction, so N concurrent reports cost one fsync instead of N. Replies are sent
//! only after `COMMIT` returned (with `synchronous = FULL`, the batch is on stable storage), which
//! is what makes "accepted" mean durable. If the transaction fails, every job in it gets the error
//! and nothing of it is stored.
//!
//! Retention purges also run here, one bounded chunk per job, so they never race ingest and
//! never hold the write lock for long.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callrec_domain::stored::{CallRow, RecordColumns, StoredCode as _, event_body};
use callrec_domain::{
    CallbackConfig, CallbackPlanner, Cause, Event, IngestItem, IngestOutcome, PurgeStats,
    StoreError, Timeouts, changes_of_storing, fold_timed,
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{EVENT_COLUMNS, app_to_sql, callees_json, event_from_row};
use crate::error::map_err;
use crate::query::{HOUR, MINUTE};

/// Most events one group-commit transaction takes (a single larger job still runs whole).
pub(crate) const MAX_BATCH_ITEMS: usize = 10_000;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A unit of work for the writer thread.
pub(crate) enum Job {
    /// Store events and refold the calls they touch.
    Ingest {
        items: Vec<IngestItem>,
        reply: Reply<Vec<IngestOutcome>>,
    },
    /// Delete up to `limit` calls older than `cutoff_ms`, with their events.
    PurgeChunk {
        cutoff_ms: i64,
        limit: usize,
        reply: Reply<(PurgeStats, usize)>,
    },
    /// Any other write (callback configurations and deliveries): runs on the writer thread,
    /// replies itself.
    Exec(Box<dyn FnOnce(&mut Writer) + Send>),
}

/// Counters of the writer's work, for metrics and for tests that check batching.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) transactions: AtomicU64,
    pub(crate) ingest_jobs: AtomicU64,
    pub(crate) events: AtomicU64,
    pub(crate) health: Health,
}

/// How long a successful write vouches for the store being writable (`ping`).
const FRESH: Duration = Duration::from_secs(5);

/// How often a writer whose file could not be written tries to open it again.
const REOPEN_EVERY: Duration = Duration::from_millis(250);

/// The writer's last outcomes, in milliseconds since `epoch` plus one (0: never).
#[derive(Debug)]
pub(crate) struct Health {
    epoch: Instant,
    last_ok: AtomicU64,
    last_err: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            epoch: Instant::now(),
            last_ok: AtomicU64::new(0),
            last_err: AtomicU64::new(0),
        }
    }
}

impl Health {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    pub(crate) fn succeeded(&self) {
        self.last_ok.store(self.now(), Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.last_err.store(self.now(), Ordering::Relaxed);
    }

    /// Whether the last write succeeded, less than [`FRESH`] ago.
    pub(crate) fn recently_ok(&self) -> bool {
        let ok = self.last_ok.load(Ordering::Relaxed);
        ok > self.last_err.load(Ordering::Relaxed)
            && self.now() - ok < u64::try_from(FRESH.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Why the writer's file could not be written, and when it last tried to open it.
pub(crate) struct Fault {
    why: String,
    tried: Instant,
    /// Whether the file was ever opened for writing by this process (if not, opening it again
    /// also migrates it and releases earlier processes' leases).
    prepared: bool,
}

impl Fault {
    /// A fault at open: never prepared.
    pub(crate) fn new(why: String) -> Fault {
        Fault {
            why,
            tried: Instant::now(),
            prepared: false,
        }
    }
}

/// `conn`, or why there is none (split from [`Writer`] so a transaction can borrow the
/// connection while the writer's other fields are used).
fn usable<'a>(
    conn: &'a mut Option<Connection>,
    fault: Option<&Fault>,
) -> Result<&'a mut Connection, StoreError> {
    match (conn, fault) {
        (Some(conn), _) => Ok(conn),
        (None, fault) => Err(StoreError::Unavailable(format!(
            "the store cannot be written: {}",
            fault.map_or("not open", |f| f.why.as_str())
        ))),
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    /// The database file.
    pub(crate) path: PathBuf,
    /// The read-write connection; `None` while it could not be opened.
    pub(crate) conn: Option<Connection>,
    /// Set when a write failed for want of a writable file (read-only, full, I/O errors), or
    /// the file could not be opened: the next jobs reopen it first (see [`Writer::recover`]).
    pub(crate) fault: Option<Fault>,
    /// The store's readers, retired before a reopen (see [`crate::Readers::retire`]).
    pub(crate) readers: Arc<crate::Readers>,
    pub(crate) timeouts: Timeouts,
    pub(crate) rx: mpsc::Receiver<Job>,
    pub(crate) counters: Arc<Counters>,
    /// The store's lock file, held (see [`crate::lock_exclusively`]) until this writer is done.
    pub(crate) _lock: std::fs::File,
    /// Plans the callbacks of stored events; `None`: the store produces none.
    pub(crate) planner: Option<Arc<dyn CallbackPlanner>>,
    /// Each app's callback configurations as stored. Only this thread writes them, so the cache
    /// is exact: [`Writer::config_changed`] drops an app's entry when they change.
    pub(crate) configs: HashMap<i64, Arc<[CallbackConfig]>>,
    /// The store's cache of ended records: every call refolded or deleted here is invalidated
    /// after its commit, before the write is acknowledged.
    pub(crate) cache: Arc<crate::cache::RecordCache>,
}

impl Writer {
    /// Serves jobs until every sender is gone and the queue is drained, so `close` (which drops
    /// the last sender) still finishes everything already queued.
    pub(crate) fn run(mut self) {
        // A non-ingest job met while draining a batch waits here for its turn, keeping order.
        let mut held: Option<Job> = None;
        loop {
            let job = match held.take() {
                Some(job) => job,
                None => match self.rx.blocking_recv() {
                    Some(job) => job,
                    None => break,
                },
            };
            self.recover();
            match job {
                Job::PurgeChunk {
                    cutoff_ms,
                    limit,
                    reply,
                } => {
                    let result = self.purge_chunk(cutoff_ms, limit);
                    self.note(&result);
                    // The requester may have given up; the work is done either way.
                    let _ = reply.send(result);
                }
                Job::Exec(run) => run(&mut self),
                Job::Ingest { items, reply } => {
                    let mut count = items.len();
                    let mut batch = vec![(items, reply)];
                    while count < MAX_BATCH_ITEMS {
                        match self.rx.try_recv() {
                            Ok(Job::Ingest { items, reply }) => {
                                count += items.len();
                                batch.push((items, reply));
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch);
                }
            }
        }
        tracing::debug!("sqlite writer stopped");
    }

    /// The read-write connection, or why there is none.
    pub(crate) fn conn(&mut self) -> Result<&mut Connection, StoreError> {
        usable(&mut self.conn, self.fault.as_ref())
    }

    /// Records a write's outcome; an `Unavailable` failure (read-only or full file system, I/O
    /// errors, a lock) makes the next job open the file afresh first.
    pub(crate) fn note<T>(&mut self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.counters.health.succeeded(),
            Err(e) => {
                self.counters.health.failed();
                if let StoreError::Unavailable(why) = e {
                    let prepared = self.fault.as_ref().is_none_or(|f| f.prepared);
                    if self.fault.is_none() {
                        tracing::warn!(error = %why, "sqlite write failed; reopening the store before the next write");
                    }
                    self.fault = Some(Fault {
                        why: why.clone(),
                        tried: Instant::now()
                            .checked_sub(REOPEN_EVERY)
                            .unwrap_or_else(Instant::now),
                        prepared,
                    });
                }
            }
        }
    }

    /// With a fault, opens the file again (at most every [`REOPEN_EVERY`]): a file system that
    /// was read-only or full and is writable again is used again without a restart. Until then
    /// the old connection (if any) stays, so a job gets the real error.
    fn recover(&mut self) {
        let Some(fault) = &self.fault else {
            return;
        };
        if fault.tried.elapsed() < REOPEN_EVERY {
            return;
        }
        let prepared = fault.prepared;
        self.readers.retire();
        let opened = if prepared {
            crate::open_writer_connection(&self.path)
        } else {
            crate::open_for_writing(&self.path, self.timeouts)
        };
        match opened {
            Ok(conn) => {
                self.conn = Some(conn);
                self.fault = None;
                tracing::info!(path = %self.path.display(), "sqlite store open for writing again");
            }
            Err(e) => {
                tracing::debug!(error = %e, "sqlite store still not writable");
                self.fault = Some(Fault {
                    why: e.to_string(),
                    tried: Instant::now(),
                    prepared,
                });
            }
        }
    }

    fn commit_batch(&mut self, batch: Vec<(Vec<IngestItem>, Reply<Vec<IngestOutcome>>)>) {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let result = self.ingest_all(&jobs);
        self.note(&result);
        match result {
            Ok(outcomes) => {
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .ingest_jobs
                    .fetch_add(jobs.len() as u64, Ordering::Relaxed);
                let n: usize = jobs.iter().map(Vec::len).sum();
                self.counters.events.fetch_add(n as u64, Ordering::Relaxed);
                for (reply, out) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = jobs.len(), "sqlite ingest transaction failed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Inserts every item of every job and refolds the touched calls, in one transaction.
    fn ingest_all(
        &mut self,
        jobs: &[Vec<IngestItem>],
    ) -> Result<Vec<Vec<IngestOutcome>>, StoreError> {
        let tx = usable(&mut self.conn, self.fault.as_ref())?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        // Only calls that gained an event can have changed; duplicates never change a record.
        // Each touched call keeps the events this transaction stored for it: a call with no
        // stored event before (no `calls` row) is refolded from these alone, without reading
        // them back.
        let mut touched: BTreeMap<(i64, &str), Vec<&IngestItem>> = BTreeMap::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events \
                     (sdkappid, call_id, dedupe_key, time_ms, kind, user_id, event_id, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(map_err)?;
            for job in jobs {
                let mut out = Vec::with_capacity(job.len());
                for item in job {
                    let e = &item.event;
                    let app = app_to_sql(item.sdkappid);
                    // The primary key (app, call, dedupe key) does the deduplication, against the
                    // database and against earlier items of this same transaction alike.
                    let inserted = insert
                        .execute(params![
                            app,
                            e.call_id,
                            e.dedupe_key(),
                            e.time_ms,
                            e.kind.code(),
                            e.user_id,
                            e.event_id,
                            event_body(e),
                        ])
                        .map_err(map_err)?;
                    if inserted == 1 {
                        touched
                            .entry((app, e.call_id.as_str()))
                            .or_default()
                            .push(item);
                        out.push(IngestOutcome::Accepted);
                    } else {
                        out.push(IngestOutcome::Duplicate);
                    }
                }
                outcomes.push(out);
            }
        }
        let mut counts = CountDeltas::default();
        for (&(app, call_id), fresh) in &touched {
            let callbacks = match &self.planner {
                Some(planner) => {
                    let configs = cached_configs(&mut self.configs, &tx, app)?;
                    (!configs.is_empty()).then(|| (&**planner, configs))
                }
                None => None,
            };
            refold(
                &tx,
                self.timeouts,
                &mut counts,
                app,
                call_id,
                Some(fresh),
                callbacks,
            )?;
        }
        counts.apply(&tx)?;
        tx.commit().map_err(map_err)?;
        for &(app, call_id) in touched.keys() {
            self.cache.invalidate(app, call_id);
        }
        Ok(outcomes)
    }

    /// Forgets the cached configurations of `app` (after writing them).
    pub(crate) fn config_changed(&mut self, app: i64) {
        self.configs.remove(&app);
    }

    fn purge_chunk(
        &mut self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<(PurgeStats, usize), StoreError> {
        let tx = usable(&mut self.conn, self.fault.as_ref())?
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let victims: Vec<(i64, String, Derived)> = {
            let mut stmt = tx
                .prepare_cached(crate::query::PURGE_PICK_SQL)
                .map_err(map_err)?;
            stmt.query_map(params![cutoff_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, Derived::from_row(r, 2)?))
            })
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)?
        };
        let mut stats = PurgeStats::default();
        let mut counts = CountDeltas::default();
        {
            let mut del_events = tx
                .prepare_cached("DELETE FROM events WHERE sdkappid = ?1 AND call_id = ?2")
                .map_err(map_err)?;
            let mut del_call = tx
                .prepare_cached("DELETE FROM calls WHERE sdkappid = ?1 AND call_id = ?2")
                .map_err(map_err)?;
            for (app, call_id, old) in &victims {
                stats.events += del_events.execute(params![app, call_id]).map_err(map_err)? as u64;
                crate::outbox::delete_for_call(&tx, *app, call_id)?;
                let deleted = del_call.execute(params![app, call_id]).map_err(map_err)?;
                stats.calls += deleted as u64;
                if deleted == 1 {
                    counts.add(*app, old.count.as_ref(), -1);
                    sync_users(&tx, *app, call_id, old, &Derived::default())?;
                }
            }
        }
        counts.apply(&tx)?;
        tx.commit().map_err(map_err)?;
        for (app, call_id, _) in &victims {
            self.cache.invalidate(*app, call_id);
        }
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        Ok((stats, victims.len()))
    }
}

/// Makes the stored `due_ms` values agree with `timeouts`: if the database was last written
/// with other time-outs (the config changed between runs), every ongoing call is refolded. Runs
/// at open, before the writer thread starts.
pub(crate) fn apply_timeouts(conn: &mut Connection, timeouts: Timeouts) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let stored = |key: &str| -> Result<Option<i64>, StoreError> {
        tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(map_err)
    };
    let current = (stored("ring_timeout_ms")?, stored("max_idle_ms")?);
    if current == (Some(timeouts.ring_ms), Some(timeouts.idle_ms)) {
        return Ok(());
    }
    let ongoing: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare("SELECT sdkappid, call_id FROM calls WHERE ended = 0 AND start_ms IS NOT NULL")
            .map_err(map_err)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)?
    };
    if !ongoing.is_empty() {
        tracing::info!(
            calls = ongoing.len(),
            "time-outs changed; recomputing due times"
        );
    }
    let mut counts = CountDeltas::default();
    for (app, call_id) in &ongoing {
        refold(&tx, timeouts, &mut counts, *app, call_id, None, None)?;
    }
    counts.apply(&tx)?;
    tx.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('ring_timeout_ms', ?1), ('max_idle_ms', ?2)",
        params![timeouts.ring_ms, timeouts.idle_ms],
    )
    .map_err(map_err)?;
    tx.commit().map_err(map_err)
}

/// Recomputes a call's `calls` row from all its stored events (inside the ingest transaction, so
/// it sees this batch's events too). The record is thereby always exactly the fold of the set.
///
/// `fresh`: the items this transaction stored for the call, if the caller has them. When the
/// call has no `calls` row, it had no stored event before this transaction (every call with a
/// stored event has a row: refold writes it, purge deletes both), so `fresh` is its whole set
/// and is folded without reading the events back.
///
/// `callbacks`: the planner and the app's configurations, when it has any: the callbacks of
/// storing `fresh` are then produced here, in the same transaction.
fn refold(
    tx: &Transaction<'_>,
    timeouts: Timeouts,
    counts: &mut CountDeltas,
    app: i64,
    call_id: &str,
    fresh: Option<&[&IngestItem]>,
    callbacks: Option<(&dyn CallbackPlanner, Arc<[CallbackConfig]>)>,
) -> Result<(), StoreError> {
    // The row as it is before this refold: `None` if there is none, else what derives from it.
    let old: Option<Derived> = tx
        .prepare_cached(
            "SELECT caller, callees, start_s, ended, result, call_type, media_type, accept_ms, \
             talk_s FROM calls WHERE sdkappid = ?1 AND call_id = ?2",
        )
        .map_err(map_err)?
        .query_row(params![app, call_id], |r| Derived::from_row(r, 0))
        .optional()
        .map_err(map_err)?;
    let events: Vec<Event> = match fresh {
        Some(fresh) if old.is_none() => fresh.iter().map(|i| i.event.clone()).collect(),
        _ => {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE sdkappid = ?1 AND call_id = ?2"
                ))
                .map_err(map_err)?;
            stmt.query_map(params![app, call_id], event_from_row)
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?
        }
    };
    let Some(first_event_ms) = events.iter().map(|e| e.time_ms).min() else {
        return Ok(());
    };
    if let Some(old) = &old {
        counts.add(app, old.count.as_ref(), -1);
    }
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO calls (sdkappid, call_id, first_event_ms, start_ms, start_s, ended, result, \
             call_type, media_type, room_id, caller, accept_ms, end_ms, callees, due_ms, \
             room_id_type, talk_s) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (sdkappid, call_id) DO UPDATE SET \
             first_event_ms = excluded.first_event_ms, start_ms = excluded.start_ms, \
             start_s = excluded.start_s, ended = excluded.ended, result = excluded.result, \
             call_type = excluded.call_type, media_type = excluded.media_type, \
             room_id = excluded.room_id, caller = excluded.caller, accept_ms = excluded.accept_ms, \
             end_ms = excluded.end_ms, callees = excluded.callees, due_ms = excluded.due_ms, \
             room_id_type = excluded.room_id_type, talk_s = excluded.talk_s",
        )
        .map_err(map_err)?;
    let sdkappid = crate::codec::app_from_sql(app);
    if let (Some(fresh), Some((planner, configs))) = (fresh, callbacks) {
        produce(tx, planner, &configs, sdkappid, &events, fresh, timeouts)?;
    }
    let state = fold_timed(sdkappid, &events, Some(timeouts));
    let row = CallRow::new(first_event_ms, state.as_ref(), timeouts);
    let new = row.record.as_ref().map(Derived::of).unwrap_or_default();
    counts.add(app, new.count.as_ref(), 1);
    sync_users(
        tx,
        app,
        call_id,
        old.as_ref().unwrap_or(&Derived::default()),
        &new,
    )?;
    match &row.record {
        Some(r) => {
            upsert
                .execute(params![
                    app,
                    call_id,
                    row.first_event_ms,
                    r.start_ms,
                    r.start_s,
                    r.ended,
                    r.result,
                    r.call_type,
                    r.media_type,
                    r.room_id,
                    r.caller,
                    r.accept_ms,
                    r.end_ms,
                    callees_json(&r.callees),
                    r.due_ms,
                    r.room_id_type,
                    r.talk_s,
                ])
                .map_err(map_err)?;
        }
        None => {
            // No start yet: keep a row so retention can find the call, invisible to queries.
            upsert
                .execute(params![
                    app,
                    call_id,
                    row.first_event_ms,
                    None::<i64>,
                    None::<i64>,
                    false,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    None::<&str>,
                    None::<i64>,
                    None::<i64>,
                    None::<&str>,
                    None::<i64>,
                    None::<i64>,
                    0,
                ])
                .map_err(map_err)?;
        }
    }
    Ok(())
}

/// The app's callback configurations, from the cache or the database.
fn cached_configs(
    cache: &mut HashMap<i64, Arc<[CallbackConfig]>>,
    tx: &Transaction<'_>,
    app: i64,
) -> Result<Arc<[CallbackConfig]>, StoreError> {
    if let Some(c) = cache.get(&app) {
        return Ok(Arc::clone(c));
    }
    let loaded: Arc<[CallbackConfig]> = crate::outbox::configs(tx, app)?.into();
    cache.insert(app, Arc::clone(&loaded));
    Ok(loaded)
}

/// Produces the callbacks of storing `fresh` (already among `events`, the call's whole set).
fn produce(
    tx: &Transaction<'_>,
    planner: &dyn CallbackPlanner,
    configs: &[CallbackConfig],
    sdkappid: u64,
    events: &[Event],
    fresh: &[&IngestItem],
    timeouts: Timeouts,
) -> Result<(), StoreError> {
    let fresh_keys: std::collections::HashSet<String> =
        fresh.iter().map(|i| i.event.dedupe_key()).collect();
    let before: Vec<Event> = events
        .iter()
        .filter(|e| !fresh_keys.contains(&e.dedupe_key()))
        .cloned()
        .collect();
    let fresh_events: Vec<&Event> = fresh.iter().map(|i| &i.event).collect();
    let mut planned = Vec::new();
    for (i, change) in changes_of_storing(sdkappid, &before, &fresh_events, timeouts) {
        let cause = Cause {
            client_ip: fresh[i].client_ip,
            platform: fresh[i].event.platform.as_deref(),
        };
        planned.extend(planner.plan(sdkappid, configs, &change, cause));
    }
    crate::outbox::insert(tx, crate::codec::app_to_sql(sdkappid), &planned)
}

/// The columns of a `calls` row that decide which `call_counts` rows count it (rows without a
/// start are counted nowhere), with what the row adds to them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CountKey {
    start_s: i64,
    ended: bool,
    result: String,
    call_type: String,
    media_type: String,
    connected: bool,
    talk_s: i64,
}

/// One `call_users` row of a call: (user, is caller), the rest from the call's [`CountKey`].
type UserRow = (String, bool);

/// What derives from a `calls` row: its counts and its participant rows (both empty without a
/// start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Derived {
    count: Option<CountKey>,
    users: Vec<UserRow>,
}

impl Derived {
    /// Reads `caller, callees, start_s, ended, result, call_type, media_type, accept_ms,
    /// talk_s` at columns `i..i + 9`.
    fn from_row(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Derived> {
        let Some(start_s) = r.get::<_, Option<i64>>(i + 2)? else {
            return Ok(Derived::default());
        };
        let caller: String = r.get(i)?;
        let callees: String = r.get(i + 1)?;
        let mut users = vec![(caller, true)];
        users.extend(
            crate::codec::parse_callees(i + 1, &callees)?
                .into_iter()
                .map(|c| (c, false)),
        );
        Ok(Derived {
            count: Some(CountKey {
                start_s,
                ended: r.get(i + 3)?,
                result: r.get(i + 4)?,
                call_type: r.get(i + 5)?,
                media_type: r.get(i + 6)?,
                connected: r.get::<_, Option<i64>>(i + 7)?.is_some(),
                talk_s: r.get(i + 8)?,
            }),
            users,
        })
    }

    /// What the columns of a started call derive.
    fn of(r: &RecordColumns) -> Derived {
        let mut users = vec![(r.caller.clone(), true)];
        users.extend(r.callees.iter().map(|c| (c.clone(), false)));
        Derived {
            count: Some(CountKey {
                start_s: r.start_s,
                ended: r.ended,
                result: r.result.to_owned(),
                call_type: r.call_type.to_owned(),
                media_type: r.media_type.to_owned(),
                connected: r.accept_ms.is_some(),
                talk_s: r.talk_s,
            }),
            users,
        }
    }
}

/// Makes a call's `call_users` rows go from what `old` derives to what `new` derives (nothing
/// is written when they are the same: most events change neither the participants nor a
/// column the rows copy).
fn sync_users(
    tx: &Transaction<'_>,
    app: i64,
    call_id: &str,
    old: &Derived,
    new: &Derived,
) -> Result<(), StoreError> {
    if old == new {
        return Ok(());
    }
    if let Some(k) = &old.count {
        let mut del = tx
            .prepare_cached(
                "DELETE FROM call_users WHERE sdkappid = ?1 AND user_id = ?2 AND start_s = ?3 \
                 AND call_id = ?4",
            )
            .map_err(map_err)?;
        for (user, _) in &old.users {
            del.execute(params![app, user, k.start_s, call_id])
                .map_err(map_err)?;
        }
    }
    if let Some(k) = &new.count {
        let mut ins = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO call_users (sdkappid, user_id, start_s, call_id, is_caller, \
                 ended, result, call_type, media_type, talk_s, connected) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(map_err)?;
        for (user, is_caller) in &new.users {
            ins.execute(params![
                app,
                user,
                k.start_s,
                call_id,
                is_caller,
                k.ended,
                k.result,
                k.call_type,
                k.media_type,
                k.talk_s,
                k.connected,
            ])
            .map_err(map_err)?;
        }
    }
    Ok(())
}

/// A `call_counts` row's key: (app, span, bucket, ended, result, call_type, media_type).
type CountRowKey = (i64, i64, i64, bool, String, String, String);

/// The changes one transaction makes to `call_counts`, summed per count row and applied once
/// before `COMMIT` ([`CountDeltas::apply`]). Every path that inserts, updates or deletes a
/// `calls` row (refold, purge) records the old row's key with −1 and the new row's with +1, so
/// `call_counts` stays exactly the per-bucket sums of `calls` in every committed state.
#[derive(Debug, Default)]
pub(crate) struct CountDeltas {
    /// Count row → change of (`n`, `connected`, `talk_s`).
    deltas: HashMap<CountRowKey, (i64, i64, i64)>,
}

impl CountDeltas {
    /// Counts a row with `key` (`None`: no start, counted nowhere) `delta` more times.
    fn add(&mut self, app: i64, key: Option<&CountKey>, delta: i64) {
        let Some(k) = key else { return };
        for span in [MINUTE, HOUR] {
            let d = self
                .deltas
                .entry((
                    app,
                    span,
                    k.start_s.div_euclid(span),
                    k.ended,
                    k.result.clone(),
                    k.call_type.clone(),
                    k.media_type.clone(),
                ))
                .or_default();
            d.0 += delta;
            d.1 += delta * i64::from(k.connected);
            d.2 += delta * k.talk_s;
        }
    }

    /// Adds the changes to `call_counts`, deleting rows that reach zero (so purged time ranges
    /// leave nothing behind).
    pub(crate) fn apply(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, \
                 media_type, n, connected, talk_s) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT DO UPDATE SET n = n + excluded.n, \
                 connected = connected + excluded.connected, talk_s = talk_s + excluded.talk_s",
            )
            .map_err(map_err)?;
        let mut drop_empty = tx
            .prepare_cached(
                "DELETE FROM call_counts WHERE sdkappid = ?1 AND span = ?2 AND bucket = ?3 \
                 AND ended = ?4 AND result = ?5 AND call_type = ?6 AND media_type = ?7 \
                 AND n <= 0",
            )
            .map_err(map_err)?;
        for ((app, span, bucket, ended, result, call_type, media), d) in self.deltas {
            if d == (0, 0, 0) {
                continue;
            }
            upsert
                .execute(params![
                    app, span, bucket, ended, result, call_type, media, d.0, d.1, d.2
                ])
                .map_err(map_err)?;
            if d.0 < 0 {
                drop_empty
                    .execute(params![app, span, bucket, ended, result, call_type, media])
                    .map_err(map_err)?;
            }
        }
        Ok(())
    }
}
