//! `[limits]` over real TLS with HTTP spoken by hand: a connection that says nothing, a partial
//! request line, a head sent one byte at a time and an HTTP/2 connection without its preface are
//! dropped after the header-read time-out; a kept-alive connection may stay silent longer than
//! that (up to the idle time-out) and still be used; past the connection cap a new client waits
//! until a slot frees.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

fn config(max_connections: u32) -> TestConfig {
    TestConfig {
        extra: format!(
            "[limits]\nmax_connections = {max_connections}\nheader_read_timeout_ms = 400\nidle_timeout_secs = 2\n"
        ),
        ..TestConfig::default()
    }
}

/// Waits until the server closes the connection (a read answers 0 bytes or an error); answers
/// how long that took from `since`. Panics after `within`.
async fn closed_within(s: &mut TlsStream<TcpStream>, since: Instant, within: Duration) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Err(_) => panic!("still open after {within:?}"),
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// One keep-alive request on `s`; answers the response's status line.
async fn request(app: &TestApp, s: &mut TlsStream<TcpStream>) -> String {
    let body = r#"{"callId":"none"}"#;
    let head = format!(
        "POST /v1/records/get_record_by_callId?{} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        app.query_for(ADMIN),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (head, _) = raw::read_answer(s).await;
    head.lines().next().unwrap().to_owned()
}

#[tokio::test]
async fn silent_partial_and_slow_heads_are_dropped_after_the_header_time_out() {
    let app = spawn_app_with(config(100)).await;
    // Says nothing after the handshake.
    let mut s = raw::connect(&app, b"http/1.1").await;
    let took = closed_within(&mut s, Instant::now(), Duration::from_secs(3)).await;
    assert!(took < Duration::from_millis(1500), "silent: {took:?}");
    // A partial request line.
    let mut s = raw::connect(&app, b"http/1.1").await;
    s.write_all(b"POST /v1/records/get_rec").await.unwrap();
    let took = closed_within(&mut s, Instant::now(), Duration::from_secs(3)).await;
    assert!(took < Duration::from_millis(1500), "partial: {took:?}");
    // One byte every 100 ms: the head never completes in time.
    let mut s = raw::connect(&app, b"http/1.1").await;
    let t = Instant::now();
    let head = b"POST /v1/records/get_record_by_callId?sdkappid=1 HTTP/1.1\r\nHost: localhost\r\n";
    let mut closed = false;
    for b in head {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if t.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        closed_within(&mut s, t, Duration::from_secs(1)).await;
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "slow head kept for {:?}",
        t.elapsed()
    );
    // HTTP/2 without its preface.
    let mut s = raw::connect(&app, b"h2").await;
    let took = closed_within(&mut s, Instant::now(), Duration::from_secs(3)).await;
    assert!(
        took < Duration::from_millis(1500),
        "h2 without preface: {took:?}"
    );
    // The server still answers a normal request.
    let env = app.record("none").await;
    assert_eq!(code(&env), 101050, "{env}");
}

#[tokio::test]
async fn a_kept_alive_connection_may_idle_past_the_header_time_out_until_the_idle_time_out() {
    let app = spawn_app_with(config(100)).await;
    let mut s = raw::connect(&app, b"http/1.1").await;
    assert!(request(&app, &mut s).await.starts_with("HTTP/1.1 200"));
    // Silent for longer than the header time-out (400 ms), shorter than the idle one (2 s).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(request(&app, &mut s).await.starts_with("HTTP/1.1 200"));
    // Then silent past the idle time-out: closed.
    let t = Instant::now();
    let took = closed_within(&mut s, t, Duration::from_secs(6)).await;
    assert!(
        took >= Duration::from_millis(1500),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn past_the_connection_cap_a_new_client_waits_for_a_free_slot() {
    let app = spawn_app_with(config(2)).await;
    let mut a = raw::connect(&app, b"http/1.1").await;
    let mut b = raw::connect(&app, b"http/1.1").await;
    assert!(request(&app, &mut a).await.starts_with("HTTP/1.1 200"));
    assert!(request(&app, &mut b).await.starts_with("HTTP/1.1 200"));
    // A third: the TCP connection lands in the backlog; its handshake waits.
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    let tls = raw::connector(&app, b"http/1.1");
    let third = tokio::spawn(async move {
        let t = Instant::now();
        let mut s = tls
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let _ = &mut s;
        (t.elapsed(), s)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "the third handshake completed past the cap"
    );
    drop(a);
    let (waited, mut c) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(request(&app, &mut c).await.starts_with("HTTP/1.1 200"));
    drop(b);
}
