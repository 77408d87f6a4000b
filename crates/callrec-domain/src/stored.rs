//! How stores persist domain values, shared by every backend so they cannot drift apart:
//! stable storage codes for the enums (independent of any API generation's names), the JSON of an
//! event's optional fields, and the call row a store keeps for each call (its record's columns).
//!
//! The codes are part of the on-disk format: never change one. A code this build does not know
//! reads back as an error the store reports as corrupt data.

use serde::{Deserialize, Serialize};

use crate::event::{CallType, Event, EventType, MediaType};
use crate::fold::{CallState, Timeouts};
use crate::record::CallResult;

/// An enum with a stable storage code.
pub trait StoredCode: Sized + Copy + 'static {
    /// Every value.
    const VALUES: &'static [Self];
    /// The value's code.
    fn code(self) -> &'static str;
    /// The value of a code.
    fn from_code(code: &str) -> Option<Self> {
        Self::VALUES.iter().copied().find(|v| v.code() == code)
    }
}

impl StoredCode for EventType {
    const VALUES: &'static [Self] = &EventType::ALL;
    fn code(self) -> &'static str {
        match self {
            EventType::Start => "start",
            EventType::Invite => "invite",
            EventType::Join => "join",
            EventType::Accept => "accept",
            EventType::Reject => "reject",
            EventType::Busy => "busy",
            EventType::NoAnswer => "no_answer",
            EventType::Cancel => "cancel",
            EventType::Hangup => "hangup",
            EventType::Offline => "offline",
            EventType::End => "end",
        }
    }
}

impl StoredCode for MediaType {
    const VALUES: &'static [Self] = &[MediaType::Audio, MediaType::Video];
    fn code(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }
}

impl StoredCode for CallType {
    const VALUES: &'static [Self] = &[CallType::Single, CallType::Group];
    fn code(self) -> &'static str {
        match self {
            CallType::Single => "single",
            CallType::Group => "group",
        }
    }
}

impl StoredCode for CallResult {
    const VALUES: &'static [Self] = &CallResult::ALL;
    fn code(self) -> &'static str {
        match self {
            CallResult::Cancel => "cancel",
            CallResult::Reject => "reject",
            CallResult::NotAnswer => "not_answer",
            CallResult::CallBusy => "call_busy",
            CallResult::NormalEnd => "normal_end",
            CallResult::Interrupt => "interrupt",
            CallResult::Ongoing => "ongoing",
        }
    }
}

/// The value of a stored code, or a message naming what was unknown.
pub fn decode<T: StoredCode>(what: &str, code: &str) -> Result<T, String> {
    T::from_code(code).ok_or_else(|| format!("unknown {what} {code:?}"))
}

/// The optional fields of an event as stored (a JSON object; keys are part of the format).
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
    #[serde(
        rename = "ringTimeoutMs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    ring_timeout_ms: Option<i64>,
    #[serde(
        rename = "roomIdType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    room_id_type: Option<u8>,
    #[serde(
        rename = "chatGroupId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    chat_group_id: Option<String>,
    #[serde(rename = "userData", default, skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
}

/// The stored body of an event: `None` when it carries none of the optional fields (most events).
pub fn event_body(e: &Event) -> Option<String> {
    let body = Body {
        callees: e.callees.clone(),
        invitees: e.invitees.clone(),
        media_type: e.media_type.map(|m| m.code().to_owned()),
        call_type: e.call_type.map(|c| c.code().to_owned()),
        room_id: e.room_id.clone(),
        ring_timeout_ms: e.ring_timeout_ms,
        room_id_type: e.room_id_type,
        chat_group_id: e.chat_group_id.clone(),
        user_data: e.user_data.clone(),
        platform: e.platform.clone(),
    };
    let empty = body.callees.is_empty()
        && body.invitees.is_empty()
        && body.media_type.is_none()
        && body.call_type.is_none()
        && body.room_id.is_none()
        && body.ring_timeout_ms.is_none()
        && body.room_id_type.is_none()
        && body.chat_group_id.is_none()
        && body.user_data.is_none()
        && body.platform.is_none();
    // Serializing plain strings, numbers and vectors of strings cannot fail.
    (!empty).then(|| serde_json::to_string(&body).unwrap_or_default())
}

/// The event stored with these columns (`body` as [`event_body`] wrote it).
pub fn event_from_parts(
    call_id: String,
    kind: &str,
    user_id: String,
    time_ms: i64,
    event_id: Option<String>,
    body: Option<&str>,
) -> Result<Event, String> {
    let body: Body = match body {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("event body: {e}"))?,
        None => Body::default(),
    };
    Ok(Event {
        call_id,
        kind: decode("event type", kind)?,
        user_id,
        time_ms,
        event_id,
        callees: body.callees,
        media_type: body
            .media_type
            .as_deref()
            .map(|m| decode("media type", m))
            .transpose()?,
        call_type: body
            .call_type
            .as_deref()
            .map(|c| decode("call type", c))
            .transpose()?,
        room_id: body.room_id,
        invitees: body.invitees,
        ring_timeout_ms: body.ring_timeout_ms,
        room_id_type: body.room_id_type,
        chat_group_id: body.chat_group_id,
        user_data: body.user_data,
        platform: body.platform,
    })
}

/// The columns a store keeps for a call, from the fold of its events. A call without a `start`
/// yet has only `first_event_ms` (so retention can find it) and is invisible to queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// The earliest time of any of its events.
    pub first_event_ms: i64,
    /// The record's columns; `None` until the start arrived.
    pub record: Option<RecordColumns>,
}

/// A started call's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordColumns {
    /// Start, Unix ms.
    pub start_ms: i64,
    /// Start, whole Unix seconds (the filter key).
    pub start_s: i64,
    /// Whether the call has ended.
    pub ended: bool,
    /// [`CallResult`] code.
    pub result: &'static str,
    /// [`CallType`] code.
    pub call_type: &'static str,
    /// [`MediaType`] code.
    pub media_type: &'static str,
    /// `""` when none.
    pub room_id: String,
    /// The start's room id type, if given.
    pub room_id_type: Option<u8>,
    /// The caller.
    pub caller: String,
    /// First connection, Unix ms.
    pub accept_ms: Option<i64>,
    /// End, Unix ms.
    pub end_ms: Option<i64>,
    /// The callees in order.
    pub callees: Vec<String>,
    /// When the call's next time-out falls due, if any.
    pub due_ms: Option<i64>,
    /// Connected seconds ([`Record::talk_secs`](crate::Record::talk_secs)).
    pub talk_s: i64,
}

impl CallRow {
    /// The row of a call whose events start at `first_event_ms` and fold to `state`.
    pub fn new(first_event_ms: i64, state: Option<&CallState>, timeouts: Timeouts) -> Self {
        let record = state.map(|s| {
            let r = &s.record;
            RecordColumns {
                start_ms: r.start_ms,
                start_s: r.start_secs(),
                ended: s.is_ended(),
                result: r.result.code(),
                call_type: r.call_type.code(),
                media_type: r.media_type.code(),
                room_id: r.room_id.clone(),
                room_id_type: r.room_id_type,
                caller: r.caller.clone(),
                accept_ms: r.accept_ms,
                end_ms: r.end_ms,
                callees: r.callees.clone(),
                due_ms: s.next_due_ms(timeouts),
                talk_s: r.talk_secs(),
            }
        });
        CallRow {
            first_event_ms,
            record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_the_format_of_existing_databases() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_code(t.code()), Some(t));
        }
        for r in CallResult::VALUES {
            assert_eq!(CallResult::from_code(r.code()), Some(*r));
        }
        assert_eq!(CallResult::NotAnswer.code(), "not_answer");
        assert_eq!(EventType::NoAnswer.code(), "no_answer");
        assert_eq!(MediaType::from_code("video"), Some(MediaType::Video));
        assert_eq!(CallType::from_code("group"), Some(CallType::Group));
        assert!(decode::<CallResult>("call result", "NormalEnd").is_err());
    }

    #[test]
    fn bodies_round_trip_every_optional_field() {
        let mut e = Event::new("c", EventType::Start, "alice", 5);
        assert_eq!(event_body(&e), None);
        e.callees = vec!["bob".into()];
        e.media_type = Some(MediaType::Video);
        e.call_type = Some(CallType::Single);
        e.room_id = Some("r".into());
        e.ring_timeout_ms = Some(30_000);
        e.room_id_type = Some(2);
        e.chat_group_id = Some("g".into());
        e.user_data = Some("{\"x\":1}".into());
        e.platform = Some("iOS".into());
        e.event_id = Some("e1".into());
        let body = event_body(&e).unwrap();
        let back = event_from_parts(
            "c".into(),
            "start",
            "alice".into(),
            5,
            Some("e1".into()),
            Some(&body),
        )
        .unwrap();
        assert_eq!(back, e);
        // A body written before the newer fields existed still reads.
        let old = event_from_parts(
            "c".into(),
            "start",
            "alice".into(),
            5,
            None,
            Some(r#"{"callees":["bob"],"mediaType":"audio","callType":"single"}"#),
        )
        .unwrap();
        assert_eq!(old.ring_timeout_ms, None);
        assert_eq!(old.media_type, Some(MediaType::Audio));
        assert!(event_from_parts("c".into(), "dance", "a".into(), 1, None, None).is_err());
    }
}
