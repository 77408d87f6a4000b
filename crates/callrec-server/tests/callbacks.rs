//! Callbacks over real TLS APIs to a real local HTTP receiver (docs/callbacks.md): the
//! configuration APIs of both generations, every row of the v1 command table, every v4 payload,
//! the success rule, retries and give-up, order per call, the first attempt's promptness,
//! signing (verified with the official `standardwebhooks` crate), redelivery and
//! `deny_private_addresses`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::receiver::{self, Received, Receiver};
use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// Every v1 command word.
const ALL_V1: [&str; 25] = [
    "cancel",
    "reject",
    "not_answer",
    "normal_end",
    "call_busy",
    "interrupt",
    "caller_start_call",
    "caller_call_accepted",
    "caller_call_missed",
    "caller_call_rejected",
    "caller_call_busy",
    "caller_cancel_call",
    "caller_call_failed",
    "caller_call_end",
    "caller_call_interrupted",
    "callee_receive_call",
    "callee_accept_call",
    "callee_not_answer_call",
    "callee_reject_call",
    "callee_ignore_call",
    "callee_call_canceled",
    "callee_call_end",
    "callee_call_interrupted",
    "invite_user",
    "join_in_group_call",
];

const ALL_V4: [&str; 3] = [
    "Call.CallbackAfterStartCall",
    "Call.CallbackAfterMemberChanged",
    "Call.CallbackAfterEndCall",
];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn set_v1(app: &TestApp, url: &str, actions: &[&str]) {
    let env = app
        .call(
            "/v1/callback/set",
            &json!({"address": url, "actions": actions}),
        )
        .await;
    assert_eq!(code(&env), 0, "{env}");
    assert_eq!(env["data"], url);
}

async fn v4(app: &TestApp, path: &str, body: &Value) -> Value {
    let resp = app
        .post(path, &app.query_for(ADMIN), body.to_string())
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn set_v4(app: &TestApp, url: &str, commands: &[&str]) {
    let env = v4(
        app,
        "/v4/call_config/set_callback",
        &json!({"Url": url, "CallbackCommandList": commands}),
    )
    .await;
    assert_eq!(env["ErrorCode"], 0, "{env}");
}

/// The deliveries API's `data`.
async fn deliveries(app: &TestApp, body: &Value) -> Value {
    let env = app.call("/v1/callback/get_deliveries", body).await;
    assert_eq!(code(&env), 0, "{env}");
    env["data"].clone()
}

/// Waits until every callback of the app is delivered or failed; returns the deliveries.
async fn settled(app: &TestApp) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let data = deliveries(app, &json!({"limit": 1000})).await;
        let list = data["deliveries"].as_array().unwrap().clone();
        if list.iter().all(|d| d["status"] != "pending") {
            return list;
        }
        assert!(Instant::now() < deadline, "still pending: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (command, UserId, Role, Event, CallResult) of v1 callbacks about `call`, in arrival order.
fn v1_rows(got: &[Received], call: &str) -> Vec<(String, String, String, String, String)> {
    got.iter()
        .filter(|r| r.json()["CallId"] == call)
        .map(|r| {
            let b = r.json();
            (
                r.command().to_owned(),
                b["UserId"].as_str().unwrap().to_owned(),
                b["Role"].as_str().unwrap().to_owned(),
                b["Event"].as_str().unwrap_or("-").to_owned(),
                b["CallResult"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn row(
    command: &str,
    user: &str,
    role: &str,
    event: &str,
    result: &str,
) -> (String, String, String, String, String) {
    (
        command.into(),
        user.into(),
        role.into(),
        event.into(),
        result.into(),
    )
}

fn group_start(call: &str, callees: &[&str], t: i64) -> Value {
    let mut s = start_event(call, "alice", callees, t);
    s["callType"] = json!("group");
    s
}

#[tokio::test]
async fn v1_configuration_apis_answer_their_codes_and_keep_the_configuration() {
    let app = spawn_app().await;
    // Nothing yet: get and update answer 999, delete succeeds.
    let env = app.call("/v1/callback/get", &json!({})).await;
    assert_eq!(code(&env), 999, "{env}");
    let env = app
        .call(
            "/v1/callback/update",
            &json!({"address": "http://a.example/cb", "actions": ["normal_end"]}),
        )
        .await;
    assert_eq!(code(&env), 999, "{env}");
    let env = app.call("/v1/callback/delete", &json!({})).await;
    assert_eq!((code(&env), env["data"].clone()), (0, json!("")));
    // Bad addresses and actions: 70001.
    for body in [
        json!({"address": "ftp://a.example/", "actions": ["normal_end"]}),
        json!({"address": "/relative", "actions": ["normal_end"]}),
        json!({"address": format!("http://a.example/{}", "x".repeat(2048)), "actions": ["normal_end"]}),
        json!({"address": "http://a.example/", "actions": []}),
        json!({"address": "http://a.example/", "actions": ["dance"]}),
        json!({"actions": ["normal_end"]}),
        json!({"address": "http://a.example/"}),
    ] {
        let env = app.call("/v1/callback/set", &body).await;
        assert_eq!(code(&env), 70001, "{body} → {env}");
    }
    let env = app
        .call(
            "/v1/callback/set",
            &json!({"address": "http://a.example/", "actions": "normal_end"}),
        )
        .await;
    assert_eq!(code(&env), 70009, "{env}");
    // Set: duplicates collapse, order kept.
    let env = app
        .call(
            "/v1/callback/set",
            &json!({"address": "http://a.example/cb?x=1", "actions": ["normal_end", "caller_start_call", "normal_end"]}),
        )
        .await;
    assert_eq!(
        (code(&env), env["data"].clone()),
        (0, json!("http://a.example/cb?x=1"))
    );
    let env = app.call("/v1/callback/get", &json!({})).await;
    assert_eq!(
        env["data"],
        json!({"actions": ["normal_end", "caller_start_call"], "address": "http://a.example/cb?x=1"})
    );
    let env = app
        .call(
            "/v1/callback/update",
            &json!({"address": "https://b.example/", "actions": ["reject"]}),
        )
        .await;
    assert_eq!(
        (code(&env), env["data"].clone()),
        (0, json!("https://b.example/"))
    );
    // Not an admin: 70004.
    let env = app.call_as("bob", "/v1/callback/get", &json!({})).await;
    assert_eq!(code(&env), 70004);
    // Kept across a restart.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, TestConfig::default()).await;
    let env = app.call("/v1/callback/get", &json!({})).await;
    assert_eq!(
        env["data"],
        json!({"actions": ["reject"], "address": "https://b.example/"})
    );
    let env = app.call("/v1/callback/delete", &json!({})).await;
    assert_eq!(code(&env), 0);
    assert_eq!(code(&app.call("/v1/callback/get", &json!({})).await), 999);
    // Without the group call package: 50001.
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    assert_eq!(code(&app.call("/v1/callback/get", &json!({})).await), 50001);
}

#[tokio::test]
async fn v4_configuration_apis_answer_their_codes() {
    let app = spawn_app().await;
    let env = v4(&app, "/v4/call_config/get_callback", &json!({})).await;
    assert_eq!(env["ErrorCode"], 100301, "{env}");
    assert_eq!(env["ActionStatus"], "FAIL");
    for body in [
        json!({"Url": "http://a.example/", "CallbackCommandList": []}),
        json!({"Url": "http://a.example/", "CallbackCommandList": ["Call.Dance"]}),
        json!({"Url": "gopher://a.example/", "CallbackCommandList": ["Call.CallbackAfterEndCall"]}),
        json!({"CallbackCommandList": ["Call.CallbackAfterEndCall"]}),
    ] {
        let env = v4(&app, "/v4/call_config/set_callback", &body).await;
        assert_eq!(env["ErrorCode"], 100002, "{body} → {env}");
    }
    let env = v4(
        &app,
        "/v4/call_config/set_callback",
        &json!({"Url": "https://a.example/v4", "CallbackCommandList": ["Call.CallbackAfterEndCall", "Call.CallbackAfterStartCall", "Call.CallbackAfterEndCall"]}),
    )
    .await;
    assert_eq!(env["ErrorCode"], 0, "{env}");
    assert!(env.get("Response").is_none(), "{env}");
    let env = v4(&app, "/v4/call_config/get_callback", &json!({})).await;
    assert_eq!(
        env["Response"],
        json!({"Url": "https://a.example/v4", "CallbackCommandList": ["Call.CallbackAfterEndCall", "Call.CallbackAfterStartCall"]})
    );
    // The generations keep their own configurations.
    assert_eq!(code(&app.call("/v1/callback/get", &json!({})).await), 999);
    let env = v4(&app, "/v4/call_config/delete_callback", &json!({})).await;
    assert_eq!(env["ErrorCode"], 0);
    let env = v4(&app, "/v4/call_config/delete_callback", &json!({})).await;
    assert_eq!(env["ErrorCode"], 0, "deleting nothing succeeds");
    let env = v4(&app, "/v4/call_config/get_callback", &json!({})).await;
    assert_eq!(env["ErrorCode"], 100301);
}

/// Every row of the v1 command table, each call's events reported in event order.
#[tokio::test]
async fn every_row_of_the_v1_command_table() {
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app().await;
    set_v1(&app, &rx.url("/v1cb"), &ALL_V1).await;
    // Recent enough that no ring time-out (60 s) falls due meanwhile.
    let t = app.clock.now_ms() - 20_000;
    let mut expected: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    let mut events: Vec<Vec<Value>> = Vec::new();

    // start, accept, hang-up by the callee: normal_end.
    events.push(vec![
        start_event("c-normal", "alice", &["bob"], t),
        event("c-normal", "accept", "bob", t + 1000),
        event("c-normal", "hangup", "bob", t + 5000),
    ]);
    expected.insert(
        "c-normal",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row("callee_accept_call", "bob", "callee", "accept_call", ""),
            row(
                "caller_call_accepted",
                "alice",
                "caller",
                "call_accepted",
                "",
            ),
            row("callee_call_end", "bob", "callee", "call_end", "normal_end"),
            row("normal_end", "bob", "callee", "-", "normal_end"),
        ],
    );
    events.push(vec![
        start_event("c-reject", "alice", &["bob"], t),
        event("c-reject", "reject", "bob", t + 1000),
    ]);
    expected.insert(
        "c-reject",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row(
                "callee_reject_call",
                "bob",
                "callee",
                "reject_call",
                "reject",
            ),
            row(
                "caller_call_rejected",
                "alice",
                "caller",
                "call_rejected",
                "reject",
            ),
            row("reject", "bob", "callee", "-", "reject"),
        ],
    );
    events.push(vec![
        start_event("c-busy", "alice", &["bob"], t),
        event("c-busy", "busy", "bob", t + 1000),
    ]);
    expected.insert(
        "c-busy",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row(
                "caller_call_busy",
                "alice",
                "caller",
                "call_busy",
                "call_busy",
            ),
            row("call_busy", "bob", "callee", "-", "call_busy"),
        ],
    );
    events.push(vec![
        start_event("c-noanswer", "alice", &["bob"], t),
        event("c-noanswer", "no_answer", "bob", t + 1000),
    ]);
    expected.insert(
        "c-noanswer",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row(
                "callee_not_answer_call",
                "bob",
                "callee",
                "not_answer_call",
                "not_answer",
            ),
            row(
                "caller_call_missed",
                "alice",
                "caller",
                "call_missed",
                "not_answer",
            ),
            row("not_answer", "bob", "callee", "-", "not_answer"),
        ],
    );
    events.push(vec![
        start_event("c-cancel", "alice", &["bob"], t),
        event("c-cancel", "cancel", "alice", t + 1000),
    ]);
    let cancel_rows = vec![
        row("caller_start_call", "alice", "caller", "start_call", ""),
        row("callee_receive_call", "bob", "callee", "receive_call", ""),
        row(
            "caller_cancel_call",
            "alice",
            "caller",
            "cancel_call",
            "cancel",
        ),
        row(
            "callee_call_canceled",
            "bob",
            "callee",
            "call_canceled",
            "cancel",
        ),
        row("cancel", "alice", "caller", "-", "cancel"),
    ];
    expected.insert("c-cancel", cancel_rows.clone());
    // The caller's hang-up before anyone connected is a cancel.
    events.push(vec![
        start_event("c-hangup-early", "alice", &["bob"], t),
        event("c-hangup-early", "hangup", "alice", t + 1000),
    ]);
    expected.insert("c-hangup-early", cancel_rows);
    events.push(vec![
        start_event("c-offline", "alice", &["bob"], t),
        event("c-offline", "accept", "bob", t + 1000),
        event("c-offline", "offline", "alice", t + 5000),
    ]);
    expected.insert(
        "c-offline",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row("callee_accept_call", "bob", "callee", "accept_call", ""),
            row(
                "caller_call_accepted",
                "alice",
                "caller",
                "call_accepted",
                "",
            ),
            row(
                "caller_call_interrupted",
                "alice",
                "caller",
                "call_interrupted",
                "interrupt",
            ),
            row("interrupt", "alice", "caller", "-", "interrupt"),
        ],
    );
    // A group call: invite, join, a hang-up, an offline, and the admin's end.
    let mut invite = event("c-group", "invite", "alice", t + 2000);
    invite["invitees"] = json!(["dave", "bob"]);
    events.push(vec![
        group_start("c-group", &["bob", "carol"], t),
        event("c-group", "accept", "bob", t + 1000),
        invite,
        event("c-group", "join", "erin", t + 3000),
        event("c-group", "hangup", "erin", t + 4000),
        event("c-group", "offline", "bob", t + 4500),
        event("c-group", "accept", "dave", t + 4600),
        event("c-group", "end", ADMIN, t + 5000),
    ]);
    expected.insert(
        "c-group",
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row("callee_receive_call", "carol", "callee", "receive_call", ""),
            row("callee_accept_call", "bob", "callee", "accept_call", ""),
            row(
                "caller_call_accepted",
                "alice",
                "caller",
                "call_accepted",
                "",
            ),
            // bob is already in the call: only dave starts ringing.
            row("invite_user", "dave", "callee", "invite_user", ""),
            row("callee_receive_call", "dave", "callee", "receive_call", ""),
            row(
                "join_in_group_call",
                "erin",
                "callee",
                "join_in_group_call",
                "",
            ),
            row("callee_call_end", "erin", "callee", "call_end", ""),
            row(
                "callee_call_interrupted",
                "bob",
                "callee",
                "call_interrupted",
                "",
            ),
            row("callee_accept_call", "dave", "callee", "accept_call", ""),
            row(
                "caller_call_accepted",
                "alice",
                "caller",
                "call_accepted",
                "",
            ),
            // The end: everyone in the call hangs up, carol stops ringing; the status callback
            // names the caller (the admin is no participant).
            row(
                "caller_call_end",
                "alice",
                "caller",
                "call_end",
                "normal_end",
            ),
            row(
                "callee_call_end",
                "dave",
                "callee",
                "call_end",
                "normal_end",
            ),
            row(
                "callee_call_canceled",
                "carol",
                "callee",
                "call_canceled",
                "normal_end",
            ),
            row("normal_end", "alice", "caller", "-", "normal_end"),
        ],
    );
    for call in &events {
        for e in call {
            app.report_all(std::slice::from_ref(e)).await;
        }
    }
    let total: usize = expected.values().map(Vec::len).sum();
    let got = rx.wait_for(total, WAIT).await;
    for (call, rows) in &expected {
        assert_eq!(&v1_rows(&got, call), rows, "call {call}");
    }
    assert_eq!(got.len(), total);
    // Query strings: the configured path, then TRTC's parameters.
    for r in &got {
        assert_eq!(r.path, "/v1cb");
        assert_eq!(r.query["sdkappid"], SDKAPPID.to_string());
        assert_eq!(r.query["contenttype"], "json");
        assert_eq!(r.query["optplatform"], "RESTAPI");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let b = r.json();
        let is_timeout = b["CallId"] == "c-timeout"
            && ["callee_not_answer_call", "caller_call_missed", "not_answer"]
                .contains(&r.command());
        if is_timeout {
            assert_eq!(r.query["clientip"], "", "a time-out has no client");
        } else {
            assert_eq!(r.query["clientip"], "127.0.0.1");
        }
    }
    // The body's fields, on the normal call's end.
    let end = got
        .iter()
        .find(|r| r.command() == "normal_end" && r.json()["CallId"] == "c-normal")
        .unwrap()
        .json();
    assert_eq!(
        end,
        json!({"UserId": "bob", "RoomId": "", "TotalNum": 2, "MediaType": "audio",
            "CallType": "single", "CallId": "c-normal", "Role": "callee", "CallResult": "normal_end",
            "EventTime": (t + 5000) / 1000, "StartCallTs": t / 1000, "AcceptTs": (t + 1000) / 1000,
            "EndTs": (t + 5000) / 1000})
    );
    let start = got
        .iter()
        .find(|r| r.command() == "caller_start_call" && r.json()["CallId"] == "c-group")
        .unwrap()
        .json();
    assert_eq!(start["CallType"], "group");
    assert_eq!(start["TotalNum"], 3);
    assert_eq!(start["AcceptTs"], 0);
    assert_eq!(start["EndTs"], 0);
    // Keys in TRTC's order.
    let text = String::from_utf8(got[0].body.to_vec()).unwrap();
    let at: Vec<usize> = [
        "UserId",
        "RoomId",
        "TotalNum",
        "MediaType",
        "CallType",
        "CallId",
        "Role",
        "Event",
        "CallResult",
        "EventTime",
        "StartCallTs",
        "AcceptTs",
        "EndTs",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}\":")).unwrap())
    .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
}

/// A ring time-out the time-out job decides is a `no_answer` like a reported one, from no
/// client.
#[tokio::test]
async fn a_ring_time_out_produces_the_no_answer_rows() {
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app_with(TestConfig {
        timeouts_secs: (2, 43_200),
        ..TestConfig::default()
    })
    .await;
    set_v1(&app, &rx.url("/t"), &ALL_V1).await;
    set_v4(&app, &rx.url("/t4"), &ALL_V4).await;
    app.report_all(&[start_event(
        "c-timeout",
        "alice",
        &["bob"],
        app.clock.now_ms(),
    )])
    .await;
    let got = rx.wait_for(5 + 3, WAIT).await;
    let v1: Vec<Received> = got.iter().filter(|r| r.path == "/t").cloned().collect();
    assert_eq!(
        v1_rows(&v1, "c-timeout"),
        vec![
            row("caller_start_call", "alice", "caller", "start_call", ""),
            row("callee_receive_call", "bob", "callee", "receive_call", ""),
            row(
                "callee_not_answer_call",
                "bob",
                "callee",
                "not_answer_call",
                "not_answer"
            ),
            row(
                "caller_call_missed",
                "alice",
                "caller",
                "call_missed",
                "not_answer"
            ),
            row("not_answer", "bob", "callee", "-", "not_answer"),
        ]
    );
    for r in &got[..] {
        let is_start = [
            "caller_start_call",
            "callee_receive_call",
            "Call.CallbackAfterStartCall",
        ]
        .contains(&r.command());
        let ip = r
            .query
            .get("clientip")
            .or_else(|| r.query.get("ClientIP"))
            .unwrap();
        assert_eq!(
            ip,
            if is_start { "127.0.0.1" } else { "" },
            "{}",
            r.command()
        );
    }
    let v4: Vec<Received> = got.iter().filter(|r| r.path == "/t4").cloned().collect();
    assert_eq!(
        v4[1].json()["ChangedUserList"],
        changed(&[("bob", "NotAnswer")])
    );
    assert_eq!(v4[2].json()["CallRecord"]["CallResult"], "NotAnswer");

    // A ring time-out the fold decides while storing a later report (carol's, at t + 2 s, when
    // bob's hang-up at t + 3 s arrives in the same report) has no client either.
    let t = app.clock.now_ms() - 10_000;
    let mut s = start_event("c-derived", "alice", &["bob", "carol"], t);
    s["callType"] = json!("group");
    let mut hangup = event("c-derived", "hangup", "bob", t + 3000);
    hangup["platform"] = json!("Web");
    app.report_all(&[s, event("c-derived", "accept", "bob", t + 1000), hangup])
        .await;
    let later = |r: &Received| {
        r.path == "/t"
            && r.json()["CallId"] == "c-derived"
            && ![
                "caller_start_call",
                "callee_receive_call",
                "callee_accept_call",
                "caller_call_accepted",
            ]
            .contains(&r.command())
    };
    // carol's no-answer (2), bob's hang-up (1), the end (1).
    let got = rx.wait_for_matching(4, WAIT, later).await;
    for r in &got {
        let b = r.json();
        let timed_out = b["UserId"] == "carol" || r.command() == "caller_call_missed";
        let (ip, platform) = if timed_out {
            ("", "RESTAPI")
        } else {
            ("127.0.0.1", "Web")
        };
        assert_eq!(r.query["clientip"], ip, "{}", r.command());
        assert_eq!(r.query["optplatform"], platform, "{}", r.command());
    }
}

/// (CallbackCommand, ChangedUserList, UserList) of v4 callbacks about `call`.
fn v4_rows(got: &[Received], call: &str) -> Vec<(String, Value, Value)> {
    got.iter()
        .filter(|r| {
            let b = r.json();
            b["CallId"] == call
                || b["CallInfo"]["CallId"] == call
                || b["CallRecord"]["CallId"] == call
        })
        .map(|r| {
            let b = r.json();
            (
                b["CallbackCommand"].as_str().unwrap().to_owned(),
                b.get("ChangedUserList").cloned().unwrap_or(Value::Null),
                b.get("UserList").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn users(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(u, s)| json!({"User_Account": u, "Status": s}))
            .collect(),
    )
}

fn changed(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(u, a)| json!({"User_Account": u, "ActionType": a}))
            .collect(),
    )
}

/// Every v4 payload: the start, each kind of member change, the end.
#[tokio::test]
async fn every_v4_payload() {
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app().await;
    set_v4(&app, &rx.url("/v4cb?app=1"), &ALL_V4).await;
    let t = app.clock.now_ms() - 60_000;
    let mut s = group_start("g", &["bob", "carol", "dave"], t);
    s["roomId"] = json!("12345");
    s["chatGroupId"] = json!("grp-1");
    s["platform"] = json!("iOS");
    let mut invite = event("g", "invite", "alice", t + 3000);
    invite["invitees"] = json!(["frank", "gina"]);
    let mut evs = vec![
        s,
        event("g", "accept", "bob", t + 1000),
        event("g", "reject", "carol", t + 1100),
        event("g", "busy", "dave", t + 1200),
        invite,
        event("g", "no_answer", "frank", t + 3500),
        event("g", "join", "erin", t + 4000),
        event("g", "hangup", "erin", t + 4100),
        event("g", "offline", "bob", t + 4200),
        event("g", "join", "bob", t + 4300),
    ];
    evs[9]["platform"] = json!("Android");
    for e in &evs {
        app.report_all(std::slice::from_ref(e)).await;
    }
    // The admin ends it through the call engine: alice and bob in the call, gina ringing.
    let env = v4(
        &app,
        "/v4/call_engine_http_srv/end_call",
        &json!({"CallId": "g"}),
    )
    .await;
    assert_eq!(env["ErrorCode"], 0, "{env}");
    // A single call cancelled by its caller.
    app.report_all(&single_call("s", t, "cancel")).await;
    let got = rx.wait_for(15, WAIT).await;
    let member = "Call.CallbackAfterMemberChanged".to_owned();
    assert_eq!(
        v4_rows(&got, "g"),
        vec![
            (
                "Call.CallbackAfterStartCall".to_owned(),
                Value::Null,
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Waiting"),
                    ("carol", "Waiting"),
                    ("dave", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("bob", "Accept")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("carol", "Waiting"),
                    ("dave", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("carol", "Reject")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("dave", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("dave", "Busy")]),
                users(&[("alice", "Calling"), ("bob", "Calling")])
            ),
            (
                member.clone(),
                changed(&[("frank", "Invite"), ("gina", "Invite")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("frank", "Waiting"),
                    ("gina", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("frank", "NotAnswer")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("gina", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("erin", "Join")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("gina", "Waiting"),
                    ("erin", "Calling")
                ])
            ),
            (
                member.clone(),
                changed(&[("erin", "Hangup")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("gina", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[("bob", "Offline")]),
                users(&[("alice", "Calling"), ("gina", "Waiting")])
            ),
            (
                member.clone(),
                changed(&[("bob", "Join")]),
                users(&[
                    ("alice", "Calling"),
                    ("bob", "Calling"),
                    ("gina", "Waiting")
                ])
            ),
            (
                member.clone(),
                changed(&[
                    ("alice", "Hangup"),
                    ("bob", "Hangup"),
                    ("gina", "Cancel_Invite")
                ]),
                json!([])
            ),
            (
                "Call.CallbackAfterEndCall".to_owned(),
                Value::Null,
                Value::Null
            ),
        ]
    );
    assert_eq!(
        v4_rows(&got, "s"),
        vec![
            (
                "Call.CallbackAfterStartCall".to_owned(),
                Value::Null,
                users(&[("alice", "Calling"), ("bob", "Waiting")])
            ),
            (member, changed(&[("bob", "Cancel_Invite")]), json!([])),
            (
                "Call.CallbackAfterEndCall".to_owned(),
                Value::Null,
                Value::Null
            ),
        ]
    );
    let start = got
        .iter()
        .find(|r| {
            r.command() == "Call.CallbackAfterStartCall" && r.json()["CallInfo"]["CallId"] == "g"
        })
        .unwrap();
    assert_eq!(
        start.json()["CallInfo"],
        json!({"CallId": "g", "MediaType": "Audio", "CallMediaType": "Audio", "ChatGroupId": "grp-1",
            "RoomId": "12345", "RoomIdType": 1})
    );
    assert_eq!(start.json()["EventTime"], t);
    assert_eq!(start.path, "/v4cb");
    assert_eq!(start.query["app"], "1");
    assert_eq!(start.query["SdkAppid"], SDKAPPID.to_string());
    assert_eq!(start.query["contenttype"], "json");
    assert_eq!(start.query["ClientIP"], "127.0.0.1");
    assert_eq!(start.query["OptPlatform"], "iOS");
    assert!(
        start.raw_query.starts_with("app=1&SdkAppid="),
        "{}",
        start.raw_query
    );
    let rejoin = got
        .iter()
        .find(|r| r.json()["ChangedUserList"] == changed(&[("bob", "Join")]))
        .unwrap();
    assert_eq!(rejoin.query["OptPlatform"], "Android");
    let end = got
        .iter()
        .find(|r| {
            r.command() == "Call.CallbackAfterEndCall" && r.json()["CallRecord"]["CallId"] == "g"
        })
        .unwrap()
        .json();
    // The record is the v4 API's record of the call.
    let api = v4(
        &app,
        "/v4/call_record_http_srv/get_record_by_callid",
        &json!({"CallId": "g"}),
    )
    .await;
    assert_eq!(end["CallRecord"], api["Response"]["CallRecord"]);
    assert_eq!(end["CallRecord"]["CallResult"], "NormalEnd");
    assert!(end["EventTime"].as_i64().unwrap() >= t);
}

/// Delivered means HTTP 2xx with an empty body or JSON whose ErrorCode is 0 or absent; anything
/// else is retried.
#[tokio::test]
async fn the_success_rule() {
    // Each call's callback gets its own answer.
    let rx = Receiver::start(std::sync::Arc::new(|_, r: &Received| {
        let call = r.json()["CallId"].as_str().unwrap_or("").to_owned();
        if call == "huge" {
            // More than the 64 KiB callrec reads of an answer.
            return (
                200,
                format!("{{\"x\":\"{}\"}}", "y".repeat(70_000)),
                Duration::ZERO,
            );
        }
        if call == "slow" {
            return (200, String::new(), Duration::from_millis(1500));
        }
        let (status, body) = match call.as_str() {
            "empty" => (204, ""),
            "absent" => (200, r#"{"ActionStatus":"OK","ErrorInfo":""}"#),
            "zero" => (200, r#"{"ErrorCode":0,"ErrorMessage":"Success"}"#),
            "errorcode" => (200, r#"{"ErrorCode":1,"ErrorMessage":"no"}"#),
            "status" => (500, r#"{"ErrorCode":0}"#),
            "redirect" => (302, ""),
            "text" => (200, "OK"),
            _ => (200, ""),
        };
        (status, body.to_owned(), Duration::ZERO)
    }))
    .await;
    // One attempt each, so the failures stay failed with their reasons.
    let app = spawn_app_with(TestConfig {
        callbacks: "retry_delays_secs = []\ngive_up_after_secs = 0\nattempt_timeout_ms = 500"
            .into(),
        ..TestConfig::default()
    })
    .await;
    set_v1(&app, &rx.url("/"), &["caller_start_call"]).await;
    let t = app.clock.now_ms() - 1000;
    let calls = [
        "empty",
        "absent",
        "zero",
        "errorcode",
        "status",
        "redirect",
        "text",
        "huge",
        "slow",
    ];
    for c in calls {
        app.report_all(&[start_event(c, "alice", &["bob"], t)])
            .await;
    }
    let list = settled(&app).await;
    let by_call: BTreeMap<String, (String, Value)> = list
        .iter()
        .map(|d| {
            assert_eq!(d["attempts"], 1, "{d}");
            (
                d["callId"].as_str().unwrap().to_owned(),
                (
                    d["status"].as_str().unwrap().to_owned(),
                    d["lastError"].clone(),
                ),
            )
        })
        .collect();
    for c in ["empty", "absent", "zero"] {
        assert_eq!(by_call[c], ("delivered".into(), Value::Null), "{c}");
    }
    for (c, why) in [
        ("errorcode", "ErrorCode 1"),
        ("status", "HTTP 500"),
        ("redirect", "HTTP 302"),
        ("text", "answer is not JSON"),
        ("huge", "answer larger than 64 KiB"),
        ("slow", "timeout after 500 ms"),
    ] {
        assert_eq!(by_call[c], ("failed".into(), json!(why)), "{c}");
    }
    // A redirect is not followed: nothing arrived anywhere else.
    assert!(rx.received().iter().all(|r| r.path == "/"));
    assert_eq!(rx.received().len(), calls.len());
}

/// Retries follow `retry_delays_secs`; past the list with `give_up_after_secs = 0` the callback
/// is failed, kept, and shows its last error.
#[tokio::test]
async fn retries_follow_the_schedule_then_give_up() {
    let rx = Receiver::start(receiver::always(500, "")).await;
    let app = spawn_app_with(TestConfig {
        callbacks: "retry_delays_secs = [0, 1, 2]\ngive_up_after_secs = 0".into(),
        ..TestConfig::default()
    })
    .await;
    set_v1(&app, &rx.url("/r"), &["caller_start_call"]).await;
    app.report_all(&[start_event("r1", "alice", &["bob"], app.clock.now_ms())])
        .await;
    let got = rx.wait_for(4, WAIT).await;
    let list = settled(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["attempts"], 4);
    assert_eq!(list[0]["lastError"], "HTTP 500");
    assert_eq!(list[0]["nextAttemptMs"], Value::Null);
    let gaps: Vec<f64> = got
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    assert!(gaps[0] < 0.5, "retry 0 s after the first failure: {gaps:?}");
    assert!((0.9..2.0).contains(&gaps[1]), "then 1 s: {gaps:?}");
    assert!((1.9..3.0).contains(&gaps[2]), "then 2 s: {gaps:?}");
    // Every attempt carried the same id.
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]));
    assert_eq!(list[0]["id"], ids[0]);
    // No further attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 4);
}

/// One call's callbacks to one URL go one at a time, in order; other calls go on meanwhile.
#[tokio::test]
async fn order_per_call_and_concurrency_across_calls() {
    let rx = Receiver::start(std::sync::Arc::new(|_, _: &Received| {
        (200, String::new(), Duration::from_millis(300))
    }))
    .await;
    let app = spawn_app().await;
    set_v1(&app, &rx.url("/o"), &ALL_V1).await;
    let t = app.clock.now_ms() - 10_000;
    let mut evs = Vec::new();
    for c in ["o1", "o2", "o3", "o4"] {
        evs.extend(single_call(c, t, "normal_end"));
    }
    // One report: every call's callbacks are produced at once.
    app.report_all(&evs).await;
    let got = rx.wait_for(24, Duration::from_secs(20)).await;
    for c in ["o1", "o2", "o3", "o4"] {
        let mine: Vec<&Received> = got.iter().filter(|r| r.json()["CallId"] == c).collect();
        let commands: Vec<&str> = mine.iter().map(|r| r.command()).collect();
        assert_eq!(
            commands,
            [
                "caller_start_call",
                "callee_receive_call",
                "callee_accept_call",
                "caller_call_accepted",
                "caller_call_end",
                "normal_end"
            ]
        );
        for w in mine.windows(2) {
            assert!(
                w[1].at >= w[0].answered,
                "{c}: the next callback arrived before the previous was answered"
            );
        }
    }
    // The four calls' first callbacks were in flight together.
    let firsts: Vec<Instant> = ["o1", "o2", "o3", "o4"]
        .iter()
        .map(|c| got.iter().find(|r| r.json()["CallId"] == *c).unwrap().at)
        .collect();
    let spread = *firsts.iter().max().unwrap() - *firsts.iter().min().unwrap();
    assert!(spread < Duration::from_millis(250), "{spread:?}");
}

/// The first attempt starts within a second of the report's acknowledgement.
#[tokio::test]
async fn the_first_attempt_follows_the_acknowledgement_within_a_second() {
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app().await;
    set_v1(&app, &rx.url("/f"), &["caller_start_call"]).await;
    for i in 0..20 {
        let call = format!("f{i}");
        app.report_all(&[start_event(&call, "alice", &["bob"], app.clock.now_ms())])
            .await;
        let acked = Instant::now();
        let got = rx
            .wait_for_matching(1, Duration::from_secs(5), |r| {
                r.json()["CallId"] == call.as_str()
            })
            .await;
        let after = got[0].at.saturating_duration_since(acked);
        assert!(after < Duration::from_secs(1), "{call}: {after:?}");
    }
}

/// With `callback_secret` every delivery carries Standard Webhooks headers that the official
/// crate verifies; with `callback_token`, Tencent's Sign and RequestTime.
#[tokio::test]
async fn deliveries_are_signed_both_ways() {
    use sha2::Digest as _;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwcXBx0bMz5a8=";
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app_with(TestConfig {
        app_extra: format!("callback_secret = \"{secret}\"\ncallback_token = \"xxxxyyyy\""),
        ..TestConfig::default()
    })
    .await;
    set_v1(&app, &rx.url("/s?k=v"), &ALL_V1).await;
    set_v4(&app, &rx.url("/s4"), &ALL_V4).await;
    app.report_all(&single_call("sig", app.clock.now_ms() - 5000, "reject"))
        .await;
    let got = rx.wait_for(5 + 3, WAIT).await;
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    for r in &got {
        wh.verify(&r.body, &r.headers)
            .unwrap_or_else(|e| panic!("{e:?}: {r:?}"));
        assert!(r.header("webhook-id").unwrap().starts_with("msg_"));
        assert!(r.header("webhook-signature").unwrap().starts_with("v1,"));
        let time: i64 = r.query["RequestTime"].parse().unwrap();
        assert!((time - now_ms() / 1000).abs() < 60);
        let expected: String = sha2::Sha256::digest(format!("xxxxyyyy{time}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.query["Sign"], expected);
        assert!(
            r.raw_query
                .ends_with(&format!("&Sign={expected}&RequestTime={time}")),
            "{}",
            r.raw_query
        );
        assert!(r.header("user-agent").unwrap().starts_with("callrec/"));
    }
    // A tampered body does not verify.
    let mut bad = got[0].body.to_vec();
    bad.push(b' ');
    assert!(wh.verify(&bad, &got[0].headers).is_err());
}

/// Without signing: a webhook-id and callrec's User-Agent, no signature headers.
#[tokio::test]
async fn unsigned_deliveries_carry_an_id_and_the_user_agent() {
    let rx = Receiver::start(receiver::ok()).await;
    let app = spawn_app().await;
    set_v1(&app, &rx.url("/u"), &["caller_start_call"]).await;
    app.report_all(&[start_event("u1", "alice", &["bob"], app.clock.now_ms())])
        .await;
    let got = rx.wait_for(1, WAIT).await;
    assert!(got[0].header("webhook-id").unwrap().starts_with("msg_"));
    assert_eq!(
        got[0].header("user-agent").unwrap(),
        format!("callrec/{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(got[0].header("webhook-signature").is_none());
    assert!(!got[0].query.contains_key("Sign"));
}

/// A failed callback is redelivered with its id, by id or as every failed one since a time;
/// the deliveries API lists, filters and pages them.
#[tokio::test]
async fn failed_callbacks_are_listed_and_redelivered_with_their_ids() {
    let mut rx = Receiver::start(receiver::ok()).await;
    rx.stop().await;
    let app = spawn_app_with(TestConfig {
        callbacks: "retry_delays_secs = []\ngive_up_after_secs = 0".into(),
        ..TestConfig::default()
    })
    .await;
    set_v1(&app, &rx.url("/d"), &["caller_start_call", "reject"]).await;
    let t = app.clock.now_ms() - 5000;
    app.report_all(&single_call("d1", t, "reject")).await;
    app.report_all(&single_call("d2", t, "reject")).await;
    let list = settled(&app).await;
    assert_eq!(list.len(), 4);
    assert!(
        list.iter()
            .all(|d| d["status"] == "failed" && d["attempts"] == 1),
        "{list:#?}"
    );
    assert!(
        list.iter().all(|d| d["lastError"] == "connection refused"),
        "{list:#?}"
    );
    assert_eq!(list[0]["url"], rx.url("/d"));
    assert_eq!(list[0]["generation"], "v1");
    // Newest first: d2's status callback, then its start, then d1's.
    let order: Vec<(String, String)> = list
        .iter()
        .map(|d| {
            (
                d["callId"].as_str().unwrap().into(),
                d["command"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            ("d2".into(), "reject".into()),
            ("d2".into(), "caller_start_call".into()),
            ("d1".into(), "reject".into()),
            ("d1".into(), "caller_start_call".into()),
        ]
    );
    // Filters and pages.
    let page = deliveries(&app, &json!({"limit": 3})).await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 3);
    let next = page["nextCursor"].as_str().unwrap();
    let rest = deliveries(&app, &json!({"limit": 3, "cursor": next})).await;
    assert_eq!(rest["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(rest["nextCursor"], Value::Null);
    let d1 = deliveries(&app, &json!({"callId": "d1", "status": "failed"})).await;
    assert_eq!(d1["deliveries"].as_array().unwrap().len(), 2);
    let none = deliveries(&app, &json!({"status": "delivered"})).await;
    assert_eq!(none["deliveries"], json!([]));
    for bad in [
        json!({"status": "lost"}),
        json!({"limit": 0}),
        json!({"limit": 1001}),
        json!({"cursor": "forged"}),
    ] {
        let env = app.call("/v1/callback/get_deliveries", &bad).await;
        assert_eq!(code(&env), 70001, "{bad} → {env}");
    }
    // Redeliver d1's two by id: they arrive with their ids, in order.
    rx.restart().await;
    let d1_ids: Vec<String> = list[2..]
        .iter()
        .rev()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let env = app
        .call("/v1/callback/redeliver", &json!({"ids": d1_ids}))
        .await;
    assert_eq!(env["data"], json!({"queued": 2}), "{env}");
    let got = rx.wait_for(2, WAIT).await;
    let got_ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(
        got_ids,
        d1_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Then every failed one since the start: d2's two.
    let env = app
        .call(
            "/v1/callback/redeliver",
            &json!({"status": "failed", "sinceMs": 0}),
        )
        .await;
    assert_eq!(env["data"], json!({"queued": 2}), "{env}");
    rx.wait_for(4, WAIT).await;
    let list = settled(&app).await;
    assert!(list.iter().all(|d| d["status"] == "delivered"), "{list:#?}");
    for bad in [
        json!({}),
        json!({"ids": []}),
        json!({"status": "delivered", "sinceMs": 0}),
        json!({"status": "failed"}),
    ] {
        let env = app.call("/v1/callback/redeliver", &bad).await;
        assert_eq!(code(&env), 70001, "{bad} → {env}");
    }
}

/// `deny_private_addresses` refuses such URLs in both generations' set APIs, and a callback
/// already produced for one is never attempted.
#[tokio::test]
async fn private_addresses_are_refused_and_never_attempted() {
    let rx = Receiver::start(receiver::ok()).await;
    // The default retry schedule: a refused address fails at once anyway.
    let cfg = TestConfig::default();
    let app = spawn_app_with(cfg.clone()).await;
    // Allowed while the switch is off: configure the local receiver, then stop.
    set_v1(&app, &rx.url("/p"), &["caller_start_call"]).await;
    let dir = app.stop().await;
    let app = spawn_app_in(
        dir,
        TestConfig {
            callbacks: "deny_private_addresses = true".into(),
            ..cfg
        },
    )
    .await;
    for url in [
        rx.url("/p"),
        "http://localhost:9/".into(),
        "http://[::1]/".into(),
        "http://10.0.0.1/".into(),
    ] {
        let env = app
            .call(
                "/v1/callback/set",
                &json!({"address": url, "actions": ["normal_end"]}),
            )
            .await;
        assert_eq!(code(&env), 70001, "{env}");
        assert!(
            env["errorMessage"]
                .as_str()
                .unwrap()
                .contains("not allowed"),
            "{env}"
        );
        let env = v4(
            &app,
            "/v4/call_config/set_callback",
            &json!({"Url": url, "CallbackCommandList": ["Call.CallbackAfterEndCall"]}),
        )
        .await;
        assert_eq!(env["ErrorCode"], 100002, "{env}");
    }
    // The stored configuration still points at the receiver: its callback fails unattempted.
    app.report_all(&[start_event("p1", "alice", &["bob"], app.clock.now_ms())])
        .await;
    let list = settled(&app).await;
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["lastError"], "address not allowed");
    assert!(rx.received().is_empty());
}

/// Shutting down waits for the attempts in flight and records their outcomes: nothing is left
/// half-done (delivered but still pending, to be sent again).
#[tokio::test]
async fn graceful_shutdown_records_the_attempts_in_flight() {
    let rx = Receiver::start(std::sync::Arc::new(|_, _: &Received| {
        (200, String::new(), Duration::from_millis(800))
    }))
    .await;
    let app = spawn_app().await;
    set_v1(&app, &rx.url("/g"), &["caller_start_call"]).await;
    for i in 0..5 {
        app.report_all(&[start_event(
            &format!("g{i}"),
            "alice",
            &["bob"],
            app.clock.now_ms(),
        )])
        .await;
    }
    rx.wait_for(5, WAIT).await;
    // All five attempts are in flight (the receiver answers after 0.8 s): stop now.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, TestConfig::default()).await;
    let list = deliveries(&app, &json!({})).await;
    let list = list["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(
        list.iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1),
        "{list:#?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 5, "nothing was sent twice");
    // The metrics tell the same story.
    let text = app.get("/metrics").await.text().await.unwrap();
    for series in [
        "callrec_callbacks_pending 0",
        "callrec_callbacks_oldest_pending_seconds",
        "callrec_callback_delivery_seconds",
        "callrec_callback_attempts",
        "callrec_callbacks_produced",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

/// A receiver whose certificate is not trusted fails with a reason that says so.
#[tokio::test]
async fn an_untrusted_certificate_is_named_in_the_last_error() {
    let app = spawn_app_with(TestConfig {
        callbacks: "retry_delays_secs = []\ngive_up_after_secs = 0".into(),
        ..TestConfig::default()
    })
    .await;
    // callrec's own listener: HTTPS with a self-signed certificate nobody trusts.
    set_v1(
        &app,
        &format!("{}/cb", app.base_url),
        &["caller_start_call"],
    )
    .await;
    app.report_all(&[start_event("tls", "alice", &["bob"], app.clock.now_ms())])
        .await;
    let list = settled(&app).await;
    assert_eq!(list[0]["status"], "failed");
    let why = list[0]["lastError"].as_str().unwrap();
    assert!(
        why.starts_with("TLS: ") && why.contains("certificate"),
        "{why}"
    );
}
