//! Request bodies over real TLS (HTTP/1.1 spoken by hand, so the declared length can lie): a
//! `Content-Length` past the API's limit is answered 70009 at once, without waiting for bytes
//! that never come; the connection then serves nothing more, and the server answers the next
//! client normally.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

/// Sends only the head of a POST declaring `length` body bytes; answers the envelope and how
/// long it took.
async fn declare_only(app: &TestApp, path: &str, length: u64) -> (Value, Duration) {
    let mut s = raw::connect(app, b"http/1.1").await;
    let head = format!(
        "POST {path}?{} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        app.query_for(ADMIN)
    );
    let t = Instant::now();
    s.write_all(head.as_bytes()).await.unwrap();
    let (head, body) = raw::read_answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (serde_json::from_str(&body).unwrap(), t.elapsed())
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_at_once_and_the_server_carries_on() {
    let app = spawn_app().await;
    for (path, length) in [
        ("/v1/records/get_record_by_callId", 2 << 20),
        ("/v1/events/report", 9 << 20),
        ("/v4/call_record_http_srv/get_record_by_callid", 2 << 20),
    ] {
        let (env, took) = declare_only(&app, path, length).await;
        let code = env
            .get("errorCode")
            .or_else(|| env.get("ErrorCode"))
            .and_then(Value::as_u64)
            .unwrap();
        let want = if path.starts_with("/v4/") {
            60003
        } else {
            70009
        };
        assert_eq!(code, want, "{path}: {env}");
        assert!(
            took < Duration::from_secs(1),
            "{path}: answered after {took:?}"
        );
    }
    // The next, well-formed request is served as usual.
    app.report_all(&single_call("c1", app.clock.now_ms() - 60_000, "reject"))
        .await;
    let env = app.record("c1").await;
    assert_eq!(code(&env), 0, "{env}");
    assert_eq!(env["data"]["callResult"], json!("reject"));
}

/// Sends `raw` (a whole request) and answers the envelope of the answer.
async fn exchange(app: &TestApp, raw: &str) -> Value {
    let mut s = raw::connect(app, b"http/1.1").await;
    s.write_all(raw.as_bytes()).await.unwrap();
    serde_json::from_str(&raw::read_answer(&mut s).await.1).unwrap()
}

#[tokio::test]
async fn an_http1_request_without_host_is_refused_with_the_envelope() {
    let app = spawn_app().await;
    let body = r#"{"callId":"c1"}"#;
    for (path, field, want) in [
        ("/v1/records/get_record_by_callId", "errorCode", 70001),
        (
            "/v4/call_record_http_srv/get_record_by_callid",
            "ErrorCode",
            60002,
        ),
    ] {
        let raw = format!(
            "POST {path}?{} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            app.query_for(ADMIN),
            body.len()
        );
        let env = exchange(&app, &raw).await;
        assert_eq!(env[field], want, "{path}: {env}");
        // With a Host, the same request is served.
        let raw = raw.replacen("\r\n", "\r\nHost: localhost\r\n", 1);
        let env = exchange(&app, &raw).await;
        assert_ne!(env[field], want, "{path} with Host: {env}");
    }
}
