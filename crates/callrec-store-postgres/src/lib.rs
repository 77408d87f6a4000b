//! callrec's shared store: [`PgStore`], an implementation of [`callrec_domain::Store`] on
//! PostgreSQL, for deployments where several stateless callrec nodes share one database.
//!
//! - **Driver.** tokio-postgres with a deadpool connection pool (chosen by measurement, see
//!   `DRIVER.md`): statements are prepared once per connection and pipelined.
//! - **Durability.** Default `synchronous_commit = on`: an ingest returns only after its
//!   transaction's commit is flushed, so acknowledged events survive a crash.
//! - **Writes** are group-committed by a few writer tasks; each call is serialized across nodes
//!   by a transaction-scoped advisory lock, under which it is deduplicated and refolded from all
//!   its events, so a record is always exactly the fold of its stored events whichever nodes
//!   the events came through (see `writer.rs`).
//! - **Partitions.** `calls`, `events` and `call_users` are partitioned by the UTC day of the
//!   call's age (start, or first event while unstarted); filter queries carry the day range so
//!   only those partitions are read, and retention drops whole days (see `schema.rs`).
//! - **Filters.** Each filter shape of `get_records_by_filter` is served from one driving index
//!   (see `query.rs`): call ids by the primary key, a room by `calls_by_room`, a user / caller /
//!   callee by `call_users`, a participant table kept by the writers (one row per participant
//!   of each started call, with copies of the filtered columns, day-partitioned like `calls`),
//!   the rest by the result / call-type indexes of `calls`. Both page orders read the same
//!   indexes (ascending: backwards, with an incremental sort inside each second).
//! - **Totals and statistics.** `totalNum` of a query whose extension filter sets at most the
//!   media type, and its statistics, come from `call_counts`, per-hour counts (calls, connected
//!   calls, connected seconds) kept in the writers' transactions, plus an exact count of the
//!   partial hours at the range's edges (see `counts.rs`); other shapes count the rows of their
//!   driving index (index-only for the user fields). The writers also `ANALYZE` the day
//!   partitions they fill (see `Growth`).
//! - **Jobs on many nodes.** [`Store::due_calls`] *claims* what it returns: each due call is
//!   leased to the calling node for [`PgOptions::lease_ms`] (in the caller's clock, `now_ms`), so
//!   while the lease runs no other node is handed the same due item (`FOR UPDATE SKIP LOCKED`
//!   makes concurrent claims skip each other's rows). The same node gets it again (a retry); a
//!   refold that changes the call's due time ends the lease. So on this backend `due_calls` hands
//!   each due call to one caller per lease period. [`Store::purge_before`] runs on one node at a
//!   time (`pg_try_advisory_lock`; a node finding it taken skips the run and reports nothing
//!   removed).
//! - **Callbacks (outbox).** With a [`PgOptions::planner`], the ingest transaction reads the
//!   batch's apps' callback configurations (one statement, pipelined, never cached: any node may
//!   change them) and stores the callbacks its new events cause in `callbacks`, in the same
//!   transaction. The callbacks of one call to one URL are a line delivered one at a time; every
//!   change to a line runs under its call's advisory lock, and [`Store::claim_callbacks`] leases
//!   due heads to one owner at a time (`FOR UPDATE SKIP LOCKED`), so several nodes can deliver
//!   from one outbox (see `outbox.rs`). Retention deletes a call's callbacks with it.
//! - **Schema** is versioned and migrated at connect under an advisory lock (see `schema.rs`).
//!
//! The connection URL is never logged (it may carry a password).

mod codec;
mod counts;
mod error;
mod outbox;
mod query;
mod schema;
mod writer;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use callrec_domain::{
    AttemptResult, BucketStats, CallbackConfig, CallbackPlanner, Delivery, DeliveryQuery, DueCall,
    Event, Generation, IngestItem, IngestOutcome, OutboxStats, Participants, PurgeStats, Record,
    RecordPage, RecordQuery, Redeliver, StatsBucket, Store, StoreError, Timeouts,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use crate::codec::{
    EVENT_COLUMNS, RECORD_COLUMNS, app_from_sql, app_to_sql, day_of_ms, event_from_row, fnv64,
    participants_from_row, record_from_row,
};
use crate::counts::{BUCKETS_PER_DAY, bucket_sql};
use crate::error::{closed, map_err, pool_err};
use crate::query::Shape;
use crate::schema::{PartitionInfo, Partitions, lock_id};
use crate::writer::{Counters, Job, Shared};

/// Ingest jobs that may wait for the writers before `ingest` itself waits (backpressure).
const WRITE_QUEUE: usize = 4096;

/// Taken first by a read transaction of both `call_users` and `calls` (see `schema.rs`).
const LOCK_CALLS_SQL: &str = "LOCK TABLE ONLY calls IN ACCESS SHARE MODE";

/// Calls deleted per transaction in the boundary day of a purge.
const PURGE_CHUNK: i64 = 5_000;

/// How the store connects and behaves beyond the URL.
#[derive(Clone)]
pub struct PgOptions {
    /// Most connections in the pool (readers and writers together).
    pub pool_size: usize,
    /// Concurrent group-commit writer tasks (each uses one connection per transaction).
    pub writers: usize,
    /// Schema holding callrec's tables (created if missing, set as every connection's
    /// `search_path`); `None` uses the URL's / server's default `search_path`. A plain lowercase
    /// identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes).
    pub schema: Option<String>,
    /// How long a call returned by `due_calls` stays claimed by the calling node, ms.
    pub lease_ms: i64,
    /// How long to wait for a connection (and to establish one).
    pub connect_timeout: Duration,
    /// Plans the callbacks of stored events (the server's planner); `None`: this store produces
    /// no callbacks, whatever is configured. Every node writing to the database should have one
    /// if any does.
    pub planner: Option<Arc<dyn CallbackPlanner>>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            writers: 3,
            schema: None,
            lease_ms: 30_000,
            connect_timeout: Duration::from_secs(5),
            planner: None,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("pool_size", &self.pool_size)
            .field("writers", &self.writers)
            .field("schema", &self.schema)
            .field("lease_ms", &self.lease_ms)
            .field("connect_timeout", &self.connect_timeout)
            .field("planner", &self.planner.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What the writers have committed since connect (for metrics, and to show that group commit
/// batches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Committed ingest transactions.
    pub transactions: u64,
    /// Ingest calls committed.
    pub ingest_jobs: u64,
    /// Events in those calls (accepted and duplicate).
    pub events: u64,
}

/// The PostgreSQL store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct PgStore {
    shared: Arc<Shared>,
    writer_tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer_tasks: Mutex<Vec<JoinHandle<()>>>,
    /// This node's identity for `due_calls` leases (random per store).
    node_id: i64,
    lease_ms: i64,
    schema: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn random_node_id() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let here = 0u8;
    fnv64(&[
        &t.to_le_bytes(),
        &std::process::id().to_le_bytes(),
        &(std::ptr::addr_of!(here) as usize).to_le_bytes(),
    ]) as i64
}

impl PgStore {
    /// Connects with default [`PgOptions`]; see [`PgStore::connect_with`].
    pub async fn connect(url: &str, timeouts: Timeouts) -> Result<PgStore, StoreError> {
        Self::connect_with(url, timeouts, PgOptions::default()).await
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/db?…`), applies
    /// pending migrations, creates the partitions of the coming days, and starts the writers.
    /// `timeouts` decide when calls fall due for [`Store::due_calls`]; every node sharing the
    /// database must use the same. With [`PgOptions::planner`], ingest produces callbacks.
    ///
    /// Fails with `Unavailable` if the database cannot be reached, `Corrupt` if its schema is
    /// newer than this build, `Internal` for a malformed URL or options.
    pub async fn connect_with(
        url: &str,
        timeouts: Timeouts,
        options: PgOptions,
    ) -> Result<PgStore, StoreError> {
        // The parse error never echoes the URL back.
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| StoreError::Internal("invalid PostgreSQL connection URL".into()))?;
        if let Some(schema) = &options.schema {
            if !valid_schema_name(schema) {
                return Err(StoreError::Internal(format!(
                    "invalid schema name {schema:?}: use [a-z_][a-z0-9_]*"
                )));
            }
            let mut opts = config.get_options().unwrap_or_default().to_owned();
            opts.push_str(&format!(" -c search_path={schema}"));
            config.options(opts.trim());
        }
        if config.get_application_name().is_none() {
            config.application_name("callrec");
        }
        config.connect_timeout(options.connect_timeout);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(options.writers + 1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Internal(format!("postgres pool: {e}")))?;

        let schema = match &options.schema {
            Some(s) => s.clone(),
            None => {
                let client = pool.get().await.map_err(pool_err)?;
                let row = client
                    .query_one("SELECT current_schema()::text", &[])
                    .await
                    .map_err(map_err)?;
                row.get::<_, Option<String>>(0).ok_or_else(|| {
                    StoreError::Internal("no schema in search_path to create tables in".into())
                })?
            }
        };
        let salt = fnv64(&[schema.as_bytes()]);
        schema::migrate(&pool, salt, options.schema.as_deref()).await?;

        let shared = Arc::new(Shared {
            pool,
            timeouts,
            salt,
            partitions: Partitions::new(salt),
            counters: Counters::default(),
            slot_base: (random_node_id() & 0xffff) as i32,
            growth: writer::Growth::default(),
            planner: options.planner,
        });
        let today = day_of_ms(system_now_ms());
        shared
            .partitions
            .ensure(&shared.pool, today - 1..=today + 2)
            .await?;
        writer::apply_timeouts(&shared).await?;

        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let tasks = (0..options.writers.max(1))
            .map(|i| tokio::spawn(writer::run_writer(Arc::clone(&shared), Arc::clone(&rx), i)))
            .collect();
        tracing::info!(schema = %schema, "postgres store connected");
        Ok(PgStore {
            shared,
            writer_tx: Mutex::new(Some(tx)),
            writer_tasks: Mutex::new(tasks),
            node_id: random_node_id(),
            lease_ms: options.lease_ms,
            schema,
        })
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// What the writers have committed so far.
    pub fn writer_stats(&self) -> WriterStats {
        let c = &self.shared.counters;
        WriterStats {
            transactions: c.transactions.load(Ordering::Relaxed),
            ingest_jobs: c.ingest_jobs.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
        }
    }

    /// The plan PostgreSQL chooses for the page query of `q` (`EXPLAIN` text, one line per
    /// entry): a diagnostic, and how the tests check partition pruning.
    pub async fn explain_filter(&self, q: &RecordQuery) -> Result<Vec<String>, StoreError> {
        let page = Shape::of(q).page();
        let client = self.client().await?;
        let rows = client
            .query(&format!("EXPLAIN {}", page.sql), &page.params.refs())
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.shared.pool.get().await.map_err(pool_err)
    }

    fn ensure_open(&self) -> Result<(), StoreError> {
        if lock(&self.writer_tx).is_none() {
            return Err(closed());
        }
        Ok(())
    }

    async fn purge_locked(
        &self,
        client: &mut deadpool_postgres::Object,
        cutoff_ms: i64,
    ) -> Result<PurgeStats, StoreError> {
        let cutoff_day = day_of_ms(cutoff_ms);
        let mut stats = PurgeStats::default();
        // Whole days before the cutoff's day: detach (a brief lock on the parent), then count
        // and drop the detached table (locking nothing anyone else uses).
        let parts = Partitions::list(&*client).await?;
        let mut dropped_days = Vec::new();
        let mut callbacks = !parts.is_empty() && outbox::any(client).await?;
        let mut days: Vec<i32> = parts
            .iter()
            .map(|p| p.day)
            .filter(|d| *d < cutoff_day)
            .collect();
        days.dedup();
        for day in days {
            let of_day: Vec<&PartitionInfo> = parts.iter().filter(|p| p.day == day).collect();
            let calls = of_day.iter().find(|p| p.table == "calls");
            // First the day's callbacks, under their calls' locks (in chunks: a day may hold
            // many); callbacks produced for the day's calls after this (events for calls this
            // old, arriving during the purge) are left behind.
            if let Some(p) = calls
                && callbacks
            {
                let n = outbox::delete_for_partition(client, &self.shared, &p.name, PURGE_CHUNK)
                    .await?;
                if n > 0 {
                    tracing::info!(partition = %p.name, callbacks = n, "retention deleted callbacks");
                }
                callbacks = outbox::any(client).await?;
            }
            // The day's calls, their participants and their counts go in one transaction
            // (`calls` first: the lock order of `schema.rs`); its events in another.
            let groups: [&[&str]; 2] = [&["calls", "call_users"], &["events"]];
            for tables in groups {
                let attached: Vec<&&PartitionInfo> = tables
                    .iter()
                    .filter_map(|t| of_day.iter().find(|p| p.table == *t && p.attached))
                    .collect();
                if attached.is_empty() {
                    continue;
                }
                let tx = client.transaction().await.map_err(map_err)?;
                for p in &attached {
                    tx.batch_execute(&format!(
                        "ALTER TABLE {} DETACH PARTITION \"{}\"",
                        p.table, p.name
                    ))
                    .await
                    .map_err(map_err)?;
                }
                if attached.iter().any(|p| p.table == "calls") {
                    let first = i64::from(day) * BUCKETS_PER_DAY;
                    tx.execute(
                        "DELETE FROM call_counts WHERE bucket BETWEEN $1 AND $2",
                        &[&first, &(first + BUCKETS_PER_DAY - 1)],
                    )
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)?;
            }
            for p in of_day {
                let tx = client.transaction().await.map_err(map_err)?;
                let n: i64 = tx
                    .query_one(&format!("SELECT count(*) FROM \"{}\"", p.name), &[])
                    .await
                    .map_err(map_err)?
                    .get(0);
                tx.batch_execute(&format!("DROP TABLE \"{}\"", p.name))
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                tracing::info!(partition = %p.name, rows = n, "retention dropped partition");
                match p.table {
                    "calls" => stats.calls += n as u64,
                    "events" => stats.events += n as u64,
                    _ => {}
                }
            }
            dropped_days.push(day);
        }
        self.shared.partitions.forget(dropped_days);
        // The cutoff's own day: delete row by row, under the calls' locks, in chunks. The
        // participant rows of the deleted calls are found by one probe of `call_users_by_user`
        // each (the LATERAL … OFFSET 0 keeps them probes: joined to the deleted rows, the planner
        // hashes the whole day's partition instead) and deleted by `ctid`, which is unique in
        // the one partition the day's start range selects.
        let day_start = i64::from(cutoff_day) * 86_400;
        loop {
            let tx = client.transaction().await.map_err(map_err)?;
            let victims = tx
                .query(
                    "SELECT sdkappid, call_id FROM calls WHERE part_day = $1 \
                     AND COALESCE(start_ms, first_event_ms) < $2 LIMIT $3",
                    &[&cutoff_day, &cutoff_ms, &PURGE_CHUNK],
                )
                .await
                .map_err(map_err)?;
            if victims.is_empty() {
                break;
            }
            let apps: Vec<i64> = victims.iter().map(|r| r.get(0)).collect();
            let ids: Vec<String> = victims.iter().map(|r| r.get(1)).collect();
            let mut keys: Vec<i64> = apps
                .iter()
                .zip(&ids)
                .map(|(a, c)| self.shared.call_lock(*a, c))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            tx.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k ORDER BY k",
                &[&keys],
            )
            .await
            .map_err(map_err)?;
            // Re-checked under the locks: a start may have arrived meanwhile.
            let row = tx
                .query_one(
                    &format!(
                        "WITH v AS (DELETE FROM calls WHERE part_day = $1 \
                           AND COALESCE(start_ms, first_event_ms) < $2 \
                           AND (sdkappid, call_id) IN \
                             (SELECT * FROM unnest($3::int8[], $4::text[])) \
                           RETURNING sdkappid, call_id, start_s, ended, result, call_type, \
                             media_type, accept_ms, talk_s, caller, callees), \
                         e AS (DELETE FROM events ev USING v WHERE ev.part_day = $1 \
                           AND ev.sdkappid = v.sdkappid AND ev.call_id = v.call_id RETURNING 1), \
                         b AS (DELETE FROM callbacks cb USING v \
                           WHERE cb.sdkappid = v.sdkappid AND cb.call_id = v.call_id), \
                         c AS (INSERT INTO call_counts (sdkappid, bucket, ended, result, \
                             call_type, media_type, slot, n, connected, talk_s) \
                           SELECT sdkappid, {}, ended, result, call_type, media_type, $5, \
                             -count(*), -count(*) FILTER (WHERE ended AND accept_ms IS NOT NULL), \
                             -COALESCE(sum(talk_s), 0) FROM v \
                           WHERE start_s IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 \
                           ORDER BY 1, 2, 3, 4, 5, 6 \
                           ON CONFLICT (sdkappid, bucket, ended, result, call_type, media_type, \
                             slot) \
                           DO UPDATE SET n = call_counts.n + excluded.n, \
                             connected = call_counts.connected + excluded.connected, \
                             talk_s = call_counts.talk_s + excluded.talk_s), \
                         u AS (DELETE FROM call_users cu WHERE cu.start_s BETWEEN $6 AND $7 \
                           AND cu.ctid = ANY(ARRAY(SELECT k.ctid FROM v \
                             CROSS JOIN LATERAL unnest(array_prepend(v.caller, v.callees)) \
                               AS x(user_id) \
                             CROSS JOIN LATERAL (SELECT o.ctid FROM call_users o \
                               WHERE o.sdkappid = v.sdkappid AND o.user_id = x.user_id \
                               AND o.start_s = v.start_s AND o.call_id = v.call_id \
                               AND o.start_s BETWEEN $6 AND $7 OFFSET 0) k))) \
                         SELECT (SELECT count(*) FROM v), (SELECT count(*) FROM e)",
                        bucket_sql("start_s")
                    ),
                    &[
                        &cutoff_day,
                        &cutoff_ms,
                        &apps,
                        &ids,
                        &self.shared.slot(0),
                        &day_start,
                        &(day_start + 86_399),
                    ],
                )
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            stats.calls += row.get::<_, i64>(0) as u64;
            stats.events += row.get::<_, i64>(1) as u64;
            if (victims.len() as i64) < PURGE_CHUNK {
                break;
            }
        }
        Ok(stats)
    }
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[async_trait]
impl Store for PgStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let tx = lock(&self.writer_tx).clone().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Job { items, reply }).await.map_err(|_| closed())?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?
    }

    async fn get_record(&self, sdkappid: u64, call_id: &str) -> Result<Option<Record>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM calls \
                 WHERE sdkappid = $1 AND call_id = $2 AND start_ms IS NOT NULL"
            ))
            .await
            .map_err(map_err)?;
        let rows = client
            .query(&stmt, &[&app_to_sql(sdkappid), &call_id])
            .await
            .map_err(map_err)?;
        rows.first().map(record_from_row).transpose()
    }

    async fn filter_records(&self, q: &RecordQuery) -> Result<RecordPage, StoreError> {
        let shape = Shape::of(q);
        let page = shape.page();
        let count = q.with_total.then(|| shape.count());
        let mut client = self.client().await?;
        // Prepared before the transaction: parsing locks the tables it names, and a
        // transaction reading `call_users` and `calls` must lock `calls` first (`schema.rs`).
        let page_stmt = client.prepare_cached(&page.sql).await.map_err(map_err)?;
        let count_stmt = match &count {
            Some(c) => Some(client.prepare_cached(&c.sql).await.map_err(map_err)?),
            None => None,
        };
        // One snapshot for the count and the page.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(map_err)?;
        let page_params = page.params.refs();
        let count_params = count.as_ref().map(|c| c.params.refs());
        // Pipelined, and run by the server in this order.
        let lock = async {
            if shape.reads_both() {
                tx.batch_execute(LOCK_CALLS_SQL).await?;
            }
            Ok(())
        };
        let total = async {
            match (&count_stmt, &count_params) {
                (Some(stmt), Some(params)) => {
                    Ok(Some(tx.query_one(stmt, params).await?.get::<_, i64>(0)))
                }
                _ => Ok(None),
            }
        };
        let ((), total, rows) =
            futures::future::try_join3(lock, total, tx.query(&page_stmt, &page_params))
                .await
                .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(RecordPage {
            total: total.map(|t| t.max(0) as u64),
            records: rows.iter().map(record_from_row).collect::<Result<_, _>>()?,
        })
    }

    async fn record_stats(
        &self,
        q: &RecordQuery,
        bucket: StatsBucket,
    ) -> Result<Vec<BucketStats>, StoreError> {
        let shape = Shape::of(q);
        let stats = shape.stats();
        // One statement, on one of `calls` and `call_users`: a snapshot of its own.
        let client = self.client().await?;
        let stmt = client.prepare_cached(&stats.sql).await.map_err(map_err)?;
        let rows = client
            .query(&stmt, &stats.params.refs())
            .await
            .map_err(map_err)?;
        query::collect_stats(&rows, bucket, q.from_secs)
    }

    async fn participants(
        &self,
        sdkappid: u64,
        call_ids: &[String],
    ) -> Result<HashMap<String, Participants>, StoreError> {
        if call_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT call_id, caller, callees, call_type FROM calls \
                 WHERE sdkappid = $1 AND call_id = ANY($2::text[]) AND start_ms IS NOT NULL",
            )
            .await
            .map_err(map_err)?;
        let rows = client
            .query(&stmt, &[&app_to_sql(sdkappid), &call_ids])
            .await
            .map_err(map_err)?;
        rows.iter().map(participants_from_row).collect()
    }

    async fn due_calls(&self, now_ms: i64, limit: usize) -> Result<Vec<DueCall>, StoreError> {
        let client = self.client().await?;
        // Claim: rows another transaction is writing are skipped, not waited for; rows leased
        // by another node until after `now_ms` are not offered.
        let stmt = client
            .prepare_cached(
                "UPDATE calls c SET lease_owner = $3, lease_until_ms = $4 \
                 FROM (SELECT sdkappid, call_id, part_day FROM calls \
                       WHERE due_ms IS NOT NULL AND due_ms <= $1 \
                         AND (lease_until_ms IS NULL OR lease_until_ms <= $1 OR lease_owner = $3) \
                       ORDER BY due_ms, sdkappid, call_id LIMIT $2 \
                       FOR UPDATE SKIP LOCKED) d \
                 WHERE c.sdkappid = d.sdkappid AND c.call_id = d.call_id \
                   AND c.part_day = d.part_day \
                 RETURNING c.sdkappid, c.call_id, c.due_ms",
            )
            .await
            .map_err(map_err)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &now_ms,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                    &self.node_id,
                    &now_ms.saturating_add(self.lease_ms),
                ],
            )
            .await
            .map_err(map_err)?;
        let mut due: Vec<(i64, String, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        due.sort_by(|a, b| (a.2, a.0, &a.1).cmp(&(b.2, b.0, &b.1)));
        Ok(due
            .into_iter()
            .map(|(app, call_id, due_ms)| DueCall {
                sdkappid: app_from_sql(app),
                call_id,
                due_ms,
            })
            .collect())
    }

    async fn call_events(&self, sdkappid: u64, call_id: &str) -> Result<Vec<Event>, StoreError> {
        let client = self.client().await?;
        // The call's row says which day its events are in: one partition is read.
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE sdkappid = $1 AND call_id = $2 \
                 AND part_day = (SELECT part_day FROM calls \
                                 WHERE sdkappid = $1 AND call_id = $2 LIMIT 1)"
            ))
            .await
            .map_err(map_err)?;
        let rows = client
            .query(&stmt, &[&app_to_sql(sdkappid), &call_id])
            .await
            .map_err(map_err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<PurgeStats, StoreError> {
        let mut client = self.client().await?;
        let purge_lock = lock_id(self.shared.salt, "purge");
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&purge_lock])
            .await
            .map_err(map_err)?
            .get(0);
        if !got {
            tracing::debug!("another node is purging; skipping this run");
            return Ok(PurgeStats::default());
        }
        let result = self.purge_locked(&mut client, cutoff_ms).await;
        if client
            .execute("SELECT pg_advisory_unlock($1)", &[&purge_lock])
            .await
            .is_err()
        {
            // Never return a connection that may still hold the lock to the pool.
            drop(deadpool_postgres::Object::take(client));
        }
        let stats = result?;
        let today = day_of_ms(system_now_ms());
        self.shared
            .partitions
            .ensure(&self.shared.pool, today..=today + 2)
            .await?;
        Ok(stats)
    }

    async fn callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<Option<CallbackConfig>, StoreError> {
        let client = self.client().await?;
        outbox::config(&client, app_to_sql(sdkappid), generation).await
    }

    async fn put_callback_config(
        &self,
        sdkappid: u64,
        config: CallbackConfig,
        must_exist: bool,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        outbox::put_config(
            &client,
            app_to_sql(sdkappid),
            &config,
            must_exist,
            system_now_ms(),
        )
        .await
    }

    async fn delete_callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        outbox::delete_config(&client, app_to_sql(sdkappid), generation).await
    }

    async fn claim_callbacks(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        outbox::claim(&client, owner, now_ms, lease_ms, limit).await
    }

    async fn finish_callbacks(
        &self,
        owner: &str,
        results: Vec<AttemptResult>,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        outbox::finish(&mut client, &self.shared, owner, &results).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        seqs: &[i64],
        until_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        outbox::renew(&client, owner, seqs, until_ms).await
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let client = self.client().await?;
        outbox::list(&client, query).await
    }

    async fn redeliver(
        &self,
        sdkappid: u64,
        which: &Redeliver,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        outbox::redeliver(
            &mut client,
            &self.shared,
            app_to_sql(sdkappid),
            which,
            now_ms,
        )
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let client = self.client().await?;
        outbox::stats(&client).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ensure_open()?;
        let client = self.client().await?;
        // A write, not just a read: `txid_current()` makes this a transaction with an id, whose
        // commit is written to (and, with `synchronous_commit = on`, flushed in) the WAL — so
        // it fails on a standby, a read-only database, or a server that cannot write its WAL.
        client
            .query_one("SELECT txid_current()", &[])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        // Dropping the last sender lets the writers drain what is queued and stop.
        drop(lock(&self.writer_tx).take());
        let tasks = std::mem::take(&mut *lock(&self.writer_tasks));
        for t in tasks {
            t.await
                .map_err(|e| StoreError::Internal(format!("a writer task failed: {e}")))?;
        }
        // Reads keep working (like the SQLite store); the pool's connections close when the
        // store is dropped.
        tracing::info!(schema = %self.schema, "postgres store closed for writes");
        Ok(())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Writers stop once the queue is gone; in-flight transactions finish on their own.
        drop(lock(&self.writer_tx).take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema_name("callrec_t_123"));
        assert!(valid_schema_name("_x"));
        assert!(!valid_schema_name("Callrec"));
        assert!(!valid_schema_name("1abc"));
        assert!(!valid_schema_name("a;drop"));
        assert!(!valid_schema_name(""));
        assert!(!valid_schema_name(&"a".repeat(64)));
    }
}
