//! The schema, its migrations, and the day partitions.
//!
//! ## Migrations
//! Versioned SQL scripts, applied in order, once each, recorded in `callrec_schema_migrations`.
//! All pending scripts run in ONE transaction that first takes `pg_advisory_xact_lock` on a key
//! derived from the schema name, so several nodes starting at once apply each script exactly
//! once (the others wait, then see it applied). A schema whose version is newer than this build
//! knows is refused (`Corrupt`). Append new scripts; never edit a published one.
//!
//! ## Partitions
//! `calls` and `events` are both `PARTITION BY RANGE (part_day)`, `part_day` being the UTC day
//! (days since 1970-01-01) of the call's *age*: its `start` time, or its earliest event while no
//! start has arrived — exactly what retention judges a call by. A call's events live in the same
//! day as its `calls` row, so retention drops a day of both tables whole and takes every event
//! of the calls it removes, and nothing else (an event timed before a later start, or a long
//! call's events of the next day, stay with their call). When a call's age changes (its start
//! arrives, or an earlier event), its row and its events move to the new day in the same
//! transaction (`UPDATE … SET part_day`; PostgreSQL moves rows between partitions). This costs a
//! few row moves for calls whose first event precedes the start on another day (rare), and
//! saves every reader from probing all event partitions: a call's events are read from one
//! partition, found via its `calls` row.
//!
//! `call_users` (one row per participant of each started call, see `query.rs`) is
//! `PARTITION BY RANGE (start_s)`, one partition per UTC day too: a started call's age is its
//! start, so its participant rows are in the day of its `calls` row, and retention detaches
//! the day's `calls` and `call_users` partitions in one transaction (with the day's
//! `call_counts`), so no snapshot sees one without the other. Every transaction that touches
//! both tables locks `calls` first (the writers read it first; readers of both take
//! `LOCK TABLE ONLY calls IN ACCESS SHARE MODE` first), the order the retention job's
//! `DETACH`es take them in, so they never deadlock.
//!
//! One partition per table per day, named `calls_pYYYYMMDD` / `events_pYYYYMMDD` /
//! `call_users_pYYYYMMDD`, created ahead (yesterday … today + 2) at connect and by the retention
//! job, and on demand before a write that needs one (see [`Partitions::ensure`]). No DEFAULT
//! partition: it would make creating a partition for a day it already holds rows of fail.
//!
//! Unique keys must contain the partition key, so `(sdkappid, call_id)` cannot be globally
//! unique in SQL; the writer keeps it unique by serializing each call under an advisory lock
//! (see `writer.rs`). Every per-partition index starts with `sdkappid, call_id` or serves the
//! filter, so lookups by call id probe one small index per partition, and filter queries carry
//! `part_day BETWEEN …` so the planner prunes to the days of their range.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use callrec_domain::StoreError;
use deadpool_postgres::Pool;

use crate::codec::{civil_from_days, days_from_civil, fnv64};
use crate::error::{corrupt, map_err, pool_err};

/// The migration scripts; script `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: calls, events, settings.
    r#"
    CREATE TABLE calls (
        sdkappid       BIGINT  NOT NULL,
        call_id        TEXT    COLLATE "C" NOT NULL,
        part_day       INTEGER NOT NULL,  -- UTC day of COALESCE(start_ms, first_event_ms)
        first_event_ms BIGINT  NOT NULL,
        start_ms       BIGINT,
        start_s        BIGINT,            -- floor(start_ms / 1000): the filter key
        ended          BOOLEAN NOT NULL DEFAULT false,
        result         TEXT,
        call_type      TEXT,
        media_type     TEXT,
        room_id        TEXT,
        caller         TEXT,
        accept_ms      BIGINT,
        end_ms         BIGINT,
        callees        TEXT[],
        due_ms         BIGINT,            -- next time-out; NULL when ended or none pending
        lease_owner    BIGINT,            -- node that claimed the current due item (due_calls)
        lease_until_ms BIGINT,            -- … until then (in the callers' clock)
        PRIMARY KEY (sdkappid, call_id, part_day)
    ) PARTITION BY RANGE (part_day);

    -- get_records_by_filter: one index per filter shape, each ending in the page order.
    CREATE INDEX calls_by_ended       ON calls (sdkappid, ended, start_s DESC, call_id);
    CREATE INDEX calls_by_result      ON calls (sdkappid, result, start_s DESC, call_id);
    CREATE INDEX calls_by_type_ended  ON calls (sdkappid, call_type, ended, start_s DESC, call_id);
    CREATE INDEX calls_by_type_result ON calls (sdkappid, call_type, result, start_s DESC, call_id);
    -- The time-out job: only ongoing calls with a pending time-out are in it.
    CREATE INDEX calls_due ON calls (due_ms) WHERE due_ms IS NOT NULL;

    CREATE TABLE events (
        sdkappid   BIGINT  NOT NULL,
        call_id    TEXT    COLLATE "C" NOT NULL,
        part_day   INTEGER NOT NULL,      -- always the call's part_day
        dedupe_key TEXT    COLLATE "C" NOT NULL,
        time_ms    BIGINT  NOT NULL,
        kind       TEXT    NOT NULL,
        user_id    TEXT    NOT NULL,
        event_id   TEXT,
        body       JSONB,
        PRIMARY KEY (sdkappid, call_id, part_day, dedupe_key)
    ) PARTITION BY RANGE (part_day);

    -- Settings the stored data was computed with (the time-outs behind due_ms).
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    "#,
    // 2: call_counts, the maintained totals of get_records_by_filter (see `counts.rs`).
    r#"
    CREATE TABLE call_counts (
        sdkappid  BIGINT  NOT NULL,
        bucket    BIGINT  NOT NULL,       -- floor(start_s / 3600): the start's UTC hour
        ended     BOOLEAN NOT NULL,
        result    TEXT    NOT NULL,
        call_type TEXT    NOT NULL,
        slot      INTEGER NOT NULL,       -- spreads concurrent writers over separate rows
        n         BIGINT  NOT NULL,
        PRIMARY KEY (sdkappid, bucket, ended, result, call_type, slot)
    );
    INSERT INTO call_counts (sdkappid, bucket, ended, result, call_type, slot, n)
    SELECT sdkappid, div(start_s - mod(mod(start_s, 3600) + 3600, 3600), 3600), ended, result,
           call_type, 0, count(*)
    FROM calls WHERE start_s IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5;
    "#,
    // 3: the start's roomIdType (1 numeric, 2 string; NULL when it gave none), for v4 records.
    "ALTER TABLE calls ADD COLUMN room_id_type SMALLINT;",
    // 4: callbacks: each app's configuration per generation, and the outbox (see `outbox.rs`).
    r#"
    CREATE TABLE callback_configs (
        sdkappid   BIGINT NOT NULL,
        generation TEXT   NOT NULL,       -- v1 / v4
        url        TEXT   NOT NULL,
        commands   JSONB  NOT NULL,       -- array of command words
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (sdkappid, generation)
    );

    -- One row per produced callback; `seq` is production order. Not partitioned: a row lives
    -- from its production to its call's retention, and retention deletes it with the call.
    -- The callbacks of one call to one URL form a line: at most one of its pending rows (the
    -- head) has a `next_attempt_ms`; the others wait with NULL and the head's end (delivered or
    -- failed) gives the next one, in `seq` order, its turn. So the due index holds only
    -- callbacks that may really be attempted. Every change to a line runs under its call's
    -- advisory lock, like the call's events (see `writer.rs`).
    CREATE TABLE callbacks (
        seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id              TEXT    NOT NULL UNIQUE,
        sdkappid        BIGINT  NOT NULL,
        call_id         TEXT    COLLATE "C" NOT NULL,
        generation      TEXT    NOT NULL,
        command         TEXT    NOT NULL,
        url             TEXT    NOT NULL,
        query           TEXT    NOT NULL,
        body            TEXT    NOT NULL,
        created_ms      BIGINT  NOT NULL,
        status          TEXT    NOT NULL
                        CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_attempt_ms BIGINT,
        next_attempt_ms BIGINT,
        last_error      TEXT,
        lease_owner     TEXT,             -- node attempting it (claim_callbacks) …
        schedule_ms     BIGINT,             -- a redelivery's time (NULL: created_ms)
        lease_until_ms  BIGINT            -- … until then (in the callers' clock)
    );
    CREATE INDEX callbacks_due ON callbacks (next_attempt_ms)
        WHERE status = 'pending' AND next_attempt_ms IS NOT NULL;
    CREATE INDEX callbacks_by_call ON callbacks (sdkappid, call_id, seq);
    CREATE INDEX callbacks_by_status ON callbacks (sdkappid, status, seq);
    CREATE INDEX callbacks_by_app ON callbacks (sdkappid, seq);
    CREATE INDEX callbacks_pending_age ON callbacks (created_ms) WHERE status = 'pending';
    "#,
    // 5: the record extensions' filters and statistics (see `query.rs`): each call's connected
    // seconds, the participant table `call_users` (day-partitioned by start, like `calls`), an
    // index for `roomId`, and `call_counts` keyed by media type too, with the connected calls
    // and their seconds.
    r#"
    ALTER TABLE calls ADD COLUMN talk_s BIGINT NOT NULL DEFAULT 0;  -- Record::talk_secs
    UPDATE calls SET talk_s = GREATEST(0,
        div(end_ms - mod(mod(end_ms, 1000) + 1000, 1000), 1000)
        - div(accept_ms - mod(mod(accept_ms, 1000) + 1000, 1000), 1000))
    WHERE accept_ms IS NOT NULL AND end_ms IS NOT NULL;

    CREATE INDEX calls_by_room ON calls (sdkappid, room_id, start_s DESC, call_id)
        WHERE room_id <> '';

    -- One row per participant (the caller, each callee) of every started call, copying what
    -- the filters and statistics read, so that userId / caller / callee queries are served
    -- (and counted) from `call_users_by_user` alone. Partitioned like `calls` (a call's rows
    -- are in the partition of its start's day, the day of its `calls` row): retention drops a
    -- day of both together.
    CREATE TABLE call_users (
        sdkappid   BIGINT  NOT NULL,
        user_id    TEXT    COLLATE "C" NOT NULL,
        start_s    BIGINT  NOT NULL,
        call_id    TEXT    COLLATE "C" NOT NULL,
        is_caller  BOOLEAN NOT NULL,      -- false: a callee
        ended      BOOLEAN NOT NULL,
        result     TEXT    NOT NULL,
        call_type  TEXT    NOT NULL,
        media_type TEXT    NOT NULL,
        talk_s     BIGINT  NOT NULL,
        connected  BOOLEAN NOT NULL       -- ended AND accept_ms IS NOT NULL (see counts.rs)
    ) PARTITION BY RANGE (start_s);
    DO $$
    DECLARE r record; d bigint;
    BEGIN
        FOR r IN SELECT c.relname::text AS name FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid
                 JOIN pg_class p ON p.oid = i.inhparent
                 JOIN pg_namespace n ON n.oid = p.relnamespace
                 WHERE p.relname = 'calls' AND n.nspname = current_schema()
                   AND c.relname ~ '^calls_p[0-9]{8}$'
        LOOP
            d := to_date(substr(r.name, 8), 'YYYYMMDD') - date '1970-01-01';
            EXECUTE format('CREATE TABLE %I PARTITION OF call_users FOR VALUES FROM (%s) TO (%s)',
                           'call_users_p' || substr(r.name, 8), d * 86400, (d + 1) * 86400);
        END LOOP;
    END $$;
    INSERT INTO call_users (sdkappid, user_id, start_s, call_id, is_caller, ended, result,
                            call_type, media_type, talk_s, connected)
    SELECT c.sdkappid, u.user_id, c.start_s, c.call_id, u.user_id = c.caller, c.ended, c.result,
           c.call_type, c.media_type, c.talk_s, c.ended AND c.accept_ms IS NOT NULL
    FROM calls c
    CROSS JOIN LATERAL (SELECT DISTINCT x AS user_id
                        FROM unnest(array_prepend(c.caller, c.callees)) AS x) u
    WHERE c.start_s IS NOT NULL;
    CREATE UNIQUE INDEX call_users_by_user ON call_users (sdkappid, user_id, start_s DESC, call_id)
        INCLUDE (is_caller, ended, result, call_type, media_type, talk_s, connected);

    DROP TABLE call_counts;
    CREATE TABLE call_counts (
        sdkappid   BIGINT  NOT NULL,
        bucket     BIGINT  NOT NULL,      -- floor(start_s / 3600): the start's UTC hour
        ended      BOOLEAN NOT NULL,
        result     TEXT    NOT NULL,
        call_type  TEXT    NOT NULL,
        media_type TEXT    NOT NULL,
        slot       INTEGER NOT NULL,      -- spreads concurrent writers over separate rows
        n          BIGINT  NOT NULL,      -- calls
        connected  BIGINT  NOT NULL,      -- … of them ended after a connection
        talk_s     BIGINT  NOT NULL,      -- Σ talk_s
        PRIMARY KEY (sdkappid, bucket, ended, result, call_type, media_type, slot)
    );
    INSERT INTO call_counts (sdkappid, bucket, ended, result, call_type, media_type, slot, n,
                             connected, talk_s)
    SELECT sdkappid, div(start_s - mod(mod(start_s, 3600) + 3600, 3600), 3600), ended, result,
           call_type, media_type, 0, count(*),
           count(*) FILTER (WHERE ended AND accept_ms IS NOT NULL), COALESCE(sum(talk_s), 0)
    FROM calls WHERE start_s IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6;
    "#,
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Advisory lock "namespaces", mixed with the schema name so that stores in different schemas of
/// one database (tests, several deployments) never wait for each other.
pub(crate) fn lock_id(salt: u64, what: &str) -> i64 {
    fnv64(&[&salt.to_le_bytes(), b"callrec-lock", what.as_bytes()]) as i64
}

/// Brings the schema up to [`SCHEMA_VERSION`], or refuses a newer one. `create_schema`: the
/// schema to create first if missing.
pub(crate) async fn migrate(
    pool: &Pool,
    salt: u64,
    create_schema: Option<&str>,
) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(pool_err)?;
    let tx = client.transaction().await.map_err(map_err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&lock_id(salt, "migrate")],
    )
    .await
    .map_err(map_err)?;
    if let Some(schema) = create_schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await
            .map_err(map_err)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS callrec_schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(map_err)?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM callrec_schema_migrations",
            &[],
        )
        .await
        .map_err(map_err)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(corrupt(format!(
            "database schema version {current} is newer than this build supports \
             ({SCHEMA_VERSION}); upgrade callrec"
        )));
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tracing::info!(version, "applying postgres store migration");
        tx.batch_execute(script).await.map_err(map_err)?;
        tx.execute(
            "INSERT INTO callrec_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)
}

/// The partitioned tables.
pub(crate) const TABLES: [&str; 3] = ["calls", "events", "call_users"];

/// The bounds of `table`'s partition for `day` (`FROM … TO …`): `calls` and `events` are
/// partitioned by `part_day`, `call_users` by `start_s` (the day's seconds).
pub(crate) fn partition_bounds(table: &str, day: i32) -> (i64, i64) {
    let (lo, hi) = (i64::from(day), i64::from(day) + 1);
    match table {
        "call_users" => (lo * 86_400, hi * 86_400),
        _ => (lo, hi),
    }
}

/// The name of `table`'s partition for `day`.
pub(crate) fn partition_name(table: &str, day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{table}_p{y:04}{m:02}{d:02}")
}

/// The day of a partition named by [`partition_name`], with its table.
pub(crate) fn parse_partition_name(name: &str) -> Option<(&'static str, i32)> {
    let (table, rest) = name.split_once("_p")?;
    let table = TABLES.into_iter().find(|t| *t == table)?;
    if rest.len() != 8 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = rest.parse().ok()?;
    let (y, m, d) = (v / 10_000, (v / 100 % 100) as u32, (v % 100) as u32);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = i32::try_from(days_from_civil(y, m, d)).ok()?;
    (partition_name(table, day) == name).then_some((table, day))
}

/// The days whose partitions this node knows exist, and how to create missing ones.
#[derive(Debug)]
pub(crate) struct Partitions {
    known: Mutex<HashSet<i32>>,
    ddl_lock: i64,
}

/// One partition as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionInfo {
    pub(crate) table: &'static str,
    pub(crate) day: i32,
    pub(crate) name: String,
    /// False for a table a crashed purge detached but did not drop.
    pub(crate) attached: bool,
}

impl Partitions {
    pub(crate) fn new(salt: u64) -> Self {
        Partitions {
            known: Mutex::new(HashSet::new()),
            ddl_lock: lock_id(salt, "partition-ddl"),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<i32>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets what this node knew (after a write found a partition missing: another node's
    /// retention job dropped it).
    pub(crate) fn forget(&self, days: impl IntoIterator<Item = i32>) {
        let mut known = self.known();
        for d in days {
            known.remove(&d);
        }
    }

    /// Makes sure every partitioned table has a partition for each of `days`. Each `CREATE` runs in its
    /// own short transaction under an advisory lock (so nodes creating the same day at once do
    /// not collide) that holds no other lock: attaching a partition locks the parent table, and
    /// holding one parent while waiting for the other could deadlock with ingest.
    pub(crate) async fn ensure(
        &self,
        pool: &Pool,
        days: impl IntoIterator<Item = i32>,
    ) -> Result<(), StoreError> {
        let missing: Vec<i32> = {
            let known = self.known();
            let mut m: Vec<i32> = days.into_iter().filter(|d| !known.contains(d)).collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut client = pool.get().await.map_err(pool_err)?;
        for day in missing {
            for table in TABLES {
                let name = partition_name(table, day);
                let tx = client.transaction().await.map_err(map_err)?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.ddl_lock])
                    .await
                    .map_err(map_err)?;
                let exists = tx
                    .query_opt(
                        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = current_schema() AND c.relname = $1",
                        &[&name],
                    )
                    .await
                    .map_err(map_err)?
                    .is_some();
                if !exists {
                    tracing::debug!(partition = %name, "creating partition");
                    let (lo, hi) = partition_bounds(table, day);
                    tx.batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS \"{name}\" PARTITION OF {table} \
                         FOR VALUES FROM ({lo}) TO ({hi})"
                    ))
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)?;
            }
            self.known().insert(day);
        }
        Ok(())
    }

    /// Every partition table of this schema (attached or left detached by a crashed purge).
    pub(crate) async fn list(
        client: &deadpool_postgres::Client,
    ) -> Result<Vec<PartitionInfo>, StoreError> {
        let rows = client
            .query(
                "SELECT c.relname::text, c.relispartition FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                 AND c.relname ~ '^(calls|events|call_users)_p[0-9]{8}$'",
                &[],
            )
            .await
            .map_err(map_err)?;
        let mut out: Vec<PartitionInfo> = rows
            .iter()
            .filter_map(|r| {
                let name: String = r.get(0);
                let (table, day) = parse_partition_name(&name)?;
                Some(PartitionInfo {
                    table,
                    day,
                    name,
                    attached: r.get(1),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.day, a.table).cmp(&(b.day, b.table)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        for day in [0, 19_675, 20_500] {
            for t in TABLES {
                let name = partition_name(t, day);
                assert_eq!(parse_partition_name(&name), Some((t, day)));
            }
        }
        assert_eq!(partition_name("calls", 19_675), "calls_p20231114");
        assert_eq!(
            parse_partition_name("call_users_p20231114"),
            Some(("call_users", 19_675))
        );
        assert_eq!(partition_bounds("calls", 19_675), (19_675, 19_676));
        assert_eq!(
            partition_bounds("call_users", 19_675),
            (19_675 * 86_400, 19_676 * 86_400)
        );
        assert_eq!(parse_partition_name("calls_p20231399"), None);
        assert_eq!(parse_partition_name("other_p20231114"), None);
    }
}
