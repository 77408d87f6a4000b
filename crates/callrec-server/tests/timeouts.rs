//! The time-outs of docs/api.md through the running server on the real clock: ring_timeout_secs = 1
//! and max_idle_secs = 2, so the background job must store the system events within a few
//! seconds. Event times are set slightly in the future so that each record can be seen
//! `ongoing` before its time-out falls due.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, TestConfig, code, event, spawn_app_with, start_event};
use serde_json::{Value, json};

const RING_MS: i64 = 1_000;
const IDLE_MS: i64 = 2_000;

async fn app() -> TestApp {
    spawn_app_with(TestConfig {
        timeouts_secs: (1, 2),
        ..TestConfig::default()
    })
    .await
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Polls the record until it is no longer ongoing; panics after 6 s. Returns the record and
/// the server-clock time at which it was first seen ended.
async fn wait_until_ended(app: &TestApp, call_id: &str) -> (Value, i64) {
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let env = app.record(call_id).await;
        assert_eq!(code(&env), 0, "{env}");
        if env["data"]["callResult"] != "ongoing" {
            return (env["data"].clone(), app.clock.now_ms());
        }
        assert!(
            Instant::now() < deadline,
            "{call_id} still ongoing after 6 s: {env}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn unanswered_single_call_becomes_not_answer_at_start_plus_ring_timeout() {
    let app = app().await;
    let start = app.clock.now_ms() + 500;
    app.report_all(&[start_event("unanswered", "alice", &["bob"], start)])
        .await;
    let rec = app.record("unanswered").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    let (rec, seen_at) = wait_until_ended(&app, "unanswered").await;
    assert_eq!(rec["callResult"], "not_answer", "{rec}");
    assert_eq!(rec["endTs"], secs(start + RING_MS));
    assert_eq!(rec["acceptTs"], 0);
    assert!(
        seen_at >= start + RING_MS,
        "applied before it was due: {seen_at} < {}",
        start + RING_MS
    );
    assert!(
        seen_at - (start + RING_MS) < 4_000,
        "applied {} ms after it was due",
        seen_at - (start + RING_MS)
    );
    // The filter sees the same ended record.
    let data = app
        .filter(&json!({"startTimestamp": 0, "callResult": "not_answer"}))
        .await;
    assert_eq!(data["callRecordList"][0], rec);
}

#[tokio::test]
async fn ringing_group_callee_times_out_and_ends_a_call_left_with_one_user() {
    let app = app().await;
    let start = app.clock.now_ms() + 500;
    app.report_all(&[
        start_event("group-ring", "alice", &["bob", "carol"], start),
        event("group-ring", "accept", "bob", start + 100),
        event("group-ring", "hangup", "alice", start + 200),
    ])
    .await;
    // Only bob is in the call, but carol still rings: not ended.
    let rec = app.record("group-ring").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    // carol's ring time-out (start + 1 s) is the moment no callee rings any more.
    let (rec, _) = wait_until_ended(&app, "group-ring").await;
    assert_eq!(rec["callResult"], "normal_end", "{rec}");
    assert_eq!(rec["endTs"], secs(start + RING_MS));
    assert_eq!(rec["acceptTs"], secs(start + 100));
    assert_eq!(rec["callees"], json!(["bob", "carol"]));
}

#[tokio::test]
async fn group_callee_invited_later_rings_from_its_invitation() {
    let app = app().await;
    let start = app.clock.now_ms() + 500;
    app.report_all(&[
        start_event("invited", "alice", &["bob"], start),
        json!({"callId": "invited", "type": "start", "userId": "alice", "time": start,
               "callees": ["bob"], "mediaType": "audio", "callType": "group",
               "eventId": "second-start-ignored"}),
        event("invited", "accept", "bob", start + 100),
        json!({"callId": "invited", "type": "invite", "userId": "bob", "time": start + 700,
               "invitees": ["dave"]}),
        event("invited", "hangup", "alice", start + 800),
    ])
    .await;
    let (rec, _) = wait_until_ended(&app, "invited").await;
    // The first start counts: a single call, where invites change nothing — so it ended with
    // alice's hangup, not with dave's ring time-out.
    assert_eq!(rec["callType"], "single", "{rec}");
    assert_eq!(rec["callResult"], "normal_end");
    assert_eq!(rec["endTs"], secs(start + 800));
    assert_eq!(rec["callees"], json!(["bob"]));

    let start = app.clock.now_ms() + 500;
    app.report_all(&[
        start_event("invited-group", "alice", &["bob", "carol"], start),
        event("invited-group", "accept", "bob", start + 100),
        event("invited-group", "reject", "carol", start + 150),
        json!({"callId": "invited-group", "type": "invite", "userId": "bob", "time": start + 700,
               "invitees": ["dave"]}),
        event("invited-group", "hangup", "alice", start + 800),
    ])
    .await;
    // dave rings from start + 0.7 s, so the call ends at start + 0.7 s + 1 s.
    let (rec, _) = wait_until_ended(&app, "invited-group").await;
    assert_eq!(rec["callResult"], "normal_end", "{rec}");
    assert_eq!(rec["endTs"], secs(start + 700 + RING_MS));
    assert_eq!(rec["callees"], json!(["bob", "carol", "dave"]));
}

#[tokio::test]
async fn idle_connected_single_call_is_closed_as_interrupt_at_its_last_event() {
    let app = app().await;
    let start = app.clock.now_ms() + 500;
    app.report_all(&[
        start_event("idle-single", "alice", &["bob"], start),
        event("idle-single", "accept", "bob", start + 400),
    ])
    .await;
    let rec = app.record("idle-single").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    let (rec, seen_at) = wait_until_ended(&app, "idle-single").await;
    assert_eq!(rec["callResult"], "interrupt", "{rec}");
    // The offline events are stored at the time of the last event, not when the job ran.
    assert_eq!(rec["endTs"], secs(start + 400));
    assert_eq!(rec["acceptTs"], secs(start + 400));
    assert!(
        seen_at >= start + 400 + IDLE_MS,
        "closed before it was idle for max_idle_secs"
    );
}

#[tokio::test]
async fn idle_connected_group_call_is_closed_at_its_last_event() {
    let app = app().await;
    let start = app.clock.now_ms() + 500;
    app.report_all(&[
        start_event("idle-group", "alice", &["bob", "carol"], start),
        event("idle-group", "accept", "bob", start + 100),
        event("idle-group", "accept", "carol", start + 300),
    ])
    .await;
    let (rec, seen_at) = wait_until_ended(&app, "idle-group").await;
    // Everyone goes offline at the last event; a connected group call ends normal_end then.
    assert_eq!(rec["callResult"], "normal_end", "{rec}");
    assert_eq!(rec["endTs"], secs(start + 300));
    assert!(seen_at >= start + 300 + IDLE_MS);
}

#[tokio::test]
async fn system_event_ids_cannot_be_reported() {
    let app = app().await;
    let now = app.clock.now_ms();
    let mut start = start_event("sys", "alice", &["bob"], now);
    start["eventId"] = json!("sys:ring:bob");
    let mut no_answer = event("sys", "no_answer", "bob", now + 1_000);
    no_answer["eventId"] = json!("sys:no_answer:bob");
    let data = app.report(&[start.clone(), no_answer.clone()]).await;
    assert_eq!(common::rejected(&data), [(0, 70001), (1, 70001)], "{data}");
    assert!(
        data["rejected"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("sys:")
    );
    let env = app
        .call_as("alice", "/v1/events/report", &json!({ "events": [start] }))
        .await;
    assert_eq!(common::rejected(&env["data"]), [(0, 70001)], "{env}");
    assert_eq!(code(&app.record("sys").await), 101050);
}
