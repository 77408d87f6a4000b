//! Callbacks: configurations and the outbox (schema version 4, see `schema.rs`).
//!
//! The callbacks of one call to one URL form a *line*, attempted one at a time in production
//! order: only the line's head (a pending row with a `next_attempt_ms`; normally its earliest
//! pending row) is due, the rest wait with NULL, and ending the head (delivered or failed)
//! promotes the line's earliest pending row. The due index therefore lists only callbacks that
//! may be attempted now. Same rules as the SQLite store's outbox, with one difference: a line's
//! next callback, promoted when an attempt ends its head, is due as of that attempt or of its
//! own production, whichever is earlier (SQLite: the attempt), so a caller whose clock is a
//! little behind the attempt's (another node, or a test's fixed `now`) sees it due at once.
//!
//! **Several nodes.** Every change to a line's shape — producing into it (the ingest
//! transaction, `writer.rs`), ending a head, redelivering, deleting for retention — runs under
//! the call's transaction-scoped advisory lock, the one that serializes the call's events. So
//! "is this line busy" and "who is next" are never decided on a stale view: a callback produced
//! on one node while another node delivers the line's head either sees the head ended (and is
//! the new head) or is seen by the promotion. Claims only lease heads (`FOR UPDATE SKIP
//! LOCKED`, so concurrent claims skip each other's rows and no lock waits), and leases are
//! per owner: a lease that ran out may be claimed by another node, after which the first
//! owner's result is ignored. Leases are never released wholesale at connect: other nodes hold
//! theirs.

use std::collections::{HashMap, HashSet};

use callrec_domain::{
    AfterAttempt, AttemptResult, CallbackConfig, Delivery, DeliveryQuery, DeliveryStatus,
    Generation, NewCallback, OutboxStats, Redeliver, StoreError,
};
use deadpool_postgres::{Object, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::codec::{app_from_sql, get};
use crate::error::{corrupt, map_err};
use crate::writer::{MAX_BATCH_CALLS, Shared};

/// Columns [`delivery_from_row`] reads, in order.
const DELIVERY_COLUMNS: &str = "seq, sdkappid, id, generation, command, call_id, url, query, \
     body, created_ms, status, attempts, last_attempt_ms, next_attempt_ms, last_error, \
     COALESCE(schedule_ms, created_ms)";

/// Rebuilds a [`Delivery`] from a row selected with [`DELIVERY_COLUMNS`].
fn delivery_from_row(r: &Row) -> Result<Delivery, StoreError> {
    let seq: i64 = get(r, 0)?;
    let generation: &str = get(r, 3)?;
    let status: &str = get(r, 10)?;
    let (Ok(generation), Ok(status)) = (
        generation.parse::<Generation>(),
        status.parse::<DeliveryStatus>(),
    ) else {
        return Err(corrupt(format!(
            "callback {seq} has generation {generation:?}, status {status:?}"
        )));
    };
    let attempts: i32 = get(r, 11)?;
    Ok(Delivery {
        seq,
        sdkappid: app_from_sql(get(r, 1)?),
        callback: NewCallback {
            id: get(r, 2)?,
            generation,
            command: get(r, 4)?,
            call_id: get(r, 5)?,
            url: get(r, 6)?,
            query: get(r, 7)?,
            body: get(r, 8)?,
            created_ms: get(r, 9)?,
        },
        status,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(format!("callback {seq} has {attempts} attempts")))?,
        last_attempt_ms: get(r, 12)?,
        next_attempt_ms: get(r, 13)?,
        last_error: get(r, 14)?,
        schedule_ms: get(r, 15)?,
    })
}

/// Takes the advisory locks of `calls` (the ones the ingest transaction takes), in key order.
async fn lock_calls<'a>(
    tx: &Transaction<'_>,
    shared: &Shared,
    calls: impl IntoIterator<Item = (i64, &'a str)>,
) -> Result<(), StoreError> {
    let mut keys: Vec<i64> = calls
        .into_iter()
        .map(|(app, call_id)| shared.call_lock(app, call_id))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    tx.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k ORDER BY k",
        &[&keys],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

// ---- Configurations -----------------------------------------------------------------------

/// The configurations of the apps in `$1` (`int8[]`), v1 before v4 per app: what the ingest
/// transaction reads once per batch, pipelined with its lookups (never cached: another node
/// may change them at any time).
pub(crate) const CONFIGS_SQL: &str = "SELECT sdkappid, generation, url, commands::text \
     FROM callback_configs WHERE sdkappid = ANY($1::int8[]) ORDER BY sdkappid, generation";

/// Each app's configurations from rows selected with [`CONFIGS_SQL`].
pub(crate) fn configs_from_rows(
    rows: &[Row],
) -> Result<HashMap<i64, Vec<CallbackConfig>>, StoreError> {
    let mut out: HashMap<i64, Vec<CallbackConfig>> = HashMap::new();
    for r in rows {
        let app: i64 = get(r, 0)?;
        let config = config_from_parts(get(r, 1)?, get(r, 2)?, get(r, 3)?)?;
        out.entry(app).or_default().push(config);
    }
    Ok(out)
}

fn config_from_parts(
    generation: &str,
    url: String,
    commands: &str,
) -> Result<CallbackConfig, StoreError> {
    let generation = generation.parse().map_err(|()| {
        corrupt(format!(
            "callback configuration of generation {generation:?}"
        ))
    })?;
    let commands = serde_json::from_str(commands)
        .map_err(|e| corrupt(format!("callback configuration commands: {e}")))?;
    Ok(CallbackConfig {
        generation,
        url,
        commands,
    })
}

/// The app's configuration for `generation`.
pub(crate) async fn config(
    client: &Object,
    app: i64,
    generation: Generation,
) -> Result<Option<CallbackConfig>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT url, commands::text FROM callback_configs \
             WHERE sdkappid = $1 AND generation = $2",
        )
        .await
        .map_err(map_err)?;
    let row = client
        .query_opt(&stmt, &[&app, &generation.as_str()])
        .await
        .map_err(map_err)?;
    row.map(|r| config_from_parts(generation.as_str(), get(&r, 0)?, get(&r, 1)?))
        .transpose()
}

/// Stores `config`; with `must_exist`, only over an existing one. Answers whether it stored.
pub(crate) async fn put_config(
    client: &Object,
    app: i64,
    config: &CallbackConfig,
    must_exist: bool,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let commands =
        serde_json::to_string(&config.commands).map_err(|e| StoreError::Internal(e.to_string()))?;
    let sql = if must_exist {
        "UPDATE callback_configs SET url = $3, commands = $4::text::jsonb, updated_ms = $5 \
         WHERE sdkappid = $1 AND generation = $2"
    } else {
        "INSERT INTO callback_configs (sdkappid, generation, url, commands, updated_ms) \
         VALUES ($1, $2, $3, $4::text::jsonb, $5) ON CONFLICT (sdkappid, generation) DO UPDATE \
         SET url = excluded.url, commands = excluded.commands, updated_ms = excluded.updated_ms"
    };
    let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
    let n = client
        .execute(
            &stmt,
            &[
                &app,
                &config.generation.as_str(),
                &config.url,
                &commands,
                &now_ms,
            ],
        )
        .await
        .map_err(map_err)?;
    Ok(n == 1)
}

/// Removes a configuration; answers whether there was one.
pub(crate) async fn delete_config(
    client: &Object,
    app: i64,
    generation: Generation,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM callback_configs WHERE sdkappid = $1 AND generation = $2")
        .await
        .map_err(map_err)?;
    let n = client
        .execute(&stmt, &[&app, &generation.as_str()])
        .await
        .map_err(map_err)?;
    Ok(n == 1)
}

// ---- Production (inside the ingest transaction) -------------------------------------------

/// The lines of the calls in `$1, $2` (`int8[]`, `text[]`) that have a pending callback, as
/// `(sdkappid, call_id, url)`: one index probe per call.
pub(crate) const BUSY_LINES_SQL: &str = "SELECT k.a, k.c, l.url \
     FROM unnest($1::int8[], $2::text[]) AS k(a, c) CROSS JOIN LATERAL \
     (SELECT DISTINCT url FROM callbacks WHERE sdkappid = k.a AND call_id = k.c \
      AND status = 'pending') l";

/// Inserts the rows of [`Produced::params`], in order (so `seq` follows production order).
pub(crate) const INSERT_SQL: &str = "INSERT INTO callbacks (id, sdkappid, call_id, generation, \
     command, url, query, body, created_ms, status, next_attempt_ms) \
     SELECT i, a, c, g, k, u, q, b, t, 'pending', n FROM unnest($1::text[], $2::int8[], \
     $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], \
     $10::int8[]) WITH ORDINALITY AS x(i, a, c, g, k, u, q, b, t, n, o) ORDER BY o";

/// A line: (sdkappid, call_id, url).
pub(crate) type Line = (i64, String, String);

/// The callbacks one ingest transaction produces, as the columns of one multi-row insert
/// ([`INSERT_SQL`]), and the lines that are busy (have a pending callback) with them.
#[derive(Debug)]
pub(crate) struct Produced {
    busy: HashSet<Line>,
    ids: Vec<String>,
    apps: Vec<i64>,
    calls: Vec<String>,
    generations: Vec<&'static str>,
    commands: Vec<String>,
    urls: Vec<String>,
    queries: Vec<String>,
    bodies: Vec<String>,
    created: Vec<i64>,
    next: Vec<Option<i64>>,
}

impl Produced {
    /// Nothing produced yet; `busy`: the lines that have a pending callback (from
    /// [`BUSY_LINES_SQL`], under the calls' locks).
    pub(crate) fn new(busy: HashSet<Line>) -> Self {
        Produced {
            busy,
            ids: Vec::new(),
            apps: Vec::new(),
            calls: Vec::new(),
            generations: Vec::new(),
            commands: Vec::new(),
            urls: Vec::new(),
            queries: Vec::new(),
            bodies: Vec::new(),
            created: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Adds a callback of `app` after those added so far. It becomes its line's head (due at
    /// its production) unless the line is busy (it had a pending callback before this
    /// transaction, or got one earlier in it); its line is busy afterwards.
    pub(crate) fn push(&mut self, app: i64, cb: NewCallback) {
        let head = self.busy.insert((app, cb.call_id.clone(), cb.url.clone()));
        self.next.push(head.then_some(cb.created_ms));
        self.ids.push(cb.id);
        self.apps.push(app);
        self.calls.push(cb.call_id);
        self.generations.push(cb.generation.as_str());
        self.commands.push(cb.command);
        self.urls.push(cb.url);
        self.queries.push(cb.query);
        self.bodies.push(cb.body);
        self.created.push(cb.created_ms);
    }

    /// Whether nothing was produced.
    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The parameters of [`INSERT_SQL`].
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.ids,
            &self.apps,
            &self.calls,
            &self.generations,
            &self.commands,
            &self.urls,
            &self.queries,
            &self.bodies,
            &self.created,
            &self.next,
        ]
    }
}

// ---- Delivery -----------------------------------------------------------------------------

/// Leases up to `limit` due heads to `owner` until `now_ms + lease_ms`, earliest due first.
pub(crate) async fn claim(
    client: &Object,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    // Rows another node is claiming (or finishing) right now are skipped, not waited for; the
    // lease condition is re-checked on each row as it is locked.
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE callbacks SET lease_owner = $3, lease_until_ms = $4 \
             WHERE seq IN (SELECT seq FROM callbacks \
                           WHERE status = 'pending' AND next_attempt_ms IS NOT NULL \
                             AND next_attempt_ms <= $1 \
                             AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
                           ORDER BY next_attempt_ms LIMIT $2 \
                           FOR UPDATE SKIP LOCKED) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .await
        .map_err(map_err)?;
    let rows = client
        .query(
            &stmt,
            &[
                &now_ms,
                &i64::try_from(limit).unwrap_or(i64::MAX),
                &owner,
                &now_ms.saturating_add(lease_ms),
            ],
        )
        .await
        .map_err(map_err)?;
    let mut out: Vec<Delivery> = rows
        .iter()
        .map(delivery_from_row)
        .collect::<Result<_, _>>()?;
    out.sort_by_key(|d| (d.next_attempt_ms, d.seq));
    Ok(out)
}

/// The rest of the promotion statements: for each line of `$1, $2, $3` (sdkappid, call_id, url)
/// without a head, its earliest pending callback, with the line's time `$4`.
macro_rules! promote_from {
    () => {
        "FROM (SELECT l.at, (SELECT seq FROM callbacks WHERE sdkappid = l.a AND call_id = l.c \
                         AND url = l.u AND status = 'pending' ORDER BY seq LIMIT 1) AS seq \
           FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[]) AS l(a, c, u, at) \
           WHERE NOT EXISTS (SELECT 1 FROM callbacks WHERE sdkappid = l.a AND call_id = l.c \
                             AND url = l.u AND status = 'pending' \
                             AND next_attempt_ms IS NOT NULL)) h \
     WHERE c.seq = h.seq"
    };
}

/// Gives each line of `$1, $2, $3` (sdkappid, call_id, url) that has no head its earliest
/// pending callback, due at `$4` (per line).
const PROMOTE_SQL: &str = concat!(
    "UPDATE callbacks c SET next_attempt_ms = h.at ",
    promote_from!()
);

/// [`PROMOTE_SQL`], but due no later than the callback's production.
const PROMOTE_NO_LATER_SQL: &str = concat!(
    "UPDATE callbacks c SET next_attempt_ms = LEAST(h.at, c.created_ms) ",
    promote_from!()
);

/// Promotes `lines` (distinct), each at its time; with `no_later_than_production`, at the
/// promoted callback's production if that is earlier. The caller holds the lines' call locks.
async fn promote(
    tx: &Transaction<'_>,
    lines: &[(Line, i64)],
    no_later_than_production: bool,
) -> Result<(), StoreError> {
    if lines.is_empty() {
        return Ok(());
    }
    let apps: Vec<i64> = lines.iter().map(|((a, _, _), _)| *a).collect();
    let calls: Vec<&str> = lines.iter().map(|((_, c, _), _)| c.as_str()).collect();
    let urls: Vec<&str> = lines.iter().map(|((_, _, u), _)| u.as_str()).collect();
    let at: Vec<i64> = lines.iter().map(|(_, t)| *t).collect();
    let sql = if no_later_than_production {
        PROMOTE_NO_LATER_SQL
    } else {
        PROMOTE_SQL
    };
    let stmt = tx.prepare_cached(sql).await.map_err(map_err)?;
    tx.execute(&stmt, &[&apps, &calls, &urls, &at])
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Records attempts on callbacks `owner` still leases, in one transaction; a head that ended
/// hands its line to the next callback.
pub(crate) async fn finish(
    client: &mut Object,
    shared: &Shared,
    owner: &str,
    results: &[AttemptResult],
) -> Result<(), StoreError> {
    // A second result for the same callback finds its lease gone: only the first counts.
    let mut seen = HashSet::new();
    let results: Vec<&AttemptResult> = results.iter().filter(|r| seen.insert(r.seq)).collect();
    let seqs: Vec<i64> = results.iter().map(|r| r.seq).collect();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| match r.next {
            AfterAttempt::Delivered => DeliveryStatus::Delivered,
            AfterAttempt::RetryAt(_) => DeliveryStatus::Pending,
            AfterAttempt::Failed => DeliveryStatus::Failed,
        })
        .map(DeliveryStatus::as_str)
        .collect();
    let attempted: Vec<i64> = results.iter().map(|r| r.attempted_ms).collect();
    let next: Vec<Option<i64>> = results
        .iter()
        .map(|r| match r.next {
            AfterAttempt::RetryAt(t) => Some(t),
            AfterAttempt::Delivered | AfterAttempt::Failed => None,
        })
        .collect();
    let errors: Vec<Option<&str>> = results.iter().map(|r| r.error.as_deref()).collect();

    let tx = client.transaction().await.map_err(map_err)?;
    // A callback's call never changes, so these locks cover every row the update may touch.
    let calls: Vec<(i64, String)> = tx
        .query(
            "SELECT DISTINCT sdkappid, call_id FROM callbacks WHERE seq = ANY($1::int8[])",
            &[&seqs],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    lock_calls(&tx, shared, calls.iter().map(|(a, c)| (*a, c.as_str()))).await?;
    let update = tx
        .prepare_cached(
            "UPDATE callbacks c SET status = r.status, attempts = c.attempts + 1, \
             last_attempt_ms = r.at, next_attempt_ms = r.next, last_error = r.err, \
             lease_owner = NULL, lease_until_ms = NULL \
             FROM unnest($2::int8[], $3::text[], $4::int8[], $5::int8[], $6::text[]) \
               AS r(seq, status, at, next, err) \
             WHERE c.seq = r.seq AND c.status = 'pending' AND c.lease_owner = $1 \
             RETURNING c.sdkappid, c.call_id, c.url, c.status, r.at",
        )
        .await
        .map_err(map_err)?;
    let done = tx
        .query(
            &update,
            &[&owner, &seqs, &statuses, &attempted, &next, &errors],
        )
        .await
        .map_err(map_err)?;
    // Only a head is leased, and a line has one: each ended line is promoted once. The next
    // callback is due at once: as of the ended attempt, or of its own production if earlier
    // (it has been waiting since; this keeps lines in production order among due callbacks and
    // makes it due for a caller whose clock is a little behind the attempt's).
    let mut lines: Vec<(Line, i64)> = Vec::new();
    let mut ended = HashSet::new();
    for r in &done {
        let line: Line = (r.get(0), r.get(1), r.get(2));
        if r.get::<_, &str>(3) != DeliveryStatus::Pending.as_str() && ended.insert(line.clone()) {
            lines.push((line, r.get(4)));
        }
    }
    promote(&tx, &lines, true).await?;
    tx.commit().await.map_err(map_err)
}

/// Extends (or with `None` releases) `owner`'s leases on `seqs`.
pub(crate) async fn renew(
    client: &Object,
    owner: &str,
    seqs: &[i64],
    until_ms: Option<i64>,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE callbacks SET lease_until_ms = $3::int8, \
             lease_owner = CASE WHEN $3::int8 IS NULL THEN NULL ELSE lease_owner END \
             WHERE seq = ANY($1::int8[]) AND lease_owner = $2",
        )
        .await
        .map_err(map_err)?;
    client
        .execute(&stmt, &[&seqs, &owner, &until_ms])
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Makes the chosen callbacks of `app` pending again with a fresh schedule, due at `now_ms`;
/// answers how many were chosen (pending ones keep their place and count). Runs a transaction
/// per [`MAX_BATCH_CALLS`] calls, each under its calls' locks.
pub(crate) async fn redeliver(
    client: &mut Object,
    shared: &Shared,
    app: i64,
    which: &Redeliver,
    now_ms: i64,
) -> Result<u64, StoreError> {
    // The calls concerned, read without locks; what is chosen is read again under them.
    let calls: Vec<String> = match which {
        Redeliver::Ids(ids) => {
            client
                .query(
                    "SELECT DISTINCT call_id FROM callbacks \
                     WHERE sdkappid = $1 AND id = ANY($2::text[])",
                    &[&app, ids],
                )
                .await
        }
        Redeliver::FailedSince(since) => {
            client
                .query(
                    "SELECT DISTINCT call_id FROM callbacks \
                     WHERE sdkappid = $1 AND status = 'failed' AND created_ms >= $2",
                    &[&app, since],
                )
                .await
        }
    }
    .map_err(map_err)?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut n = 0;
    for chunk in calls.chunks(MAX_BATCH_CALLS) {
        let tx = client.transaction().await.map_err(map_err)?;
        lock_calls(&tx, shared, chunk.iter().map(|c| (app, c.as_str()))).await?;
        let chosen = match which {
            Redeliver::Ids(ids) => {
                tx.query(
                    "SELECT seq, call_id, url, status FROM callbacks WHERE sdkappid = $1 \
                     AND call_id = ANY($2::text[]) AND id = ANY($3::text[]) ORDER BY seq",
                    &[&app, &chunk, ids],
                )
                .await
            }
            Redeliver::FailedSince(since) => {
                tx.query(
                    "SELECT seq, call_id, url, status FROM callbacks WHERE sdkappid = $1 \
                     AND call_id = ANY($2::text[]) AND status = 'failed' AND created_ms >= $3 \
                     ORDER BY seq",
                    &[&app, &chunk, since],
                )
                .await
            }
        }
        .map_err(map_err)?;
        n += chosen.len() as u64;
        // A pending callback keeps its place (and, if it is being attempted, its attempt).
        let mut reset = Vec::new();
        let mut lines: Vec<(Line, i64)> = Vec::new();
        let mut seen = HashSet::new();
        for r in &chosen {
            if r.get::<_, &str>(3) == DeliveryStatus::Pending.as_str() {
                continue;
            }
            reset.push(r.get::<_, i64>(0));
            let line: Line = (app, r.get(1), r.get(2));
            if seen.insert(line.clone()) {
                lines.push((line, now_ms));
            }
        }
        if !reset.is_empty() {
            tx.execute(
                "UPDATE callbacks SET status = 'pending', attempts = 0, next_attempt_ms = NULL, \
                 last_error = NULL, lease_owner = NULL, lease_until_ms = NULL, schedule_ms = $2 \
                 WHERE seq = ANY($1::int8[])",
                &[&reset, &now_ms],
            )
            .await
            .map_err(map_err)?;
            promote(&tx, &lines, false).await?;
        }
        tx.commit().await.map_err(map_err)?;
    }
    Ok(n)
}

/// One page of the app's callbacks, newest first.
pub(crate) async fn list(client: &Object, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
    let app = crate::codec::app_to_sql(q.sdkappid);
    let before = q.before_seq.unwrap_or(i64::MAX);
    let limit = i64::from(q.limit);
    let status = q.status.map(DeliveryStatus::as_str);
    let mut sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM callbacks WHERE sdkappid = $1 AND seq < $2");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&app, &before];
    if let Some(call) = &q.call_id {
        params.push(call);
        sql.push_str(&format!(" AND call_id = ${}", params.len()));
    }
    if let Some(status) = &status {
        params.push(status);
        sql.push_str(&format!(" AND status = ${}", params.len()));
    }
    params.push(&limit);
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len()));
    let stmt = client.prepare_cached(&sql).await.map_err(map_err)?;
    let rows = client.query(&stmt, &params).await.map_err(map_err)?;
    rows.iter().map(delivery_from_row).collect()
}

/// Pending count and the oldest pending production time.
pub(crate) async fn stats(client: &Object) -> Result<OutboxStats, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*), min(created_ms) FROM callbacks WHERE status = 'pending'",
            &[],
        )
        .await
        .map_err(map_err)?;
    Ok(OutboxStats {
        pending: get::<i64>(&row, 0)? as u64,
        oldest_pending_ms: get(&row, 1)?,
    })
}

// ---- Retention ----------------------------------------------------------------------------

/// Whether the outbox holds any callback (retention skips walking whole days when not).
pub(crate) async fn any(client: &Object) -> Result<bool, StoreError> {
    let row = client
        .query_one("SELECT EXISTS (SELECT 1 FROM callbacks)", &[])
        .await
        .map_err(map_err)?;
    get(&row, 0)
}

/// Deletes the callbacks of every call in `table`, a `calls` day partition about to be
/// dropped: walks its calls in key order, `chunk` at a time, and deletes the callbacks of those
/// that have any under their locks, [`MAX_BATCH_CALLS`] calls per transaction. Answers how many
/// were deleted.
pub(crate) async fn delete_for_partition(
    client: &mut Object,
    shared: &Shared,
    table: &str,
    chunk: i64,
) -> Result<u64, StoreError> {
    let page = |bound: &str| {
        format!(
            "SELECT p.sdkappid, p.call_id, EXISTS (SELECT 1 FROM callbacks cb \
               WHERE cb.sdkappid = p.sdkappid AND cb.call_id = p.call_id) \
             FROM (SELECT sdkappid, call_id FROM \"{table}\" {bound} \
                   ORDER BY sdkappid, call_id LIMIT $1) p ORDER BY 1, 2"
        )
    };
    let first = page("");
    let next = page("WHERE (sdkappid, call_id) > ($2, $3)");
    let mut after: Option<(i64, String)> = None;
    let mut deleted = 0;
    loop {
        let rows = match &after {
            None => client.query(&first, &[&chunk]).await,
            Some((app, call_id)) => client.query(&next, &[&chunk, app, call_id]).await,
        }
        .map_err(map_err)?;
        let Some(last) = rows.last() else { break };
        after = Some((last.get(0), last.get(1)));
        let with: Vec<(i64, String)> = rows
            .iter()
            .filter(|r| r.get::<_, bool>(2))
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for part in with.chunks(MAX_BATCH_CALLS) {
            let tx = client.transaction().await.map_err(map_err)?;
            lock_calls(&tx, shared, part.iter().map(|(a, c)| (*a, c.as_str()))).await?;
            let apps: Vec<i64> = part.iter().map(|(a, _)| *a).collect();
            let ids: Vec<&str> = part.iter().map(|(_, c)| c.as_str()).collect();
            deleted += tx
                .execute(
                    "DELETE FROM callbacks WHERE (sdkappid, call_id) IN \
                     (SELECT * FROM unnest($1::int8[], $2::text[]))",
                    &[&apps, &ids],
                )
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
        }
        if (rows.len() as i64) < chunk {
            break;
        }
    }
    Ok(deleted)
}
