//! Many large request bodies at once cannot grow the server's memory without bound: 200
//! concurrent event reports of 7.9 MiB each (a client can send that many) once took the
//! server's resident memory to 1.0 GB. Request bodies now share one budget, counted at what
//! their parsed form may take, so the server's peak resident memory stays bounded, and it answers
//! a normal request afterwards.
//!
//! The server is the real binary; its peak resident set (`VmHWM` of `/proc/<pid>/status`) is
//! read after the burst.

mod common;

use std::time::Duration;

use common::{Server, write_config};

/// How many reports at once, and the size of each.
const CLIENTS: usize = 200;
const BODY_BYTES: usize = 7_900 * 1024;

/// Peak resident memory allowed to the server, in MiB: its own ~40 MB plus the body budget's
/// worth of parsed bodies, with room to spare — and far below the 1 GB seen without a budget.
const PEAK_LIMIT_MIB: u64 = 250;

/// A report of 7.9 MiB that parses into as many JSON values as its size allows: a long array of
/// small numbers (what costs a parser the most memory per byte) next to the events.
fn hostile_body() -> &'static str {
    let mut body = String::with_capacity(BODY_BYTES + 64);
    body.push_str(r#"{"events":[{"callId":"x","type":"hangup","userId":"u","time":1}],"pad":["#);
    while body.len() < BODY_BYTES - 4 {
        body.push_str("0,");
    }
    body.push_str("0]}");
    // Shared by all clients without copies.
    Box::leak(body.into_boxed_str())
}

/// A report of 7.9 MiB that parses into few values: 1 000 events with long strings (the events
/// are refused, but only after the body is parsed).
fn long_strings_body() -> &'static str {
    let pad = "u".repeat(BODY_BYTES / 1000 - 80);
    let events: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"callId":"c{i}","type":"hangup","userId":"{pad}","time":1}}"#))
        .collect();
    let body = format!(r#"{{"events":[{}]}}"#, events.join(","));
    Box::leak(body.into_boxed_str())
}

/// `VmHWM` (peak resident set) of `pid`, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_large_bodies_at_once_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let client = |timeout| {
        common::client_builder(dir.path())
            .http1_only()
            .timeout(timeout)
            .build()
            .unwrap()
    };
    let target = common::admin_url(&server.url, "/v1/events/report");
    for (name, body) in [
        ("many values", hostile_body()),
        ("long strings", long_strings_body()),
    ] {
        let before = peak_mib(server.child.id());
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (http, target) = (client(Duration::from_secs(60)), target.clone());
                tokio::spawn(async move {
                    match http.post(&target).body(body).send().await {
                        Ok(r) => r.text().await.unwrap_or_default(),
                        Err(e) => format!("transport error: {e}"),
                    }
                })
            })
            .collect();
        let mut answered = 0;
        for t in tasks {
            // Each answer is an envelope (70009 for too many values, 70001 for the events'
            // faults, 101001 when the deadline passed while waiting for the budget), or the
            // connection was closed.
            if t.await.unwrap().starts_with('{') {
                answered += 1;
            }
        }
        let peak = peak_mib(server.child.id());
        println!(
            "{name}: peak resident memory {before} MiB before, {peak} MiB after {CLIENTS} × {} bytes ({answered} envelopes)",
            body.len()
        );
        assert!(
            peak < PEAK_LIMIT_MIB,
            "{name}: peak resident memory {peak} MiB (limit {PEAK_LIMIT_MIB} MiB)"
        );
    }
    // And the server carries on.
    let ok = client(Duration::from_secs(10))
        .post(&target)
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ok.contains("\"errorCode\":70001"), "{ok}");
    server.terminate();
}
