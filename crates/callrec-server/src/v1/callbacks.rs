//! v1 callbacks: TRTC's "call status" and "call event" callbacks (docs/callbacks.md).
//!
//! A [`Change`] maps to its rows of the command table, one callback per listed user, in the
//! table's order and, within a row, in callee-list order (caller first); the status callback of
//! an event that ends the call comes last.

use callrec_domain::{CallResult, Change, EventType, Presence};
use serde::Serialize;

/// The status callback commands (the call's result words).
pub const STATUS_COMMANDS: [&str; 6] = [
    "cancel",
    "reject",
    "not_answer",
    "normal_end",
    "call_busy",
    "interrupt",
];

/// The event callback commands. `caller_call_failed` and `callee_ignore_call` may be configured
/// but no event produces them.
pub const EVENT_COMMANDS: [&str; 19] = [
    "caller_start_call",
    "caller_call_accepted",
    "caller_call_missed",
    "caller_call_rejected",
    "caller_call_busy",
    "caller_cancel_call",
    "caller_call_failed",
    "caller_call_end",
    "caller_call_interrupted",
    "callee_receive_call",
    "callee_accept_call",
    "callee_not_answer_call",
    "callee_reject_call",
    "callee_ignore_call",
    "callee_call_canceled",
    "callee_call_end",
    "callee_call_interrupted",
    "invite_user",
    "join_in_group_call",
];

/// True for a word a v1 configuration may list.
pub fn is_command(word: &str) -> bool {
    STATUS_COMMANDS.contains(&word) || EVENT_COMMANDS.contains(&word)
}

/// One v1 callback of a change: its command and the user it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Callback {
    /// The command word.
    pub command: &'static str,
    /// `UserId`.
    pub user: String,
    /// True for the status callback (no `Event` field).
    pub status: bool,
}

/// The v1 callbacks of a change, in delivery order (before filtering by configuration).
pub fn callbacks_of(change: &Change) -> Vec<V1Callback> {
    let mut out = Vec::new();
    let caller = change.caller().to_owned();
    let user = change.event.user_id.as_str();
    let mut push = |command: &'static str, user: &str| {
        out.push(V1Callback {
            command,
            user: user.to_owned(),
            status: false,
        });
    };
    let role_word = |u: &str, as_caller: &'static str, as_callee: &'static str| {
        if change.is_caller(u) {
            as_caller
        } else {
            as_callee
        }
    };
    let started_ringing: Vec<&str> = change
        .moved(Presence::Out, Presence::Waiting)
        .filter(|u| !change.is_caller(u))
        .collect();
    let stopped_ringing: Vec<&str> = change.moved(Presence::Waiting, Presence::Out).collect();
    match change.event.kind {
        EventType::Start => {
            push("caller_start_call", &caller);
            for u in &started_ringing {
                push("callee_receive_call", u);
            }
        }
        EventType::Invite => {
            for u in &started_ringing {
                push("invite_user", u);
            }
            for u in &started_ringing {
                push("callee_receive_call", u);
            }
        }
        EventType::Join => push("join_in_group_call", user),
        EventType::Accept => {
            push("callee_accept_call", user);
            push("caller_call_accepted", &caller);
        }
        EventType::Reject => {
            push("callee_reject_call", user);
            push("caller_call_rejected", &caller);
        }
        EventType::Busy => push("caller_call_busy", &caller),
        EventType::NoAnswer => {
            push("callee_not_answer_call", user);
            push("caller_call_missed", &caller);
        }
        EventType::Hangup if change.is_caller(user) && change.record.accept_ms.is_none() => {
            cancel_rows(&mut push, &caller, &stopped_ringing);
        }
        EventType::Cancel => cancel_rows(&mut push, &caller, &stopped_ringing),
        EventType::Hangup => push(role_word(user, "caller_call_end", "callee_call_end"), user),
        EventType::Offline => push(
            role_word(user, "caller_call_interrupted", "callee_call_interrupted"),
            user,
        ),
        EventType::End => {
            let left: Vec<&str> = change.moved(Presence::Calling, Presence::Out).collect();
            for u in left {
                push(role_word(u, "caller_call_end", "callee_call_end"), u);
            }
            for u in &stopped_ringing {
                push("callee_call_canceled", u);
            }
        }
    }
    if change.ends_call {
        let who = if change.position(user).is_some() {
            user.to_owned()
        } else {
            caller
        };
        out.push(V1Callback {
            command: change.record.result.as_str(),
            user: who,
            status: true,
        });
    }
    out
}

fn cancel_rows(push: &mut impl FnMut(&'static str, &str), caller: &str, stopped: &[&str]) {
    push("caller_cancel_call", caller);
    for u in stopped {
        push("callee_call_canceled", u);
    }
}

/// A v1 callback body (fields in TRTC's order).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    user_id: &'a str,
    room_id: &'a str,
    total_num: u64,
    media_type: &'static str,
    call_type: &'static str,
    call_id: &'a str,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    call_result: &'static str,
    event_time: i64,
    start_call_ts: i64,
    accept_ts: i64,
    end_ts: i64,
}

/// The JSON body of one v1 callback of `change`.
pub fn body(change: &Change, cb: &V1Callback) -> String {
    let r = &change.record;
    let event = (!cb.status).then(|| {
        cb.command
            .strip_prefix("caller_")
            .or_else(|| cb.command.strip_prefix("callee_"))
            .unwrap_or(cb.command)
    });
    let body = Body {
        user_id: &cb.user,
        room_id: &r.room_id,
        total_num: r.total_user_number(),
        media_type: r.media_type.as_str(),
        call_type: r.call_type.as_str(),
        call_id: &r.call_id,
        role: if change.is_caller(&cb.user) {
            "caller"
        } else {
            "callee"
        },
        event,
        call_result: if change.ends_call && r.result != CallResult::Ongoing {
            r.result.as_str()
        } else {
            ""
        },
        event_time: change.event.time_ms.div_euclid(1000),
        start_call_ts: r.start_secs(),
        accept_ts: r.accept_secs(),
        end_ts: r.end_secs(),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// The query string v1 appends to the configured URL.
pub fn query(sdkappid: u64, command: &str, client_ip: &str, platform: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("sdkappid", &sdkappid.to_string())
        .append_pair("command", command)
        .append_pair("contenttype", "json")
        .append_pair("clientip", client_ip)
        .append_pair("optplatform", platform)
        .finish()
}
