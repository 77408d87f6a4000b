//! Call events: what clients and signalling servers report, and the rules every stored event obeys.
//!
//! An [`Event`] here is always valid: [`validate_event`] is the single place that decides whether a
//! reported event may be stored. Events are identified for deduplication by [`Event::dedupe_key`]
//! and applied by the fold in [`Event::order_cmp`] order.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::stored::StoredCode as _;

/// Longest `callId`, `userId`, `eventId` or `roomId` accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Most users one `start` or `invite` may name.
pub const MAX_USERS_PER_EVENT: usize = 1000;

/// The ring time-out a `start` may ask for, milliseconds.
pub const RING_TIMEOUT_RANGE_MS: std::ops::RangeInclusive<i64> = 10_000..=600_000;

/// Longest `userData`, bytes.
pub const MAX_USER_DATA_BYTES: usize = 1000;

/// Longest `platform`, characters.
pub const MAX_PLATFORM_LEN: usize = 32;

/// The kinds of call event, declared in *event order* for equal times (docs/api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    Start,
    Invite,
    Join,
    Accept,
    Reject,
    Busy,
    NoAnswer,
    Cancel,
    Hangup,
    Offline,
    /// An admin ends the call (v4 `end_call`, or reported by an admin).
    End,
}

impl EventType {
    /// Every event type, in event order.
    pub const ALL: [EventType; 11] = [
        EventType::Start,
        EventType::Invite,
        EventType::Join,
        EventType::Accept,
        EventType::Reject,
        EventType::Busy,
        EventType::NoAnswer,
        EventType::Cancel,
        EventType::Hangup,
        EventType::Offline,
        EventType::End,
    ];

    /// The wire name (`start`, `no_answer`, …).
    pub fn as_str(self) -> &'static str {
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

impl FromStr for EventType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `audio` or `video`, as the call started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Audio,
    Video,
}

impl MediaType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }
}

impl FromStr for MediaType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "audio" => Ok(MediaType::Audio),
            "video" => Ok(MediaType::Video),
            _ => Err(()),
        }
    }
}

/// `single` (one callee) or `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    Single,
    Group,
}

impl CallType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Single => "single",
            CallType::Group => "group",
        }
    }
}

impl FromStr for CallType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "single" => Ok(CallType::Single),
            "group" => Ok(CallType::Group),
            _ => Err(()),
        }
    }
}

/// One call event. The start-only fields (`callees`, `media_type`, `call_type`, `room_id`,
/// `ring_timeout_ms`, `room_id_type`, `chat_group_id`, `user_data`) are empty/`None` on other
/// types, `invitees` is empty except on `invite`; any event may carry a `platform`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// The call this event belongs to.
    pub call_id: String,
    /// What happened.
    pub kind: EventType,
    /// `start`: the caller; `invite`: the inviter; otherwise the user the event is about.
    pub user_id: String,
    /// Unix milliseconds.
    pub time_ms: i64,
    /// The reporter's dedupe key, if it gave one.
    pub event_id: Option<String>,
    /// `start` only: the invited users, in order.
    pub callees: Vec<String>,
    /// `start` only.
    pub media_type: Option<MediaType>,
    /// `start` only; [`validate_event`] fills in the default.
    pub call_type: Option<CallType>,
    /// `start` only.
    pub room_id: Option<String>,
    /// `invite` only: the invited users, in order.
    pub invitees: Vec<String>,
    /// `start` only: this call's callees ring this long instead of the configured time-out.
    pub ring_timeout_ms: Option<i64>,
    /// `start` only: 1 (numeric TRTC room) or 2 (string room).
    pub room_id_type: Option<u8>,
    /// `start` only: the chat group the call belongs to.
    pub chat_group_id: Option<String>,
    /// `start` only: opaque data the app keeps with the call.
    pub user_data: Option<String>,
    /// The reporting client's platform (`iOS`, `Android`, `Web`, …).
    pub platform: Option<String>,
}

impl Event {
    /// A bare event of `kind` by `user_id` at `time_ms`, with no optional fields.
    pub fn new(call_id: &str, kind: EventType, user_id: &str, time_ms: i64) -> Self {
        Event {
            call_id: call_id.to_owned(),
            kind,
            user_id: user_id.to_owned(),
            time_ms,
            event_id: None,
            callees: Vec::new(),
            media_type: None,
            call_type: None,
            room_id: None,
            invitees: Vec::new(),
            ring_timeout_ms: None,
            room_id_type: None,
            chat_group_id: None,
            user_data: None,
            platform: None,
        }
    }

    /// The key two reports of the same event share: the `eventId` when given, else
    /// (type, userId, time), the type by its storage code: the key is stored. Scoped to the call
    /// (the store keys it with the call id).
    pub fn dedupe_key(&self) -> String {
        match &self.event_id {
            Some(id) => format!("i:{id}"),
            None => format!("k:{}:{}:{}", self.kind.code(), self.time_ms, self.user_id),
        }
    }

    /// Event order (docs/api.md): time, then type, then userId, then eventId (none first).
    pub fn order_cmp(&self, other: &Event) -> Ordering {
        self.time_ms
            .cmp(&other.time_ms)
            .then(self.kind.cmp(&other.kind))
            .then_with(|| self.user_id.cmp(&other.user_id))
            .then_with(|| self.event_id.cmp(&other.event_id))
    }

    /// True for events the server itself generated (time-outs), whose eventId starts with `sys:`.
    pub fn is_system(&self) -> bool {
        self.event_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sys:"))
    }
}

/// Why a reported event cannot be stored (answered as 70001).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

fn check_id(what: &str, value: &str) -> Result<(), EventError> {
    let len = value.chars().count();
    if len == 0 || len > MAX_ID_LEN {
        return Err(EventError(format!(
            "{what} must be 1-{MAX_ID_LEN} characters, got {len}"
        )));
    }
    Ok(())
}

fn check_users(what: &str, users: &[String], not: &str) -> Result<(), EventError> {
    if users.is_empty() {
        return Err(EventError(format!("{what} must name at least one user")));
    }
    if users.len() > MAX_USERS_PER_EVENT {
        return Err(EventError(format!(
            "{what} may name at most {MAX_USERS_PER_EVENT} users"
        )));
    }
    for (i, u) in users.iter().enumerate() {
        check_id(&format!("{what}[{i}]"), u)?;
        if u == not {
            return Err(EventError(format!(
                "{what}[{i}] is the reporting user {u:?}"
            )));
        }
        if users[..i].contains(u) {
            return Err(EventError(format!("{what}[{i}] names {u:?} twice")));
        }
    }
    Ok(())
}

/// Checks one reported event against the rules of docs/api.md and fills in defaults
/// (`callType` of a `start`). `now_ms` and `retention_ms` bound `time`:
/// it must lie within `[now − retention, now + 300 s]`.
pub fn validate_event(mut e: Event, now_ms: i64, retention_ms: i64) -> Result<Event, EventError> {
    check_id("callId", &e.call_id)?;
    check_id("userId", &e.user_id)?;
    if let Some(id) = &e.event_id {
        check_id("eventId", id)?;
    }
    let earliest = now_ms.saturating_sub(retention_ms);
    let latest = now_ms.saturating_add(300_000);
    if e.time_ms < earliest || e.time_ms > latest {
        return Err(EventError(format!(
            "time {} (Unix milliseconds) is outside [now - retention, now + 300 s] = [{earliest}, {latest}]",
            e.time_ms
        )));
    }
    let start_only = |name: &str, present: bool| -> Result<(), EventError> {
        if present {
            Err(EventError(format!(
                "{name} is only allowed on a start event"
            )))
        } else {
            Ok(())
        }
    };
    if e.kind == EventType::Start {
        check_users("callees", &e.callees, &e.user_id)?;
        if e.media_type.is_none() {
            return Err(EventError(
                "mediaType is required on a start event (audio or video)".into(),
            ));
        }
        if let Some(room) = &e.room_id
            && room.chars().count() > MAX_ID_LEN
        {
            return Err(EventError(format!(
                "roomId must be at most {MAX_ID_LEN} characters"
            )));
        }
        let default = if e.callees.len() == 1 {
            CallType::Single
        } else {
            CallType::Group
        };
        let call_type = *e.call_type.get_or_insert(default);
        if call_type == CallType::Single && e.callees.len() != 1 {
            return Err(EventError(format!(
                "a single call has exactly one callee, got {}",
                e.callees.len()
            )));
        }
        if let Some(ms) = e.ring_timeout_ms
            && !RING_TIMEOUT_RANGE_MS.contains(&ms)
        {
            return Err(EventError(format!(
                "ringTimeoutMs must be {}-{}, got {ms}",
                RING_TIMEOUT_RANGE_MS.start(),
                RING_TIMEOUT_RANGE_MS.end()
            )));
        }
        if let Some(t) = e.room_id_type
            && !matches!(t, 1 | 2)
        {
            return Err(EventError(format!("roomIdType must be 1 or 2, got {t}")));
        }
        if let Some(group) = &e.chat_group_id
            && group.chars().count() > MAX_ID_LEN
        {
            return Err(EventError(format!(
                "chatGroupId must be at most {MAX_ID_LEN} characters"
            )));
        }
        if let Some(data) = &e.user_data
            && data.len() > MAX_USER_DATA_BYTES
        {
            return Err(EventError(format!(
                "userData must be at most {MAX_USER_DATA_BYTES} bytes, got {}",
                data.len()
            )));
        }
    } else {
        start_only("callees", !e.callees.is_empty())?;
        start_only("mediaType", e.media_type.is_some())?;
        start_only("callType", e.call_type.is_some())?;
        start_only("roomId", e.room_id.is_some())?;
        start_only("ringTimeoutMs", e.ring_timeout_ms.is_some())?;
        start_only("roomIdType", e.room_id_type.is_some())?;
        start_only("chatGroupId", e.chat_group_id.is_some())?;
        start_only("userData", e.user_data.is_some())?;
    }
    if let Some(p) = &e.platform {
        let len = p.chars().count();
        if len == 0 || len > MAX_PLATFORM_LEN {
            return Err(EventError(format!(
                "platform must be 1-{MAX_PLATFORM_LEN} characters, got {len}"
            )));
        }
    }
    if e.kind == EventType::Invite {
        check_users("invitees", &e.invitees, &e.user_id)?;
    } else if !e.invitees.is_empty() {
        return Err(EventError(
            "invitees is only allowed on an invite event".into(),
        ));
    }
    if e.is_system() {
        return Err(EventError(
            "eventIds starting with \"sys:\" are reserved for the server".into(),
        ));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const WEEK: i64 = 7 * 86_400_000;

    fn start(callees: &[&str]) -> Event {
        let mut e = Event::new("c1", EventType::Start, "alice", NOW);
        e.callees = callees.iter().map(|s| s.to_string()).collect();
        e.media_type = Some(MediaType::Video);
        e
    }

    #[test]
    fn event_types_parse_their_wire_names_and_sort_in_event_order() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        assert!(EventType::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!("Start".parse::<EventType>().is_err());
    }

    #[test]
    fn start_call_type_defaults_by_number_of_callees() {
        let one = validate_event(start(&["bob"]), NOW, WEEK).unwrap();
        assert_eq!(one.call_type, Some(CallType::Single));
        let two = validate_event(start(&["bob", "carol"]), NOW, WEEK).unwrap();
        assert_eq!(two.call_type, Some(CallType::Group));
        let mut forced = start(&["bob"]);
        forced.call_type = Some(CallType::Group);
        assert_eq!(
            validate_event(forced, NOW, WEEK).unwrap().call_type,
            Some(CallType::Group)
        );
    }

    #[test]
    fn single_start_with_two_callees_is_rejected() {
        let mut e = start(&["bob", "carol"]);
        e.call_type = Some(CallType::Single);
        assert!(validate_event(e, NOW, WEEK).is_err());
    }

    #[test]
    fn start_needs_callees_and_media_type() {
        assert!(validate_event(start(&[]), NOW, WEEK).is_err());
        let mut e = start(&["bob"]);
        e.media_type = None;
        assert!(validate_event(e, NOW, WEEK).is_err());
        assert!(
            validate_event(start(&["alice"]), NOW, WEEK).is_err(),
            "caller as callee"
        );
        assert!(
            validate_event(start(&["bob", "bob"]), NOW, WEEK).is_err(),
            "duplicate callee"
        );
    }

    #[test]
    fn time_must_be_inside_retention_and_at_most_five_minutes_ahead() {
        let mut e = start(&["bob"]);
        e.time_ms = NOW + 300_000;
        assert!(validate_event(e.clone(), NOW, WEEK).is_ok());
        e.time_ms = NOW + 300_001;
        assert!(validate_event(e.clone(), NOW, WEEK).is_err());
        e.time_ms = NOW - WEEK;
        assert!(validate_event(e.clone(), NOW, WEEK).is_ok());
        e.time_ms = NOW - WEEK - 1;
        assert!(validate_event(e, NOW, WEEK).is_err());
    }

    #[test]
    fn ids_are_one_to_128_characters() {
        let mut e = Event::new("", EventType::Accept, "bob", NOW);
        assert!(validate_event(e.clone(), NOW, WEEK).is_err());
        e.call_id = "é".repeat(128);
        assert!(validate_event(e.clone(), NOW, WEEK).is_ok());
        e.call_id = "x".repeat(129);
        assert!(validate_event(e.clone(), NOW, WEEK).is_err());
        e.call_id = "c".into();
        e.user_id = String::new();
        assert!(validate_event(e, NOW, WEEK).is_err());
    }

    #[test]
    fn start_only_and_invite_only_fields_are_rejected_elsewhere() {
        let mut e = Event::new("c", EventType::Accept, "bob", NOW);
        e.media_type = Some(MediaType::Audio);
        assert!(validate_event(e, NOW, WEEK).is_err());
        let mut e = Event::new("c", EventType::Join, "bob", NOW);
        e.invitees = vec!["x".into()];
        assert!(validate_event(e, NOW, WEEK).is_err());
        let e = Event::new("c", EventType::Invite, "bob", NOW);
        assert!(
            validate_event(e, NOW, WEEK).is_err(),
            "invite needs invitees"
        );
    }

    #[test]
    fn reported_events_may_not_use_the_system_event_id_prefix() {
        let mut e = Event::new("c", EventType::Offline, "bob", NOW);
        e.event_id = Some("sys:idle:bob".into());
        assert!(validate_event(e, NOW, WEEK).is_err());
    }

    #[test]
    fn dedupe_key_prefers_event_id() {
        let mut e = Event::new("c", EventType::Accept, "bob", 5);
        assert_eq!(e.dedupe_key(), "k:accept:5:bob");
        e.event_id = Some("x".into());
        assert_eq!(e.dedupe_key(), "i:x");
    }
}
