//! The v1 wire format: TRTC's camelCase JSON shapes and their mapping to and from domain types.
//!
//! Guarantees: the envelope is `{"errorCode","errorMessage","requestId"[,"data"]}` in that order
//! with `data` only on success; a record's fields appear exactly in the documented order; request
//! bodies are typed by hand from [`serde_json::Value`] so that a wrong JSON type is told apart
//! from a bad value (70009 vs 70001), `null` counts as absent and unknown fields are ignored.

use callrec_domain::{Event, EventType, Record};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, T> {
    error_code: u32,
    error_message: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
}

/// Renders the v1 envelope; `data` is present only when given.
pub fn envelope<T: Serialize>(
    code: ErrorCode,
    message: &str,
    request_id: &str,
    data: Option<&T>,
) -> String {
    let env = Envelope {
        error_code: code.as_u32(),
        error_message: message,
        request_id,
        data,
    };
    // Serializing these plain structs cannot fail.
    serde_json::to_string(&env).unwrap_or_default()
}

/// Appends `s` as a JSON string exactly as `serde_json` writes it (it escapes only `"`, `\\` and
/// control characters; those rare strings go through `serde_json` itself).
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serializing a string cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

fn push_int(out: &mut String, n: impl std::fmt::Display) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = write!(out, "{n}");
}

/// Renders the success envelope of `data`: the same text as
/// `envelope(ErrorCode::Success, "Success", request_id, Some(data))`, with records written
/// straight into one pre-sized buffer.
pub fn success_envelope(request_id: &str, data: &ResponseData) -> String {
    let records = match data {
        ResponseData::Record(_) => 1,
        ResponseData::Filter(f) => f.call_record_list.len(),
        ResponseData::Report(_) => {
            return envelope(
                ErrorCode::Success,
                ErrorCode::Success.default_message(),
                request_id,
                Some(data),
            );
        }
    };
    let mut out = String::with_capacity(128 + 320 * records);
    out.push_str("{\"errorCode\":0,\"errorMessage\":");
    push_json_str(&mut out, ErrorCode::Success.default_message());
    out.push_str(",\"requestId\":");
    push_json_str(&mut out, request_id);
    out.push_str(",\"data\":");
    match data {
        ResponseData::Record(r) => r.write_json(&mut out),
        ResponseData::Filter(f) => {
            out.push_str("{\"totalNum\":");
            push_int(&mut out, f.total_num);
            out.push_str(",\"page\":");
            push_int(&mut out, f.page);
            out.push_str(",\"callRecordList\":[");
            for (i, r) in f.call_record_list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                r.write_json(&mut out);
            }
            out.push_str("]}");
        }
        ResponseData::Report(_) => {}
    }
    out.push('}');
    out
}

/// A call record as v1 shows it (fields in the documented order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRecord {
    call_id: String,
    sdk_app_id: u64,
    media_type: &'static str,
    room_id: String,
    start_call_ts: i64,
    accept_ts: i64,
    end_ts: i64,
    caller: String,
    total_user_number: u64,
    call_type: &'static str,
    call_result: &'static str,
    callees: Vec<String>,
}

impl WireRecord {
    /// Appends the record's JSON (the text `serde_json` writes for it).
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"callId\":");
        push_json_str(out, &self.call_id);
        out.push_str(",\"sdkAppId\":");
        push_int(out, self.sdk_app_id);
        out.push_str(",\"mediaType\":");
        push_json_str(out, self.media_type);
        out.push_str(",\"roomId\":");
        push_json_str(out, &self.room_id);
        out.push_str(",\"startCallTs\":");
        push_int(out, self.start_call_ts);
        out.push_str(",\"acceptTs\":");
        push_int(out, self.accept_ts);
        out.push_str(",\"endTs\":");
        push_int(out, self.end_ts);
        out.push_str(",\"caller\":");
        push_json_str(out, &self.caller);
        out.push_str(",\"totalUserNumber\":");
        push_int(out, self.total_user_number);
        out.push_str(",\"callType\":");
        push_json_str(out, self.call_type);
        out.push_str(",\"callResult\":");
        push_json_str(out, self.call_result);
        out.push_str(",\"callees\":[");
        for (i, c) in self.callees.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, c);
        }
        out.push_str("]}");
    }
}

impl From<&Record> for WireRecord {
    fn from(r: &Record) -> Self {
        WireRecord {
            call_id: r.call_id.clone(),
            sdk_app_id: r.sdkappid,
            media_type: r.media_type.as_str(),
            room_id: r.room_id.clone(),
            start_call_ts: r.start_secs(),
            accept_ts: r.accept_secs(),
            end_ts: r.end_secs(),
            caller: r.caller.clone(),
            total_user_number: r.total_user_number(),
            call_type: r.call_type.as_str(),
            call_result: r.result.as_str(),
            callees: r.callees.clone(),
        }
    }
}

/// `data` of `get_records_by_filter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterData {
    /// Matches on all pages.
    pub total_num: u64,
    /// The page asked for (echoed).
    pub page: u64,
    /// This page's records.
    pub call_record_list: Vec<WireRecord>,
}

/// One rejected event of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    /// Its index in the request's `events`.
    pub index: usize,
    /// 70001 or 70004.
    pub error_code: u32,
    /// Why.
    pub error_message: String,
}

/// `data` of `events/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportData {
    /// Events newly stored.
    pub accepted: u64,
    /// Events already stored (earlier or earlier in the same batch).
    pub duplicates: u64,
    /// Events refused, in index order.
    pub rejected: Vec<RejectedEvent>,
}

/// The `data` of a successful `/v1/` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ResponseData {
    /// `get_record_by_callId`.
    Record(WireRecord),
    /// `get_records_by_filter`.
    Filter(FilterData),
    /// `events/report`.
    Report(ReportData),
}

/// A problem with one body field: a wrong JSON type (70009 at the top level) or a bad value
/// (70001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The field has the wrong JSON type.
    WrongType(String),
    /// The field is missing or its value is invalid.
    Invalid(String),
}

impl FieldError {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            FieldError::WrongType(m) | FieldError::Invalid(m) => m,
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::WrongType(m) => ApiError::bad_body(m),
            FieldError::Invalid(m) => ApiError::invalid(m),
        }
    }
}

/// Parses a request body that must be a JSON object (else 70009).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body("request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_body("request body is not a JSON object")),
        Err(e) => Err(ApiError::bad_body(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

fn present<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

/// An optional string field.
pub fn opt_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::WrongType(format!("{name} must be a string"))),
    }
}

/// A required string field.
pub fn req_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    opt_str(obj, name)?.ok_or_else(|| FieldError::Invalid(format!("{name} is required")))
}

/// An optional integer field: a JSON integer (`1.5`, `1.0` and `"5"` are wrong types) that fits
/// an `i64` (larger ones are out of range).
pub fn opt_int(obj: &Map<String, Value>, name: &str) -> Result<Option<i64>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() {
                Err(FieldError::Invalid(format!("{name} is out of range")))
            } else {
                Err(FieldError::WrongType(format!("{name} must be an integer")))
            }
        }
        Some(_) => Err(FieldError::WrongType(format!("{name} must be an integer"))),
    }
}

/// A required integer field.
pub fn req_int(obj: &Map<String, Value>, name: &str) -> Result<i64, FieldError> {
    opt_int(obj, name)?.ok_or_else(|| FieldError::Invalid(format!("{name} is required")))
}

/// An optional array of strings.
pub fn opt_str_array(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(FieldError::WrongType(format!(
                    "{name}[{i}] must be a string"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(FieldError::WrongType(format!(
            "{name} must be an array of strings"
        ))),
    }
}

/// Maps one reported event (the fields of docs/api.md) to a domain [`Event`], without the semantic
/// checks of [`callrec_domain::validate_event`]. Any problem names the field.
pub fn parse_event(value: &Value) -> Result<Event, FieldError> {
    let Value::Object(obj) = value else {
        return Err(FieldError::WrongType("event must be a JSON object".into()));
    };
    let call_id = req_str(obj, "callId")?;
    let kind_text = req_str(obj, "type")?;
    let kind: EventType = kind_text.parse().map_err(|()| {
        FieldError::Invalid(format!(
            "type {kind_text:?} is not one of start, accept, reject, no_answer, busy, cancel, hangup, offline, invite, join"
        ))
    })?;
    let user_id = req_str(obj, "userId")?;
    let time_ms = req_int(obj, "time")?;
    let mut e = Event::new(call_id, kind, user_id, time_ms);
    e.event_id = opt_str(obj, "eventId")?.map(str::to_owned);
    e.callees = opt_str_array(obj, "callees")?.unwrap_or_default();
    if let Some(m) = opt_str(obj, "mediaType")? {
        e.media_type =
            Some(m.parse().map_err(|()| {
                FieldError::Invalid(format!("mediaType {m:?} is not audio or video"))
            })?);
    }
    if let Some(t) = opt_str(obj, "callType")? {
        e.call_type =
            Some(t.parse().map_err(|()| {
                FieldError::Invalid(format!("callType {t:?} is not single or group"))
            })?);
    }
    e.room_id = opt_str(obj, "roomId")?.map(str::to_owned);
    e.invitees = opt_str_array(obj, "invitees")?.unwrap_or_default();
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_domain::{CallResult, CallType, MediaType};

    fn obj(text: &str) -> Map<String, Value> {
        parse_object(text.as_bytes()).unwrap()
    }

    #[test]
    fn record_json_has_exact_fields_in_documented_order() {
        let r = Record {
            call_id: "2ae7d549-c441-4a9b-87c0-61810fe19582".into(),
            sdkappid: 1_400_000_001,
            media_type: MediaType::Video,
            room_id: "123456".into(),
            start_ms: 1_700_000_000_999,
            accept_ms: Some(1_700_000_005_500),
            end_ms: Some(1_700_000_060_001),
            caller: "alice".into(),
            call_type: CallType::Single,
            result: CallResult::NormalEnd,
            callees: vec!["bob1".into()],
        };
        assert_eq!(
            serde_json::to_string(&WireRecord::from(&r)).unwrap(),
            r#"{"callId":"2ae7d549-c441-4a9b-87c0-61810fe19582","sdkAppId":1400000001,"mediaType":"video","roomId":"123456","startCallTs":1700000000,"acceptTs":1700000005,"endTs":1700000060,"caller":"alice","totalUserNumber":2,"callType":"single","callResult":"normal_end","callees":["bob1"]}"#
        );
    }

    #[test]
    fn ongoing_never_connected_record_shows_zero_accept_and_end() {
        let r = Record {
            call_id: "c".into(),
            sdkappid: 1,
            media_type: MediaType::Audio,
            room_id: String::new(),
            start_ms: 5_000,
            accept_ms: None,
            end_ms: None,
            caller: "a".into(),
            call_type: CallType::Group,
            result: CallResult::Ongoing,
            callees: vec!["b".into(), "c".into()],
        };
        let json = serde_json::to_value(WireRecord::from(&r)).unwrap();
        assert_eq!(json["acceptTs"], 0);
        assert_eq!(json["endTs"], 0);
        assert_eq!(json["callResult"], "ongoing");
        assert_eq!(json["totalUserNumber"], 3);
    }

    #[test]
    fn success_envelope_puts_data_last() {
        let data = ResponseData::Report(ReportData {
            accepted: 1,
            duplicates: 0,
            rejected: vec![],
        });
        assert_eq!(
            envelope(ErrorCode::Success, "Success", "ab", Some(&data)),
            r#"{"errorCode":0,"errorMessage":"Success","requestId":"ab","data":{"accepted":1,"duplicates":0,"rejected":[]}}"#
        );
    }

    #[test]
    fn success_envelope_matches_serde_json_exactly() {
        let odd = Record {
            call_id: "q\"uo\\te\u{1}\n\t/é\u{7f}😀".into(),
            sdkappid: u64::MAX,
            media_type: MediaType::Audio,
            room_id: String::new(),
            start_ms: -1_500,
            accept_ms: None,
            end_ms: Some(i64::MAX),
            caller: "<script>".into(),
            call_type: CallType::Group,
            result: CallResult::Ongoing,
            callees: vec![],
        };
        let mut plain = odd.clone();
        plain.call_id = "2ae7d549-c441-4a9b-87c0-61810fe19582".into();
        plain.callees = vec!["bob".into(), "c\u{0}d".into(), String::new()];
        let datas = [
            ResponseData::Record(WireRecord::from(&odd)),
            ResponseData::Record(WireRecord::from(&plain)),
            ResponseData::Filter(FilterData {
                total_num: 7,
                page: 3,
                call_record_list: vec![],
            }),
            ResponseData::Filter(FilterData {
                total_num: u64::MAX,
                page: 1,
                call_record_list: vec![WireRecord::from(&plain), WireRecord::from(&odd)],
            }),
            ResponseData::Report(ReportData {
                accepted: 1,
                duplicates: 2,
                rejected: vec![RejectedEvent {
                    index: 0,
                    error_code: 70001,
                    error_message: "events[0]: \"x\"".into(),
                }],
            }),
        ];
        for data in &datas {
            for id in ["0123456789abcdef0123456789abcdef", "a\"b"] {
                assert_eq!(
                    success_envelope(id, data),
                    envelope(ErrorCode::Success, "Success", id, Some(data))
                );
            }
        }
    }

    #[test]
    fn body_that_is_empty_not_json_or_not_an_object_is_70009() {
        for body in ["", "  ", "{", "[]", "\"x\"", "5", "null"] {
            let err = parse_object(body.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadBody, "{body:?}");
        }
    }

    #[test]
    fn wrong_json_type_is_70009_and_missing_or_out_of_range_is_70001() {
        let code = |r: Result<i64, FieldError>| ApiError::from(r.unwrap_err()).code;
        assert_eq!(code(req_int(&obj(r#"{"n":1.5}"#), "n")), ErrorCode::BadBody);
        assert_eq!(code(req_int(&obj(r#"{"n":1.0}"#), "n")), ErrorCode::BadBody);
        assert_eq!(code(req_int(&obj(r#"{"n":"5"}"#), "n")), ErrorCode::BadBody);
        assert_eq!(code(req_int(&obj(r#"{}"#), "n")), ErrorCode::InvalidRequest);
        assert_eq!(
            code(req_int(&obj(r#"{"n":null}"#), "n")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(req_int(&obj(r#"{"n":18446744073709551615}"#), "n")),
            ErrorCode::InvalidRequest
        );
        assert_eq!(req_int(&obj(r#"{"n":-7,"x":[1]}"#), "n"), Ok(-7));
        let s = req_str(&obj(r#"{"s":5}"#), "s").unwrap_err();
        assert_eq!(ApiError::from(s).code, ErrorCode::BadBody);
        let a = opt_str_array(&obj(r#"{"a":["x",1]}"#), "a").unwrap_err();
        assert_eq!(ApiError::from(a).code, ErrorCode::BadBody);
    }

    #[test]
    fn event_fields_map_to_the_domain_event() {
        let v: Value = serde_json::from_str(
            r#"{"callId":"c","type":"start","userId":"alice","time":1000,"eventId":"e1",
                "callees":["bob"],"mediaType":"video","callType":"single","roomId":"r","extra":1}"#,
        )
        .unwrap();
        let e = parse_event(&v).unwrap();
        assert_eq!(e.kind, EventType::Start);
        assert_eq!(e.callees, vec!["bob"]);
        assert_eq!(e.media_type, Some(MediaType::Video));
        assert_eq!(e.call_type, Some(CallType::Single));
        assert_eq!(e.room_id.as_deref(), Some("r"));
        assert_eq!(e.event_id.as_deref(), Some("e1"));
        let bad: Value =
            serde_json::from_str(r#"{"callId":"c","type":"dance","userId":"a","time":1}"#).unwrap();
        assert!(parse_event(&bad).unwrap_err().message().contains("type"));
    }
}
