//! The database schema and its migrations.
//!
//! Migrations are SQL scripts applied in order, once each, tracked by SQLite's `user_version`
//! (= number of scripts applied). All pending scripts run in one transaction at open, so a crash
//! mid-migration leaves the previous version intact. A database whose version is newer than this
//! build knows is refused rather than guessed at.
//!
//! Append new scripts; never edit a published one.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{corrupt, map_err};
use callrec_domain::StoreError;

/// The migration scripts; script `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: events and calls.
    r#"
    -- Every stored event, deduplicated per call by `dedupe_key` (Event::dedupe_key). The payload
    -- fields only some types carry (callees, invitees, mediaType, callType, roomId) are a small
    -- JSON object in `body`, NULL when there are none.
    CREATE TABLE events (
        sdkappid   INTEGER NOT NULL,
        call_id    TEXT    NOT NULL,
        dedupe_key TEXT    NOT NULL,
        time_ms    INTEGER NOT NULL,
        kind       TEXT    NOT NULL,
        user_id    TEXT    NOT NULL,
        event_id   TEXT,
        body       TEXT,
        PRIMARY KEY (sdkappid, call_id, dedupe_key)
    ) WITHOUT ROWID;

    -- One row per call that has any stored event: the fold of its events. Calls whose `start`
    -- has not arrived have only `first_event_ms` (so retention can find them) and NULL record
    -- columns; every query that returns records requires `start_s` in a range or
    -- `start_ms IS NOT NULL`.
    CREATE TABLE calls (
        sdkappid       INTEGER NOT NULL,
        call_id        TEXT    NOT NULL,
        first_event_ms INTEGER NOT NULL,
        start_ms       INTEGER,
        start_s        INTEGER,          -- floor(start_ms / 1000): the filter key
        ended          INTEGER NOT NULL DEFAULT 0,
        result         TEXT,
        call_type      TEXT,
        media_type     TEXT,
        room_id        TEXT,
        caller         TEXT,
        accept_ms      INTEGER,
        end_ms         INTEGER,
        callees        TEXT,             -- JSON array of strings
        due_ms         INTEGER,          -- next time-out; NULL when ended or none pending
        PRIMARY KEY (sdkappid, call_id)
    );

    -- get_records_by_filter: one index per filter shape, each ending in the page order
    -- (start_s DESC, call_id ASC) so a page is a range scan with no sort, and the COUNT is
    -- answered from the index alone.
    CREATE INDEX calls_by_ended        ON calls (sdkappid, ended, start_s DESC, call_id);
    CREATE INDEX calls_by_result       ON calls (sdkappid, result, start_s DESC, call_id);
    CREATE INDEX calls_by_type_ended   ON calls (sdkappid, call_type, ended, start_s DESC, call_id);
    CREATE INDEX calls_by_type_result  ON calls (sdkappid, call_type, result, start_s DESC, call_id);

    -- The time-out job: only ongoing calls with a pending time-out are in it.
    CREATE INDEX calls_due ON calls (due_ms, sdkappid, call_id) WHERE due_ms IS NOT NULL;

    -- Retention: a call's age is its start, or its first event while it has none. The query
    -- uses this exact expression.
    CREATE INDEX calls_by_age ON calls (COALESCE(start_ms, first_event_ms));

    -- Settings the stored data was computed with (the time-outs behind `due_ms`), so a restart
    -- with other settings can recompute what depends on them.
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: exact counts per time bucket, kept by triggers, so a filter's `totalNum` sums buckets
    //    instead of scanning every matching index entry.
    MIGRATION_2,
    // 3: the writer keeps `call_counts` itself (summed per transaction, see `writer.rs`)
    //    instead of per-row triggers.
    "DROP TRIGGER calls_count_insert; DROP TRIGGER calls_count_update; \
     DROP TRIGGER calls_count_delete;",
    // 4: the start's roomIdType (1 numeric, 2 string; NULL when it gave none), for v4 records.
    "ALTER TABLE calls ADD COLUMN room_id_type INTEGER;",
    // 5: callbacks: each app's configuration per generation, and the outbox.
    r#"
    CREATE TABLE callback_configs (
        sdkappid   INTEGER NOT NULL,
        generation TEXT    NOT NULL,     -- v1 / v4
        url        TEXT    NOT NULL,
        commands   TEXT    NOT NULL,     -- JSON array of command words
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (sdkappid, generation)
    ) WITHOUT ROWID;

    -- One row per produced callback. The callbacks of one call to one URL form a line: at most
    -- one of its pending rows (the head) has a `next_attempt_ms`; the others wait with NULL and
    -- the head's end (delivered or failed) gives the next one, in `seq` order, its turn. So the
    -- due index holds only callbacks that may really be attempted.
    CREATE TABLE callbacks (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT    NOT NULL UNIQUE,
        sdkappid        INTEGER NOT NULL,
        call_id         TEXT    NOT NULL,
        generation      TEXT    NOT NULL,
        command         TEXT    NOT NULL,
        url             TEXT    NOT NULL,
        query           TEXT    NOT NULL,
        body            TEXT    NOT NULL,
        created_ms      INTEGER NOT NULL,
        status          TEXT    NOT NULL,  -- pending / delivered / failed
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_attempt_ms INTEGER,
        next_attempt_ms INTEGER,
        last_error      TEXT,
        lease_owner     TEXT,
        schedule_ms     INTEGER,             -- a redelivery's time (NULL: created_ms)
        lease_until_ms  INTEGER
    );
    CREATE INDEX callbacks_due ON callbacks (next_attempt_ms)
        WHERE status = 'pending' AND next_attempt_ms IS NOT NULL;
    -- A call's callbacks, by line (the line queries name it: INDEXED BY).
    CREATE INDEX callbacks_by_call ON callbacks (sdkappid, call_id, url, seq);
    CREATE INDEX callbacks_by_status ON callbacks (sdkappid, status, seq);
    CREATE INDEX callbacks_by_app ON callbacks (sdkappid, seq);
    CREATE INDEX callbacks_pending_age ON callbacks (created_ms) WHERE status = 'pending';
    "#,
    // 6: the record extensions' filters and statistics.
    MIGRATION_6,
];

/// `floor(start_s / 60)` and `floor(start_s / 3600)` for a row alias (`new` / `old` / none),
/// written out because SQLite's integer division truncates toward zero. `query.rs` computes the
/// same buckets in Rust (`div_euclid`).
macro_rules! floor_div {
    ($col:literal, $span:literal) => {
        concat!(
            "(CASE WHEN ",
            $col,
            " >= 0 THEN ",
            $col,
            " / ",
            $span,
            " ELSE (",
            $col,
            " + 1) / ",
            $span,
            " - 1 END)"
        )
    };
}

/// Adds one to the count rows (minute and hour) of the `new` row, if it has a start.
macro_rules! count_add_new {
    () => {
        concat!(
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, n) \
             SELECT new.sdkappid, 60, ",
            floor_div!("new.start_s", "60"),
            ", new.ended, new.result, new.call_type, 1 WHERE new.start_s IS NOT NULL \
             ON CONFLICT DO UPDATE SET n = n + 1;\n",
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, n) \
             SELECT new.sdkappid, 3600, ",
            floor_div!("new.start_s", "3600"),
            ", new.ended, new.result, new.call_type, 1 WHERE new.start_s IS NOT NULL \
             ON CONFLICT DO UPDATE SET n = n + 1;\n"
        )
    };
}

/// Takes one from the count rows of the `old` row (a NULL start matches no bucket), deleting
/// rows that reach zero so purged time ranges leave nothing behind.
macro_rules! count_sub_old {
    ($span:literal) => {
        concat!(
            "UPDATE call_counts SET n = n - 1 WHERE sdkappid = old.sdkappid AND span = ",
            $span,
            " AND bucket = ",
            floor_div!("old.start_s", $span),
            " AND ended = old.ended AND result = old.result AND call_type = old.call_type;\n",
            "DELETE FROM call_counts WHERE sdkappid = old.sdkappid AND span = ",
            $span,
            " AND bucket = ",
            floor_div!("old.start_s", $span),
            " AND ended = old.ended AND result = old.result AND call_type = old.call_type \
             AND n <= 0;\n"
        )
    };
}

/// Fills the empty `call_counts` from `calls`: minute buckets by one pass over `calls`, hour
/// buckets from the minute buckets.
macro_rules! backfill {
    () => {
        concat!(
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, n) \
             SELECT sdkappid, 60, ",
            floor_div!("start_s", "60"),
            " AS b, ended, result, \
             call_type, COUNT(*) FROM calls WHERE start_s IS NOT NULL \
             GROUP BY sdkappid, b, ended, result, call_type;\n",
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, n) \
             SELECT sdkappid, 3600, ",
            floor_div!("bucket", "60"),
            " AS b, ended, result, \
             call_type, SUM(n) FROM call_counts WHERE span = 60 \
             GROUP BY sdkappid, b, ended, result, call_type;\n"
        )
    };
}

/// Fills the empty `call_counts` of version 6 (by media type too, with the connected calls and
/// their talk time) from `calls`: minute buckets by one pass, hour buckets from them.
macro_rules! backfill_counts {
    () => {
        concat!(
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, media_type, \
             n, connected, talk_s) \
             SELECT sdkappid, 60, ",
            floor_div!("start_s", "60"),
            " AS b, ended, result, call_type, media_type, COUNT(*), \
             SUM(accept_ms IS NOT NULL), SUM(talk_s) FROM calls WHERE start_s IS NOT NULL \
             GROUP BY sdkappid, b, ended, result, call_type, media_type;\n",
            "INSERT INTO call_counts (sdkappid, span, bucket, ended, result, call_type, media_type, \
             n, connected, talk_s) \
             SELECT sdkappid, 3600, ",
            floor_div!("bucket", "60"),
            " AS b, ended, result, call_type, media_type, SUM(n), SUM(connected), SUM(talk_s) \
             FROM call_counts WHERE span = 60 \
             GROUP BY sdkappid, b, ended, result, call_type, media_type;\n"
        )
    };
}

/// Fills the empty `call_users` from `calls`: the caller's row and one per callee, sorted into
/// key order first (inserting a large table in key order is much faster than at random).
macro_rules! backfill_users {
    () => {
        "INSERT OR IGNORE INTO call_users (sdkappid, user_id, start_s, call_id, is_caller, \
         ended, result, call_type, media_type, talk_s, connected) \
         SELECT sdkappid, caller, start_s, call_id, 1, ended, result, call_type, media_type, \
         talk_s, accept_ms IS NOT NULL FROM calls WHERE start_s IS NOT NULL \
         UNION ALL \
         SELECT c.sdkappid, j.value, c.start_s, c.call_id, 0, c.ended, c.result, c.call_type, \
         c.media_type, c.talk_s, c.accept_ms IS NOT NULL \
         FROM calls c, json_each(c.callees) j WHERE c.start_s IS NOT NULL \
         ORDER BY 1, 2, 3 DESC, 4;\n"
    };
}

/// Recomputes `call_counts` and `call_users` from `calls`. For the bulk loader, which writes
/// `calls` directly (with its indexes dropped) and must then run this: no trigger keeps them;
/// the store's writer does (`writer.rs`, `CountDeltas` and `sync_users`).
pub const REBUILD_DERIVED_SQL: &str = concat!(
    "DELETE FROM call_counts;\n",
    backfill_counts!(),
    "DELETE FROM call_users;\n",
    backfill_users!()
);

const MIGRATION_6: &str = concat!(
    "
    -- Connected seconds (endTs - acceptTs; 0 if never connected or not ended): the duration
    -- filters and statistics read it.
    ALTER TABLE calls ADD COLUMN talk_s INTEGER NOT NULL DEFAULT 0;
    UPDATE calls SET talk_s = MAX(0, ",
    floor_div!("end_ms", "1000"),
    " - ",
    floor_div!("accept_ms", "1000"),
    ") WHERE accept_ms IS NOT NULL AND end_ms IS NOT NULL;

    -- One row per participant (the caller and each callee) of every started call, with the
    -- columns filters test, so a user's calls are found and counted from this table alone.
    -- The writer keeps it in the transaction that writes the calls row.
    CREATE TABLE call_users (
        sdkappid   INTEGER NOT NULL,
        user_id    TEXT    NOT NULL,
        start_s    INTEGER NOT NULL,
        call_id    TEXT    NOT NULL,
        is_caller  INTEGER NOT NULL,
        ended      INTEGER NOT NULL,
        result     TEXT    NOT NULL,
        call_type  TEXT    NOT NULL,
        media_type TEXT    NOT NULL,
        talk_s     INTEGER NOT NULL,
        connected  INTEGER NOT NULL,
        PRIMARY KEY (sdkappid, user_id, start_s DESC, call_id)
    ) WITHOUT ROWID;

    -- The filter indexes carry the media type and the talk time too, so media and duration
    -- conditions (and their counts) are tested in the index without reading rows.
    DROP INDEX calls_by_ended;
    DROP INDEX calls_by_result;
    DROP INDEX calls_by_type_ended;
    DROP INDEX calls_by_type_result;
    CREATE INDEX calls_by_ended       ON calls (sdkappid, ended, start_s DESC, call_id, media_type, talk_s);
    CREATE INDEX calls_by_result      ON calls (sdkappid, result, start_s DESC, call_id, media_type, talk_s);
    CREATE INDEX calls_by_type_ended  ON calls (sdkappid, call_type, ended, start_s DESC, call_id, media_type, talk_s);
    CREATE INDEX calls_by_type_result ON calls (sdkappid, call_type, result, start_s DESC, call_id, media_type, talk_s);

    -- roomId filters (calls without a room are not in it).
    CREATE INDEX calls_by_room ON calls (sdkappid, room_id, start_s DESC, call_id)
        WHERE room_id <> '';

    -- The counts gain the media type (a filter field) and what statistics sum.
    DROP TABLE call_counts;
    CREATE TABLE call_counts (
        sdkappid   INTEGER NOT NULL,
        span       INTEGER NOT NULL,
        bucket     INTEGER NOT NULL,
        ended      INTEGER NOT NULL,
        result     TEXT    NOT NULL,
        call_type  TEXT    NOT NULL,
        media_type TEXT    NOT NULL,
        n          INTEGER NOT NULL,
        connected  INTEGER NOT NULL,
        talk_s     INTEGER NOT NULL,
        PRIMARY KEY (sdkappid, span, bucket, ended, result, call_type, media_type)
    ) WITHOUT ROWID;
    ",
    backfill_counts!(),
    backfill_users!()
);

const MIGRATION_2: &str = concat!(
    "
    -- How many calls (with a start) fall in each time bucket, by the columns filters test:
    -- `span` = 60 (minute buckets) or 3600 (hour buckets), `bucket` = floor(start_s / span).
    -- Kept exact by the triggers below in the same transaction as every change of a calls row.
    CREATE TABLE call_counts (
        sdkappid  INTEGER NOT NULL,
        span      INTEGER NOT NULL,
        bucket    INTEGER NOT NULL,
        ended     INTEGER NOT NULL,
        result    TEXT    NOT NULL,
        call_type TEXT    NOT NULL,
        n         INTEGER NOT NULL,
        PRIMARY KEY (sdkappid, span, bucket, ended, result, call_type)
    ) WITHOUT ROWID;
    ",
    "CREATE TRIGGER calls_count_insert AFTER INSERT ON calls WHEN new.start_s IS NOT NULL BEGIN\n",
    count_add_new!(),
    "END;\n",
    "CREATE TRIGGER calls_count_delete AFTER DELETE ON calls WHEN old.start_s IS NOT NULL BEGIN\n",
    count_sub_old!("60"),
    count_sub_old!("3600"),
    "END;\n",
    "CREATE TRIGGER calls_count_update AFTER UPDATE ON calls \
     WHEN old.start_s IS NOT new.start_s OR old.ended IS NOT new.ended \
     OR old.result IS NOT new.result OR old.call_type IS NOT new.call_type \
     OR old.sdkappid IS NOT new.sdkappid BEGIN\n",
    count_sub_old!("60"),
    count_sub_old!("3600"),
    count_add_new!(),
    "END;\n",
    backfill!()
);

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses a newer one.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // IMMEDIATE: two processes opening the same file at once must not both migrate.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_err)?;
    if current > SCHEMA_VERSION {
        return Err(corrupt(format!(
            "database schema version {current} is newer than this build supports ({SCHEMA_VERSION}); \
             upgrade callrec"
        )));
    }
    if current < 0 {
        return Err(corrupt(format!(
            "invalid database schema version {current}"
        )));
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(version = i + 1, "applying store migration");
        tx.execute_batch(script).map_err(map_err)?;
    }
    if current < SCHEMA_VERSION {
        // PRAGMA does not take bound parameters; the value is our own constant.
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}
