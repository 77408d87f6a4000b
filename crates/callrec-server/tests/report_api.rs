//! Event reporting (`POST /v1/events/report`, docs/api.md) through the real server: batch size, per-event
//! validation (a bad event rejects only itself), counting and deduplication, who may report
//! what, and reporting in any order.

mod common;

use std::sync::Arc;

use callrec_domain::{Clock, ManualClock};
use common::{
    ADMIN, SDKAPPID, TestApp, TestConfig, code, envelope_of, event, manual_clock, rejected,
    single_call, spawn_app_with, start_event,
};
use serde_json::{Value, json};

const GET: &str = "/v1/records/get_record_by_callId";
const REPORT: &str = "/v1/events/report";
const WEEK_MS: i64 = 7 * 86_400_000;

async fn app_on_manual_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = manual_clock();
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        timeouts_secs: (86_400, 86_400),
        ..TestConfig::default()
    })
    .await;
    (app, clock)
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Asserts accepted + duplicates + rejected == `events` and returns (accepted, duplicates).
fn counts(data: &Value, events: usize) -> (u64, u64) {
    let accepted = data["accepted"].as_u64().unwrap();
    let duplicates = data["duplicates"].as_u64().unwrap();
    let rejected = data["rejected"].as_array().unwrap().len() as u64;
    assert_eq!(
        accepted + duplicates + rejected,
        events as u64,
        "every event is counted exactly once: {data}"
    );
    (accepted, duplicates)
}

async fn report_as(app: &TestApp, user: &str, events: &[Value]) -> Value {
    let env = app
        .call_as(user, REPORT, &json!({ "events": events }))
        .await;
    assert_eq!(code(&env), 0, "{env}");
    env["data"].clone()
}

#[tokio::test]
async fn report_holds_1_to_1000_events() {
    let (app, clock) = app_on_manual_clock().await;
    let now = clock.now_ms();
    let thousand: Vec<Value> = (0..1000)
        .map(|i| start_event(&format!("k{i}"), "alice", &["bob"], now - i))
        .collect();
    let data = app.report(&thousand).await;
    assert_eq!(data["accepted"], 1000, "{}", data["rejected"]);
    let mut too_many = thousand.clone();
    too_many.push(start_event("k1000", "alice", &["bob"], now));
    let env = app.call(REPORT, &json!({ "events": too_many })).await;
    assert_eq!(code(&env), 70001, "{env}");
    assert!(env["errorMessage"].as_str().unwrap().contains("1001"));
    let env = app.call(REPORT, &json!({"events": []})).await;
    assert_eq!(code(&env), 70001, "{env}");
    // Nothing of the refused 1001-event batch was stored.
    assert_eq!(code(&app.record("k1000").await), 101050);
}

#[tokio::test]
async fn report_events_must_be_present_and_an_array() {
    let (app, _) = app_on_manual_clock().await;
    for (body, expected) in [
        (json!({}), 70001),
        (json!({"events": null}), 70001),
        (json!({"event": []}), 70001),
        (json!({"events": {}}), 70009),
        (json!({"events": "start"}), 70009),
        (json!({"events": 3}), 70009),
    ] {
        let env = app.call(REPORT, &body).await;
        assert_eq!(code(&env), expected, "{body}: {env}");
        assert!(env["errorMessage"].as_str().unwrap().contains("events"));
    }
}

#[tokio::test]
async fn each_invalid_event_is_rejected_with_70001_and_the_valid_events_of_the_batch_are_stored() {
    let (app, clock) = app_on_manual_clock().await;
    let now = clock.now_ms();
    let t = now - 60_000;
    let id = "mixed";
    let mut start_no_callees = start_event(id, "alice", &["bob"], t);
    start_no_callees.as_object_mut().unwrap().remove("callees");
    let mut start_no_media = start_event(id, "alice", &["bob"], t);
    start_no_media.as_object_mut().unwrap().remove("mediaType");
    let without = |field: &str| {
        let mut e = event(id, "accept", "bob", t + 1);
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let with = |field: &str, value: Value| {
        let mut e = event(id, "accept", "bob", t + 1);
        e[field] = value;
        e
    };
    // (event, a word its message must contain). Each would change the record if stored.
    let invalid: Vec<(Value, &str)> = vec![
        (without("callId"), "callId"),
        (without("type"), "type"),
        (without("userId"), "userId"),
        (without("time"), "time"),
        (with("callId", json!(7)), "callId"),
        (with("callId", json!("")), "callId"),
        (with("callId", json!("c".repeat(129))), "callId"),
        (with("type", json!(["accept"])), "type"),
        (with("type", json!("ring")), "type"),
        (with("type", json!("Accept")), "type"),
        (with("userId", json!(5)), "userId"),
        (with("userId", json!("")), "userId"),
        (with("time", json!("soon")), "time"),
        (with("time", json!(1.5)), "time"),
        (with("time", json!(now - WEEK_MS - 1)), "time"),
        (with("time", json!(now + 300_001)), "time"),
        (with("eventId", json!(9)), "eventId"),
        (with("callees", json!(["carol"])), "callees"),
        (with("invitees", json!(["carol"])), "invitees"),
        (with("mediaType", json!("audio")), "mediaType"),
        (start_no_callees, "callees"),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": [], "mediaType": "audio"}),
            "callees",
        ),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": "bob", "mediaType": "audio"}),
            "callees",
        ),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": [1], "mediaType": "audio"}),
            "callees",
        ),
        (start_no_media, "mediaType"),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": ["bob"], "mediaType": "VIDEO"}),
            "mediaType",
        ),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": ["bob", "carol"], "mediaType": "audio", "callType": "single"}),
            "single",
        ),
        (
            json!({"callId": id, "type": "start", "userId": "alice", "time": t,
                   "callees": ["bob"], "mediaType": "audio", "callType": "duo"}),
            "callType",
        ),
        (event(id, "invite", "bob", t + 2), "invitees"),
        (
            json!({"callId": id, "type": "invite", "userId": "bob", "time": t + 2,
                   "invitees": []}),
            "invitees",
        ),
        (json!("not an object"), "object"),
    ];
    // A valid group call around the invalid ones: start first, the rest last.
    let mut events = vec![
        json!({"callId": id, "type": "start", "userId": "alice", "time": t,
        "callees": ["bob", "carol"], "mediaType": "video", "roomId": "r1"}),
    ];
    events.extend(invalid.iter().map(|(e, _)| e.clone()));
    events.extend([
        event(id, "accept", "bob", t + 3_000),
        event(id, "reject", "carol", t + 4_000),
        event(id, "hangup", "bob", t + 9_000),
    ]);
    let data = app.report(&events).await;
    let (accepted, duplicates) = counts(&data, events.len());
    assert_eq!((accepted, duplicates), (4, 0), "{data}");
    let expected: Vec<(u64, u64)> = (1..=invalid.len() as u64).map(|i| (i, 70001)).collect();
    assert_eq!(rejected(&data), expected, "{data}");
    for (r, (e, word)) in data["rejected"].as_array().unwrap().iter().zip(&invalid) {
        let msg = r["errorMessage"].as_str().unwrap();
        let index = r["index"].as_u64().unwrap();
        assert!(
            msg.starts_with(&format!("events[{index}]")) && msg.contains(word),
            "event {e} got the message {msg:?}, which should name {word:?}"
        );
    }
    let rec = app.record(id).await["data"].clone();
    assert_eq!(
        rec,
        json!({"callId": id, "sdkAppId": SDKAPPID, "mediaType": "video", "roomId": "r1",
               "startCallTs": secs(t), "acceptTs": secs(t + 3_000), "endTs": secs(t + 9_000),
               "caller": "alice", "totalUserNumber": 3, "callType": "group",
               "callResult": "normal_end", "callees": ["bob", "carol"]})
    );
}

#[tokio::test]
async fn event_time_must_lie_within_now_minus_retention_and_now_plus_300_seconds() {
    let (app, clock) = app_on_manual_clock().await;
    let now = clock.now_ms();
    let events = vec![
        start_event("earliest", "alice", &["bob"], now - WEEK_MS),
        start_event("too-early", "alice", &["bob"], now - WEEK_MS - 1),
        start_event("latest", "alice", &["bob"], now + 300_000),
        start_event("too-late", "alice", &["bob"], now + 300_001),
        start_event("negative", "alice", &["bob"], -1),
    ];
    let data = app.report(&events).await;
    assert_eq!(
        rejected(&data),
        [(1, 70001), (3, 70001), (4, 70001)],
        "{data}"
    );
    assert_eq!(data["accepted"], 2);
    assert_eq!(
        app.record("earliest").await["data"]["startCallTs"],
        secs(now - WEEK_MS)
    );
    assert_eq!(
        app.record("latest").await["data"]["startCallTs"],
        secs(now + 300_000)
    );
    assert_eq!(code(&app.record("too-late").await), 101050);
}

#[tokio::test]
async fn duplicates_are_counted_within_a_batch_and_across_batches_with_and_without_event_id() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 30_000;
    let with_id = |kind: &str, user: &str, time: i64, event_id: &str| {
        let mut e = event("dup", kind, user, time);
        e["eventId"] = json!(event_id);
        e
    };
    let first = vec![
        start_event("dup", "alice", &["bob"], t),
        start_event("dup", "alice", &["bob"], t), // same key (no eventId): duplicate
        with_id("accept", "bob", t + 1_000, "acc-1"),
        with_id("accept", "bob", t + 1_500, "acc-1"), // same eventId, other time: duplicate
        event("dup", "accept", "bob", t + 1_000),     // no eventId: a different key
    ];
    let data = app.report(&first).await;
    assert_eq!(counts(&data, first.len()), (3, 2), "{data}");
    let before = app.record("dup").await["data"].clone();
    assert_eq!(before["acceptTs"], secs(t + 1_000));

    // Across batches: all of them again, plus one new event and a copy of it.
    let mut second = first.clone();
    second.push(event("dup", "hangup", "alice", t + 20_000));
    second.push(event("dup", "hangup", "alice", t + 20_000));
    let data = app.report(&second).await;
    assert_eq!(counts(&data, second.len()), (1, 6), "{data}");
    // The same eventId in another call is another event.
    let data = app
        .report(&[start_event("dup-2", "alice", &["bob"], t), {
            let mut e = event("dup-2", "accept", "bob", t + 1_000);
            e["eventId"] = json!("acc-1");
            e
        }])
        .await;
    assert_eq!(counts(&data, 2), (2, 0), "{data}");
    let rec = app.record("dup").await["data"].clone();
    assert_eq!(rec["callResult"], "normal_end");
    assert_eq!(rec["endTs"], secs(t + 20_000));
    assert_eq!(rec["acceptTs"], before["acceptTs"]);
    // A batch of nothing but duplicates and rejects stores nothing and still counts each once.
    let mixed = vec![
        event("dup", "hangup", "alice", t + 20_000),
        event("dup", "dance", "alice", t),
    ];
    let data = app.report(&mixed).await;
    assert_eq!(counts(&data, 2), (0, 1), "{data}");
    assert_eq!(app.record("dup").await["data"], rec);
}

#[tokio::test]
async fn user_may_not_report_events_about_another_user() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 30_000;
    app.report_all(&single_call("theirs", t, "ongoing")).await;
    let events = vec![
        event("theirs", "accept", "bob", t + 1_000),
        event("theirs", "cancel", "alice", t + 1_000),
        start_event("new-call", "bob", &["alice"], t),
        json!({"callId": "theirs", "type": "invite", "userId": "bob", "time": t + 1_000,
               "invitees": ["mallory"]}),
    ];
    let data = report_as(&app, "mallory", &events).await;
    assert_eq!(
        rejected(&data),
        [(0, 70004), (1, 70004), (2, 70004), (3, 70004)],
        "{data}"
    );
    assert!(
        data["rejected"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("bob")
    );
    assert_eq!(code(&app.record("new-call").await), 101050);
    assert_eq!(app.record("theirs").await["data"]["callResult"], "ongoing");
}

#[tokio::test]
async fn user_may_not_report_on_a_call_they_take_no_part_in() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 30_000;
    app.report_all(&single_call("single", t, "ongoing")).await;
    // A single call is not open to joiners; a stranger's accept, hangup or invite is refused.
    for kind in ["join", "accept", "hangup", "offline", "reject"] {
        let data = report_as(&app, "eve", &[event("single", kind, "eve", t + 1_000)]).await;
        assert_eq!(rejected(&data), [(0, 70004)], "{kind}: {data}");
    }
    let invite = json!({"callId": "single", "type": "invite", "userId": "eve",
        "time": t + 1_000, "invitees": ["frank"]});
    let data = report_as(&app, "eve", &[invite]).await;
    assert_eq!(rejected(&data), [(0, 70004)], "{data}");
    let rec = app.record("single").await["data"].clone();
    assert_eq!(rec["callees"], json!(["bob"]));
    assert_eq!(rec["callResult"], "ongoing");
    // The callee may report about itself.
    let data = report_as(&app, "bob", &[event("single", "reject", "bob", t + 2_000)]).await;
    assert_eq!(data["accepted"], 1, "{data}");
    assert_eq!(app.record("single").await["data"]["callResult"], "reject");
}

#[tokio::test]
async fn user_may_start_a_call_as_its_caller_and_invited_users_may_then_report() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 30_000;
    let data = report_as(
        &app,
        "alice",
        &[start_event("mine", "alice", &["bob", "carol"], t)],
    )
    .await;
    assert_eq!(data["accepted"], 1, "{data}");
    // An invite by a participant makes the invitee a participant.
    let invite = json!({"callId": "mine", "type": "invite", "userId": "bob", "time": t + 500,
        "invitees": ["dave"]});
    // bob is a callee of the stored start, so bob may accept and invite.
    let data = report_as(
        &app,
        "bob",
        &[event("mine", "accept", "bob", t + 400), invite],
    )
    .await;
    assert_eq!(data["accepted"], 2, "{data}");
    let data = report_as(&app, "dave", &[event("mine", "accept", "dave", t + 900)]).await;
    assert_eq!(data["accepted"], 1, "{data}");
    let rec = app.record("mine").await["data"].clone();
    assert_eq!(rec["caller"], "alice");
    assert_eq!(rec["callees"], json!(["bob", "carol", "dave"]));
    assert_eq!(rec["acceptTs"], secs(t + 400));
}

#[tokio::test]
async fn user_event_before_the_calls_start_arrived_is_70001_and_a_retry_after_it_works() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 30_000;
    // The callee's reject arrives before the caller's start, in the same and in an earlier batch.
    let reject = event("early", "reject", "bob", t + 2_000);
    let data = report_as(&app, "bob", std::slice::from_ref(&reject)).await;
    assert_eq!(rejected(&data), [(0, 70001)], "{data}");
    assert!(
        data["rejected"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("retry")
    );
    assert_eq!(code(&app.record("early").await), 101050);
    let data = report_as(&app, "alice", &[start_event("early", "alice", &["bob"], t)]).await;
    assert_eq!(data["accepted"], 1, "{data}");
    let data = report_as(&app, "bob", std::slice::from_ref(&reject)).await;
    assert_eq!(data["accepted"], 1, "{data}");
    let rec = app.record("early").await["data"].clone();
    assert_eq!(rec["callResult"], "reject");
    assert_eq!(rec["endTs"], secs(t + 2_000));
}

#[tokio::test]
async fn admin_may_report_in_any_order_and_the_record_appears_when_the_start_arrives() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 60_000;
    let data = app
        .report(&[
            event("late-start", "hangup", "bob", t + 30_000),
            event("late-start", "accept", "bob", t + 2_000),
        ])
        .await;
    assert_eq!(data["accepted"], 2, "{data}");
    // Invisible until the start arrives, to both APIs.
    assert_eq!(code(&app.record("late-start").await), 101050);
    for result in ["normal_end", "ongoing"] {
        let data = app
            .filter(&json!({"startTimestamp": 0, "callResult": result}))
            .await;
        assert_eq!(data["totalNum"], 0, "{data}");
    }
    app.report_all(&[
        json!({"callId": "late-start", "type": "start", "userId": "alice",
        "time": t, "callees": ["bob"], "mediaType": "video"}),
    ])
    .await;
    let rec = app.record("late-start").await["data"].clone();
    assert_eq!(rec["callResult"], "normal_end", "{rec}");
    assert_eq!(rec["startCallTs"], secs(t));
    assert_eq!(rec["acceptTs"], secs(t + 2_000));
    assert_eq!(rec["endTs"], secs(t + 30_000));
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    assert_eq!(data["callRecordList"][0], rec);
}

#[tokio::test]
async fn report_is_answered_without_the_group_call_package_for_users_too() {
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    let t = app.clock.now_ms() - 5_000;
    let data = report_as(&app, "alice", &[start_event("pkg", "alice", &["bob"], t)]).await;
    assert_eq!(data["accepted"], 1, "{data}");
    let data = report_as(&app, "bob", &[event("pkg", "busy", "bob", t + 1_000)]).await;
    assert_eq!(data["accepted"], 1, "{data}");
    assert_eq!(code(&app.record("pkg").await), 50001);
}

#[tokio::test]
async fn sample_call_reported_by_its_own_users_reads_back_in_the_documented_shape_over_http2() {
    let (app, clock) = app_on_manual_clock().await;
    // The contract's sample record: callId, roomId "123456", alice → bob1, video.
    let call_id = "2ae7d549-c441-4a9b-87c0-61810fe19582";
    let start = clock.now_ms() - 600_000 + 321;
    let s = report_as(
        &app,
        "alice",
        &[
            json!({"callId": call_id, "type": "start", "userId": "alice", "time": start,
                 "callees": ["bob1"], "mediaType": "video", "roomId": "123456",
                 "eventId": "e-start"}),
        ],
    )
    .await;
    assert_eq!(s["accepted"], 1, "{s}");
    let a = report_as(
        &app,
        "bob1",
        &[event(call_id, "accept", "bob1", start + 5_000)],
    )
    .await;
    assert_eq!(a["accepted"], 1, "{a}");
    let h = report_as(
        &app,
        "alice",
        &[event(call_id, "hangup", "alice", start + 65_000)],
    )
    .await;
    assert_eq!(h["accepted"], 1, "{h}");
    let resp = app
        .post(
            GET,
            &app.query_for(ADMIN),
            json!({"callId": call_id}).to_string(),
        )
        .await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let env = envelope_of(resp).await;
    assert_eq!(
        env["data"],
        json!({
            "callId": call_id, "sdkAppId": SDKAPPID, "mediaType": "video", "roomId": "123456",
            "startCallTs": secs(start), "acceptTs": secs(start + 5_000),
            "endTs": secs(start + 65_000), "caller": "alice", "totalUserNumber": 2,
            "callType": "single", "callResult": "normal_end", "callees": ["bob1"]
        })
    );
}

#[tokio::test]
async fn user_may_not_report_a_start_for_a_call_someone_else_started() {
    let (app, clock) = app_on_manual_clock().await;
    let t = clock.now_ms() - 60_000;
    app.report_all(&single_call("taken", t, "normal_end")).await;
    let before = app.record("taken").await["data"].clone();
    // An earlier start would count as the call's first: a stranger or a callee could take the
    // call over. Neither is the caller, so neither may report a start for it.
    for (user, callees) in [("mallory", ["eve"]), ("bob", ["alice"])] {
        let start = start_event("taken", user, &callees, t - 10_000);
        let data = report_as(&app, user, &[start]).await;
        assert_eq!(rejected(&data), [(0, 70004)], "{user}: {data}");
        assert!(
            data["rejected"][0]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("caller"),
            "{data}"
        );
    }
    assert_eq!(app.record("taken").await["data"], before);
    // The caller's own start again is just a duplicate.
    let data = report_as(&app, "alice", &[start_event("taken", "alice", &["bob"], t)]).await;
    assert_eq!(
        (data["accepted"].clone(), data["duplicates"].clone()),
        (json!(0), json!(1))
    );
    // Within one batch: the caller's start, then someone else's start of the same call.
    let data = report_as(
        &app,
        "alice",
        &[
            start_event("fresh", "alice", &["bob"], t),
            start_event("fresh", "alice", &["bob"], t),
        ],
    )
    .await;
    assert_eq!(counts(&data, 2), (1, 1), "{data}");
    let data = report_as(
        &app,
        "bob",
        &[start_event("fresh", "bob", &["carol"], t - 1)],
    )
    .await;
    assert_eq!(rejected(&data), [(0, 70004)], "{data}");
    assert_eq!(app.record("fresh").await["data"]["caller"], "alice");
}
