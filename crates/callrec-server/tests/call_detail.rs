//! `/v1/records/get_call_detail` (an extension) over real TLS: participants with their times,
//! talk time and outcome for every outcome value, every stored event (time-outs included) in
//! event order with whether it took effect, the same record `get_record_by_callId` answers.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn detail(app: &TestApp, call: &str) -> Value {
    let env = app
        .call("/v1/records/get_call_detail", &json!({ "callId": call }))
        .await;
    assert_eq!(code(&env), 0, "{env}");
    env["data"].clone()
}

/// (userId, role, outcome) of each participant.
fn outcomes(d: &Value) -> Vec<(String, String, String)> {
    d["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            (s("userId"), s("role"), s("outcome"))
        })
        .collect()
}

fn o(user: &str, role: &str, outcome: &str) -> (String, String, String) {
    (user.into(), role.into(), outcome.into())
}

#[tokio::test]
async fn every_outcome_with_times_talk_and_effective_events() {
    let app = spawn_app_with(TestConfig {
        timeouts_secs: (2, 43_200),
        ..TestConfig::default()
    })
    .await;
    let t = app.clock.now_ms() - 60_000;
    // A group call: bob talks twice, carol rejects, dave is busy, erin is invited and cancelled
    // by the admin's end, frank joins and goes offline; an event after the end counts nothing.
    let mut s = start_event("g", "alice", &["bob", "carol", "dave"], t);
    s["callType"] = json!("group");
    s["userData"] = json!("order-42");
    let mut invite = event("g", "invite", "alice", t + 1_500);
    invite["invitees"] = json!(["erin"]);
    invite["eventId"] = json!("inv-1");
    let events = vec![
        s,
        event("g", "accept", "bob", t + 1_000),
        event("g", "reject", "carol", t + 1_100),
        event("g", "busy", "dave", t + 1_200),
        invite,
        event("g", "join", "frank", t + 1_600),
        event("g", "offline", "frank", t + 1_700),
        event("g", "hangup", "bob", t + 1_800),
        event("g", "join", "bob", t + 1_900),
        event("g", "end", ADMIN, t + 1_950),
        event("g", "accept", "erin", t + 5_000),
    ];
    app.report_all(&events).await;
    let d = detail(&app, "g").await;
    assert_eq!(
        outcomes(&d),
        vec![
            o("alice", "caller", "left"),
            o("bob", "callee", "left"),
            o("carol", "callee", "rejected"),
            o("dave", "callee", "busy"),
            o("erin", "callee", "cancelled"),
            o("frank", "callee", "offline"),
        ]
    );
    let p = &d["participants"];
    assert_eq!(p[0]["invitedMs"], t);
    assert_eq!(p[0]["connectedMs"], t);
    assert_eq!(p[0]["leftMs"], t + 1_950);
    assert_eq!(p[0]["talkSecs"], 1);
    // bob: 1.0 s to 1.8 s and 1.9 s to 1.95 s = 850 ms.
    assert_eq!(p[1]["connectedMs"], t + 1_000);
    assert_eq!(p[1]["leftMs"], t + 1_950);
    assert_eq!(p[1]["talkSecs"], 0);
    assert_eq!(p[4]["invitedMs"], t + 1_500);
    assert_eq!(
        (p[4]["connectedMs"].clone(), p[4]["leftMs"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(p[5]["invitedMs"], t + 1_600);
    assert_eq!(p[5]["leftMs"], t + 1_700);
    assert_eq!(d["userData"], "order-42");
    // The record is get_record_by_callId's.
    let rec = app.record("g").await;
    assert_eq!(d["record"], rec["data"]);
    // Every stored event in event order; the one after the end took no effect.
    let evs = d["events"].as_array().unwrap();
    assert_eq!(evs.len(), events.len());
    let times: Vec<i64> = evs.iter().map(|e| e["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(evs[4]["eventId"], "inv-1");
    assert_eq!(evs[0]["eventId"], Value::Null);
    let effective: Vec<bool> = evs
        .iter()
        .map(|e| e["effective"].as_bool().unwrap())
        .collect();
    assert_eq!(
        effective,
        vec![
            true, true, true, true, true, true, true, true, true, true, false
        ]
    );
    assert_eq!(evs[10]["type"], "accept");

    // A single call each for the rest: no answer (a ring time-out the job stores), cancel,
    // ringing and in_call (ongoing).
    let now = app.clock.now_ms();
    app.report_all(&[start_event("timeout", "alice", &["bob"], now)])
        .await;
    app.report_all(&single_call("cancelled", t, "cancel")).await;
    app.report_all(&[start_event("ringing", "alice", &["bob"], now)])
        .await;
    app.report_all(&single_call("ongoing", now - 1_000, "ongoing"))
        .await;
    app.report_all(&[event("ongoing", "accept", "bob", now - 500)])
        .await;
    let ongoing = detail(&app, "ongoing").await;
    assert_eq!(
        outcomes(&ongoing),
        vec![
            o("alice", "caller", "in_call"),
            o("bob", "callee", "in_call")
        ]
    );
    assert_eq!(ongoing["participants"][1]["leftMs"], 0);
    assert_eq!(ongoing["record"]["callResult"], "ongoing");
    let ringing = detail(&app, "ringing").await;
    assert_eq!(ringing["participants"][1]["outcome"], "ringing");
    assert_eq!(
        outcomes(&detail(&app, "cancelled").await)[1],
        o("bob", "callee", "cancelled")
    );
    // Wait for the time-out job (ring time-out 2 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let timed = loop {
        let d = detail(&app, "timeout").await;
        if d["record"]["callResult"] == "not_answer" {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(timed["participants"][1]["outcome"], "not_answered");
    let sys = &timed["events"][1];
    assert_eq!(sys["type"], "no_answer");
    assert!(
        sys["eventId"].as_str().unwrap().starts_with("sys:ring:"),
        "{sys}"
    );
    assert_eq!(sys["effective"], true);
}

#[tokio::test]
async fn unknown_calls_and_the_usual_checks() {
    let app = spawn_app().await;
    let env = app
        .call("/v1/records/get_call_detail", &json!({"callId": "nope"}))
        .await;
    assert_eq!(code(&env), 101050, "{env}");
    // Events without their start: still no record.
    app.report_all(&[event("headless", "accept", "bob", app.clock.now_ms())])
        .await;
    let env = app
        .call(
            "/v1/records/get_call_detail",
            &json!({"callId": "headless"}),
        )
        .await;
    assert_eq!(code(&env), 101050, "{env}");
    for body in [json!({}), json!({"callId": ""})] {
        assert_eq!(
            code(&app.call("/v1/records/get_call_detail", &body).await),
            70001
        );
    }
    assert_eq!(
        code(
            &app.call("/v1/records/get_call_detail", &json!({"callId": 5}))
                .await
        ),
        70009
    );
    let env = app
        .call_as(
            "bob",
            "/v1/records/get_call_detail",
            &json!({"callId": "x"}),
        )
        .await;
    assert_eq!(code(&env), 70004);
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    let env = app
        .call("/v1/records/get_call_detail", &json!({"callId": "x"}))
        .await;
    assert_eq!(code(&env), 50001);
}
