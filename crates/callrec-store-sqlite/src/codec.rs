//! Conversions between domain values and table rows.
//!
//! Enums are stored by the stable codes of `callrec_domain::stored` (`no_answer`, `call_busy`, …)
//! so the database reads naturally with the `sqlite3` shell; a code this build does not know
//! reads back as `Corrupt`. Event bodies use the same module's JSON, shared with PostgreSQL.

use callrec_domain::stored::{self, StoredCode};
use callrec_domain::{CallResult, Event, Record};
use rusqlite::Row;
use rusqlite::types::Type;

/// App ids are `u64` in the domain and `INTEGER` (`i64`) in SQLite. Real sdkappids are far below
/// `i64::MAX`; the bit-preserving cast keeps even absurd ones distinct and round-trips them.
pub(crate) fn app_to_sql(sdkappid: u64) -> i64 {
    sdkappid as i64
}

/// Inverse of [`app_to_sql`].
pub(crate) fn app_from_sql(v: i64) -> u64 {
    v as u64
}

fn conversion_error(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, msg.into())
}

fn decode<T: StoredCode>(idx: usize, what: &str, code: &str) -> rusqlite::Result<T> {
    stored::decode(what, code).map_err(|m| conversion_error(idx, m))
}

/// Columns [`event_from_row`] reads, in order.
pub(crate) const EVENT_COLUMNS: &str = "call_id, kind, user_id, time_ms, event_id, body";

/// Rebuilds an [`Event`] from a row selected with [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = row.get(1)?;
    let body: Option<String> = row.get(5)?;
    stored::event_from_parts(
        row.get(0)?,
        &kind,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        body.as_deref(),
    )
    .map_err(|m| conversion_error(5, m))
}

/// Columns [`record_from_row`] reads, in order.
pub(crate) const RECORD_COLUMNS: &str = "sdkappid, call_id, media_type, room_id, start_ms, \
     accept_ms, end_ms, caller, call_type, result, callees, room_id_type";

/// Rebuilds a [`Record`] from a `calls` row (with a start) selected with [`RECORD_COLUMNS`].
pub(crate) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    let media: String = row.get(2)?;
    let call_type: String = row.get(8)?;
    let result: String = row.get(9)?;
    let callees: String = row.get(10)?;
    Ok(Record {
        sdkappid: app_from_sql(row.get(0)?),
        call_id: row.get(1)?,
        media_type: decode(2, "media type", &media)?,
        room_id: row.get(3)?,
        start_ms: row.get(4)?,
        accept_ms: row.get(5)?,
        end_ms: row.get(6)?,
        caller: row.get(7)?,
        call_type: decode(8, "call type", &call_type)?,
        result: decode::<CallResult>(9, "call result", &result)?,
        callees: parse_callees(10, &callees)?,
        room_id_type: row.get(11)?,
    })
}

/// Reads the `callees` JSON array column.
pub(crate) fn parse_callees(idx: usize, json: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| conversion_error(idx, format!("callees: {e}")))
}

/// Writes the `callees` JSON array column.
pub(crate) fn callees_json(callees: &[String]) -> String {
    serde_json::to_string(callees).unwrap_or_else(|_| "[]".into())
}
