//! Conversions between domain values and table rows.
//!
//! Enums are stored by their wire names (`no_answer`, `call_busy`, …) so the database reads
//! naturally with the `sqlite3` shell; a name this build does not know reads back as `Corrupt`.

use std::str::FromStr;

use callrec_domain::{CallResult, CallType, Event, EventType, MediaType, Record};
use rusqlite::Row;
use rusqlite::types::Type;
use serde::{Deserialize, Serialize};

/// App ids are `u64` in the domain and `INTEGER` (`i64`) in SQLite. Real sdkappids are far below
/// `i64::MAX`; the bit-preserving cast keeps even absurd ones distinct and round-trips them.
pub(crate) fn app_to_sql(sdkappid: u64) -> i64 {
    sdkappid as i64
}

/// Inverse of [`app_to_sql`].
pub(crate) fn app_from_sql(v: i64) -> u64 {
    v as u64
}

/// The payload fields of an event that only some types carry.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    callees: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    invitees: Vec<String>,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(rename = "callType", default, skip_serializing_if = "Option::is_none")]
    call_type: Option<String>,
    #[serde(rename = "roomId", default, skip_serializing_if = "Option::is_none")]
    room_id: Option<String>,
}

/// The `body` column of an event: `None` when it carries no payload (most events).
pub(crate) fn event_body(e: &Event) -> Option<String> {
    let body = Body {
        callees: e.callees.clone(),
        invitees: e.invitees.clone(),
        media_type: e.media_type.map(|m| m.as_str().to_owned()),
        call_type: e.call_type.map(|c| c.as_str().to_owned()),
        room_id: e.room_id.clone(),
    };
    let empty = body.callees.is_empty()
        && body.invitees.is_empty()
        && body.media_type.is_none()
        && body.call_type.is_none()
        && body.room_id.is_none();
    // Serializing plain strings and vectors of strings cannot fail.
    (!empty).then(|| serde_json::to_string(&body).unwrap_or_default())
}

fn conversion_error(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, msg.into())
}

fn parse_name<T: FromStr>(idx: usize, what: &str, s: &str) -> rusqlite::Result<T> {
    s.parse()
        .map_err(|_| conversion_error(idx, format!("unknown {what} {s:?}")))
}

fn parse_opt_name<T: FromStr>(
    idx: usize,
    what: &str,
    s: Option<&str>,
) -> rusqlite::Result<Option<T>> {
    s.map(|s| parse_name(idx, what, s)).transpose()
}

/// Columns [`event_from_row`] reads, in order.
pub(crate) const EVENT_COLUMNS: &str = "call_id, kind, user_id, time_ms, event_id, body";

/// Rebuilds an [`Event`] from a row selected with [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = row.get(1)?;
    let body: Option<String> = row.get(5)?;
    let body: Body = match body {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| conversion_error(5, format!("event body: {e}")))?,
        None => Body::default(),
    };
    Ok(Event {
        call_id: row.get(0)?,
        kind: parse_name::<EventType>(1, "event type", &kind)?,
        user_id: row.get(2)?,
        time_ms: row.get(3)?,
        event_id: row.get(4)?,
        callees: body.callees,
        media_type: parse_opt_name::<MediaType>(5, "media type", body.media_type.as_deref())?,
        call_type: parse_opt_name::<CallType>(5, "call type", body.call_type.as_deref())?,
        room_id: body.room_id,
        invitees: body.invitees,
    })
}

/// Columns [`record_from_row`] reads, in order.
pub(crate) const RECORD_COLUMNS: &str = "sdkappid, call_id, media_type, room_id, start_ms, \
     accept_ms, end_ms, caller, call_type, result, callees";

/// Rebuilds a [`Record`] from a `calls` row (with a start) selected with [`RECORD_COLUMNS`].
pub(crate) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    let media: String = row.get(2)?;
    let call_type: String = row.get(8)?;
    let result: String = row.get(9)?;
    let callees: String = row.get(10)?;
    Ok(Record {
        sdkappid: app_from_sql(row.get(0)?),
        call_id: row.get(1)?,
        media_type: parse_name(2, "media type", &media)?,
        room_id: row.get(3)?,
        start_ms: row.get(4)?,
        accept_ms: row.get(5)?,
        end_ms: row.get(6)?,
        caller: row.get(7)?,
        call_type: parse_name(8, "call type", &call_type)?,
        result: parse_name::<CallResult>(9, "call result", &result)?,
        callees: parse_callees(10, &callees)?,
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
