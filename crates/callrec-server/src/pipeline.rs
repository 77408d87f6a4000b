//! The request pipeline of every `/v1/{kind}/{command}` request: one handler that runs the
//! checks of docs/api.md in their documented order (first failure answers), then the API's handler.
//!
//! Guarantees: every `/v1/` response is HTTP 200, `Content-Type: application/json`, carries a
//! fresh 32-lowercase-hex `requestId` (also in `X-Request-Id`), and is logged once at INFO with
//! request_id, sdkappid, api, error_code and latency_ms — never the UserSig. The body is parsed
//! only after authentication, authorization and rate limiting passed, with a size limit. A request
//! refused before that still has its body read to the end (and discarded, up to the limit) before
//! the answer goes out: an HTTP/2 stream answered while the client is still sending would be reset,
//! and some clients (curl) then drop the answer. The whole request (including reading the body)
//! has a 3-second deadline (101001).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};

use crate::auth;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::wire::{self, ResponseData};

/// The whole-request deadline.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Body limit of the record APIs.
pub const BODY_LIMIT: usize = 1 << 20;

/// Body limit of `events/report`.
pub const REPORT_BODY_LIMIT: usize = 8 << 20;

/// The `/v1/` APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `POST /v1/records/get_record_by_callId`.
    GetRecordByCallId,
    /// `POST /v1/records/get_records_by_filter`.
    GetRecordsByFilter,
    /// `POST /v1/events/report`.
    ReportEvents,
}

impl Api {
    /// Every API.
    pub const ALL: [Api; 3] = [
        Api::GetRecordByCallId,
        Api::GetRecordsByFilter,
        Api::ReportEvents,
    ];

    /// The API at this path (case-sensitive), if any.
    pub fn from_path(path: &str) -> Option<Api> {
        match path {
            "/v1/records/get_record_by_callId" => Some(Api::GetRecordByCallId),
            "/v1/records/get_records_by_filter" => Some(Api::GetRecordsByFilter),
            "/v1/events/report" => Some(Api::ReportEvents),
            _ => None,
        }
    }

    /// Its name in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Api::GetRecordByCallId => "get_record_by_callId",
            Api::GetRecordsByFilter => "get_records_by_filter",
            Api::ReportEvents => "report_events",
        }
    }

    /// The record APIs are admin APIs gated by `group_call_package`.
    pub fn is_record_api(self) -> bool {
        matches!(self, Api::GetRecordByCallId | Api::GetRecordsByFilter)
    }

    fn body_limit(self) -> usize {
        if self == Api::ReportEvents {
            REPORT_BODY_LIMIT
        } else {
            BODY_LIMIT
        }
    }
}

/// The common query parameters of every `/v1/` request, parsed and range-checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiQuery {
    /// The app.
    pub sdkappid: u64,
    /// The calling user.
    pub identifier: String,
    /// Its UserSig (never log this).
    pub usersig: String,
    /// The client's random number (unused beyond validation).
    pub random: u32,
}

impl std::fmt::Debug for ApiQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiQuery")
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("usersig", &"[redacted]")
            .field("random", &self.random)
            .finish()
    }
}

/// Decimal digits only (no sign, no spaces), as TRTC sends them.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses the raw query string. Each of `sdkappid` (decimal u64), `identifier` (non-empty),
/// `usersig` (non-empty), `random` (decimal u32) and `contenttype` (= `json`) must appear exactly
/// once; other parameters are ignored. Any failure is 70001 naming the parameter.
pub fn parse_query(raw: Option<&str>) -> Result<ApiQuery, ApiError> {
    const NAMES: [&str; 5] = ["sdkappid", "identifier", "usersig", "random", "contenttype"];
    let mut values: [Option<Cow<'_, str>>; 5] = Default::default();
    // Split exactly as `form_urlencoded::parse` does (on `&`, skipping empty pairs, name and
    // value at the first `=`); a pair without `%` or `+` decodes to itself, so it is borrowed as
    // is, and only the others go through the decoder.
    for pair in raw.unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = if pair.bytes().any(|b| b == b'%' || b == b'+') {
            match form_urlencoded::parse(pair.as_bytes()).next() {
                Some(decoded) => decoded,
                None => continue,
            }
        } else {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (Cow::Borrowed(n), Cow::Borrowed(v))
        };
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            if values[i].is_some() {
                return Err(ApiError::invalid(format!(
                    "query parameter {name} appears more than once"
                )));
            }
            values[i] = Some(value);
        }
    }
    let mut take = |i: usize| {
        values[i]
            .take()
            .ok_or_else(|| ApiError::invalid(format!("query parameter {} is missing", NAMES[i])))
    };
    let sdkappid_text = take(0)?;
    let sdkappid = parse_decimal::<u64>(&sdkappid_text).ok_or_else(|| {
        ApiError::invalid("query parameter sdkappid must be a decimal unsigned 64-bit integer")
    })?;
    let identifier = take(1)?.into_owned();
    if identifier.is_empty() {
        return Err(ApiError::invalid("query parameter identifier is empty"));
    }
    let usersig = take(2)?.into_owned();
    if usersig.is_empty() {
        return Err(ApiError::invalid("query parameter usersig is empty"));
    }
    let random_text = take(3)?;
    let random = parse_decimal::<u32>(&random_text).ok_or_else(|| {
        ApiError::invalid("query parameter random must be a decimal integer in 0..=4294967295")
    })?;
    if take(4)? != "json" {
        return Err(ApiError::invalid(
            "query parameter contenttype must be json",
        ));
    }
    Ok(ApiQuery {
        sdkappid,
        identifier,
        usersig,
        random,
    })
}

/// A fresh request id: 128 random bits as 32 lowercase hex digits.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    (0..32)
        .rev()
        .map(|i| char::from(HEX[((bits >> (i * 4)) & 0xf) as usize]))
        .collect()
}

/// The handler of every `/v1/` path.
pub async fn handle_api(State(state): State<AppState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let api = Api::from_path(req.uri().path());
    let mut sdkappid = None;
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let body_limit = api.map_or(BODY_LIMIT, Api::body_limit);
    let work = async {
        let result = process(&state, api, &parts, &mut body, &mut sdkappid).await;
        if let Some(unread) = body.take() {
            discard_body(unread, declared_length(&parts), body_limit).await;
        }
        result
    };
    let result = match tokio::time::timeout(DEADLINE, work).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            ErrorCode::Internal,
            "the request did not complete within 3 seconds",
        )),
    };
    let (code, body) = match &result {
        Ok(data) => (
            ErrorCode::Success,
            wire::success_envelope(&request_id, data),
        ),
        Err(e) => (e.code, e.to_envelope(&request_id)),
    };
    let api_label = api.map_or("unknown", Api::label);
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_api_request(api, code, elapsed.as_secs_f64());
    tracing::info!(
        request_id = %request_id,
        sdkappid,
        api = api_label,
        error_code = code.as_u32(),
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "api request"
    );
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    resp
}

/// The `Content-Length` the client declared, if any.
fn declared_length(parts: &http::request::Parts) -> Option<u64> {
    parts
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a body nobody will parse to its end, keeping none of it, so the answer goes out on a
/// stream the client has finished. Gives up (and lets the stream be reset) past `limit` bytes, or
/// at once when the client declared more than that.
async fn discard_body(body: Body, declared: Option<u64>, limit: usize) {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|n| n > limit) {
        return;
    }
    let mut body = body;
    let mut seen: u64 = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
            if seen > limit {
                return;
            }
        }
    }
}

/// Runs the checks and the API. `body` is taken when the API reads it; a body still there
/// afterwards was never read.
async fn process(
    state: &AppState,
    api: Option<Api>,
    req: &http::request::Parts,
    body: &mut Option<Body>,
    log_sdkappid: &mut Option<u64>,
) -> Result<ResponseData, ApiError> {
    // 1. The API and the method.
    let Some(api) = api else {
        return Err(ApiError::invalid(format!(
            "unknown API {}; known: /v1/records/get_record_by_callId, /v1/records/get_records_by_filter, /v1/events/report",
            req.uri.path()
        )));
    };
    if req.method != Method::POST {
        return Err(ApiError::invalid(format!(
            "method {} is not allowed; use POST",
            req.method
        )));
    }
    // 2. Query parameters.
    let query = parse_query(req.uri.query())?;
    *log_sdkappid = Some(query.sdkappid);
    // 3, 4. UserSig.
    let (app, caller) = auth::authenticate(state, &query)?;
    // 5. Admin.
    if api.is_record_api() {
        auth::require_admin(&caller)?;
    }
    // 6. Group call package.
    if api.is_record_api() && !app.group_call_package {
        return Err(ApiError::code(ErrorCode::NoGroupCallPackage));
    }
    // 7. Rate limit.
    if !state.limits.check(query.sdkappid, api).await {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "rate limit of app {} for {} exceeded; retry later",
                query.sdkappid,
                api.label()
            ),
        ));
    }
    // 8. Body: read only now, so unauthenticated clients cannot make us buffer megabytes.
    let limit = api.body_limit();
    let Some(body) = body.take() else {
        return Err(ApiError::bad_body("request body could not be read"));
    };
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::bad_body(format!("request body is larger than {limit} bytes"))
            } else {
                ApiError::bad_body("request body could not be read")
            }
        })?
        .to_bytes();
    let obj = wire::parse_object(&body)?;
    // 9. Fields, then the API.
    match api {
        Api::GetRecordByCallId => crate::records::get_record_by_call_id(state, &caller, &obj).await,
        Api::GetRecordsByFilter => {
            crate::records::get_records_by_filter(state, &caller, &obj).await
        }
        Api::ReportEvents => crate::report::report_events(state, &caller, &obj).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "sdkappid=1400000001&identifier=administrator&usersig=abc&random=99&contenttype=json";

    fn code_of(q: &str) -> (ErrorCode, String) {
        let e = parse_query(Some(q)).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn good_query_parses_and_ignores_extra_parameters() {
        let q = parse_query(Some(&format!("{GOOD}&extra=1"))).unwrap();
        assert_eq!(q.sdkappid, 1_400_000_001);
        assert_eq!(q.identifier, "administrator");
        assert_eq!(q.usersig, "abc");
        assert_eq!(q.random, 99);
        let max = GOOD.replace("random=99", "random=4294967295");
        assert_eq!(parse_query(Some(&max)).unwrap().random, u32::MAX);
    }

    #[test]
    fn each_missing_parameter_is_70001_naming_it() {
        for name in ["sdkappid", "identifier", "usersig", "random", "contenttype"] {
            let q: Vec<&str> = GOOD
                .split('&')
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect();
            let (code, msg) = code_of(&q.join("&"));
            assert_eq!(code, ErrorCode::InvalidRequest);
            assert!(msg.contains(name), "{msg}");
        }
        assert_eq!(
            parse_query(None).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn each_malformed_or_repeated_parameter_is_70001_naming_it() {
        for (from, to, name) in [
            ("sdkappid=1400000001", "sdkappid=abc", "sdkappid"),
            ("sdkappid=1400000001", "sdkappid=-1", "sdkappid"),
            (
                "sdkappid=1400000001",
                "sdkappid=18446744073709551616",
                "sdkappid",
            ),
            ("sdkappid=1400000001", "sdkappid=", "sdkappid"),
            ("identifier=administrator", "identifier=", "identifier"),
            ("usersig=abc", "usersig=", "usersig"),
            ("random=99", "random=4294967296", "random"),
            ("random=99", "random=-1", "random"),
            ("random=99", "random=1.5", "random"),
            ("contenttype=json", "contenttype=JSON", "contenttype"),
            ("contenttype=json", "contenttype=xml", "contenttype"),
            ("random=99", "random=99&random=98", "random"),
            ("usersig=abc", "usersig=abc&usersig=abc", "usersig"),
        ] {
            let (code, msg) = code_of(&GOOD.replace(from, to));
            assert_eq!(code, ErrorCode::InvalidRequest, "{to}");
            assert!(msg.contains(name), "{to}: {msg}");
        }
    }

    #[test]
    fn encoded_pairs_decode_like_form_urlencoded() {
        for q in [
            "sdkappid=1400000001&identifier=a%2Bb+c&usersig=x%3D%3D&random=99&contenttype=json",
            "%73dkappid=1400000001&identifier=adm&&usersig=abc&random=99&contenttype=json&",
            "sdkappid=1400000001&identifier=x=y&usersig=abc&random=99&contenttype=json&flag",
            "sdkappid=1400000001&identifier=%FF%FE&usersig=a+b&random=99&contenttype=js%6Fn",
        ] {
            let got = parse_query(Some(q)).unwrap();
            let want: std::collections::HashMap<String, String> =
                form_urlencoded::parse(q.as_bytes())
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect();
            assert_eq!(want["identifier"], got.identifier, "{q}");
            assert_eq!(want["usersig"], got.usersig, "{q}");
        }
        let q = parse_query(Some(
            "sdkappid=1400000001&identifier=a%2Bb+c&usersig=x%3D%3D&random=99&contenttype=json",
        ))
        .unwrap();
        assert_eq!(q.identifier, "a+b c");
        assert_eq!(q.usersig, "x==");
        let q = parse_query(Some(
            "sdkappid=1400000001&identifier=x=y&usersig=%FF&random=99&contenttype=json",
        ))
        .unwrap();
        assert_eq!(q.identifier, "x=y");
        assert_eq!(q.usersig, "\u{fffd}");
        let (code, msg) = code_of(&format!("{GOOD}&%73dkappid=1"));
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert!(msg.contains("sdkappid"), "{msg}");
        let (code, msg) = code_of(&GOOD.replace("usersig=abc", "usersig="));
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert!(msg.contains("usersig"), "{msg}");
        let (code, _) = code_of(&GOOD.replace("usersig=abc", "usersig"));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn parameter_names_are_case_sensitive() {
        let (code, msg) = code_of(&GOOD.replace("sdkappid=", "SdkAppId="));
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert!(msg.contains("sdkappid"));
    }

    #[test]
    fn api_paths_are_case_sensitive() {
        assert_eq!(
            Api::from_path("/v1/records/get_record_by_callId"),
            Some(Api::GetRecordByCallId)
        );
        assert_eq!(Api::from_path("/v1/records/get_record_by_callid"), None);
        assert_eq!(Api::from_path("/v1/events/report/"), None);
    }

    #[test]
    fn request_ids_are_32_lowercase_hex() {
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(id, new_request_id());
    }
}
