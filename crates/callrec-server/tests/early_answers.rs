//! Answers decided before the body is read (bad query, bad UserSig, not an admin, unknown API)
//! must reach HTTP/2 clients that are still sending their body.
//!
//! The server used to answer such a request as soon as its headers arrived and then reset the
//! stream (`RST_STREAM(NO_ERROR)`) while the client was still sending; curl then drops the answer
//! (`curl: (92) Stream error in the HTTP/2 framing layer`). These tests speak HTTP/2 with the
//! `h2` client (so a reset is visible) and with curl itself.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{SDKAPPID, TestApp, spawn_app};
use serde_json::Value;

/// An HTTP/2 connection over TLS (ALPN `h2`) trusting only the test server's certificate.
async fn h2_connect(app: &TestApp) -> h2::client::SendRequest<Bytes> {
    let stream = common::raw::connect(app, b"h2").await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(conn);
    send
}

/// Sends `POST path?query` with the body in two pieces, a pause between them, and returns the
/// envelope. Panics if the server reset the stream while the body was still being sent.
async fn post_in_two_pieces(
    send: &mut h2::client::SendRequest<Bytes>,
    path_and_query: &str,
    body: &[u8],
) -> Value {
    let (first, rest) = body.split_at(body.len() / 2);
    let req = http::Request::post(format!("https://localhost{path_and_query}"))
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut stream) = ready.send_request(req, false).unwrap();
    stream
        .send_data(Bytes::copy_from_slice(first), false)
        .unwrap();
    // Time enough for a server that answers early to answer and reset.
    tokio::time::sleep(Duration::from_millis(20)).await;
    stream
        .send_data(Bytes::copy_from_slice(rest), true)
        .expect("the stream is still open while its body is being sent");
    let reset = tokio::time::timeout(
        Duration::from_millis(50),
        futures::future::poll_fn(|cx| stream.poll_reset(cx)),
    )
    .await;
    assert!(
        !matches!(reset, Ok(Ok(_))),
        "the server reset the stream while its body was being sent: {reset:?}"
    );
    let resp = response.await.expect("an answer on the stream");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn early_answers_arrive_on_http2_streams_still_sending_their_body() {
    let app = spawn_app().await;
    let mut send = h2_connect(&app).await;
    let body = serde_json::json!({"callId": "x".repeat(4000)}).to_string();
    let bad_sig = app.query_with(common::ADMIN, "not-a-usersig");
    let user_sig = app.query_for("alice");
    let cases: [(String, u64); 4] = [
        (format!("/v1/records/get_record_by_callId?{bad_sig}"), 70002),
        (
            format!("/v1/records/get_record_by_callId?sdkappid={SDKAPPID}"),
            70001,
        ),
        (
            format!("/v1/records/get_record_by_callId?{user_sig}"),
            70004,
        ),
        (format!("/v1/records/no_such_api?{bad_sig}"), 70001),
    ];
    for round in 0..15 {
        for (path, want) in &cases {
            let env = post_in_two_pieces(&mut send, path, body.as_bytes()).await;
            assert_eq!(env["errorCode"], *want, "round {round}, {path}: {env}");
        }
    }
    // The connection is still healthy for a request that succeeds.
    let good = format!(
        "/v1/records/get_records_by_filter?{}",
        app.query_for(common::ADMIN)
    );
    let env = post_in_two_pieces(&mut send, &good, br#"{"startTimestamp":0}"#).await;
    assert_eq!(env["errorCode"], 0, "{env}");
}

#[tokio::test]
async fn curl_over_http2_sees_every_early_answer() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        callrec_store_tests::print_skipped("curl is not installed (the h2 client test still runs)");
        return;
    }
    let app = spawn_app().await;
    let cert = app.data_dir().join("tls/cert.pem");
    let body = serde_json::json!({"callId": "x".repeat(60_000)}).to_string();
    let url = format!(
        "{}/v1/records/get_record_by_callId?{}",
        app.base_url,
        app.query_with(common::ADMIN, "bad")
    );
    let runs = 20;
    let mut failures = Vec::new();
    for _ in 0..runs {
        let out = tokio::process::Command::new("curl")
            .args(["-sS", "--http2", "--cacert"])
            .arg(&cert)
            .args(["-X", "POST", "--data-binary", &body, &url])
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let answered =
            serde_json::from_str::<Value>(&text).is_ok_and(|env| env["errorCode"] == 70002);
        if !out.status.success() || !answered {
            failures.push(format!(
                "{}: {} {text}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} curl runs lost the answer: {failures:?}",
        failures.len()
    );
}
