//! callrec's embedded store: [`SqliteStore`], an implementation of [`callrec_domain::Store`] on
//! one SQLite file.
//!
//! - **Durability.** WAL journal with `synchronous = FULL`: an ingest returns only after its
//!   transaction's commit is fsynced, so acknowledged events survive `kill -9` and power loss.
//! - **Writes** go through one writer thread that group-commits every ingest queued at the same
//!   moment in one transaction (see `writer.rs`). Records are refolded from all of a call's stored
//!   events inside that transaction, so a record is always exactly the fold of its events.
//! - **Reads** use a pool of read-only connections: point reads (`get_record`) run inline on the
//!   calling runtime thread, longer queries on the blocking thread pool. WAL lets them run
//!   concurrently with the writer, each query on one consistent snapshot.
//! - **Exact totals** of filter queries come from `call_counts` (minute and hour buckets kept by
//!   the writer in the same transaction as every `calls` change) plus index counts over the at most
//!   two partial minutes at the range's edges.
//! - **Schema** is versioned by `user_version` and migrated at open (see `schema.rs`).

mod cache;
mod codec;
mod error;
mod outbox;
mod query;
mod schema;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use callrec_domain::{
    AttemptResult, BucketStats, CallResult, CallType, CallbackConfig, CallbackPlanner, Delivery,
    DeliveryQuery, DueCall, Event, Generation, IngestItem, IngestOutcome, OutboxStats,
    Participants, PurgeStats, Record, RecordKey, RecordPage, RecordQuery, Redeliver, StatsBucket,
    Store, StoreError, Timeouts, stored::decode,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::codec::{
    EVENT_COLUMNS, RECORD_COLUMNS, app_from_sql, app_to_sql, event_from_row, parse_callees,
    record_from_row,
};
use crate::error::{closed, corrupt, map_err};

pub use crate::schema::REBUILD_DERIVED_SQL;
use crate::writer::{Counters, Job, Writer};

/// How long a connection waits for a lock held by another connection (or process) before
/// failing with `Unavailable`. Our own writes are serialized by the writer thread, so this only
/// matters for checkpoints and for a second process on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Concurrent reads on the blocking thread pool (filter pages, due calls, events). Point reads
/// run inline on the runtime's threads instead (see `SqliteStore::read_inline`), so the pool
/// holds at most this many connections plus one per runtime worker.
const READERS: usize = 8;

/// Ingest jobs that may wait for the writer before `ingest` itself waits (backpressure).
const WRITE_QUEUE: usize = 4096;

/// Calls deleted per purge transaction, so a large purge never blocks ingest for long.
const PURGE_CHUNK: usize = 5_000;

/// Page cache per connection, in KiB (SQLite's negative `cache_size` unit).
/// Sized so that all caches together (writer + every reader) stay near 64 MiB: the server's
/// whole RSS must stay under 150 MB (benchmark P4); reads of a large file are served by the OS
/// page cache, which does not count against the process.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
const READER_CACHE_KIB: i64 = 4 * 1024;

/// WAL length (pages) after which a commit runs SQLite's automatic (PASSIVE) checkpoint; the
/// default is 1000. Fewer, larger checkpoints copy a page changed by several transactions once
/// and fsync the database file less often: measured with `store_bench ingest` (64 tasks), about
/// +10–20 % events/s over 1000, for a WAL of at most about 40 MiB (plus one transaction) at
/// 4 KiB pages. (A separate checkpoint thread was tried: under continuous ingest the WAL then
/// never restarts, since a checkpoint rarely completes exactly between two transactions.)
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// What the writer thread has done since open (for metrics, and to show that group commit
/// batches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Committed write transactions (ingest batches and purge chunks).
    pub transactions: u64,
    /// Ingest calls committed.
    pub ingest_jobs: u64,
    /// Events in those calls (accepted and duplicate).
    pub events: u64,
}

/// The embedded SQLite store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SqliteStore {
    path: PathBuf,
    /// The writer's queue; `None` once closed. A lock (not an atomic swap) so `close` and a
    /// concurrent `ingest` agree on whether the job made it in before the close.
    writer_tx: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    /// The read-only connections.
    readers: Arc<Readers>,
    read_permits: Arc<Semaphore>,
    /// Ended records recently read (see `cache.rs`).
    cache: Arc<cache::RecordCache>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked (a Vec push/pop, an Option).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock file of the database at `path`: `<path>.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock that makes one process the only user of the database at `path`
/// (the writer keeps per-process state: in-memory counts and folds of recent calls). The lock is
/// `flock` on [`lock_path`], which also holds the owner's process id for the error message; the
/// kernel drops it when the process ends, however it ends.
fn lock_exclusively(path: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::{Seek as _, Write as _};
    let lock_path = lock_path(path);
    let cannot = |e: std::io::Error| {
        StoreError::Unavailable(format!(
            "cannot open the lock file {}: {e}",
            lock_path.display()
        ))
    };
    let (mut file, writable) = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
    {
        Ok(file) => (file, true),
        // A store on a file system that is read-only for now: `flock` works on a read-only
        // descriptor, and the store starts unwritable (see `Writer::recover`).
        Err(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => (
            std::fs::File::open(&lock_path).map_err(|_| cannot(e))?,
            false,
        ),
        Err(e) => return Err(cannot(e)),
    };
    // A store of this process that was just dropped releases the lock when its writer thread
    // has drained its queue: give that a moment before calling the file taken.
    let mut attempts = 0;
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if attempts < LOCK_ATTEMPTS => {
                attempts += 1;
                std::thread::sleep(LOCK_RETRY);
            }
            other => break lock_outcome(other, &mut file, path, &lock_path)?,
        }
    }
    if writable {
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(cannot)?;
    }
    Ok(file)
}

/// How often and how long [`lock_exclusively`] tries a lock that is taken.
const LOCK_ATTEMPTS: u32 = 50;
const LOCK_RETRY: Duration = Duration::from_millis(20);

/// The result of the last `try_lock` of the lock file of `path`.
fn lock_outcome(
    outcome: Result<(), std::fs::TryLockError>,
    file: &mut std::fs::File,
    path: &Path,
    lock_path: &Path,
) -> Result<(), StoreError> {
    use std::io::Read as _;
    match outcome {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = match owner.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            Err(StoreError::Unavailable(format!(
                "{} is in use by another callrec process{owner}; a SQLite store belongs to one \
                 process: stop the other one, or give this one its own data_dir or [store] url \
                 (several nodes share a PostgreSQL store instead)",
                path.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

fn open_writer_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(map_err)?;
    // SQLite quietly opens a file it cannot write read-only; a writer must be able to write.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(map_err)? {
        return Err(StoreError::Unavailable(format!(
            "{} cannot be written (read-only file or file system)",
            path.display()
        )));
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(map_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use WAL journaling (got {mode}); is it on a network file system?",
            path.display()
        )));
    }
    // FULL: WAL's default NORMAL may lose the last commits on power loss; "accepted" must not.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -{WRITER_CACHE_KIB};
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
    ))
    .map_err(map_err)?;
    Ok(conn)
}

fn open_reader_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    // No `mmap_size`: measured on the 10 M-call file (12 GB), mmap made point reads no faster
    // than pread from the page cache (within noise) but every touched page counted in the
    // process's RSS (88 MB -> 960 MB after 8 s of random reads).
    conn.execute_batch(&format!(
        "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{READER_CACHE_KIB};"
    ))
    .map_err(map_err)?;
    Ok(conn)
}

/// The writer's connection, the schema migrated, the timeouts applied and leases of an earlier
/// process released: everything before the first write.
pub(crate) fn open_for_writing(path: &Path, timeouts: Timeouts) -> Result<Connection, StoreError> {
    let mut conn = open_writer_connection(path)?;
    schema::migrate(&mut conn)?;
    writer::apply_timeouts(&mut conn, timeouts)?;
    // One process per file (the lock): a lease left by an earlier process is void.
    outbox::release_all(&conn)?;
    Ok(conn)
}

/// The pool of read-only connections, opened lazily.
pub(crate) struct Readers {
    path: PathBuf,
    /// Idle connections, each with the epoch it was opened in.
    idle: Mutex<Vec<(u64, Connection)>>,
    /// Changed by [`Readers::retire`].
    epoch: AtomicU64,
}

impl Readers {
    fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// Runs `f` on an idle connection (or a new one) and keeps the connection for the next read
    /// unless its query failed for a connection-level reason (a fresh one is cheap to open) or
    /// the pool was retired meanwhile.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = lock(&self.idle).pop();
        let (epoch, mut conn) = match pooled {
            Some(pooled) => pooled,
            None => (
                self.epoch.load(Ordering::Acquire),
                open_reader_connection(&self.path)?,
            ),
        };
        let result = f(&mut conn);
        if !matches!(
            result,
            Err(StoreError::Unavailable(_) | StoreError::Corrupt(_))
        ) && epoch == self.epoch.load(Ordering::Acquire)
        {
            lock(&self.idle).push((epoch, conn));
        }
        result
    }

    /// Closes every connection (idle ones now, busy ones when they finish): used before the
    /// writer reopens a file that was not writable. A connection opened while the file system
    /// was read-only holds SQLite's shared-memory WAL index read-only, and SQLite shares that
    /// index among all connections of a process, so it would keep a new writer from writing.
    pub(crate) fn retire(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        lock(&self.idle).clear();
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its parent directories and
    /// migrating the schema, and starts the writer thread. `timeouts` decide when calls fall due
    /// for [`Store::due_calls`].
    ///
    /// Fails with `Corrupt` if the file is not a database or has a newer schema than this build.
    /// Blocking: call it before the runtime serves requests, or from `spawn_blocking`.
    pub fn open(path: &Path, timeouts: Timeouts) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, timeouts, None)
    }

    /// [`SqliteStore::open`] with the planner that turns stored events into callbacks (`None`:
    /// no callbacks are produced, whatever is configured).
    pub fn open_with(
        path: &Path,
        timeouts: Timeouts,
        planner: Option<Arc<dyn CallbackPlanner>>,
    ) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let existed = path.exists();
        let lock = lock_exclusively(path)?;
        let (conn, fault) = match open_for_writing(path, timeouts) {
            Ok(conn) => (Some(conn), None),
            // An existing store that cannot be written right now (read-only or full file
            // system, I/O errors): serve anyway — reads where they work, 101001 for writes,
            // `ping` failing — and let the writer open it when it can.
            Err(StoreError::Unavailable(why)) if existed => {
                tracing::error!(
                    path = %path.display(),
                    error = %why,
                    "the sqlite store cannot be written; writes fail until it can"
                );
                (None, Some(why))
            }
            Err(e) => return Err(e),
        };

        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let counters = Arc::new(Counters::default());
        let readers = Arc::new(Readers::new(path));
        let cache = Arc::new(cache::RecordCache::new(cache::CAPACITY));
        if fault.is_some() {
            counters.health.failed();
        }
        let writer = Writer {
            path: path.to_owned(),
            fault: fault.map(writer::Fault::new),
            readers: Arc::clone(&readers),
            conn,
            timeouts,
            rx,
            counters: Arc::clone(&counters),
            _lock: lock,
            planner,
            configs: HashMap::new(),
            cache: Arc::clone(&cache),
        };
        let thread = std::thread::Builder::new()
            .name("callrec-sqlite-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        tracing::info!(path = %path.display(), "sqlite store open");
        Ok(SqliteStore {
            path: path.to_owned(),
            writer_tx: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            counters,
            readers,
            read_permits: Arc::new(Semaphore::new(READERS)),
            cache,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer has committed so far.
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            ingest_jobs: self.counters.ingest_jobs.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
        }
    }

    /// Sends a job to the writer and waits for its reply.
    async fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let tx = lock(&self.writer_tx).clone().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| closed())?;
        // Dropped without an answer only if the writer thread died (panicked).
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer stopped".into()))?
    }

    /// Runs `f` on the writer thread inside a transaction, committed when `f` succeeds. With
    /// `configs_of`, the writer forgets its cached callback configurations of that app after.
    ///
    /// `durable: false` commits without waiting for the disk (`synchronous = NORMAL` for this
    /// transaction): for the outbox's bookkeeping (leases, attempt outcomes), where a crash may
    /// lose the last few commits and that only means a callback is attempted once more. The next
    /// durable commit (every ingest) syncs the log up to and including them.
    async fn write_tx<T, F>(
        &self,
        configs_of: Option<i64>,
        durable: bool,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write(move |reply| {
            Job::Exec(Box::new(move |w: &mut Writer| {
                let relax = |conn: &Connection, level: &str| {
                    conn.execute_batch(&format!("PRAGMA synchronous = {level}"))
                        .map_err(map_err)
                };
                let result = w.conn().and_then(|conn| {
                    let result = (if durable {
                        Ok(())
                    } else {
                        relax(conn, "NORMAL")
                    })
                    .and_then(|()| {
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                            .map_err(map_err)
                    })
                    .and_then(|tx| {
                        let out = f(&tx)?;
                        tx.commit().map_err(map_err)?;
                        Ok(out)
                    });
                    let restored = if durable { Ok(()) } else { relax(conn, "FULL") };
                    result.and_then(|out| restored.map(|()| out))
                });
                w.note(&result);
                if let Some(app) = configs_of {
                    w.config_changed(app);
                }
                let _ = reply.send(result);
            }))
        })
        .await
    }

    /// Runs `f` on a pooled read-only connection right here on the calling (runtime) thread: for
    /// point reads, which take microseconds, a hop to another thread and back costs more than the
    /// read. The number of such reads at once is bounded by the runtime's worker threads.
    fn read_inline<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with(f)
    }

    /// Runs `f` on a pooled read-only connection on the blocking thread pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.read_permits)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            readers.with(f)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }
}

/// The wall clock, Unix ms (configuration change times).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `get_record`'s query.
static GET_RECORD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {RECORD_COLUMNS} FROM calls \
         WHERE sdkappid = ?1 AND call_id = ?2 AND start_ms IS NOT NULL"
    )
});

/// The exact number of records matching `q` (ignoring its page): whole hours and minutes from
/// `call_counts`, the partial minutes at the edges from the filter's covering index.
fn count_total(conn: &Connection, q: &RecordQuery) -> Result<u64, StoreError> {
    let count = |b: &query::Built| -> Result<i64, StoreError> {
        conn.prepare_cached(&query::count_sql(b))
            .map_err(map_err)?
            .query_row(params_from_iter(b.params.iter()), |r| r.get(0))
            .map_err(map_err)
    };
    let total = if query::driver(q) == query::Driver::Time && q.filter.is_countable() {
        // Whole minutes and hours from `call_counts`, the partial edge minutes from the index.
        let plan = query::count_plan(q.from_secs, q.to_secs);
        let mut total: i64 = 0;
        for (lo, hi) in plan.exact {
            total += count(&query::filter_where(&edge(q, lo, hi)))?;
        }
        for (span, lo, hi) in plan.buckets {
            let (sql, args) = query::bucket_sum(q, span, lo, hi);
            let n: i64 = conn
                .prepare_cached(&sql)
                .map_err(map_err)?
                .query_row(params_from_iter(args.iter()), |r| r.get(0))
                .map_err(map_err)?;
            total += n;
        }
        total
    } else {
        // The driving index's entries (a user's calls, a room's, the listed ids), or, for
        // duration bounds, the time range's.
        count(&query::filter_where(q))?
    };
    u64::try_from(total).map_err(|_| corrupt(format!("negative record count {total}")))
}

/// A page of a query that lists its calls (at most [`MAX_CALL_IDS`](callrec_domain::MAX_CALL_IDS)):
/// every match is read once, whole, by primary key; the total, the cursor, the order and the
/// page are then applied here (reading the list twice, for a count and a page, cost twice the
/// lookups, which on a large cold file are disk reads).
fn listed_calls(conn: &mut Connection, q: &RecordQuery) -> Result<RecordPage, StoreError> {
    let b = query::filter_where(q);
    let tx = conn.transaction().map_err(map_err)?;
    let mut all: Vec<Record> = tx
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM {} WHERE {}",
            b.from, b.where_
        ))
        .map_err(map_err)?
        .query_map(params_from_iter(b.params.iter()), record_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    tx.finish().map_err(map_err)?;
    let total = q.with_total.then_some(all.len() as u64);
    all.sort_by(|a, b| q.order.cmp(&RecordKey::of(a), &RecordKey::of(b)));
    let records = all
        .into_iter()
        .filter(|r| {
            q.after
                .as_ref()
                .is_none_or(|k| q.order.cmp(k, &RecordKey::of(r)) == std::cmp::Ordering::Less)
        })
        .skip(usize::try_from(q.offset).unwrap_or(usize::MAX))
        .take(q.limit as usize)
        .collect();
    Ok(RecordPage { total, records })
}

/// `q` narrowed to the seconds `[lo, hi]`, without a cursor.
fn edge(q: &RecordQuery, lo: i64, hi: i64) -> RecordQuery {
    RecordQuery {
        from_secs: lo,
        to_secs: hi,
        after: None,
        ..q.clone()
    }
}

/// Adds the statistics rows (`start_s, result, connected, talk_s`) of `b` to `out`.
fn stats_rows(
    conn: &Connection,
    b: &query::Built,
    bucket: StatsBucket,
    from: i64,
    out: &mut HashMap<i64, BucketStats>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(&query::stats_rows_sql(b))
        .map_err(map_err)?;
    let mut rows = stmt
        .query(params_from_iter(b.params.iter()))
        .map_err(map_err)?;
    while let Some(r) = rows.next().map_err(map_err)? {
        let start: i64 = r.get(0).map_err(map_err)?;
        let result: String = r.get(1).map_err(map_err)?;
        let connected: bool = r.get(2).map_err(map_err)?;
        let talk: i64 = r.get(3).map_err(map_err)?;
        add_stats(
            out,
            bucket.start_of(start, from),
            &result,
            1,
            i64::from(connected),
            talk,
        )?;
    }
    Ok(())
}

/// Adds `n` calls of `result` to the bucket starting at `start`.
fn add_stats(
    out: &mut HashMap<i64, BucketStats>,
    start: i64,
    result: &str,
    n: i64,
    connected: i64,
    talk: i64,
) -> Result<(), StoreError> {
    let result: CallResult = decode("call result", result).map_err(corrupt)?;
    if result == CallResult::Ongoing {
        return Ok(());
    }
    let non_negative = |v: i64| u64::try_from(v).map_err(|_| corrupt(format!("negative sum {v}")));
    out.entry(start)
        .or_insert_with(|| BucketStats::empty(start))
        .add(
            result,
            non_negative(n)?,
            non_negative(connected)?,
            non_negative(talk)?,
        );
    Ok(())
}

/// `record_stats` on one snapshot.
fn stats(
    conn: &Connection,
    q: &RecordQuery,
    bucket: StatsBucket,
) -> Result<Vec<BucketStats>, StoreError> {
    let mut out: HashMap<i64, BucketStats> = HashMap::new();
    if query::driver(q) == query::Driver::Time && q.filter.is_countable() {
        let plan = query::count_plan(q.from_secs, q.to_secs);
        for (lo, hi) in plan.exact {
            stats_rows(
                conn,
                &query::filter_where(&edge(q, lo, hi)),
                bucket,
                q.from_secs,
                &mut out,
            )?;
        }
        for (span, lo, hi) in plan.buckets {
            let (sql, args) = query::bucket_stats(q, span, lo, hi);
            let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
            let mut rows = stmt.query(params_from_iter(args.iter())).map_err(map_err)?;
            while let Some(r) = rows.next().map_err(map_err)? {
                let b: i64 = r.get(0).map_err(map_err)?;
                let result: String = r.get(1).map_err(map_err)?;
                let start = bucket.start_of(b.saturating_mul(span), q.from_secs);
                add_stats(
                    &mut out,
                    start,
                    &result,
                    r.get(2).map_err(map_err)?,
                    r.get(3).map_err(map_err)?,
                    r.get(4).map_err(map_err)?,
                )?;
            }
        }
    } else {
        stats_rows(conn, &query::filter_where(q), bucket, q.from_secs, &mut out)?;
    }
    let mut found: Vec<BucketStats> = out.into_values().collect();
    found.sort_by_key(|b| b.start_secs);
    Ok(found)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|reply| Job::Ingest { items, reply }).await
    }

    async fn get_record(&self, sdkappid: u64, call_id: &str) -> Result<Option<Record>, StoreError> {
        let app = app_to_sql(sdkappid);
        if let Some(hit) = self.cache.get(app, call_id) {
            return Ok(Some(hit));
        }
        // Before the read: an invalidation after this point voids the offer below.
        let ticket = self.cache.ticket(app, call_id);
        let get = |conn: &mut Connection| {
            let mut stmt = conn.prepare_cached(&GET_RECORD_SQL).map_err(map_err)?;
            stmt.query_row(params![app, call_id], record_from_row)
                .optional()
                .map_err(map_err)
        };
        // A point read by primary key: run it inline (see `read_inline`). Measured with 64
        // concurrent tasks on 2 workers over the 10 M-call file: 19 k/s through
        // `spawn_blocking`, 37–47 k/s inline.
        let found = self.read_inline(get)?;
        if let Some(record) = &found {
            self.cache.offer(ticket, app, record);
        }
        Ok(found)
    }

    async fn filter_records(&self, q: &RecordQuery) -> Result<RecordPage, StoreError> {
        let q = q.clone();
        self.read(move |conn| {
            if query::driver(&q) == query::Driver::CallIds {
                return listed_calls(conn, &q);
            }
            let b = query::page_where(&q);
            // One read transaction: the count and the page come from the same snapshot.
            let tx = conn.transaction().map_err(map_err)?;
            let total = if q.with_total {
                Some(count_total(&tx, &q)?)
            } else {
                None
            };
            let mut args = b.params.clone();
            args.push(i64::from(q.limit).into());
            args.push(i64::try_from(q.offset).unwrap_or(i64::MAX).into());
            // Ids first from the driving index, then whole rows by key: skipping `offset`
            // rows then costs index entries, not table rows.
            let ids: Vec<String> = tx
                .prepare_cached(&query::page_sql(&b, q.order))
                .map_err(map_err)?
                .query_map(params_from_iter(args.iter()), |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            let mut records = Vec::with_capacity(ids.len());
            {
                let mut by_id = tx
                    .prepare_cached(&format!(
                        "SELECT {RECORD_COLUMNS} FROM calls WHERE sdkappid = ?1 AND call_id = ?2"
                    ))
                    .map_err(map_err)?;
                for id in &ids {
                    records.push(
                        by_id
                            .query_row(params![app_to_sql(q.sdkappid), id], record_from_row)
                            .map_err(map_err)?,
                    );
                }
            }
            tx.finish().map_err(map_err)?;
            Ok(RecordPage { total, records })
        })
        .await
    }

    async fn record_stats(
        &self,
        q: &RecordQuery,
        bucket: StatsBucket,
    ) -> Result<Vec<BucketStats>, StoreError> {
        let q = q.clone();
        self.read(move |conn| {
            let tx = conn.transaction().map_err(map_err)?;
            let found = stats(&tx, &q, bucket)?;
            tx.finish().map_err(map_err)?;
            Ok(found)
        })
        .await
    }

    async fn participants(
        &self,
        sdkappid: u64,
        call_ids: &[String],
    ) -> Result<HashMap<String, Participants>, StoreError> {
        let call_ids = call_ids.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT caller, callees, call_type FROM calls \
                     WHERE sdkappid = ?1 AND call_id = ?2 AND start_ms IS NOT NULL",
                )
                .map_err(map_err)?;
            let mut out = HashMap::new();
            for id in call_ids {
                if out.contains_key(&id) {
                    continue;
                }
                let found = stmt
                    .query_row(params![app_to_sql(sdkappid), id], |r| {
                        let callees: String = r.get(1)?;
                        let call_type: String = r.get(2)?;
                        Ok(Participants {
                            caller: r.get(0)?,
                            callees: parse_callees(1, &callees)?,
                            call_type: call_type.parse::<CallType>().map_err(|()| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    2,
                                    rusqlite::types::Type::Text,
                                    format!("unknown call type {call_type:?}").into(),
                                )
                            })?,
                        })
                    })
                    .optional()
                    .map_err(map_err)?;
                if let Some(p) = found {
                    out.insert(id, p);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn due_calls(&self, now_ms: i64, limit: usize) -> Result<Vec<DueCall>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(query::DUE_SQL).map_err(map_err)?;
            stmt.query_map(
                params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(DueCall {
                        sdkappid: app_from_sql(r.get(0)?),
                        call_id: r.get(1)?,
                        due_ms: r.get(2)?,
                    })
                },
            )
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn call_events(&self, sdkappid: u64, call_id: &str) -> Result<Vec<Event>, StoreError> {
        let call_id = call_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE sdkappid = ?1 AND call_id = ?2"
                ))
                .map_err(map_err)?;
            stmt.query_map(params![app_to_sql(sdkappid), call_id], event_from_row)
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)
        })
        .await
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<PurgeStats, StoreError> {
        let mut total = PurgeStats::default();
        loop {
            let (stats, found) = self
                .write(|reply| Job::PurgeChunk {
                    cutoff_ms,
                    limit: PURGE_CHUNK,
                    reply,
                })
                .await?;
            total.calls += stats.calls;
            total.events += stats.events;
            if found < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }

    async fn callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<Option<CallbackConfig>, StoreError> {
        self.read(move |conn| outbox::config(conn, app_to_sql(sdkappid), generation))
            .await
    }

    async fn put_callback_config(
        &self,
        sdkappid: u64,
        config: CallbackConfig,
        must_exist: bool,
    ) -> Result<bool, StoreError> {
        let app = app_to_sql(sdkappid);
        let now = now_ms();
        self.write_tx(Some(app), true, move |conn| {
            outbox::put_config(conn, app, &config, must_exist, now)
        })
        .await
    }

    async fn delete_callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<bool, StoreError> {
        let app = app_to_sql(sdkappid);
        self.write_tx(Some(app), true, move |conn| {
            outbox::delete_config(conn, app, generation)
        })
        .await
    }

    async fn claim_callbacks(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let owner = owner.to_owned();
        self.write_tx(None, false, move |conn| {
            outbox::claim(conn, &owner, now_ms, lease_ms, limit)
        })
        .await
    }

    async fn finish_callbacks(
        &self,
        owner: &str,
        results: Vec<AttemptResult>,
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let owner = owner.to_owned();
        self.write_tx(None, false, move |conn| {
            outbox::finish(conn, &owner, &results)
        })
        .await
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
        let (owner, seqs) = (owner.to_owned(), seqs.to_vec());
        self.write_tx(None, false, move |conn| {
            outbox::renew(conn, &owner, &seqs, until_ms)
        })
        .await
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let query = query.clone();
        self.read(move |conn| outbox::list(conn, &query)).await
    }

    async fn redeliver(
        &self,
        sdkappid: u64,
        which: &Redeliver,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let (app, which) = (app_to_sql(sdkappid), which.clone());
        self.write_tx(None, true, move |conn| {
            outbox::redeliver(conn, app, &which, now_ms)
        })
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.read(|conn| outbox::stats(conn)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if lock(&self.writer_tx).is_none() {
            return Err(closed());
        }
        // Writable: the writer's last outcome if it is a recent success, else a small durable
        // write now (an idle store, or one whose last write failed).
        if !self.counters.health.recently_ok() {
            self.write_tx(None, true, |conn| {
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES ('probe', 1) \
                     ON CONFLICT (key) DO UPDATE SET value = value + 1",
                    [],
                )
                .map(drop)
                .map_err(map_err)
            })
            .await?;
        }
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }

    async fn close(&self) -> Result<(), StoreError> {
        // Dropping the last sender lets the writer drain what is queued and exit.
        drop(lock(&self.writer_tx).take());
        let thread = lock(&self.writer_thread).take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| StoreError::Internal(format!("joining the writer failed: {e}")))?
                .map_err(|_| StoreError::Internal("the writer thread panicked".into()))?;
            tracing::info!(path = %self.path.display(), "sqlite store closed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod plan_tests;
