//! Callbacks: configurations and the outbox (schema version 5, see `schema.rs`).
//!
//! Writes run on the writer thread, inside its transactions; reads on the reader pool.
//!
//! The callbacks of one call to one URL form a *line*, attempted one at a time in production
//! order: only the line's head (its earliest pending row) carries a `next_attempt_ms`, the rest
//! wait with NULL, and ending the head (delivered or failed) promotes the next. The due index
//! therefore lists only callbacks that may be attempted now.

use callrec_domain::{
    AfterAttempt, AttemptResult, CallbackConfig, Delivery, DeliveryQuery, DeliveryStatus,
    Generation, NewCallback, OutboxStats, Redeliver, StoreError,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::codec::{app_from_sql, app_to_sql};
use crate::error::{corrupt, map_err};

const PENDING: &str = "pending";

const DELIVERY_COLUMNS: &str = "seq, sdkappid, id, generation, command, call_id, url, query, \
     body, created_ms, status, attempts, last_attempt_ms, next_attempt_ms, last_error, \
     COALESCE(schedule_ms, created_ms)";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Delivery, StoreError>> {
    let generation: String = r.get(3)?;
    let status: String = r.get(10)?;
    let (Ok(generation), Ok(status)) = (
        generation.parse::<Generation>(),
        status.parse::<DeliveryStatus>(),
    ) else {
        return Ok(Err(corrupt(format!(
            "callback {} has generation {generation:?}, status {status:?}",
            r.get::<_, i64>(0)?
        ))));
    };
    Ok(Ok(Delivery {
        seq: r.get(0)?,
        sdkappid: app_from_sql(r.get(1)?),
        callback: NewCallback {
            id: r.get(2)?,
            generation,
            command: r.get(4)?,
            call_id: r.get(5)?,
            url: r.get(6)?,
            query: r.get(7)?,
            body: r.get(8)?,
            created_ms: r.get(9)?,
        },
        status,
        attempts: r.get(11)?,
        last_attempt_ms: r.get(12)?,
        next_attempt_ms: r.get(13)?,
        last_error: r.get(14)?,
        schedule_ms: r.get(15)?,
    }))
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Result<Delivery, StoreError>>>,
) -> Result<Vec<Delivery>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(map_err)??);
    }
    Ok(out)
}

/// The app's configurations, v1 first.
pub(crate) fn configs(conn: &Connection, app: i64) -> Result<Vec<CallbackConfig>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT generation, url, commands FROM callback_configs \
             WHERE sdkappid = ?1 ORDER BY generation",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([app], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(map_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (generation, url, commands) = row.map_err(map_err)?;
        out.push(config_from_parts(&generation, url, &commands)?);
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

/// Stores `config`; with `must_exist`, only over an existing one. Answers whether it stored.
pub(crate) fn put_config(
    conn: &Connection,
    app: i64,
    config: &CallbackConfig,
    must_exist: bool,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let commands =
        serde_json::to_string(&config.commands).map_err(|e| StoreError::Internal(e.to_string()))?;
    let sql = if must_exist {
        "UPDATE callback_configs SET url = ?3, commands = ?4, updated_ms = ?5 \
         WHERE sdkappid = ?1 AND generation = ?2"
    } else {
        "INSERT INTO callback_configs (sdkappid, generation, url, commands, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET url = excluded.url, \
         commands = excluded.commands, updated_ms = excluded.updated_ms"
    };
    let n = conn
        .prepare_cached(sql)
        .map_err(map_err)?
        .execute(params![
            app,
            config.generation.as_str(),
            config.url,
            commands,
            now_ms
        ])
        .map_err(map_err)?;
    Ok(n == 1)
}

/// Removes a configuration; answers whether there was one.
pub(crate) fn delete_config(
    conn: &Connection,
    app: i64,
    generation: Generation,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM callback_configs WHERE sdkappid = ?1 AND generation = ?2")
        .map_err(map_err)?
        .execute(params![app, generation.as_str()])
        .map_err(map_err)?;
    Ok(n == 1)
}

/// Whether the line (app, call, url) has a pending callback.
fn line_busy(conn: &Connection, app: i64, call_id: &str, url: &str) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT 1 FROM callbacks INDEXED BY callbacks_by_call \
         WHERE sdkappid = ?1 AND call_id = ?2 AND url = ?3 AND status = 'pending' LIMIT 1",
    )
    .map_err(map_err)?
    .query_row(params![app, call_id, url], |_| Ok(()))
    .optional()
    .map_err(map_err)
    .map(|found| found.is_some())
}

/// Inserts produced callbacks (in order); each becomes its line's head when the line is idle.
pub(crate) fn insert(conn: &Connection, app: i64, new: &[NewCallback]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO callbacks (id, sdkappid, call_id, generation, command, url, query, body, \
             created_ms, status, next_attempt_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10)",
        )
        .map_err(map_err)?;
    for cb in new {
        let next = (!line_busy(conn, app, &cb.call_id, &cb.url)?).then_some(cb.created_ms);
        stmt.execute(params![
            cb.id,
            app,
            cb.call_id,
            cb.generation.as_str(),
            cb.command,
            cb.url,
            cb.query,
            cb.body,
            cb.created_ms,
            next,
        ])
        .map_err(map_err)?;
    }
    Ok(())
}

/// Leases up to `limit` due heads to `owner`.
pub(crate) fn claim(
    conn: &Connection,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut due = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM callbacks \
                 WHERE status = 'pending' AND next_attempt_ms IS NOT NULL \
                 AND next_attempt_ms <= ?1 \
                 AND (lease_until_ms IS NULL OR lease_until_ms <= ?1) \
                 ORDER BY next_attempt_ms LIMIT ?2"
            ))
            .map_err(map_err)?;
        collect(
            stmt.query_map(params![now_ms, limit as i64], delivery_from_row)
                .map_err(map_err)?,
        )?
    };
    let mut lease = conn
        .prepare_cached("UPDATE callbacks SET lease_owner = ?2, lease_until_ms = ?3 WHERE seq = ?1")
        .map_err(map_err)?;
    for d in &mut due {
        lease
            .execute(params![d.seq, owner, now_ms.saturating_add(lease_ms)])
            .map_err(map_err)?;
    }
    Ok(due)
}

/// Records attempts; a head that ended hands its line to the next callback.
pub(crate) fn finish(
    conn: &Connection,
    owner: &str,
    results: &[AttemptResult],
) -> Result<(), StoreError> {
    let mut line_of = conn
        .prepare_cached(
            "SELECT sdkappid, call_id, url FROM callbacks \
             WHERE seq = ?1 AND status = 'pending' AND lease_owner = ?2",
        )
        .map_err(map_err)?;
    let mut update = conn
        .prepare_cached(
            "UPDATE callbacks SET status = ?2, attempts = attempts + 1, last_attempt_ms = ?3, \
             next_attempt_ms = ?4, last_error = ?5, lease_owner = NULL, lease_until_ms = NULL \
             WHERE seq = ?1",
        )
        .map_err(map_err)?;
    for r in results {
        let Some((app, call_id, url)) = line_of
            .query_row(params![r.seq, owner], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional()
            .map_err(map_err)?
        else {
            continue;
        };
        let (status, next) = match r.next {
            AfterAttempt::Delivered => (DeliveryStatus::Delivered, None),
            AfterAttempt::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
            AfterAttempt::Failed => (DeliveryStatus::Failed, None),
        };
        update
            .execute(params![
                r.seq,
                status.as_str(),
                r.attempted_ms,
                next,
                r.error
            ])
            .map_err(map_err)?;
        if status != DeliveryStatus::Pending {
            promote(conn, app, &call_id, &url, r.attempted_ms)?;
        }
    }
    Ok(())
}

/// Gives the line's earliest waiting callback its turn, if the line has no head.
fn promote(
    conn: &Connection,
    app: i64,
    call_id: &str,
    url: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let has_head: bool = conn
        .prepare_cached(
            "SELECT 1 FROM callbacks INDEXED BY callbacks_by_call \
             WHERE sdkappid = ?1 AND call_id = ?2 AND url = ?3 \
             AND status = 'pending' AND next_attempt_ms IS NOT NULL LIMIT 1",
        )
        .map_err(map_err)?
        .query_row(params![app, call_id, url], |_| Ok(()))
        .optional()
        .map_err(map_err)?
        .is_some();
    if has_head {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE callbacks SET next_attempt_ms = MIN(?4, created_ms) WHERE seq = (SELECT seq FROM callbacks INDEXED BY callbacks_by_call \
         WHERE sdkappid = ?1 AND call_id = ?2 AND url = ?3 AND status = 'pending' \
         ORDER BY seq LIMIT 1)",
    )
    .map_err(map_err)?
    .execute(params![app, call_id, url, now_ms])
    .map_err(map_err)?;
    Ok(())
}

/// Extends (or with `None` releases) `owner`'s leases on `seqs`.
pub(crate) fn renew(
    conn: &Connection,
    owner: &str,
    seqs: &[i64],
    until_ms: Option<i64>,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE callbacks SET lease_until_ms = ?3, \
             lease_owner = CASE WHEN ?3 IS NULL THEN NULL ELSE lease_owner END \
             WHERE seq = ?1 AND lease_owner = ?2",
        )
        .map_err(map_err)?;
    for seq in seqs {
        stmt.execute(params![seq, owner, until_ms])
            .map_err(map_err)?;
    }
    Ok(())
}

/// Releases every lease (at open: only one process uses the file, so none is held).
pub(crate) fn release_all(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE callbacks SET lease_owner = NULL, lease_until_ms = NULL \
         WHERE lease_owner IS NOT NULL",
        [],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Makes the chosen callbacks pending again with a fresh schedule.
pub(crate) fn redeliver(
    conn: &Connection,
    app: i64,
    which: &Redeliver,
    now_ms: i64,
) -> Result<u64, StoreError> {
    type Line = (i64, String, String, String);
    let row = |r: &Row<'_>| -> rusqlite::Result<Line> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let mut chosen: Vec<Line> = Vec::new();
    match which {
        Redeliver::Ids(ids) => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, call_id, url, status FROM callbacks \
                     WHERE sdkappid = ?1 AND id = ?2",
                )
                .map_err(map_err)?;
            for id in ids {
                for r in stmt.query_map(params![app, id], row).map_err(map_err)? {
                    chosen.push(r.map_err(map_err)?);
                }
            }
            chosen.sort_unstable_by_key(|r| r.0);
            chosen.dedup_by_key(|r| r.0);
        }
        Redeliver::FailedSince(since) => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, call_id, url, status FROM callbacks \
                     WHERE sdkappid = ?1 AND status = 'failed' AND created_ms >= ?2 ORDER BY seq",
                )
                .map_err(map_err)?;
            for r in stmt.query_map(params![app, since], row).map_err(map_err)? {
                chosen.push(r.map_err(map_err)?);
            }
        }
    }
    let mut reset = conn
        .prepare_cached(
            "UPDATE callbacks SET status = 'pending', attempts = 0, next_attempt_ms = NULL, \
             last_error = NULL, lease_owner = NULL, lease_until_ms = NULL, schedule_ms = ?2 \
             WHERE seq = ?1",
        )
        .map_err(map_err)?;
    let mut n = 0;
    for (seq, call_id, url, status) in &chosen {
        // A pending callback keeps its place (and, if it is being attempted, its attempt).
        if status == PENDING {
            n += 1;
            continue;
        }
        reset.execute(params![seq, now_ms]).map_err(map_err)?;
        promote(conn, app, call_id, url, now_ms)?;
        n += 1;
    }
    Ok(n)
}

/// Deletes a call's callbacks (retention).
pub(crate) fn delete_for_call(
    conn: &Connection,
    app: i64,
    call_id: &str,
) -> Result<usize, StoreError> {
    conn.prepare_cached("DELETE FROM callbacks WHERE sdkappid = ?1 AND call_id = ?2")
        .map_err(map_err)?
        .execute(params![app, call_id])
        .map_err(map_err)
}

/// One page of the app's callbacks, newest first.
pub(crate) fn list(conn: &Connection, q: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
    let app = app_to_sql(q.sdkappid);
    let before = q.before_seq.unwrap_or(i64::MAX);
    let limit = i64::from(q.limit);
    let status = q.status.map(DeliveryStatus::as_str);
    let run = |sql: String, p: &[&dyn rusqlite::ToSql]| -> Result<Vec<Delivery>, StoreError> {
        let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
        collect(stmt.query_map(p, delivery_from_row).map_err(map_err)?)
    };
    match (&q.call_id, status) {
        (Some(call), _) => run(
            format!(
                "SELECT {DELIVERY_COLUMNS} FROM callbacks INDEXED BY callbacks_by_call \
                 WHERE sdkappid = ?1 AND call_id = ?2 \
                 AND seq < ?3 AND (?4 IS NULL OR status = ?4) ORDER BY seq DESC LIMIT ?5"
            ),
            params![app, call, before, status, limit],
        ),
        (None, Some(status)) => run(
            format!(
                "SELECT {DELIVERY_COLUMNS} FROM callbacks WHERE sdkappid = ?1 AND status = ?2 \
                 AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
            ),
            params![app, status, before, limit],
        ),
        (None, None) => run(
            format!(
                "SELECT {DELIVERY_COLUMNS} FROM callbacks WHERE sdkappid = ?1 AND seq < ?2 \
                 ORDER BY seq DESC LIMIT ?3"
            ),
            params![app, before, limit],
        ),
    }
}

/// Pending count and the oldest pending production time.
pub(crate) fn stats(conn: &Connection) -> Result<OutboxStats, StoreError> {
    conn.prepare_cached("SELECT COUNT(*), MIN(created_ms) FROM callbacks WHERE status = 'pending'")
        .map_err(map_err)?
        .query_row([], |r| {
            Ok(OutboxStats {
                pending: r.get::<_, i64>(0)? as u64,
                oldest_pending_ms: r.get(1)?,
            })
        })
        .map_err(map_err)
}

/// One configuration.
pub(crate) fn config(
    conn: &Connection,
    app: i64,
    generation: Generation,
) -> Result<Option<CallbackConfig>, StoreError> {
    Ok(configs(conn, app)?
        .into_iter()
        .find(|c| c.generation == generation))
}
