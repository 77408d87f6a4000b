//! The v4 generation: TRTC's current REST API (`/v4/…`), PascalCase JSON, the Chat-style
//! envelope `{ActionStatus, ErrorInfo, ErrorCode, RequestId[, Response]}` and v4's error numbers,
//! mapped to and from the domain types of [`crate::api`].
//!
//! Guarantees: `RequestId` is `Id-<the request id>-O-Seq-<n>` with `n` counting this process's v4
//! answers; `Response` is present only on successes that return data; a record's fields come in
//! the documented order.

pub mod callbacks;

use std::sync::atomic::{AtomicU64, Ordering};

use callrec_domain::{CallResult, CallType, CallbackConfig, MediaType, Record, ResultFilter};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::{CallInfo, FilterParams, Outcome, Request, RobotCall, UserStatus, Wire};
use crate::failure::{Failure, FailureKind};
use crate::json::{self, opt_int, opt_str, opt_str_array, req_int, req_str};
use crate::ops::{Endpoint, Family, Generation, Operation};

/// Default `NumberPerPage`.
pub const DEFAULT_PER_PAGE: i64 = 10;

/// Shortest and longest ring time-out a call may ask for, milliseconds.
pub const RING_TIMEOUT_MS: std::ops::RangeInclusive<i64> = 10_000..=600_000;

/// Longest `UserData`, bytes.
pub const MAX_USER_DATA: usize = 1000;

/// The v4 mapping, with its answer counter.
#[derive(Debug, Default)]
pub struct V4 {
    seq: AtomicU64,
}

/// The v4 number of a failure kind at an endpoint of `family` (`None`: no endpoint matched).
/// The callback configuration APIs number field and internal errors on their own.
pub fn code(kind: FailureKind, family: Option<Family>) -> u32 {
    use FailureKind as K;
    let config = family == Some(Family::CallbackConfig);
    match kind {
        K::UnknownApi => 60009,
        K::MethodNotAllowed | K::BadQuery => 60002,
        K::BadAppIdParam => 60012,
        K::UnknownApp => 70020,
        K::SigMalformed => 70003,
        K::SigOtherIdentifier => 70013,
        K::SigOtherApp => 70014,
        K::SigBadSignature => 70009,
        K::SigExpired => 70001,
        K::NotAdmin | K::NotAllowed => 60010,
        K::NoPackage => 60020,
        K::RateLimited => 60007,
        K::BadBody => 60003,
        K::InvalidField if config => 100002,
        K::InvalidField => 101002,
        K::NotFound => 101050,
        K::CallNotActive => 101004,
        K::NoCallbackConfig => 100301,
        K::Internal if config => 100001,
        K::Internal => 101001,
    }
}

/// A `set_callback` body: `Url` and `CallbackCommandList` (≥ 1 of the v4 commands, duplicates
/// collapse). The URL itself is judged by the handler.
fn callback_config(body: &Map<String, Value>) -> Result<CallbackConfig, Failure> {
    let url = opt_str(body, "Url")?;
    let list = opt_str_array(body, "CallbackCommandList")?;
    let url = url.ok_or_else(|| Failure::invalid("Url is required"))?;
    let list = list.ok_or_else(|| Failure::invalid("CallbackCommandList is required"))?;
    if list.is_empty() {
        return Err(Failure::invalid(
            "CallbackCommandList must name at least one command",
        ));
    }
    let mut commands: Vec<String> = Vec::with_capacity(list.len());
    for c in list {
        if !callbacks::COMMANDS.contains(&c.as_str()) {
            return Err(Failure::invalid(format!(
                "{c:?} is not a callback command; use {}",
                callbacks::COMMANDS.join(", ")
            )));
        }
        if !commands.contains(&c) {
            commands.push(c);
        }
    }
    Ok(CallbackConfig {
        generation: Generation::V4,
        url: url.to_owned(),
        commands,
    })
}

#[derive(Serialize)]
struct CallbackResponse<'a> {
    #[serde(rename = "Url")]
    url: &'a str,
    #[serde(rename = "CallbackCommandList")]
    callback_command_list: &'a [String],
}

/// The v4 name of a media type.
pub fn media_name(m: MediaType) -> &'static str {
    match m {
        MediaType::Audio => "Audio",
        MediaType::Video => "Video",
    }
}

fn parse_media(text: &str, field: &str) -> Result<MediaType, Failure> {
    match text {
        "Audio" => Ok(MediaType::Audio),
        "Video" => Ok(MediaType::Video),
        _ => Err(Failure::invalid(format!(
            "{field} {text:?} is not Audio or Video"
        ))),
    }
}

/// The v4 name of a call type.
pub fn call_type_name(t: CallType) -> &'static str {
    match t {
        CallType::Single => "SingleCall",
        CallType::Group => "MultiCall",
    }
}

/// The v4 name of a call result (`Ongoing` is an extension of callrec's).
pub fn result_name(r: CallResult) -> &'static str {
    match r {
        CallResult::Cancel => "Cancel",
        CallResult::Reject => "Reject",
        CallResult::NotAnswer => "NotAnswer",
        CallResult::CallBusy => "CallBusy",
        CallResult::NormalEnd => "NormalEnd",
        CallResult::Interrupt => "Interrupt",
        CallResult::Ongoing => "Ongoing",
    }
}

/// A room id's type: the start's `roomIdType` when it gave one, else 1 for a TRTC numeric room
/// (digits only, no leading zero, 1–4294967295), 2 for any other non-empty id, 0 for none.
pub fn room_id_type(room_id: &str, given: Option<u8>) -> u8 {
    if let Some(t) = given {
        return t;
    }
    if room_id.is_empty() {
        return 0;
    }
    let numeric = room_id.bytes().all(|b| b.is_ascii_digit())
        && !room_id.starts_with('0')
        && room_id
            .parse::<u64>()
            .is_ok_and(|n| (1..=u64::from(u32::MAX)).contains(&n));
    if numeric { 1 } else { 2 }
}

/// A call record as v4 shows it (fields in the documented order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct V4Record<'a> {
    #[serde(rename = "CallId")]
    call_id: &'a str,
    #[serde(rename = "Caller_Account")]
    caller: &'a str,
    #[serde(rename = "MediaType")]
    media_type: &'static str,
    #[serde(rename = "CallType")]
    call_type: &'static str,
    #[serde(rename = "StartTime")]
    start_time: i64,
    #[serde(rename = "AcceptTime")]
    accept_time: i64,
    #[serde(rename = "EndTime")]
    end_time: i64,
    #[serde(rename = "CallResult")]
    call_result: &'static str,
    #[serde(rename = "CalleeList_Account")]
    callee_list: Vec<&'a str>,
    #[serde(rename = "RoomId")]
    room_id: &'a str,
    #[serde(rename = "RoomIdType")]
    room_id_type: u8,
}

impl<'a> From<&'a Record> for V4Record<'a> {
    fn from(r: &'a Record) -> Self {
        V4Record {
            call_id: &r.call_id,
            caller: &r.caller,
            media_type: media_name(r.media_type),
            call_type: call_type_name(r.call_type),
            start_time: r.start_secs(),
            accept_time: r.accept_secs(),
            end_time: r.end_secs(),
            call_result: result_name(r.result),
            // The caller first, as every TRTC v4 example shows.
            callee_list: std::iter::once(r.caller.as_str())
                .chain(r.callees.iter().map(String::as_str))
                .collect(),
            room_id: &r.room_id,
            room_id_type: room_id_type(&r.room_id, r.room_id_type),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "ActionStatus")]
    action_status: &'static str,
    #[serde(rename = "ErrorInfo")]
    error_info: &'a str,
    #[serde(rename = "ErrorCode")]
    error_code: u32,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
    #[serde(rename = "Response", skip_serializing_if = "Option::is_none")]
    response: Option<T>,
}

#[derive(Serialize)]
struct RecordResponse<'a> {
    #[serde(rename = "CallRecord")]
    call_record: V4Record<'a>,
}

#[derive(Serialize)]
struct FilterResponse<'a> {
    #[serde(rename = "TotalNum", skip_serializing_if = "Option::is_none")]
    total_num: Option<u64>,
    #[serde(rename = "Page")]
    page: u64,
    #[serde(rename = "CallRecordList")]
    call_record_list: Vec<V4Record<'a>>,
    #[serde(rename = "NextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
struct CallInfoResponse<'a> {
    #[serde(rename = "CallInfo")]
    call_info: CallInfoBody<'a>,
    #[serde(rename = "UserList")]
    user_list: Vec<UserEntry<'a>>,
}

#[derive(Serialize)]
struct CallInfoBody<'a> {
    #[serde(rename = "CallId")]
    call_id: &'a str,
    #[serde(rename = "MediaType")]
    media_type: &'static str,
    #[serde(rename = "ChatGroupId")]
    chat_group_id: &'a str,
    #[serde(rename = "RoomId")]
    room_id: &'a str,
    #[serde(rename = "RoomIdType")]
    room_id_type: u8,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    #[serde(rename = "User_Account")]
    user: &'a str,
    #[serde(rename = "Status")]
    status: &'static str,
}

#[derive(Serialize)]
struct CallIdResponse<'a> {
    #[serde(rename = "CallId")]
    call_id: &'a str,
}

impl V4 {
    fn request_id(&self, request_id: &str) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("Id-{request_id}-O-Seq-{seq}")
    }

    fn render<T: Serialize>(
        &self,
        code: u32,
        info: &str,
        request_id: &str,
        response: Option<T>,
    ) -> String {
        let env = Envelope {
            action_status: if code == 0 { "OK" } else { "FAIL" },
            error_info: info,
            error_code: code,
            request_id: &self.request_id(request_id),
            response,
        };
        // Serializing these plain structs cannot fail.
        serde_json::to_string(&env).unwrap_or_default()
    }
}

fn call_info_response(info: &CallInfo) -> CallInfoResponse<'_> {
    let r = &info.record;
    CallInfoResponse {
        call_info: CallInfoBody {
            call_id: &r.call_id,
            media_type: media_name(r.media_type),
            chat_group_id: &info.chat_group_id,
            room_id: &r.room_id,
            room_id_type: room_id_type(&r.room_id, r.room_id_type),
        },
        user_list: info
            .users
            .iter()
            .map(|(user, status)| UserEntry {
                user,
                status: match status {
                    UserStatus::Calling => "Calling",
                    UserStatus::Waiting => "Waiting",
                },
            })
            .collect(),
    }
}

impl Wire for V4 {
    fn generation(&self) -> Generation {
        Generation::V4
    }

    fn code(&self, kind: FailureKind, endpoint: Option<&'static Endpoint>) -> u32 {
        code(kind, endpoint.map(|e| e.family))
    }

    fn parse(
        &self,
        endpoint: &'static Endpoint,
        body: &Map<String, Value>,
    ) -> Result<Request, Failure> {
        let call_id =
            || -> Result<String, Failure> { Ok(json::call_id(body, "CallId")?.to_owned()) };
        match endpoint.operation {
            Operation::GetRecord => Ok(Request::GetRecord {
                call_id: call_id()?,
            }),
            Operation::GetCallInfo => Ok(Request::GetCallInfo {
                call_id: call_id()?,
            }),
            Operation::EndCall => Ok(Request::EndCall {
                call_id: call_id()?,
            }),
            Operation::FilterRecords => filter_params(body).map(Request::FilterRecords),
            Operation::StartCallByRobot => robot_call(body).map(Request::StartCallByRobot),
            Operation::SetCallback => callback_config(body).map(|config| Request::SetCallback {
                config,
                must_exist: false,
            }),
            Operation::GetCallback => Ok(Request::GetCallback(Generation::V4)),
            Operation::DeleteCallback => Ok(Request::DeleteCallback(Generation::V4)),
            Operation::ReportEvents
            | Operation::UpdateCallback
            | Operation::GetDeliveries
            | Operation::GetCallDetail
            | Operation::Export
            | Operation::GetStats
            | Operation::Redeliver => Err(Failure::new(FailureKind::UnknownApi, "not a v4 API")),
        }
    }

    fn success(&self, _endpoint: &'static Endpoint, outcome: &Outcome, request_id: &str) -> String {
        match outcome {
            Outcome::Record(r) => self.render(
                0,
                "",
                request_id,
                Some(RecordResponse {
                    call_record: V4Record::from(r),
                }),
            ),
            Outcome::Page(p) => self.render(
                0,
                "",
                request_id,
                Some(FilterResponse {
                    total_num: p.total,
                    // 0 on an empty page: clients page until Page is 0.
                    page: if p.records.is_empty() { 0 } else { p.page },
                    call_record_list: p.records.iter().map(V4Record::from).collect(),
                    next_cursor: p.next_cursor.as_deref(),
                }),
            ),
            Outcome::CallInfo(info) => {
                self.render(0, "", request_id, Some(call_info_response(info)))
            }
            Outcome::CallStarted { call_id } => {
                self.render(0, "", request_id, Some(CallIdResponse { call_id }))
            }
            Outcome::Callback(c) => self.render(
                0,
                "",
                request_id,
                Some(CallbackResponse {
                    url: &c.url,
                    callback_command_list: &c.commands,
                }),
            ),
            Outcome::Done
            | Outcome::Report(_)
            | Outcome::CallbackSet { .. }
            | Outcome::CallbackDeleted
            | Outcome::Deliveries { .. }
            | Outcome::CallDetail(_)
            | Outcome::Stats(_)
            | Outcome::Export { .. }
            | Outcome::Queued(_) => self.render::<()>(0, "", request_id, None),
        }
    }

    fn failure(&self, code: u32, message: &str, request_id: &str) -> String {
        self.render::<()>(code, message, request_id, None)
    }
}

/// A `get_record_by_filter` body: every field optional (types first).
fn filter_params(body: &Map<String, Value>) -> Result<FilterParams, Failure> {
    let start = opt_int(body, "StartTime")?;
    let end = opt_int(body, "EndTime")?;
    let result = opt_str(body, "CallResult")?;
    let call_type = opt_str(body, "CallType")?;
    let per_page = opt_int(body, "NumberPerPage")?;
    let page = opt_int(body, "Page")?;
    let with_cursor = json::opt_bool(body, "WithCursor")?;
    let cursor = opt_str(body, "Cursor")?;
    let with_total = json::opt_bool(body, "WithTotal")?;
    let (filter, order) = crate::filter_fields::parse(body, &crate::filter_fields::V4)?;

    let result = match result {
        None => ResultFilter::Ended,
        Some(text) => ResultFilter::Is(
            CallResult::ALL
                .into_iter()
                .find(|r| result_name(*r) == text)
                .ok_or_else(|| {
                    Failure::invalid(format!(
                        "CallResult {text:?} is not one of Cancel, Reject, NotAnswer, CallBusy, NormalEnd, Interrupt, Ongoing"
                    ))
                })?,
        ),
    };
    let call_type = call_type
        .map(|text| match text {
            "SingleCall" => Ok(CallType::Single),
            "MultiCall" => Ok(CallType::Group),
            _ => Err(Failure::invalid(format!(
                "CallType {text:?} is not SingleCall or MultiCall"
            ))),
        })
        .transpose()?;
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    let max = crate::records::MAX_PER_PAGE;
    if !(1..=max).contains(&per_page) {
        return Err(Failure::invalid(format!(
            "NumberPerPage must be 1-{max}, got {per_page}"
        )));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        return Err(Failure::invalid(format!(
            "Page must be at least 1, got {page}"
        )));
    }
    Ok(FilterParams {
        // Absent or 0: the retention window's start.
        start_secs: start.filter(|s| *s != 0),
        end_secs: end,
        result,
        call_type,
        per_page: u32::try_from(per_page).unwrap_or(1),
        page: u64::try_from(page).unwrap_or(1),
        field_names: ("StartTime", "EndTime"),
        with_cursor: with_cursor.unwrap_or(false) || cursor.is_some(),
        cursor: cursor.map(str::to_owned),
        with_total: with_total.unwrap_or(true),
        filter,
        order,
    })
}

/// A `start_call_by_robot` body.
fn robot_call(body: &Map<String, Value>) -> Result<RobotCall, Failure> {
    let robot = req_str(body, "Robot_Account")?;
    let callees = opt_str_array(body, "CalleeList_Account")?;
    let timeout = req_int(body, "Timeout")?;
    let info = match body.get("CallInfo") {
        None | Some(Value::Null) => return Err(Failure::invalid("CallInfo is required")),
        Some(Value::Object(info)) => info,
        Some(_) => return Err(Failure::bad_body("CallInfo must be an object")),
    };
    let media = req_str(info, "MediaType")?;
    let room_id = opt_str(info, "RoomId")?;
    let room_id_type = opt_int(info, "RoomIdType")?;
    let user_data = opt_str(body, "UserData")?;
    if let Some(push) = body.get("OfflinePushInfo")
        && !push.is_null()
        && !push.is_object()
    {
        return Err(Failure::bad_body("OfflinePushInfo must be an object"));
    }

    let callees = callees.ok_or_else(|| Failure::invalid("CalleeList_Account is required"))?;
    if !RING_TIMEOUT_MS.contains(&timeout) {
        return Err(Failure::invalid(format!(
            "Timeout must be {}-{} milliseconds, got {timeout}",
            RING_TIMEOUT_MS.start(),
            RING_TIMEOUT_MS.end()
        )));
    }
    let media_type = parse_media(media, "CallInfo.MediaType")?;
    let room_id_type = room_id_type
        .map(|t| match t {
            1 | 2 => Ok(u8::try_from(t).unwrap_or(2)),
            _ => Err(Failure::invalid(format!(
                "CallInfo.RoomIdType must be 1 or 2, got {t}"
            ))),
        })
        .transpose()?;
    if let Some(data) = user_data
        && data.len() > MAX_USER_DATA
    {
        return Err(Failure::invalid(format!(
            "UserData may hold at most {MAX_USER_DATA} bytes, got {}",
            data.len()
        )));
    }
    Ok(RobotCall {
        robot: robot.to_owned(),
        callees,
        ring_timeout_ms: timeout,
        media_type,
        room_id: room_id.map(str::to_owned),
        room_id_type,
        user_data: user_data.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_kind_has_its_v4_number() {
        let numbers: Vec<u32> = FailureKind::ALL.iter().map(|k| code(*k, None)).collect();
        assert_eq!(
            numbers,
            [
                60009, 60002, 60012, 60002, 70020, 70003, 70013, 70014, 70009, 70001, 60010, 60020,
                60007, 60003, 101002, 60010, 101050, 101004, 100301, 101001
            ]
        );
        // The callback configuration APIs number field and internal errors on their own.
        let config = Some(Family::CallbackConfig);
        assert_eq!(code(FailureKind::InvalidField, config), 100002);
        assert_eq!(code(FailureKind::Internal, config), 100001);
        assert_eq!(code(FailureKind::BadBody, config), 60003);
    }

    #[test]
    fn room_id_types() {
        assert_eq!(room_id_type("", None), 0);
        assert_eq!(room_id_type("123456", None), 1);
        assert_eq!(room_id_type("4294967295", None), 1);
        assert_eq!(room_id_type("4294967296", None), 2);
        assert_eq!(room_id_type("0123", None), 2);
        assert_eq!(room_id_type("0", None), 2);
        assert_eq!(room_id_type("room-1", None), 2);
        assert_eq!(room_id_type("123", Some(2)), 2);
    }

    #[test]
    fn envelopes_and_request_ids() {
        let v4 = V4::default();
        let id = "00112233445566778899aabbccddeeff";
        assert_eq!(
            v4.failure(60003, "bad", id),
            format!(
                r#"{{"ActionStatus":"FAIL","ErrorInfo":"bad","ErrorCode":60003,"RequestId":"Id-{id}-O-Seq-1"}}"#
            )
        );
        assert_eq!(
            v4.success(&crate::ops::ENDPOINTS[6], &Outcome::Done, id),
            format!(
                r#"{{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"RequestId":"Id-{id}-O-Seq-2"}}"#
            )
        );
    }
}
