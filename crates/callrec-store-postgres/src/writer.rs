//! Writes: the group-committing writers and the per-call refold.
//!
//! **Group commit.** `ingest` queues a job; a few writer tasks (each with its own pooled
//! connection per transaction) take turns at the queue: one takes the first waiting job plus
//! every job queued behind it (up to [`MAX_BATCH_ITEMS`] events / [`MAX_BATCH_CALLS`] calls) and
//! applies them all in ONE transaction — one multi-row `INSERT … SELECT FROM unnest(…)` for the
//! new events, statements pipelined on the connection — and answers the jobs only after
//! `COMMIT` returned (with the default `synchronous_commit = on`, after the WAL is flushed), so
//! "accepted" means durable. A failed transaction fails every job in it; nothing of it is
//! stored.
//!
//! **Per-call serialization across nodes.** Inside the transaction, before touching any table,
//! the writer takes `pg_advisory_xact_lock` on a 64-bit hash of (schema, sdkappid, call_id) for
//! every call of the batch, in ascending key order (so two transactions never wait for each
//! other in a cycle). Under those locks it reads the call's row and all its events, deduplicates
//! the batch against them (first stored copy wins), inserts only new events, refolds the call
//! from ALL its events and writes the row back. Any node's transaction on the same call waits
//! for the lock, then sees the committed events: no lost update, and the record is exactly
//! `fold` of the stored set whatever the interleaving. Locks are released at commit. A batch
//! takes at most [`MAX_BATCH_CALLS`] locks (more only if one report alone names more calls), to
//! stay well inside PostgreSQL's lock table (`max_locks_per_transaction` × connections).
//!
//! **Derived rows.** With each call's row the same transaction keeps what is derived from it:
//! its `call_counts` (the old values' −1 and the new ones' +1, see `counts.rs`) and its
//! `call_users` rows (`query.rs`), compared with the old row's: only rows that differ are
//! deleted (by key) and inserted — all of a call's when a column they copy changes (its start,
//! or its end: result, connection, duration), just the newcomer's when a participant joins, none
//! for an accept or any other event. Both come from the row the lookup read under the call's
//! lock, so they are exact whatever the interleaving of nodes; the unique index of
//! `call_users` rejects a transaction that would ever duplicate one.
//!
//! **Callbacks (the outbox).** With a planner ([`crate::PgOptions::planner`]), the same
//! transaction produces the callbacks its new events cause. Under the locks it reads the
//! callback configurations of the batch's apps (one statement, pipelined with the call lookups;
//! read in every transaction, never cached, since any node may change them) and, for the calls
//! of configured apps, which of their callback lines have a pending callback (pipelined with the
//! event loads). For each call that gained events, `changes_of_storing` of the call's stored
//! events and the new ones (in the order offered) gives the changes, the planner the callbacks
//! of each, and they are inserted in that order by one multi-row statement, each the head of
//! its line (due at once) if the line had no pending callback. The call's lock keeps every
//! other node's changes to its lines out meanwhile (see `outbox.rs`). A batch whose apps have
//! no configuration costs the one pipelined read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use callrec_domain::stored::{CallRow as StoredRow, StoredCode as _, event_body};
use callrec_domain::{
    CallbackConfig, CallbackPlanner, Cause, Event, IngestItem, IngestOutcome, StoreError, Timeouts,
    changes_of_storing, fold_timed,
};
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::types::ToSql;

use crate::codec::{EVENT_COLUMNS, app_from_sql, day_of_ms, day_of_secs, event_from_row, fnv64};
use crate::counts::{Counted, Deltas, SLOTS, UPSERT_SQL};
use crate::error::{is_missing_partition, is_retryable, map_err, pool_err};
use crate::outbox::{self, Produced};
use crate::schema::{Partitions, partition_name};

/// Most events one group-commit transaction takes (a single larger job still runs whole).
pub(crate) const MAX_BATCH_ITEMS: usize = 5_000;

/// Most distinct calls (= advisory locks) one transaction takes when batching several jobs.
pub(crate) const MAX_BATCH_CALLS: usize = 256;

/// Times a transaction is run again after a retryable failure (deadlock, serialization
/// failure, a partition dropped by another node's retention job).
const RETRIES: usize = 2;

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>, StoreError>>;

/// One `ingest` call waiting for a writer.
pub(crate) struct Job {
    pub(crate) items: Vec<IngestItem>,
    pub(crate) reply: Reply,
}

/// Counters of the writers' work, for metrics and for tests that check batching.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) transactions: AtomicU64,
    pub(crate) ingest_jobs: AtomicU64,
    pub(crate) events: AtomicU64,
}

/// What the writers and jobs share.
pub(crate) struct Shared {
    pub(crate) pool: Pool,
    pub(crate) timeouts: Timeouts,
    /// Mixed into every advisory lock key: a hash of the schema name.
    pub(crate) salt: u64,
    pub(crate) partitions: Partitions,
    pub(crate) counters: Counters,
    /// This store's first `call_counts` slot (random); writer `i` uses `slot_base + i`.
    pub(crate) slot_base: i32,
    /// Rows added to each day's `calls` partition since this node last analyzed it.
    pub(crate) growth: Growth,
    /// Plans the callbacks of stored events; `None`: this store produces none.
    pub(crate) planner: Option<Arc<dyn CallbackPlanner>>,
}

/// Keeps the planner statistics of the `calls` (and `call_users`) partitions that are being
/// filled current.
///
/// A day partition is created empty, and a plan made while it is empty (every prepared
/// statement's generic plan, cached per connection) may probe it through a filter index with
/// `call_id` as a non-leading key: free while it is empty, a scan of the whole day once it holds
/// tens of thousands of calls. Such plans are only replaced when the partition's statistics
/// change, and autovacuum may be off, slow, or not have reached a partition being bulk-loaded
/// (a backfill over several days). So the writers count the rows they add per day and
/// `ANALYZE` a partition in the background whenever it has grown by half since (from 200
/// rows on): a few times per partition, each invalidating the stale plans.
#[derive(Debug, Default)]
pub(crate) struct Growth {
    days: Arc<std::sync::Mutex<GrowthMap>>,
}

/// day → (rows at the last ANALYZE, rows added since, an ANALYZE is running).
type GrowthMap = HashMap<i32, (u64, u64, bool)>;

impl Growth {
    /// Notes `added` new rows per day; starts a background ANALYZE of each day that grew
    /// enough.
    fn note(&self, pool: &Pool, added: &BTreeMap<i32, u64>) {
        let mut due = Vec::new();
        {
            let mut days = self
                .days
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (day, n) in added {
                let e = days.entry(*day).or_default();
                e.1 += n;
                if !e.2 && e.1 >= 200.max(e.0 / 2) {
                    e.2 = true;
                    due.push((*day, e.0 + e.1));
                }
            }
        }
        for (day, total) in due {
            let (pool, days) = (pool.clone(), Arc::clone(&self.days));
            tokio::spawn(async move {
                let name = partition_name("calls", day);
                // The day's participant rows grow with its calls.
                let users = partition_name("call_users", day);
                let done = match pool.get().await {
                    Ok(client) => client
                        .batch_execute(&format!("ANALYZE \"{name}\", \"{users}\""))
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let mut days = days
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let e = days.entry(day).or_default();
                e.2 = false;
                match done {
                    Ok(()) => {
                        tracing::debug!(partition = %name, rows = total, "analyzed partition");
                        e.1 = (e.0 + e.1).saturating_sub(total);
                        e.0 = total;
                    }
                    // Dropped meanwhile, or no connection: tried again on the next growth.
                    Err(error) => tracing::debug!(partition = %name, %error, "analyze failed"),
                }
            });
        }
    }
}

impl Shared {
    /// The advisory lock key serializing one call.
    pub(crate) fn call_lock(&self, app: i64, call_id: &str) -> i64 {
        fnv64(&[
            &self.salt.to_le_bytes(),
            &app.to_le_bytes(),
            call_id.as_bytes(),
        ]) as i64
    }

    /// The `call_counts` slot of writer `i` (see `counts.rs`).
    pub(crate) fn slot(&self, i: usize) -> i32 {
        let i = i32::try_from(i % SLOTS as usize).unwrap_or(0);
        (self.slot_base.rem_euclid(SLOTS) + i) % SLOTS
    }
}

/// A transaction failure: a driver error (maybe retryable) or an already-mapped one.
pub(crate) enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl Fail {
    fn into_store(self) -> StoreError {
        match self {
            Fail::Pg(e) => map_err(e),
            Fail::Store(e) => e,
        }
    }
}

/// A writer task: serves batches until the queue is closed and drained.
pub(crate) async fn run_writer(
    shared: Arc<Shared>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    index: usize,
) {
    let slot = shared.slot(index);
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                break;
            };
            let mut count = first.items.len();
            let mut calls: HashSet<(u64, String)> = first
                .items
                .iter()
                .map(|i| (i.sdkappid, i.event.call_id.clone()))
                .collect();
            let mut batch = vec![first];
            while count < MAX_BATCH_ITEMS && calls.len() < MAX_BATCH_CALLS {
                match rx.try_recv() {
                    Ok(job) => {
                        count += job.items.len();
                        calls.extend(
                            job.items
                                .iter()
                                .map(|i| (i.sdkappid, i.event.call_id.clone())),
                        );
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        commit_batch(&shared, batch, slot).await;
    }
    tracing::debug!("postgres writer stopped");
}

async fn commit_batch(shared: &Shared, batch: Vec<Job>, slot: i32) {
    let (jobs, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.items, j.reply)).unzip();
    match ingest_all(shared, &jobs, slot).await {
        Ok(outcomes) => {
            shared.counters.transactions.fetch_add(1, Ordering::Relaxed);
            shared
                .counters
                .ingest_jobs
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            let n: usize = jobs.iter().map(Vec::len).sum();
            shared
                .counters
                .events
                .fetch_add(n as u64, Ordering::Relaxed);
            for (reply, out) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(out));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = jobs.len(), "postgres ingest transaction failed");
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Applies every job in one transaction (run again on a retryable failure).
async fn ingest_all(
    shared: &Shared,
    jobs: &[Vec<IngestItem>],
    count_slot: i32,
) -> Result<Vec<Vec<IngestOutcome>>, StoreError> {
    let days: Vec<i32> = jobs
        .iter()
        .flatten()
        .map(|i| day_of_ms(i.event.time_ms))
        .collect();
    shared
        .partitions
        .ensure(&shared.pool, days.iter().copied())
        .await?;
    // Group the items by call; each offered item remembers its slot in the flattened batch.
    let mut calls: BTreeMap<(i64, &str), Vec<(usize, &IngestItem)>> = BTreeMap::new();
    let mut slot = 0;
    for job in jobs {
        for item in job {
            calls
                .entry((item.sdkappid as i64, item.event.call_id.as_str()))
                .or_default()
                .push((slot, item));
            slot += 1;
        }
    }
    let inputs: Vec<CallInput<'_>> = calls
        .into_iter()
        .map(|((app, call_id), offered)| CallInput {
            app,
            call_id,
            offered,
        })
        .collect();
    let mut attempt = 0;
    let accepted = loop {
        match in_transaction(shared, &inputs, false, count_slot).await {
            Ok(accepted) => break accepted,
            Err(Fail::Pg(e)) if attempt < RETRIES && is_retryable(&e) => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "retrying ingest transaction");
                if is_missing_partition(&e) {
                    shared.partitions.forget(days.iter().copied());
                    shared
                        .partitions
                        .ensure(&shared.pool, days.iter().copied())
                        .await?;
                }
            }
            Err(f) => return Err(f.into_store()),
        }
    };
    let mut flat = vec![IngestOutcome::Duplicate; slot];
    for s in accepted {
        flat[s] = IngestOutcome::Accepted;
    }
    let mut it = flat.into_iter();
    Ok(jobs
        .iter()
        .map(|job| it.by_ref().take(job.len()).collect())
        .collect())
}

/// One call touched by a transaction and the items offered for it (in the order offered, each
/// with its slot in the batch).
pub(crate) struct CallInput<'a> {
    pub(crate) app: i64,
    pub(crate) call_id: &'a str,
    pub(crate) offered: Vec<(usize, &'a IngestItem)>,
}

/// Runs [`apply_calls`] in its own transaction and commits.
pub(crate) async fn in_transaction(
    shared: &Shared,
    inputs: &[CallInput<'_>],
    force_refold: bool,
    slot: i32,
) -> Result<Vec<usize>, Fail> {
    let mut client = shared
        .pool
        .get()
        .await
        .map_err(|e| Fail::Store(pool_err(e)))?;
    let tx = client.transaction().await?;
    let accepted = apply_calls(&tx, shared, inputs, force_refold, slot).await?;
    tx.commit().await?;
    Ok(accepted)
}

/// A call's row as the lookup found it.
struct Stored {
    day: i32,
    start_s: Option<i64>,
    ended: bool,
    result: Option<String>,
    call_type: Option<String>,
    media_type: Option<String>,
    connected: bool,
    talk_s: i64,
    caller: Option<String>,
    callees: Option<Vec<String>>,
}

impl Stored {
    /// What the row is counted under (`counts.rs`), if it has a start.
    fn counted(&self) -> Option<Counted<'_>> {
        Some(Counted {
            start_s: self.start_s?,
            ended: self.ended,
            result: self.result.as_deref()?,
            call_type: self.call_type.as_deref()?,
            media_type: self.media_type.as_deref()?,
            connected: self.connected,
            talk_s: self.talk_s,
        })
    }

    /// Its `call_users` rows.
    fn user_rows(&self) -> Option<UserRows<'_>> {
        UserRows::of(
            self.counted(),
            self.caller.as_deref(),
            self.callees.as_deref(),
        )
    }
}

/// The `call_users` rows of a started call: one per participant, each with the call's
/// [`Counted`] columns (the start, and what the filters and statistics read).
#[derive(Debug, PartialEq, Eq)]
struct UserRows<'a> {
    call: Counted<'a>,
    /// Each participant once, in order, with whether they are the caller.
    users: Vec<(&'a str, bool)>,
}

impl<'a> UserRows<'a> {
    fn of(
        call: Option<Counted<'a>>,
        caller: Option<&'a str>,
        callees: Option<&'a [String]>,
    ) -> Option<UserRows<'a>> {
        let (call, caller) = (call?, caller?);
        let mut users = vec![(caller, true)];
        users.extend(
            callees
                .unwrap_or_default()
                .iter()
                .filter(|u| *u != caller)
                .map(|u| (u.as_str(), false)),
        );
        // The caller first among equals: validation never lets the caller be a callee.
        users.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        users.dedup_by(|a, b| a.0 == b.0);
        Some(UserRows { call, users })
    }
}

/// The new state of one call's row.
struct CallRow {
    app: i64,
    call_id: String,
    old_day: Option<i32>,
    day: i32,
    first_event_ms: i64,
    start_ms: Option<i64>,
    start_s: Option<i64>,
    ended: bool,
    result: Option<&'static str>,
    call_type: Option<&'static str>,
    media_type: Option<&'static str>,
    room_id: Option<String>,
    caller: Option<String>,
    accept_ms: Option<i64>,
    end_ms: Option<i64>,
    callees: Option<Vec<String>>,
    due_ms: Option<i64>,
    room_id_type: Option<i16>,
    talk_s: i64,
}

impl CallRow {
    /// What the row is counted under (`counts.rs`), if it has a start.
    fn counted(&self) -> Option<Counted<'_>> {
        Some(Counted {
            start_s: self.start_s?,
            ended: self.ended,
            result: self.result?,
            call_type: self.call_type?,
            media_type: self.media_type?,
            connected: self.ended && self.accept_ms.is_some(),
            talk_s: self.talk_s,
        })
    }

    /// Its `call_users` rows.
    fn user_rows(&self) -> Option<UserRows<'_>> {
        UserRows::of(
            self.counted(),
            self.caller.as_deref(),
            self.callees.as_deref(),
        )
    }
}

/// `call_users` rows to insert, as the column arrays of [`INSERT_USERS_SQL`].
#[derive(Default)]
struct UserColumns<'a> {
    apps: Vec<i64>,
    users: Vec<&'a str>,
    starts: Vec<i64>,
    calls: Vec<&'a str>,
    is_caller: Vec<bool>,
    ended: Vec<bool>,
    results: Vec<&'a str>,
    call_types: Vec<&'a str>,
    media_types: Vec<&'a str>,
    talk_s: Vec<i64>,
    connected: Vec<bool>,
}

/// The keys of `call_users` rows of one day to delete (`DELETE_USERS_SQL`'s `$1`…`$4`).
#[derive(Default)]
struct UserKeys<'a> {
    apps: Vec<i64>,
    users: Vec<&'a str>,
    starts: Vec<i64>,
    calls: Vec<&'a str>,
}

impl<'a> UserKeys<'a> {
    fn push(&mut self, app: i64, user: &'a str, start_s: i64, call_id: &'a str) {
        self.apps.push(app);
        self.users.push(user);
        self.starts.push(start_s);
        self.calls.push(call_id);
    }
}

impl<'a> UserColumns<'a> {
    fn push(
        &mut self,
        app: i64,
        call_id: &'a str,
        c: &Counted<'a>,
        (user, is_caller): (&'a str, bool),
    ) {
        self.apps.push(app);
        self.users.push(user);
        self.starts.push(c.start_s);
        self.calls.push(call_id);
        self.is_caller.push(is_caller);
        self.ended.push(c.ended);
        self.results.push(c.result);
        self.call_types.push(c.call_type);
        self.media_types.push(c.media_type);
        self.talk_s.push(c.talk_s);
        self.connected.push(c.connected);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.apps,
            &self.users,
            &self.starts,
            &self.calls,
            &self.is_caller,
            &self.ended,
            &self.results,
            &self.call_types,
            &self.media_types,
            &self.talk_s,
            &self.connected,
        ]
    }
}

type BoxFut<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

// One statement per app for the whole batch: a single plan and executor start-up instead of
// one per call. The LATERAL … LIMIT keeps it a loop of index probes per call id (a plain
// `call_id = ANY($2)` or a join gets planned as sequential scans of every day partition once
// the batch is large). Also returns what the call is counted under (`counts.rs`) and its
// participants (its `call_users` rows); LIMIT 2 still shows a duplicate row.
const LOOKUP_SQL: &str = "SELECT k.id, c.part_day, c.start_s, c.ended, c.result, c.call_type, \
     c.media_type, c.ended AND c.accept_ms IS NOT NULL, c.talk_s, c.caller, c.callees \
     FROM unnest($2::text[]) AS k(id) CROSS JOIN LATERAL (SELECT part_day, start_s, ended, \
     result, call_type, media_type, accept_ms, talk_s, caller, callees FROM calls \
     WHERE sdkappid = $1 AND call_id = k.id LIMIT 2) c";
const MOVE_EVENTS_SQL: &str = "UPDATE events SET part_day = $4 \
     WHERE sdkappid = $1 AND call_id = $2 AND part_day = $3";
const INSERT_EVENTS_SQL: &str = "INSERT INTO events \
     (sdkappid, call_id, part_day, dedupe_key, time_ms, kind, user_id, event_id, body) \
     SELECT a, c, d, k, t, kd, u, ei, b::jsonb FROM unnest($1::int8[], $2::text[], $3::int4[], \
     $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[]) \
     AS x(a, c, d, k, t, kd, u, ei, b)";
const INSERT_CALL_SQL: &str = "INSERT INTO calls (sdkappid, call_id, part_day, first_event_ms, \
     start_ms, start_s, ended, result, call_type, media_type, room_id, caller, accept_ms, end_ms, \
     callees, due_ms, room_id_type, talk_s) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
// The lease of `due_calls` belongs to one due item: it is kept while the due time stays, and
// dropped when the refold moves it (the item was handled, or the call changed).
const UPDATE_CALL_SQL: &str = "UPDATE calls SET part_day = $3, first_event_ms = $4, \
     start_ms = $5, start_s = $6, ended = $7, result = $8, call_type = $9, media_type = $10, \
     room_id = $11, caller = $12, accept_ms = $13, end_ms = $14, callees = $15, due_ms = $16, \
     room_id_type = $17, talk_s = $18, \
     lease_owner = CASE WHEN due_ms IS NOT DISTINCT FROM $16 THEN lease_owner END, \
     lease_until_ms = CASE WHEN due_ms IS NOT DISTINCT FROM $16 THEN lease_until_ms END \
     WHERE sdkappid = $1 AND call_id = $2 AND part_day = $19";
// The participant rows (`query.rs`) that changed: the old ones deleted, one statement per day,
// each found by one probe of its key (the LATERAL … OFFSET 0 keeps them probes; joined, the
// planner may hash the whole partition) and deleted by `ctid` (`$5`, `$6`: the day's start range,
// so only rows of that one partition, where a ctid is unique, can match); the new ones of the
// whole transaction inserted by one statement.
const DELETE_USERS_SQL: &str = "DELETE FROM call_users WHERE start_s BETWEEN $5 AND $6 \
     AND ctid = ANY(ARRAY(SELECT o.ctid FROM unnest($1::int8[], $2::text[], $3::int8[], \
     $4::text[]) AS x(a, u, s, c) CROSS JOIN LATERAL (SELECT ctid FROM call_users \
     WHERE sdkappid = x.a AND user_id = x.u AND start_s = x.s AND call_id = x.c \
     AND start_s BETWEEN $5 AND $6 OFFSET 0) o))";
const INSERT_USERS_SQL: &str = "INSERT INTO call_users (sdkappid, user_id, start_s, call_id, \
     is_caller, ended, result, call_type, media_type, talk_s, connected) \
     SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::bool[], \
     $6::bool[], $7::text[], $8::text[], $9::text[], $10::int8[], $11::bool[])";

/// Locks the calls, stores the new distinct events, refolds every call that gained one (or
/// every call, with `force_refold`). Returns the slots of the accepted events.
async fn apply_calls(
    tx: &Transaction<'_>,
    shared: &Shared,
    inputs: &[CallInput<'_>],
    force_refold: bool,
    slot: i32,
) -> Result<Vec<usize>, Fail> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    // 1. Serialize each call against every other transaction, on any node, in key order.
    let mut keys: Vec<i64> = inputs
        .iter()
        .map(|c| shared.call_lock(c.app, c.call_id))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    tx.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k ORDER BY k",
        &[&keys],
    )
    .await?;

    // 2. Where each call lives now (one statement per app) and, with a planner, the apps'
    // callback configurations (one statement; read under the locks, never cached: another node
    // may have changed them); then all the calls' events and, for the calls of apps with a
    // configuration, which of their callback lines are busy. Pipelined: one round trip each.
    let mut by_app: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for c in inputs {
        by_app.entry(c.app).or_default().push(c.call_id);
    }
    let lookup = tx.prepare_cached(LOOKUP_SQL).await?;
    let lookup = &lookup;
    let configs_stmt = match shared.planner {
        Some(_) => Some(tx.prepare_cached(outbox::CONFIGS_SQL).await?),
        None => None,
    };
    let apps: Vec<i64> = by_app.keys().copied().collect();
    let (found, config_rows) = futures::future::try_join(
        futures::future::try_join_all(
            by_app
                .iter()
                .map(|(app, ids)| async move { tx.query(lookup, &[app, ids]).await }),
        ),
        async {
            match &configs_stmt {
                Some(stmt) => tx.query(stmt, &[&apps]).await,
                None => Ok(Vec::new()),
            }
        },
    )
    .await?;
    let configs: HashMap<i64, Vec<CallbackConfig>> =
        outbox::configs_from_rows(&config_rows).map_err(Fail::Store)?;
    let mut stored: HashMap<(i64, &str), Vec<Stored>> = HashMap::new();
    for ((app, _), rows) in by_app.iter().zip(&found) {
        for r in rows {
            stored
                .entry((*app, r.get::<_, &str>(0)))
                .or_default()
                .push(Stored {
                    day: r.get(1),
                    start_s: r.get(2),
                    ended: r.get(3),
                    result: r.get(4),
                    call_type: r.get(5),
                    media_type: r.get(6),
                    connected: r.get(7),
                    talk_s: r.get(8),
                    caller: r.get(9),
                    callees: r.get(10),
                });
        }
    }
    let mut old_days = Vec::with_capacity(inputs.len());
    let mut deltas = Deltas::default();
    for c in inputs {
        let rows = stored
            .get(&(c.app, c.call_id))
            .map_or(&[][..], Vec::as_slice);
        if rows.len() > 1 {
            return Err(Fail::Store(StoreError::Corrupt(format!(
                "call {:?} of app {} has {} rows",
                c.call_id,
                c.app,
                rows.len()
            ))));
        }
        old_days.push(rows.first().map(|r| r.day));
    }
    let select_events = tx
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE sdkappid = $1 AND call_id = $2 AND part_day = $3"
        ))
        .await?;
    let select_events = &select_events;
    let (watched_apps, watched_calls): (Vec<i64>, Vec<&str>) = inputs
        .iter()
        .filter(|c| configs.contains_key(&c.app))
        .map(|c| (c.app, c.call_id))
        .unzip();
    let busy_stmt = if watched_apps.is_empty() {
        None
    } else {
        Some(tx.prepare_cached(outbox::BUSY_LINES_SQL).await?)
    };
    let (loaded, busy_rows) = futures::future::try_join(
        futures::future::try_join_all(inputs.iter().zip(&old_days).map(|(c, day)| async move {
            match day {
                Some(d) => tx.query(select_events, &[&c.app, &c.call_id, d]).await,
                None => Ok(Vec::new()),
            }
        })),
        async {
            match &busy_stmt {
                Some(stmt) => tx.query(stmt, &[&watched_apps, &watched_calls]).await,
                None => Ok(Vec::new()),
            }
        },
    )
    .await?;
    // The lines with a pending callback; each callback produced below joins (or opens) one.
    let mut produced = Produced::new(
        busy_rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
    );

    // 3. Deduplicate, fold, and work out every row to write.
    let mut accepted_slots = Vec::new();
    let mut new_events: Vec<(i64, &str, &Event)> = Vec::new();
    let mut new_event_days: Vec<i32> = Vec::new();
    let mut rows: Vec<CallRow> = Vec::new();
    let mut moves: Vec<(i64, &str, i32, i32)> = Vec::new();
    for ((c, old_day), loaded) in inputs.iter().zip(&old_days).zip(&loaded) {
        let mut events: Vec<Event> = loaded
            .iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(Fail::Store)?;
        let mut keys: HashSet<String> = events.iter().map(Event::dedupe_key).collect();
        let first_new = new_events.len();
        let stored_before = events.len();
        let mut fresh: Vec<&IngestItem> = Vec::new();
        for (slot, item) in &c.offered {
            let e = &item.event;
            if keys.insert(e.dedupe_key()) {
                accepted_slots.push(*slot);
                new_events.push((c.app, c.call_id, e));
                events.push(e.clone());
                fresh.push(item);
            }
        }
        if new_events.len() == first_new && !force_refold {
            continue;
        }
        if let (Some(planner), Some(configs)) = (&shared.planner, configs.get(&c.app))
            && !fresh.is_empty()
        {
            produce(
                &**planner,
                configs,
                c.app,
                &events[..stored_before],
                &fresh,
                shared.timeouts,
                &mut produced,
            );
        }
        let Some(first_event_ms) = events.iter().map(|e| e.time_ms).min() else {
            continue;
        };
        let state = fold_timed(app_from_sql(c.app), &events, Some(shared.timeouts));
        let age_ms = state.as_ref().map_or(first_event_ms, |s| s.record.start_ms);
        let day = day_of_ms(age_ms);
        new_event_days.extend(std::iter::repeat_n(day, new_events.len() - first_new));
        if let Some(old) = *old_day
            && old != day
            && !loaded.is_empty()
        {
            moves.push((c.app, c.call_id, old, day));
        }
        let shared_row = StoredRow::new(first_event_ms, state.as_ref(), shared.timeouts);
        let r = shared_row.record;
        let row = CallRow {
            app: c.app,
            call_id: c.call_id.to_owned(),
            old_day: *old_day,
            day,
            first_event_ms,
            start_ms: r.as_ref().map(|r| r.start_ms),
            start_s: r.as_ref().map(|r| r.start_s),
            ended: r.as_ref().is_some_and(|r| r.ended),
            result: r.as_ref().map(|r| r.result),
            call_type: r.as_ref().map(|r| r.call_type),
            media_type: r.as_ref().map(|r| r.media_type),
            room_id_type: r.as_ref().and_then(|r| r.room_id_type).map(i16::from),
            due_ms: r.as_ref().and_then(|r| r.due_ms),
            accept_ms: r.as_ref().and_then(|r| r.accept_ms),
            end_ms: r.as_ref().and_then(|r| r.end_ms),
            room_id: r.as_ref().map(|r| r.room_id.clone()),
            caller: r.as_ref().map(|r| r.caller.clone()),
            talk_s: r.as_ref().map_or(0, |r| r.talk_s),
            callees: r.map(|r| r.callees),
        };
        if old_day.is_some()
            && let Some(old) = stored.get(&(c.app, c.call_id)).and_then(|r| r.first())
        {
            deltas.add(c.app, old.counted(), -1);
        }
        deltas.add(c.app, row.counted(), 1);
        rows.push(row);
    }

    // The participant rows that changed: all of a call's when a copied column did (its start,
    // at its end), else only those of the participants who came or went.
    let mut users_out: BTreeMap<i32, UserKeys<'_>> = BTreeMap::new();
    let mut users_in = UserColumns::default();
    for r in &rows {
        let old = match r.old_day {
            Some(_) => stored
                .get(&(r.app, r.call_id.as_str()))
                .and_then(|s| s.first())
                .and_then(Stored::user_rows),
            None => None,
        };
        let new = r.user_rows();
        let same_call = matches!((&old, &new), (Some(o), Some(n)) if o.call == n.call);
        let kept = |rows: &Option<UserRows<'_>>, u: &(&str, bool)| {
            same_call && rows.as_ref().is_some_and(|x| x.users.contains(u))
        };
        if let Some(old) = &old {
            for u in old.users.iter().filter(|u| !kept(&new, u)) {
                let day = day_of_secs(old.call.start_s);
                users_out
                    .entry(day)
                    .or_default()
                    .push(r.app, u.0, old.call.start_s, &r.call_id);
            }
        }
        if let Some(new) = &new {
            for u in new.users.iter().filter(|u| !kept(&old, u)) {
                users_in.push(r.app, &r.call_id, &new.call, *u);
            }
        }
    }

    // Rows new to a day (a new call, or one moved there) count towards its next ANALYZE.
    let mut added: BTreeMap<i32, u64> = BTreeMap::new();
    for r in &rows {
        if r.old_day != Some(r.day) {
            *added.entry(r.day).or_default() += 1;
        }
    }
    shared.growth.note(&shared.pool, &added);

    // 4. Write: move rows whose day changed, insert the new events in one statement, write
    // each call's row. All pipelined; the server runs them in order.
    let ev_apps: Vec<i64> = new_events.iter().map(|(a, _, _)| *a).collect();
    let ev_calls: Vec<&str> = new_events.iter().map(|(_, c, _)| *c).collect();
    let ev_keys: Vec<String> = new_events.iter().map(|(_, _, e)| e.dedupe_key()).collect();
    let ev_times: Vec<i64> = new_events.iter().map(|(_, _, e)| e.time_ms).collect();
    let ev_kinds: Vec<&str> = new_events.iter().map(|(_, _, e)| e.kind.code()).collect();
    let ev_users: Vec<&str> = new_events
        .iter()
        .map(|(_, _, e)| e.user_id.as_str())
        .collect();
    let ev_ids: Vec<Option<&str>> = new_events
        .iter()
        .map(|(_, _, e)| e.event_id.as_deref())
        .collect();
    let ev_bodies: Vec<Option<String>> = new_events.iter().map(|(_, _, e)| event_body(e)).collect();

    let move_stmt = tx.prepare_cached(MOVE_EVENTS_SQL).await?;
    let insert_events = tx.prepare_cached(INSERT_EVENTS_SQL).await?;
    let insert_call = tx.prepare_cached(INSERT_CALL_SQL).await?;
    let update_call = tx.prepare_cached(UPDATE_CALL_SQL).await?;
    let upsert_counts = tx.prepare_cached(UPSERT_SQL).await?;
    let delete_users = tx.prepare_cached(DELETE_USERS_SQL).await?;
    let insert_users = tx.prepare_cached(INSERT_USERS_SQL).await?;
    let insert_callbacks = if produced.is_empty() {
        None
    } else {
        Some(tx.prepare_cached(outbox::INSERT_SQL).await?)
    };
    let callback_params = produced.params();
    let ct = deltas.columns();
    let count_params: [&(dyn ToSql + Sync); 10] = [
        &ct.0, &ct.1, &ct.2, &ct.3, &ct.4, &ct.5, &ct.6, &ct.7, &ct.8, &slot,
    ];
    let user_day_ranges: Vec<(i64, i64)> = users_out
        .keys()
        .map(|d| (i64::from(*d) * 86_400, i64::from(*d) * 86_400 + 86_399))
        .collect();
    let user_delete_params: Vec<[&(dyn ToSql + Sync); 6]> = users_out
        .values()
        .zip(&user_day_ranges)
        .map(|(k, (lo, hi))| -> [&(dyn ToSql + Sync); 6] {
            [&k.apps, &k.users, &k.starts, &k.calls, lo, hi]
        })
        .collect();
    let user_params = users_in.params();
    // Parameters first: the pipelined futures borrow them.
    let move_params: Vec<[&(dyn ToSql + Sync); 4]> = moves
        .iter()
        .map(|(app, call_id, old, day)| -> [&(dyn ToSql + Sync); 4] { [app, call_id, old, day] })
        .collect();
    let call_params: Vec<Vec<&(dyn ToSql + Sync)>> = rows
        .iter()
        .map(|r| {
            let mut p: Vec<&(dyn ToSql + Sync)> = vec![
                &r.app,
                &r.call_id,
                &r.day,
                &r.first_event_ms,
                &r.start_ms,
                &r.start_s,
                &r.ended,
                &r.result,
                &r.call_type,
                &r.media_type,
                &r.room_id,
                &r.caller,
                &r.accept_ms,
                &r.end_ms,
                &r.callees,
                &r.due_ms,
                &r.room_id_type,
                &r.talk_s,
            ];
            if let Some(old) = &r.old_day {
                p.push(old);
            }
            p
        })
        .collect();
    let event_params: [&(dyn ToSql + Sync); 9] = [
        &ev_apps,
        &ev_calls,
        &new_event_days,
        &ev_keys,
        &ev_times,
        &ev_kinds,
        &ev_users,
        &ev_ids,
        &ev_bodies,
    ];
    let mut writes: Vec<BoxFut<'_>> = Vec::new();
    for p in &move_params {
        writes.push(Box::pin(tx.execute(&move_stmt, p)));
    }
    if !new_events.is_empty() {
        writes.push(Box::pin(tx.execute(&insert_events, &event_params)));
    }
    for (r, p) in rows.iter().zip(&call_params) {
        let stmt = if r.old_day.is_some() {
            &update_call
        } else {
            &insert_call
        };
        writes.push(Box::pin(tx.execute(stmt, p)));
    }
    for p in &user_delete_params {
        writes.push(Box::pin(tx.execute(&delete_users, p)));
    }
    if !users_in.apps.is_empty() {
        writes.push(Box::pin(tx.execute(&insert_users, &user_params)));
    }
    if let Some(stmt) = &insert_callbacks {
        writes.push(Box::pin(tx.execute(stmt, &callback_params)));
    }
    // Last: the hot count rows are locked only from here to the commit.
    if !ct.0.is_empty() {
        writes.push(Box::pin(tx.execute(&upsert_counts, &count_params)));
    }
    futures::future::try_join_all(writes).await?;
    Ok(accepted_slots)
}

/// Plans the callbacks of storing `fresh` (the call's newly accepted items, in the order
/// offered) on top of `stored` (its events before this transaction) and adds them to
/// `produced`, in order: for each change, the planner's callbacks for the item that caused it.
fn produce(
    planner: &dyn CallbackPlanner,
    configs: &[CallbackConfig],
    app: i64,
    stored: &[Event],
    fresh: &[&IngestItem],
    timeouts: Timeouts,
    produced: &mut Produced,
) {
    let sdkappid = app_from_sql(app);
    let fresh_events: Vec<&Event> = fresh.iter().map(|i| &i.event).collect();
    for (i, change) in changes_of_storing(sdkappid, stored, &fresh_events, timeouts) {
        let cause = Cause {
            client_ip: fresh[i].client_ip,
            platform: fresh[i].event.platform.as_deref(),
        };
        for cb in planner.plan(sdkappid, configs, &change, cause) {
            produced.push(app, cb);
        }
    }
}

/// Makes the stored `due_ms` values agree with `timeouts`: if the data was last written with
/// other time-outs, every ongoing call is refolded (in chunks, each under its calls' locks), and
/// the new values recorded. Runs at connect. Every node must run with the same time-outs.
pub(crate) async fn apply_timeouts(shared: &Shared) -> Result<(), StoreError> {
    let client = shared.pool.get().await.map_err(pool_err)?;
    let rows = client
        .query(
            "SELECT key, value FROM settings WHERE key IN ('ring_timeout_ms', 'max_idle_ms')",
            &[],
        )
        .await
        .map_err(map_err)?;
    let get = |k: &str| {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == k)
            .map(|r| r.get::<_, i64>(1))
    };
    let t = shared.timeouts;
    if (get("ring_timeout_ms"), get("max_idle_ms")) == (Some(t.ring_ms), Some(t.idle_ms)) {
        return Ok(());
    }
    let ongoing: Vec<(i64, String)> = client
        .query(
            "SELECT sdkappid, call_id FROM calls WHERE NOT ended AND start_ms IS NOT NULL",
            &[],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    drop(client);
    if !ongoing.is_empty() {
        tracing::info!(
            calls = ongoing.len(),
            "time-outs changed; recomputing due times"
        );
    }
    for chunk in ongoing.chunks(MAX_BATCH_CALLS) {
        let inputs: Vec<CallInput<'_>> = chunk
            .iter()
            .map(|(app, id)| CallInput {
                app: *app,
                call_id: id,
                offered: Vec::new(),
            })
            .collect();
        in_transaction(shared, &inputs, true, shared.slot(0))
            .await
            .map_err(Fail::into_store)?;
    }
    let client = shared.pool.get().await.map_err(pool_err)?;
    client
        .execute(
            "INSERT INTO settings (key, value) VALUES ('ring_timeout_ms', $1), ('max_idle_ms', $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&t.ring_ms, &t.idle_ms],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}
