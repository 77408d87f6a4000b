//! The v1 generation: TRTC's camelCase JSON, the `{errorCode, errorMessage, requestId, data}`
//! envelope and v1's error numbers, mapped to and from the domain types of [`crate::api`].
//!
//! Guarantees: the envelope's keys come in that order with `data` only on success; a record's
//! fields appear exactly in the documented order; request bodies are typed by hand (a wrong JSON
//! type is a bad body, a bad value an invalid field).

pub mod callbacks;

use callrec_domain::{
    BucketStats, CallResult, CallType, CallbackConfig, Delivery, DeliveryStatus, Event, EventType,
    Record, Redeliver, ResultFilter, StatsBucket,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::{
    DeliveriesParams, FilterParams, Outcome, RecordPage, ReportOutcome, Request, Wire,
};
use crate::failure::{Failure, FailureKind};
use crate::json::{
    self, FieldError, opt_int, opt_str, opt_str_array, push_int, push_json_str, req_int, req_str,
};
use crate::ops::{Endpoint, Generation, Operation};

/// The message of every success.
const SUCCESS: &str = "Success";

/// Default `numberPerPage`.
pub const DEFAULT_PER_PAGE: i64 = 100;

/// The v1 mapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct V1;

/// The v1 number of a failure kind.
pub fn code(kind: FailureKind) -> u32 {
    use FailureKind as K;
    match kind {
        K::UnknownApi | K::MethodNotAllowed | K::BadAppIdParam | K::BadQuery | K::InvalidField => {
            70001
        }
        K::UnknownApp
        | K::SigMalformed
        | K::SigOtherIdentifier
        | K::SigOtherApp
        | K::SigBadSignature => 70002,
        K::SigExpired => 70003,
        K::NotAdmin | K::NotAllowed => 70004,
        K::NoPackage => 50001,
        K::RateLimited => 70005,
        K::BadBody => 70009,
        K::NotFound => 101050,
        K::CallNotActive => 101004,
        K::NoCallbackConfig => 999,
        K::Internal => 101001,
    }
}

/// Default and largest `limit` of `get_deliveries`.
pub const DELIVERIES_LIMIT: (i64, i64) = (100, 1000);

impl Wire for V1 {
    fn generation(&self) -> Generation {
        Generation::V1
    }

    fn code(&self, kind: FailureKind, _endpoint: Option<&'static Endpoint>) -> u32 {
        code(kind)
    }

    fn parse(
        &self,
        endpoint: &'static Endpoint,
        body: &Map<String, Value>,
    ) -> Result<Request, Failure> {
        match endpoint.operation {
            Operation::GetRecord => Ok(Request::GetRecord {
                call_id: json::call_id(body, "callId")?.to_owned(),
            }),
            Operation::FilterRecords => filter_params(body).map(Request::FilterRecords),
            Operation::ReportEvents => report_events(body).map(Request::ReportEvents),
            Operation::SetCallback | Operation::UpdateCallback => Ok(Request::SetCallback {
                config: callback_config(body)?,
                must_exist: endpoint.operation == Operation::UpdateCallback,
            }),
            Operation::GetCallback => Ok(Request::GetCallback(Generation::V1)),
            Operation::DeleteCallback => Ok(Request::DeleteCallback(Generation::V1)),
            Operation::Export => {
                let format = match opt_str(body, "format")? {
                    None | Some("ndjson") => crate::api::ExportFormat::Ndjson,
                    Some("csv") => crate::api::ExportFormat::Csv,
                    Some(other) => {
                        return Err(Failure::invalid(format!(
                            "format {other:?} is not ndjson or csv"
                        )));
                    }
                };
                Ok(Request::Export {
                    filter: filter_params(body)?,
                    format,
                })
            }
            Operation::GetStats => {
                let bucket = match opt_str(body, "bucket")? {
                    None | Some("day") => StatsBucket::Day,
                    Some("hour") => StatsBucket::Hour,
                    Some("all") => StatsBucket::All,
                    Some(other) => {
                        return Err(Failure::invalid(format!(
                            "bucket {other:?} is not hour, day or all"
                        )));
                    }
                };
                Ok(Request::GetStats {
                    filter: filter_params(body)?,
                    bucket,
                })
            }
            Operation::GetCallDetail => Ok(Request::GetCallDetail {
                call_id: json::call_id(body, "callId")?.to_owned(),
            }),
            Operation::GetDeliveries => deliveries_params(body).map(Request::GetDeliveries),
            Operation::Redeliver => redeliver(body).map(Request::Redeliver),
            Operation::GetCallInfo | Operation::EndCall | Operation::StartCallByRobot => {
                Err(Failure::new(FailureKind::UnknownApi, "not a v1 API"))
            }
        }
    }

    fn success(&self, _endpoint: &'static Endpoint, outcome: &Outcome, request_id: &str) -> String {
        let data = match outcome {
            Outcome::Record(r) => ResponseData::Record(WireRecord::from(r)),
            Outcome::Page(p) => ResponseData::Filter(FilterData::from(p)),
            Outcome::Report(r) => ResponseData::Report(ReportData::from(r)),
            Outcome::CallbackSet { url } => return envelope(0, SUCCESS, request_id, Some(url)),
            Outcome::Callback(c) => {
                let data = CallbackData {
                    actions: &c.commands,
                    address: &c.url,
                };
                return envelope(0, SUCCESS, request_id, Some(&data));
            }
            Outcome::CallbackDeleted => return envelope(0, SUCCESS, request_id, Some(&"")),
            Outcome::Deliveries {
                deliveries,
                next_cursor,
            } => {
                let data = DeliveriesData {
                    deliveries: deliveries.iter().map(WireDelivery::from).collect(),
                    next_cursor: next_cursor.as_deref(),
                };
                return envelope(0, SUCCESS, request_id, Some(&data));
            }
            Outcome::Export { .. } => return envelope::<()>(0, SUCCESS, request_id, None),
            Outcome::CallDetail(d) => {
                return envelope(0, SUCCESS, request_id, Some(&DetailData::from(&**d)));
            }
            Outcome::Stats(buckets) => {
                let data = StatsData {
                    buckets: buckets.iter().map(WireBucket::from).collect(),
                };
                return envelope(0, SUCCESS, request_id, Some(&data));
            }
            Outcome::Queued(n) => {
                return envelope(0, SUCCESS, request_id, Some(&QueuedData { queued: *n }));
            }
            Outcome::CallInfo(_) | Outcome::Done | Outcome::CallStarted { .. } => {
                return envelope::<()>(0, SUCCESS, request_id, None);
            }
        };
        success_envelope(request_id, &data)
    }

    fn failure(&self, code: u32, message: &str, request_id: &str) -> String {
        envelope::<()>(code, message, request_id, None)
    }
}

/// A `get_records_by_filter` body (types first: a wrong JSON type anywhere is a bad body before
/// any value is judged).
fn filter_params(body: &Map<String, Value>) -> Result<FilterParams, Failure> {
    let start = opt_int(body, "startTimestamp")?;
    let end = opt_int(body, "endTimestamp")?;
    let result = opt_str(body, "callResult")?;
    let call_type = opt_str(body, "callType")?;
    let per_page = opt_int(body, "numberPerPage")?;
    let page = opt_int(body, "page")?;
    let with_cursor = json::opt_bool(body, "withCursor")?;
    let cursor = opt_str(body, "cursor")?;
    let with_total = json::opt_bool(body, "withTotal")?;
    let (filter, order) = crate::filter_fields::parse(body, &crate::filter_fields::V1)?;

    let start = start.ok_or_else(|| Failure::invalid("startTimestamp is required"))?;
    let result = match result {
        None => ResultFilter::Ended,
        Some(text) => ResultFilter::Is(text.parse::<CallResult>().map_err(|()| {
            Failure::invalid(format!(
                "callResult {text:?} is not one of cancel, reject, not_answer, call_busy, normal_end, interrupt, ongoing"
            ))
        })?),
    };
    let call_type = call_type
        .map(|text| {
            text.parse::<CallType>()
                .map_err(|()| Failure::invalid(format!("callType {text:?} is not single or group")))
        })
        .transpose()?;
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    let max = crate::records::MAX_PER_PAGE;
    if !(1..=max).contains(&per_page) {
        return Err(Failure::invalid(format!(
            "numberPerPage must be 1-{max}, got {per_page}"
        )));
    }
    let page = page.unwrap_or(1);
    if page < 1 {
        return Err(Failure::invalid(format!(
            "page must be at least 1, got {page}"
        )));
    }
    Ok(FilterParams {
        start_secs: Some(start),
        end_secs: end,
        result,
        call_type,
        per_page: u32::try_from(per_page).unwrap_or(1),
        page: u64::try_from(page).unwrap_or(1),
        field_names: ("startTimestamp", "endTimestamp"),
        with_cursor: with_cursor.unwrap_or(false) || cursor.is_some(),
        cursor: cursor.map(str::to_owned),
        with_total: with_total.unwrap_or(true),
        filter,
        order,
    })
}

/// A `callback/set` or `callback/update` body: `address` and `actions` (≥ 1 command word,
/// duplicates collapse). The address itself is judged by the handler.
fn callback_config(body: &Map<String, Value>) -> Result<CallbackConfig, Failure> {
    let address = opt_str(body, "address")?;
    let actions = opt_str_array(body, "actions")?;
    let address = address.ok_or_else(|| Failure::invalid("address is required"))?;
    let actions = actions.ok_or_else(|| Failure::invalid("actions is required"))?;
    if actions.is_empty() {
        return Err(Failure::invalid("actions must name at least one command"));
    }
    let mut commands: Vec<String> = Vec::with_capacity(actions.len());
    for a in actions {
        if !callbacks::is_command(&a) {
            return Err(Failure::invalid(format!(
                "action {a:?} is not a callback command; see docs/callbacks.md for the list"
            )));
        }
        if !commands.contains(&a) {
            commands.push(a);
        }
    }
    Ok(CallbackConfig {
        generation: Generation::V1,
        url: address.to_owned(),
        commands,
    })
}

/// A `callback/get_deliveries` body.
fn deliveries_params(body: &Map<String, Value>) -> Result<DeliveriesParams, Failure> {
    let status = opt_str(body, "status")?;
    let call_id = match body.get("callId") {
        None | Some(Value::Null) => None,
        Some(_) => Some(json::call_id(body, "callId")?.to_owned()),
    };
    let limit = opt_int(body, "limit")?;
    let cursor = opt_str(body, "cursor")?;
    let status = status
        .map(|s| {
            s.parse::<DeliveryStatus>().map_err(|()| {
                Failure::invalid(format!(
                    "status {s:?} is not one of pending, delivered, failed"
                ))
            })
        })
        .transpose()?;
    let (default, max) = DELIVERIES_LIMIT;
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Failure::invalid(format!(
            "limit must be 1-{max}, got {limit}"
        )));
    }
    Ok(DeliveriesParams {
        status,
        call_id,
        limit: u32::try_from(limit).unwrap_or(1),
        cursor: cursor.map(str::to_owned),
    })
}

/// A `callback/redeliver` body: `ids`, or `status: "failed"` with `sinceMs`.
fn redeliver(body: &Map<String, Value>) -> Result<Redeliver, Failure> {
    let ids = opt_str_array(body, "ids")?;
    let status = opt_str(body, "status")?;
    let since = opt_int(body, "sinceMs")?;
    if let Some(ids) = ids {
        if status.is_some() || since.is_some() {
            return Err(Failure::invalid(
                "give either ids, or status and sinceMs, not both",
            ));
        }
        let max = DELIVERIES_LIMIT.1 as usize;
        if ids.is_empty() || ids.len() > max {
            return Err(Failure::invalid(format!(
                "ids must hold 1-{max} ids, got {}",
                ids.len()
            )));
        }
        return Ok(Redeliver::Ids(ids));
    }
    match (status, since) {
        (Some("failed"), Some(t)) if t >= 0 => Ok(Redeliver::FailedSince(t)),
        (Some("failed"), Some(t)) => Err(Failure::invalid(format!(
            "sinceMs must not be negative, got {t}"
        ))),
        (Some("failed"), None) => Err(Failure::invalid("sinceMs is required with status")),
        (Some(s), _) => Err(Failure::invalid(format!(
            "status {s:?} cannot be redelivered in bulk; only \"failed\""
        ))),
        (None, _) => Err(Failure::invalid(
            "give ids, or status \"failed\" and sinceMs",
        )),
    }
}

#[derive(Serialize)]
struct CallbackData<'a> {
    actions: &'a [String],
    address: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveriesData<'a> {
    deliveries: Vec<WireDelivery<'a>>,
    next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDelivery<'a> {
    id: &'a str,
    generation: &'static str,
    command: &'a str,
    call_id: &'a str,
    url: &'a str,
    status: &'static str,
    attempts: u32,
    created_ms: i64,
    last_attempt_ms: Option<i64>,
    next_attempt_ms: Option<i64>,
    last_error: Option<&'a str>,
}

impl<'a> From<&'a Delivery> for WireDelivery<'a> {
    fn from(d: &'a Delivery) -> Self {
        WireDelivery {
            id: &d.callback.id,
            generation: d.callback.generation.as_str(),
            command: &d.callback.command,
            call_id: &d.callback.call_id,
            url: &d.callback.url,
            status: d.status.as_str(),
            attempts: d.attempts,
            created_ms: d.callback.created_ms,
            last_attempt_ms: d.last_attempt_ms,
            next_attempt_ms: d.next_attempt_ms,
            last_error: d.last_error.as_deref(),
        }
    }
}

/// `data` of `get_stats`.
#[derive(Serialize)]
struct StatsData {
    buckets: Vec<WireBucket>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireBucket {
    start_ts: i64,
    total: u64,
    connected: u64,
    answer_rate: f64,
    /// Every ended result, in the record's names, zeros included.
    by_result: serde_json::Map<String, Value>,
    talk_secs: u64,
    avg_talk_secs: f64,
}

impl From<&BucketStats> for WireBucket {
    fn from(b: &BucketStats) -> Self {
        let by_result = CallResult::ALL
            .iter()
            .zip(b.by_result)
            .filter(|(r, _)| **r != CallResult::Ongoing)
            .map(|(r, n)| (r.as_str().to_owned(), Value::from(n)))
            .collect();
        WireBucket {
            start_ts: b.start_secs,
            total: b.total,
            connected: b.connected,
            answer_rate: b.answer_rate(),
            by_result,
            talk_secs: b.talk_secs,
            avg_talk_secs: b.avg_talk_secs(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailData<'a> {
    record: WireRecord,
    user_data: Option<&'a str>,
    participants: Vec<WireParticipant<'a>>,
    events: Vec<WireEvent<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireParticipant<'a> {
    user_id: &'a str,
    role: &'static str,
    invited_ms: i64,
    connected_ms: i64,
    left_ms: i64,
    talk_secs: i64,
    outcome: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user_id: &'a str,
    time: i64,
    event_id: Option<&'a str>,
    effective: bool,
}

impl<'a> From<&'a callrec_domain::CallDetail> for DetailData<'a> {
    fn from(d: &'a callrec_domain::CallDetail) -> Self {
        DetailData {
            record: WireRecord::from(&d.state.record),
            user_data: d.state.user_data.as_deref(),
            participants: d
                .participants
                .iter()
                .map(|p| WireParticipant {
                    user_id: &p.user_id,
                    role: match p.role {
                        callrec_domain::Role::Caller => "caller",
                        callrec_domain::Role::Callee => "callee",
                    },
                    invited_ms: p.invited_ms,
                    connected_ms: p.connected_ms.unwrap_or(0),
                    left_ms: p.left_ms.unwrap_or(0),
                    talk_secs: p.talk_ms.div_euclid(1000),
                    outcome: p.outcome.as_str(),
                })
                .collect(),
            events: d
                .events
                .iter()
                .map(|e| WireEvent {
                    kind: e.event.kind.as_str(),
                    user_id: &e.event.user_id,
                    time: e.event.time_ms,
                    event_id: e.event.event_id.as_deref(),
                    effective: e.effective,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct QueuedData {
    queued: u64,
}

/// An `events/report` body: 1–1000 events, each parsed on its own.
fn report_events(body: &Map<String, Value>) -> Result<Vec<Result<Event, String>>, Failure> {
    let events = match body.get("events") {
        None | Some(Value::Null) => return Err(Failure::invalid("events is required")),
        Some(Value::Array(events)) => events,
        Some(_) => return Err(Failure::bad_body("events must be an array")),
    };
    let max = crate::report::MAX_EVENTS;
    if events.is_empty() || events.len() > max {
        return Err(Failure::invalid(format!(
            "events must hold 1-{max} events, got {}",
            events.len()
        )));
    }
    Ok(events
        .iter()
        .map(|v| parse_event(v).map_err(|e| e.message().to_owned()))
        .collect())
}

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
    code: u32,
    message: &str,
    request_id: &str,
    data: Option<&T>,
) -> String {
    let env = Envelope {
        error_code: code,
        error_message: message,
        request_id,
        data,
    };
    // Serializing these plain structs cannot fail.
    serde_json::to_string(&env).unwrap_or_default()
}

/// Renders the success envelope of `data`: the same text as
/// `envelope(0, "Success", request_id, Some(data))`, with records written
/// straight into one pre-sized buffer.
pub fn success_envelope(request_id: &str, data: &ResponseData) -> String {
    let records = match data {
        ResponseData::Record(_) => 1,
        ResponseData::Filter(f) => f.call_record_list.len(),
        ResponseData::Report(_) => {
            return envelope(0, SUCCESS, request_id, Some(data));
        }
    };
    let mut out = String::with_capacity(128 + 320 * records);
    out.push_str("{\"errorCode\":0,\"errorMessage\":");
    push_json_str(&mut out, SUCCESS);
    out.push_str(",\"requestId\":");
    push_json_str(&mut out, request_id);
    out.push_str(",\"data\":");
    match data {
        ResponseData::Record(r) => r.write_json(&mut out),
        ResponseData::Filter(f) => {
            out.push('{');
            if let Some(total) = f.total_num {
                out.push_str("\"totalNum\":");
                push_int(&mut out, total);
                out.push(',');
            }
            out.push_str("\"page\":");
            push_int(&mut out, f.page);
            out.push_str(",\"callRecordList\":[");
            for (i, r) in f.call_record_list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                r.write_json(&mut out);
            }
            out.push(']');
            if let Some(c) = &f.next_cursor {
                out.push_str(",\"nextCursor\":");
                push_json_str(&mut out, c);
            }
            out.push('}');
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
    pub(crate) fn write_json(&self, out: &mut String) {
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

/// The CSV header of `export`: the record's fields in their documented order.
pub const CSV_HEADER: &str = "callId,sdkAppId,mediaType,roomId,startCallTs,acceptTs,endTs,caller,\
totalUserNumber,callType,callResult,callees\n";

/// One CSV field, quoted when it holds a comma, a quote or a line break.
fn push_csv(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

impl WireRecord {
    /// Appends the record as one CSV line (callees joined by `;`).
    pub(crate) fn write_csv(&self, out: &mut String) {
        push_csv(out, &self.call_id);
        out.push(',');
        push_int(out, self.sdk_app_id);
        out.push(',');
        push_csv(out, self.media_type);
        out.push(',');
        push_csv(out, &self.room_id);
        for n in [self.start_call_ts, self.accept_ts, self.end_ts] {
            out.push(',');
            push_int(out, n);
        }
        out.push(',');
        push_csv(out, &self.caller);
        out.push(',');
        push_int(out, self.total_user_number);
        out.push(',');
        push_csv(out, self.call_type);
        out.push(',');
        push_csv(out, self.call_result);
        out.push(',');
        push_csv(out, &self.callees.join(";"));
        out.push('\n');
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

impl From<&RecordPage> for FilterData {
    fn from(p: &RecordPage) -> Self {
        FilterData {
            total_num: p.total,
            page: p.page,
            call_record_list: p.records.iter().map(WireRecord::from).collect(),
            next_cursor: p.next_cursor.clone(),
        }
    }
}

impl From<&ReportOutcome> for ReportData {
    fn from(r: &ReportOutcome) -> Self {
        ReportData {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected: r
                .rejected
                .iter()
                .map(|x| RejectedEvent {
                    index: x.index,
                    error_code: code(x.kind),
                    error_message: x.message.clone(),
                })
                .collect(),
        }
    }
}

/// `data` of `get_records_by_filter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterData {
    /// Matches on all pages (absent when the request said `withTotal: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_num: Option<u64>,
    /// The page asked for (echoed).
    pub page: u64,
    /// This page's records.
    pub call_record_list: Vec<WireRecord>,
    /// In cursor mode, the next page's cursor (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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
            "type {kind_text:?} is not one of start, accept, reject, no_answer, busy, cancel, hangup, offline, invite, join, end"
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
    e.ring_timeout_ms = opt_int(obj, "ringTimeoutMs")?;
    e.room_id_type = opt_int(obj, "roomIdType")?
        .map(|t| {
            u8::try_from(t)
                .ok()
                .filter(|t| matches!(t, 1 | 2))
                .ok_or_else(|| FieldError::Invalid(format!("roomIdType must be 1 or 2, got {t}")))
        })
        .transpose()?;
    e.chat_group_id = opt_str(obj, "chatGroupId")?.map(str::to_owned);
    e.user_data = opt_str(obj, "userData")?.map(str::to_owned);
    e.platform = opt_str(obj, "platform")?.map(str::to_owned);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ENDPOINTS;
    use callrec_domain::{CallResult, CallType, MediaType};

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
            room_id_type: None,
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
            room_id_type: None,
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
            envelope(0, "Success", "ab", Some(&data)),
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
            room_id_type: None,
        };
        let mut plain = odd.clone();
        plain.call_id = "2ae7d549-c441-4a9b-87c0-61810fe19582".into();
        plain.callees = vec!["bob".into(), "c\u{0}d".into(), String::new()];
        let datas = [
            ResponseData::Record(WireRecord::from(&odd)),
            ResponseData::Record(WireRecord::from(&plain)),
            ResponseData::Filter(FilterData {
                total_num: Some(7),
                page: 3,
                call_record_list: vec![],
                next_cursor: None,
            }),
            ResponseData::Filter(FilterData {
                total_num: Some(u64::MAX),
                page: 1,
                call_record_list: vec![WireRecord::from(&plain), WireRecord::from(&odd)],
                next_cursor: Some("a\"b.c".into()),
            }),
            ResponseData::Filter(FilterData {
                total_num: None,
                page: 2,
                call_record_list: vec![WireRecord::from(&plain)],
                next_cursor: Some("xyz".into()),
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
                    envelope(0, "Success", id, Some(data))
                );
            }
        }
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

    #[test]
    fn every_failure_kind_has_its_v1_number() {
        let numbers: Vec<u32> = FailureKind::ALL.iter().map(|k| code(*k)).collect();
        assert_eq!(
            numbers,
            [
                70001, 70001, 70001, 70001, 70002, 70002, 70002, 70002, 70002, 70003, 70004, 50001,
                70005, 70009, 70001, 70004, 101050, 101004, 999, 101001
            ]
        );
    }

    #[test]
    fn error_envelope_has_no_data_key() {
        assert_eq!(
            V1.failure(70001, "bad thing", "00112233445566778899aabbccddeeff"),
            r#"{"errorCode":70001,"errorMessage":"bad thing","requestId":"00112233445566778899aabbccddeeff"}"#
        );
    }

    #[test]
    fn filter_defaults_and_ranges() {
        let ep = &ENDPOINTS[1];
        let parse = |body: &str| V1.parse(ep, &crate::json::parse_object(body.as_bytes()).unwrap());
        let Ok(Request::FilterRecords(p)) = parse(r#"{"startTimestamp":5}"#) else {
            panic!("parses");
        };
        assert_eq!(
            (p.start_secs, p.end_secs, p.per_page, p.page),
            (Some(5), None, 100, 1)
        );
        assert_eq!(p.result, ResultFilter::Ended);
        for bad in [
            r#"{}"#,
            r#"{"startTimestamp":5,"numberPerPage":0}"#,
            r#"{"startTimestamp":5,"numberPerPage":1001}"#,
            r#"{"startTimestamp":5,"page":0}"#,
            r#"{"startTimestamp":5,"callResult":"Cancel"}"#,
            r#"{"startTimestamp":5,"callType":"SingleCall"}"#,
        ] {
            assert_eq!(
                parse(bad).unwrap_err().kind,
                FailureKind::InvalidField,
                "{bad}"
            );
        }
        assert_eq!(
            parse(r#"{"startTimestamp":"5"}"#).unwrap_err().kind,
            FailureKind::BadBody
        );
    }
}
