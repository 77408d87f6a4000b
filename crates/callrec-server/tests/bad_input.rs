//! "Bad input of every kind gets its documented errorCode and a clear message; nothing already
//! stored is lost or changed by it." Stores calls, fires every kind of bad request at the server
//! — most of them carrying events that WOULD change the calls if they were applied — and then
//! checks that the records and filter answers are byte-identical to before.

mod common;

use callrec_domain::Clock;
use common::{
    ADMIN, KEY, SDKAPPID, TestApp, TestConfig, code, envelope_of, event, manual_clock, single_call,
    spawn_app_with, start_event,
};
use serde_json::{Value, json};

const GET: &str = "/v1/records/get_record_by_callId";
const FILTER: &str = "/v1/records/get_records_by_filter";
const REPORT: &str = "/v1/events/report";

/// The raw bytes of the `data` member of a successful answer (the envelope puts it last).
async fn raw_data(app: &TestApp, path: &str, body: &Value) -> String {
    let resp = app
        .post(path, &app.query_for(ADMIN), body.to_string())
        .await;
    let text = resp.text().await.unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(code(&env), 0, "{text}");
    let at = text.find(",\"data\":").unwrap();
    text[at..].to_owned()
}

async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for id in ["kept-ended", "kept-ongoing"] {
        out.push(raw_data(app, GET, &json!({ "callId": id })).await);
    }
    for filter in [
        json!({"startTimestamp": 0}),
        json!({"startTimestamp": 0, "callResult": "ongoing"}),
        json!({"startTimestamp": 0, "callType": "group"}),
    ] {
        out.push(raw_data(app, FILTER, &filter).await);
    }
    out
}

#[tokio::test]
async fn bad_input_of_every_kind_gets_its_error_code_and_changes_nothing_stored() {
    let clock = manual_clock();
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        timeouts_secs: (86_400, 86_400),
        ..TestConfig::default()
    })
    .await;
    let now = clock.now_ms();
    let t = now - 120_000;
    let mut events = single_call("kept-ended", t, "normal_end");
    events.extend([
        json!({"callId": "kept-ongoing", "type": "start", "userId": "alice", "time": t,
               "callees": ["bob", "carol"], "mediaType": "video", "roomId": "r"}),
        event("kept-ongoing", "accept", "bob", t + 2_000),
    ]);
    app.report_all(&events).await;
    let before = snapshot(&app).await;

    // Valid events that would change both calls if they were applied.
    let changing = json!({"events": [
        event("kept-ongoing", "hangup", "alice", t + 10_000),
        event("kept-ongoing", "reject", "carol", t + 3_000),
        json!({"callId": "kept-ongoing", "type": "invite", "userId": "bob", "time": t + 4_000,
               "invitees": ["mallory"]}),
        event("kept-ended", "accept", "bob", t - 1_000),
        start_event("kept-ended", "alice", &["zed"], t - 5_000),
    ]})
    .to_string();
    let changing_events = serde_json::from_str::<Value>(&changing).unwrap()["events"].clone();
    let q = app.query_for(ADMIN);
    let without = |name: &str| {
        q.split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect::<Vec<_>>()
            .join("&")
    };
    let expired = callrec_usersig::generate(
        SDKAPPID,
        KEY,
        ADMIN,
        60,
        u64::try_from(clock.now_secs()).unwrap() - 3_600,
    );
    let mut requests: Vec<(&str, String, String, u64)> = vec![
        // Paths.
        ("/v1/events/Report", q.clone(), changing.clone(), 70001),
        ("/v1/events/report/", q.clone(), changing.clone(), 70001),
        ("/v1/records/report", q.clone(), changing.clone(), 70001),
        // Query parameters.
        (REPORT, without("usersig"), changing.clone(), 70001),
        (REPORT, without("random"), changing.clone(), 70001),
        (
            REPORT,
            q.replace("contenttype=json", "contenttype=JSON"),
            changing.clone(),
            70001,
        ),
        (
            REPORT,
            q.replace("random=", "random=-"),
            changing.clone(),
            70001,
        ),
        (
            REPORT,
            format!("{q}&sdkappid={SDKAPPID}"),
            changing.clone(),
            70001,
        ),
        // UserSigs.
        (
            REPORT,
            app.query_with(ADMIN, "garbage"),
            changing.clone(),
            70002,
        ),
        (
            REPORT,
            app.query_with(ADMIN, &app.sig_for("bob")),
            changing.clone(),
            70002,
        ),
        (
            REPORT,
            q.replace(&format!("sdkappid={SDKAPPID}"), "sdkappid=1400000099"),
            changing.clone(),
            70002,
        ),
        (
            REPORT,
            app.query_with(ADMIN, &expired),
            changing.clone(),
            70003,
        ),
        // Bodies.
        (REPORT, q.clone(), String::new(), 70009),
        (
            REPORT,
            q.clone(),
            changing[..changing.len() - 2].to_owned(),
            70009,
        ),
        (REPORT, q.clone(), format!("[{changing}]"), 70009),
        (
            REPORT,
            q.clone(),
            json!({"events": {"0": changing_events}}).to_string(),
            70009,
        ),
        (
            REPORT,
            q.clone(),
            format!("{changing}{}", " ".repeat(8 << 20)),
            70009,
        ),
        (REPORT, q.clone(), json!({"events": []}).to_string(), 70001),
        (
            REPORT,
            q.clone(),
            json!({"evts": changing}).to_string(),
            70001,
        ),
        // Record APIs with bad bodies.
        (GET, q.clone(), json!({"callId": ""}).to_string(), 70001),
        (GET, q.clone(), json!({"callId": 1}).to_string(), 70009),
        (
            FILTER,
            q.clone(),
            json!({"startTimestamp": 5, "endTimestamp": 4}).to_string(),
            70001,
        ),
        (
            FILTER,
            q.clone(),
            json!({"startTimestamp": 0, "page": 0}).to_string(),
            70001,
        ),
        // A non-admin on a record API.
        (
            GET,
            app.query_for("alice"),
            json!({"callId": "kept-ended"}).to_string(),
            70004,
        ),
    ];
    // A body whose 1001 events include the changing ones.
    let mut many: Vec<Value> = changing_events.as_array().unwrap().clone();
    many.resize(1001, event("kept-ongoing", "hangup", "bob", t + 9_000));
    requests.push((
        REPORT,
        q.clone(),
        json!({ "events": many }).to_string(),
        70001,
    ));
    for (path, query, body, expected) in requests {
        let env = envelope_of(app.post(path, &query, body.clone()).await).await;
        assert_eq!(
            code(&env),
            expected,
            "{path}?{query} with {}: {env}",
            &body[..body.len().min(120)]
        );
        assert!(env["errorMessage"].as_str().unwrap().len() > 5, "{env}");
    }

    // Events that are each rejected: invalid ones as the admin, forbidden ones as users.
    let mut sys = event("kept-ongoing", "hangup", "alice", t + 10_000);
    sys["eventId"] = json!("sys:idle:alice");
    let mut media_on_hangup = event("kept-ongoing", "hangup", "alice", t + 10_000);
    media_on_hangup["mediaType"] = json!("audio");
    let invalid = vec![
        sys,
        media_on_hangup,
        event("kept-ongoing", "hangup", "alice", now + 300_001),
        event("kept-ongoing", "hangup", "alice", now - 8 * 86_400_000),
        event("kept-ongoing", "hang_up", "alice", t + 10_000),
        json!({"callId": "kept-ongoing", "type": "hangup", "userId": "alice", "time": "later"}),
        json!({"callId": "kept-ended", "type": "start", "userId": "alice", "time": t - 5_000,
               "callees": [], "mediaType": "audio"}),
        json!({"callId": "kept-ended", "type": "start", "userId": "alice", "time": t - 5_000,
               "callees": ["alice"], "mediaType": "audio"}),
        json!({"callId": "kept-ongoing", "type": "invite", "userId": "bob", "time": t + 4_000}),
    ];
    let data = app.report(&invalid).await;
    assert_eq!(data["accepted"], 0, "{data}");
    assert_eq!(data["duplicates"], 0, "{data}");
    assert_eq!(
        common::rejected(&data),
        (0..invalid.len() as u64)
            .map(|i| (i, 70001))
            .collect::<Vec<_>>(),
        "{data}"
    );
    for (user, batch) in [
        // About someone else.
        (
            "mallory",
            vec![event("kept-ongoing", "hangup", "alice", t + 10_000)],
        ),
        // About a call the user takes no part in.
        (
            "mallory",
            vec![event("kept-ongoing", "hangup", "mallory", t + 10_000)],
        ),
        (
            "mallory",
            vec![event("kept-ended", "join", "mallory", t + 100)],
        ),
        // A callee may not start the call.
        (
            "bob",
            vec![start_event("kept-ended", "alice", &["bob"], t - 5_000)],
        ),
    ] {
        let env = app.call_as(user, REPORT, &json!({ "events": batch })).await;
        assert_eq!(
            common::rejected(&env["data"]),
            [(0, 70004)],
            "{user}: {env}"
        );
        assert_eq!(env["data"]["accepted"], 0);
    }
    // Re-reporting what is stored changes nothing either (duplicates).
    let data = app.report(&events).await;
    assert_eq!(data["duplicates"], events.len(), "{data}");

    assert_eq!(snapshot(&app).await, before);
}
