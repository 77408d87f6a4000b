//! Every API's request body parser, both generations: the body as the pipeline reads it
//! (`json::parse_object`, then the generation's `Wire::parse` for the endpoint). One target for
//! all endpoints: the first byte picks the endpoint (`ops::ENDPOINTS[byte % 20]`, v1 and v4), the
//! rest is the body.
//!
//! - a body that is not a JSON object fails as a bad body (70009 / 60003), even with an integer
//!   too large for a float in it (this target's first finding);
//! - a parse fails only as a bad body (a wrong JSON type) or an invalid field, never as another
//!   kind and never with an empty message, and its error envelope, rendered by the endpoint's
//!   generation, is JSON carrying that code and message;
//! - what parses is in range: pages of 1–1000 records from page 1 on, 1–1000 events.

use callrec_server::api::{Request, Wire};
use callrec_server::json::parse_object;
use callrec_server::ops::{ENDPOINTS, Endpoint, Generation};
use callrec_server::v1::V1;
use callrec_server::v4::V4;
use callrec_server::{Failure, FailureKind};
use serde_json::Value;

/// One input (see the module docs).
pub fn run(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let endpoint = &ENDPOINTS[usize::from(pick) % ENDPOINTS.len()];
    let (v1, v4) = (V1, V4::default());
    let wire: &dyn Wire = match endpoint.generation {
        Generation::V1 => &v1,
        Generation::V4 => &v4,
    };
    let parsed = match parse_object(body) {
        Ok(obj) => wire.parse(endpoint, &obj),
        Err(f) => {
            // The one field problem found before the body is read: an integer literal too large
            // even for a float (which serde_json refuses), in a body that is otherwise an object.
            let huge = f.kind == FailureKind::InvalidField
                && f.message
                    .starts_with("an integer in the request body is out of range")
                && serde_json::from_slice::<Value>(body).is_err();
            assert!(f.kind == FailureKind::BadBody || huge, "{f:?}");
            Err(f)
        }
    };
    match parsed {
        Ok(request) => check_request(endpoint, &request),
        Err(f) => check_failure(wire, endpoint, &f),
    }
}

fn check_request(endpoint: &Endpoint, request: &Request) {
    let filter = match request {
        Request::FilterRecords(p)
        | Request::Export { filter: p, .. }
        | Request::GetStats { filter: p, .. } => Some(p),
        _ => None,
    };
    if let Some(p) = filter {
        assert!((1..=1000).contains(&p.per_page), "{}: {p:?}", endpoint.name);
        assert!(p.page >= 1, "{}: {p:?}", endpoint.name);
    }
    if let Request::ReportEvents(events) = request {
        assert!((1..=1000).contains(&events.len()), "{}", endpoint.name);
    }
}

fn check_failure(wire: &dyn Wire, endpoint: &'static Endpoint, f: &Failure) {
    assert!(
        matches!(f.kind, FailureKind::BadBody | FailureKind::InvalidField),
        "{}: {f:?}",
        endpoint.name
    );
    assert!(!f.message.is_empty(), "{}: {f:?}", endpoint.name);
    let code = wire.code(f.kind, Some(endpoint));
    let text = wire.failure(code, &f.message, "00000000000000000000000000000000");
    let envelope: Value = serde_json::from_str(&text).expect("the error envelope is JSON");
    let (code_key, message_key) = match endpoint.generation {
        Generation::V1 => ("errorCode", "errorMessage"),
        Generation::V4 => ("ErrorCode", "ErrorInfo"),
    };
    assert_eq!(envelope[code_key], code, "{text}");
    assert_eq!(envelope[message_key], f.message.as_str(), "{text}");
}
