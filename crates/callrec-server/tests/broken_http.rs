//! Requests hyper cannot parse (a URI over 65 534 bytes, too many header fields, a malformed
//! head) are answered by hyper itself before the API runs. To an API path they must still carry
//! the generation's envelope (v1 `errorCode` 70001, v4 `ErrorCode` 60002) with hyper's HTTP
//! status; other paths keep hyper's empty answer; and the server carries on.

mod common;

use common::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

const V1_PATH: &str = "/v1/records/get_record_by_callId";
const V4_PATH: &str = "/v4/call_record_http_srv/get_record_by_callid";

/// A POST of a small body to `path_and_query` with `extra` header lines (each ending `\r\n`).
fn request(path_and_query: &str, extra: &str) -> String {
    let body = r#"{"callId":"c1"}"#;
    format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `raw` on a fresh connection and answers the status line and the body.
async fn exchange(app: &TestApp, raw: &str) -> (String, String) {
    let mut s = raw::connect(app, b"http/1.1").await;
    s.write_all(raw.as_bytes()).await.unwrap();
    let (head, body) = raw::read_answer(&mut s).await;
    (head.lines().next().unwrap().to_owned(), body)
}

/// The cases: a name, the request to `path` (with its query) and the HTTP status hyper gives.
fn broken(app: &TestApp, path: &str) -> Vec<(&'static str, String, &'static str)> {
    let query = app.query_for(ADMIN);
    let long_query = format!("{path}?{query}&pad={}", "a".repeat(70_000));
    let many_headers: String = (0..150).map(|i| format!("X-Pad-{i}: {i}\r\n")).collect();
    vec![
        ("URI too long", request(&long_query, ""), "414"),
        (
            "too many header fields",
            request(&format!("{path}?{query}"), &many_headers),
            "431",
        ),
        (
            "a header line without a colon",
            request(&format!("{path}?{query}"), "Not A Header\r\n"),
            "400",
        ),
        (
            "a space before the colon",
            request(&format!("{path}?{query}"), "X-Bad : 1\r\n"),
            "400",
        ),
        (
            "a bad HTTP version",
            request(&format!("{path}?{query}"), "").replacen("HTTP/1.1", "HTTP/9.Z", 1),
            "400",
        ),
    ]
}

#[tokio::test]
async fn hypers_own_answers_to_api_paths_carry_the_generations_envelope() {
    let app = spawn_app().await;
    app.report_all(&single_call(
        "kept",
        app.clock.now_ms() - 60_000,
        "normal_end",
    ))
    .await;
    let before = app.record("kept").await["data"].clone();
    assert!(before.is_object(), "{before}");
    for (path, field, code) in [(V1_PATH, "errorCode", 70001), (V4_PATH, "ErrorCode", 60002)] {
        for (name, raw, status) in broken(&app, path) {
            let (line, body) = exchange(&app, &raw).await;
            assert!(
                line.starts_with(&format!("HTTP/1.1 {status} ")),
                "{path}, {name}: {line}"
            );
            let env: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{path}, {name}: {e}: {body:?}"));
            assert_eq!(env[field], code, "{path}, {name}: {env}");
        }
    }
    // The server carries on, its data unchanged.
    assert_eq!(app.record("kept").await["data"], before);
}

#[tokio::test]
async fn a_broken_request_after_a_served_one_on_the_same_connection_gets_the_envelope() {
    let app = spawn_app().await;
    let mut s = raw::connect(&app, b"http/1.1").await;
    let ok = request(&format!("/healthz?{}", app.query_for(ADMIN)), "").replacen("POST", "GET", 1);
    s.write_all(ok.as_bytes()).await.unwrap();
    let (head, body) = raw::read_answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, "ok");
    let (_, raw, _) = broken(&app, V4_PATH).remove(1);
    s.write_all(raw.as_bytes()).await.unwrap();
    let (head, body) = raw::read_answer(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    let env: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(env["ErrorCode"], 60002, "{env}");
}

#[tokio::test]
async fn other_paths_keep_hypers_empty_answer() {
    let app = spawn_app().await;
    for (name, raw, status) in broken(&app, "/healthz") {
        let (line, body) = exchange(&app, &raw).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{name}: {line}"
        );
        assert_eq!(body, "", "{name}");
    }
    let env = app.call(V1_PATH, &json!({"callId": "absent"})).await;
    assert_eq!(code(&env), 101050, "{env}");
}
