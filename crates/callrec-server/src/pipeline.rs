//! The request pipeline of every API request of both generations: one generic handler that runs
//! the checks of docs/api.md in their documented order (the first failure answers), then the
//! operation's handler. It knows the operation table and the failure kinds, never a generation's
//! field names or numbers: those come from the [`Wire`] it is given.
//!
//! Guarantees: every answer is HTTP 200, `Content-Type: application/json`, carries a fresh
//! 32-lowercase-hex request id (also in `X-Request-Id`), and is logged once at INFO with
//! request_id, sdkappid, api, error_code and latency_ms — never the UserSig. The body is parsed
//! only after authentication, authorization and rate limiting passed, with a size limit. A request
//! refused before that still has its body read to the end (and discarded, up to the limit) before
//! the answer goes out: an HTTP/2 stream answered while the client is still sending would be reset,
//! and some clients (curl) then drop the answer. The whole request (including reading the body)
//! has a 3-second deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};

use crate::api::{Outcome, Request as ApiRequest, Wire};
use crate::auth::{self, Caller};
use crate::failure::{Failure, FailureKind};
use crate::ops::{self, BODY_LIMIT, Endpoint};
use crate::query::parse_query;
use crate::state::AppState;

/// The whole-request deadline.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// A fresh request id: 128 random bits as 32 lowercase hex digits.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    (0..32)
        .rev()
        .map(|i| char::from(HEX[((bits >> (i * 4)) & 0xf) as usize]))
        .collect()
}

/// Answers one API request of `wire`'s generation.
pub async fn handle(state: AppState, wire: Arc<dyn Wire>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let endpoint = ops::find(wire.generation(), req.uri().path());
    let mut sdkappid = None;
    let (parts, body) = req.into_parts();
    // Only an export's answer may be compressed.
    let gzip = endpoint.is_some_and(|e| e.operation == crate::ops::Operation::Export)
        && crate::export::accepts_gzip(&parts.headers);
    let mut body = Some(body);
    let body_limit = endpoint.map_or(BODY_LIMIT, |e| e.body_limit);
    let work = async {
        let result = process(&state, &*wire, endpoint, &parts, &mut body, &mut sdkappid).await;
        if let Some(unread) = body.take() {
            discard_body(unread, declared_length(&parts), body_limit).await;
        }
        result
    };
    let result = match tokio::time::timeout(DEADLINE, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureKind::Internal,
            "the request did not complete within 3 seconds",
        )),
    };
    let (kind, code, body) = match &result {
        Ok(outcome) => (
            None,
            0,
            // `Ok` only comes with an endpoint.
            endpoint.map_or_else(String::new, |e| wire.success(e, outcome, &request_id)),
        ),
        Err(f) => {
            let code = wire.code(f.kind, endpoint);
            (
                Some(f.kind),
                code,
                wire.failure(code, &f.message, &request_id),
            )
        }
    };
    let elapsed = started.elapsed();
    let export = match result {
        Ok(Outcome::Export { query, format }) => Some((query, format)),
        _ => None,
    };
    state.metrics.observe_api_request(
        wire.generation(),
        endpoint,
        kind,
        code,
        elapsed.as_secs_f64(),
    );
    tracing::info!(
        request_id = %request_id,
        sdkappid,
        api = endpoint.map_or("unknown", |e| e.name),
        error_code = code,
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "api request"
    );
    if let Some((query, format)) = export {
        return crate::export::response(&state, query, format, gzip, &request_id);
    }
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    resp
}

/// Reserves `bytes` of the global body budget (all of it at most), waiting for room.
async fn reserve(
    state: &AppState,
    bytes: usize,
) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
    let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    state
        .body_budget
        .acquire_many(kib.min(crate::state::BODY_BUDGET_KIB))
        .await
        .map_err(|_| Failure::new(FailureKind::Internal, "the server is shutting down"))
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

/// The TCP peer's address, put into every request's extensions by the connection (`serve.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Runs the checks and the operation. `body` is taken when the request's body is read; a body
/// still there afterwards was never read.
async fn process(
    state: &AppState,
    wire: &dyn Wire,
    endpoint: Option<&'static Endpoint>,
    req: &http::request::Parts,
    body: &mut Option<Body>,
    log_sdkappid: &mut Option<u64>,
) -> Result<Outcome, Failure> {
    // 1. The API and the method.
    let Some(endpoint) = endpoint else {
        let known: Vec<&str> = ops::of(wire.generation()).map(|e| e.path).collect();
        return Err(Failure::new(
            FailureKind::UnknownApi,
            format!(
                "unknown API {}; known: {}",
                req.uri.path(),
                known.join(", ")
            ),
        ));
    };
    if req.method != Method::POST {
        return Err(Failure::new(
            FailureKind::MethodNotAllowed,
            format!("method {} is not allowed; use POST", req.method),
        ));
    }
    // 2. Query parameters — and the request line's own: HTTP/1.1 requires `Host` (RFC 9112
    // §3.2); HTTP/2 carries the authority in its own field.
    if req.version == http::Version::HTTP_11 && !req.headers.contains_key(http::header::HOST) {
        return Err(Failure::new(
            FailureKind::BadQuery,
            "an HTTP/1.1 request needs a Host header",
        ));
    }
    let query = parse_query(req.uri.query())?;
    *log_sdkappid = Some(query.sdkappid);
    // 3, 4. UserSig.
    let (app, mut caller) = auth::authenticate(state, &query)?;
    caller.client_ip = req.extensions.get::<ClientAddr>().map(|a| a.0);
    // 5. Admin.
    if endpoint.admin_only {
        auth::require_admin(&caller)?;
    }
    // 6. Group call package.
    if endpoint.package_gated && !app.group_call_package {
        return Err(Failure::new(
            FailureKind::NoPackage,
            "the group call package is not enabled for this app; record APIs are unavailable",
        ));
    }
    // 7. Rate limit.
    if !state.limits.check(query.sdkappid, endpoint).await {
        return Err(Failure::new(
            FailureKind::RateLimited,
            format!(
                "rate limit of app {} for {} exceeded; retry later",
                query.sdkappid, endpoint.name
            ),
        ));
    }
    // 8. Body: read only now, so unauthenticated clients cannot make us buffer megabytes.
    let limit = endpoint.body_limit;
    let too_large = || Failure::bad_body(format!("request body is larger than {limit} bytes"));
    // A declared size past the limit is refused at once, without waiting for the bytes.
    let declared = declared_length(req);
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    // Room in the global body budget, held until the body is parsed: many large bodies at once
    // wait for each other instead of growing memory without bound. First for reading it (its
    // declared size, or the limit when the client declared none, twice: the pieces as they
    // arrive and their joined copy), then for what parsing it may take (`json::parse_cost`).
    let want = declared.map_or(limit, |n| usize::try_from(n).unwrap_or(limit));
    let _reading = reserve(state, want.saturating_mul(2)).await?;
    let Some(unread) = body.take() else {
        return Err(Failure::bad_body("request body could not be read"));
    };
    let bytes = Limited::new(unread, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                Failure::bad_body("request body could not be read")
            }
        })?
        .to_bytes();
    let _parsing = reserve(state, crate::json::parse_cost(&bytes)?).await?;
    let obj = crate::json::parse_object(&bytes)?;
    // 9. Fields, then the operation.
    let request = wire.parse(endpoint, &obj)?;
    run(state, &caller, request).await
}

/// Runs a validated request.
async fn run(state: &AppState, caller: &Caller, request: ApiRequest) -> Result<Outcome, Failure> {
    match request {
        ApiRequest::GetRecord { call_id } => {
            crate::records::get_record(state, caller, &call_id).await
        }
        ApiRequest::FilterRecords(params) => {
            crate::records::filter_records(state, caller, &params).await
        }
        ApiRequest::ReportEvents(events) => {
            crate::report::report_events(state, caller, events).await
        }
        ApiRequest::GetCallInfo { call_id } => {
            crate::engine::get_call_info(state, caller, &call_id).await
        }
        ApiRequest::EndCall { call_id } => crate::engine::end_call(state, caller, &call_id).await,
        ApiRequest::StartCallByRobot(call) => {
            crate::engine::start_call_by_robot(state, caller, call).await
        }
        ApiRequest::SetCallback { config, must_exist } => {
            crate::callbacks::set(state, caller, config, must_exist).await
        }
        ApiRequest::GetCallback(generation) => {
            crate::callbacks::get(state, caller, generation).await
        }
        ApiRequest::DeleteCallback(generation) => {
            crate::callbacks::delete(state, caller, generation).await
        }
        ApiRequest::Export { filter, format } => {
            crate::records::export(state, caller, &filter, format)
        }
        ApiRequest::GetStats { filter, bucket } => {
            crate::records::get_stats(state, caller, &filter, bucket).await
        }
        ApiRequest::GetCallDetail { call_id } => {
            crate::records::get_call_detail(state, caller, &call_id).await
        }
        ApiRequest::GetDeliveries(params) => {
            crate::callbacks::deliveries(state, caller, params).await
        }
        ApiRequest::Redeliver(which) => crate::callbacks::redeliver(state, caller, which).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
