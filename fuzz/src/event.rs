//! Event validation: one reported event as `/v1/events/report` reads it (`v1::parse_event`, then
//! `validate_event` against a fixed clock), and as the stores keep it.
//!
//! - parsing and validation never panic, and a refusal always says why;
//! - validation is idempotent: a valid event validates to itself;
//! - every parsed event, valid or not, comes back unchanged from the columns and body JSON both
//!   stores write (`stored::event_body`, `stored::event_from_parts`): nothing acknowledged is
//!   changed by storing it.

use callrec_domain::stored::{StoredCode as _, event_body, event_from_parts};
use callrec_domain::{Event, validate_event};
use callrec_server::v1::parse_event;
use serde_json::Value;

/// The clock the events are validated against (2023-11-14T22:13:20Z).
pub const NOW_MS: i64 = 1_700_000_000_000;
/// The default retention, 7 days.
pub const RETENTION_MS: i64 = 7 * 86_400_000;

/// One input: the JSON of one event.
pub fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let event = match parse_event(&value) {
        Ok(event) => event,
        Err(e) => {
            assert!(!e.message().is_empty());
            return;
        }
    };
    assert_eq!(stored_copy(&event), event);
    match validate_event(event, NOW_MS, RETENTION_MS) {
        Ok(valid) => {
            assert_eq!(
                validate_event(valid.clone(), NOW_MS, RETENTION_MS).as_ref(),
                Ok(&valid)
            );
            assert_eq!(stored_copy(&valid), valid);
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
}

/// `e` written as a store writes it and read back.
fn stored_copy(e: &Event) -> Event {
    event_from_parts(
        e.call_id.clone(),
        e.kind.code(),
        e.user_id.clone(),
        e.time_ms,
        e.event_id.clone(),
        event_body(e).as_deref(),
    )
    .expect("a stored event reads back")
}
