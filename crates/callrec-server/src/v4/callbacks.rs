//! v4 callbacks: `Call.CallbackAfterStartCall`, `Call.CallbackAfterMemberChanged` and
//! `Call.CallbackAfterEndCall` (docs/callbacks.md).

use callrec_domain::{Change, EventType, Presence};
use serde::Serialize;

use super::{V4Record, media_name, room_id_type};

/// After a call starts.
pub const START: &str = "Call.CallbackAfterStartCall";
/// After a member's state changes.
pub const MEMBER_CHANGED: &str = "Call.CallbackAfterMemberChanged";
/// After a call ends.
pub const END: &str = "Call.CallbackAfterEndCall";

/// The commands a v4 configuration may list.
pub const COMMANDS: [&str; 3] = [START, END, MEMBER_CHANGED];

#[derive(Serialize)]
struct User<'a> {
    #[serde(rename = "User_Account")]
    account: &'a str,
    #[serde(rename = "Status")]
    status: &'static str,
}

#[derive(Serialize)]
struct Changed<'a> {
    #[serde(rename = "User_Account")]
    account: &'a str,
    #[serde(rename = "ActionType")]
    action: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CallInfo<'a> {
    call_id: &'a str,
    media_type: &'static str,
    call_media_type: &'static str,
    chat_group_id: &'a str,
    room_id: &'a str,
    room_id_type: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartBody<'a> {
    callback_command: &'static str,
    call_info: CallInfo<'a>,
    user_list: Vec<User<'a>>,
    event_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MemberBody<'a> {
    callback_command: &'static str,
    call_id: &'a str,
    user_list: Vec<User<'a>>,
    changed_user_list: Vec<Changed<'a>>,
    event_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EndBody<'a> {
    callback_command: &'static str,
    call_record: V4Record<'a>,
    event_time: i64,
}

/// Who is in the call or ringing after the change (`[]` once it ended).
fn user_list(change: &Change) -> Vec<User<'_>> {
    if change.ends_call {
        return Vec::new();
    }
    change
        .members
        .iter()
        .zip(&change.after)
        .filter_map(|(m, p)| {
            let status = match p {
                Presence::Calling => "Calling",
                Presence::Waiting => "Waiting",
                Presence::Out => return None,
            };
            Some(User { account: m, status })
        })
        .collect()
}

/// The users whose state the event changed, with what happened to them, in callee-list order.
fn changed_users(change: &Change) -> Vec<Changed<'_>> {
    let own = match change.event.kind {
        EventType::Accept => "Accept",
        EventType::Join => "Join",
        EventType::Reject => "Reject",
        EventType::Busy => "Busy",
        EventType::NoAnswer => "NotAnswer",
        EventType::Hangup | EventType::Cancel | EventType::End => "Hangup",
        EventType::Offline => "Offline",
        EventType::Start | EventType::Invite => "",
    };
    let is_end = change.event.kind == EventType::End;
    let mut out = Vec::new();
    for (i, m) in change.members.iter().enumerate() {
        let (before, after) = change.presence(i);
        if before == after {
            continue;
        }
        let action = if is_end {
            match before {
                Presence::Calling => "Hangup",
                _ => "Cancel_Invite",
            }
        } else if *m == change.event.user_id && !own.is_empty() {
            own
        } else if after == Presence::Waiting {
            "Invite"
        } else if before == Presence::Waiting && after == Presence::Out {
            "Cancel_Invite"
        } else {
            continue;
        };
        out.push(Changed { account: m, action });
    }
    out
}

/// The v4 callbacks of a change: (command, body), in delivery order.
pub fn callbacks_of(change: &Change, chat_group_id: &str) -> Vec<(&'static str, String)> {
    let r = &change.record;
    let ms = change.event.time_ms;
    let mut out = Vec::new();
    if change.event.kind == EventType::Start {
        let media = media_name(r.media_type);
        let body = StartBody {
            callback_command: START,
            call_info: CallInfo {
                call_id: &r.call_id,
                media_type: media,
                call_media_type: media,
                chat_group_id,
                room_id: &r.room_id,
                room_id_type: room_id_type(&r.room_id, r.room_id_type),
            },
            user_list: user_list(change),
            event_time: ms,
        };
        out.push((START, serde_json::to_string(&body).unwrap_or_default()));
    } else {
        let changed = changed_users(change);
        if !changed.is_empty() {
            let body = MemberBody {
                callback_command: MEMBER_CHANGED,
                call_id: &r.call_id,
                user_list: user_list(change),
                changed_user_list: changed,
                event_time: ms,
            };
            out.push((
                MEMBER_CHANGED,
                serde_json::to_string(&body).unwrap_or_default(),
            ));
        }
    }
    if change.ends_call {
        let body = EndBody {
            callback_command: END,
            call_record: V4Record::from(r),
            event_time: ms,
        };
        out.push((END, serde_json::to_string(&body).unwrap_or_default()));
    }
    out
}

/// The query string v4 appends to the configured URL.
pub fn query(sdkappid: u64, command: &str, client_ip: &str, platform: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("SdkAppid", &sdkappid.to_string())
        .append_pair("CallbackCommand", command)
        .append_pair("contenttype", "json")
        .append_pair("ClientIP", client_ip)
        .append_pair("OptPlatform", platform)
        .finish()
}
