//! The v4 generation through the real server (TLS, port 0): the envelope and RequestId, every row
//! of the v4 error table, the order of each adjacent pair of rows (a request failing both answers
//! the earlier one), and the record APIs on the same records as v1.

mod common;

use common::{
    ADMIN, KEY, KEY2, SDKAPPID, SDKAPPID2, TestApp, TestConfig, second_app_toml, single_call,
    spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

const GET: &str = "/v4/call_record_http_srv/get_record_by_callid";
const FILTER: &str = "/v4/call_record_http_srv/get_record_by_filter";

/// Checks the invariants every v4 answer has and returns it: HTTP 200, JSON, `RequestId` =
/// `Id-<X-Request-Id>-O-Seq-<n>`, `ActionStatus` OK exactly when `ErrorCode` is 0, and the keys
/// in their order.
async fn v4_envelope(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let header = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = resp.text().await.unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    let id = env["RequestId"].as_str().unwrap();
    let rest = id
        .strip_prefix(&format!("Id-{header}-O-Seq-"))
        .unwrap_or_else(|| panic!("RequestId {id} does not carry X-Request-Id {header}"));
    assert!(rest.parse::<u64>().is_ok(), "{id}");
    assert_eq!(header.len(), 32);
    let keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let ok = env["ErrorCode"] == 0;
    assert_eq!(env["ActionStatus"], if ok { "OK" } else { "FAIL" }, "{env}");
    if ok {
        assert_eq!(env["ErrorInfo"], "", "{env}");
    } else {
        assert!(
            env["ErrorInfo"].as_str().is_some_and(|m| !m.is_empty()),
            "{env}"
        );
        assert!(env.get("Response").is_none(), "{env}");
    }
    // serde_json's map is sorted; the wire order is checked on the raw text.
    let pos = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(pos("ActionStatus") < pos("ErrorInfo"), "{text}");
    assert!(pos("ErrorInfo") < pos("ErrorCode"), "{text}");
    assert!(pos("ErrorCode") < pos("RequestId"), "{text}");
    assert!(keys.len() == 4 || (ok && keys.len() == 5 && env.get("Response").is_some()));
    env
}

fn code(env: &Value) -> u64 {
    env["ErrorCode"].as_u64().unwrap()
}

/// `method path?query` with `body`; the checked v4 envelope.
async fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    query: &str,
    body: &str,
) -> Value {
    let resp = app
        .client
        .request(method, format!("{}{path}?{query}", app.base_url))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    v4_envelope(resp).await
}

async fn post(app: &TestApp, path: &str, query: &str, body: &str) -> Value {
    request(app, reqwest::Method::POST, path, query, body).await
}

/// A UserSig of `sdkappid` for `identifier` signed with `key`, issued `ago` seconds before the
/// server's now and valid for `expire` seconds.
fn sig(app: &TestApp, sdkappid: u64, key: &str, identifier: &str, expire: u64, ago: u64) -> String {
    let now = u64::try_from(app.clock.now_secs()).unwrap();
    callrec_usersig::generate(sdkappid, key, identifier, expire, now - ago)
}

fn query(sdkappid: &str, identifier: &str, usersig: &str) -> String {
    format!(
        "sdkappid={sdkappid}&identifier={identifier}&usersig={usersig}&random=7&contenttype=json"
    )
}

#[tokio::test]
async fn every_row_of_the_v4_error_table() {
    let app = spawn_app_with(TestConfig {
        extra: second_app_toml(),
        ..TestConfig::default()
    })
    .await;
    let good = app.query_for(ADMIN);
    let body = r#"{"CallId":"nothing-here"}"#;
    let app_id = SDKAPPID.to_string();
    let admin_sig = app.admin_sig();
    let rows: Vec<(&str, Value, u64)> = vec![
        (
            "unknown API",
            post(&app, "/v4/call_record_http_srv/nope", &good, body).await,
            60009,
        ),
        (
            "method",
            request(&app, reqwest::Method::PUT, GET, &good, body).await,
            60002,
        ),
        (
            "sdkappid missing",
            post(
                &app,
                GET,
                &good.replace(&format!("sdkappid={SDKAPPID}&"), ""),
                body,
            )
            .await,
            60012,
        ),
        (
            "sdkappid not a number",
            post(&app, GET, &query("14x", ADMIN, &admin_sig), body).await,
            60012,
        ),
        (
            "random missing",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &admin_sig).replace("random=7&", ""),
                body,
            )
            .await,
            60002,
        ),
        (
            "contenttype not json",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &admin_sig).replace("contenttype=json", "contenttype=xml"),
                body,
            )
            .await,
            60002,
        ),
        (
            "sdkappid not configured",
            post(&app, GET, &query("1400009999", ADMIN, &admin_sig), body).await,
            70020,
        ),
        (
            "UserSig undecodable",
            post(&app, GET, &query(&app_id, ADMIN, "garbage!"), body).await,
            70003,
        ),
        (
            "UserSig of another identifier",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID, KEY, "bob", 86_400, 0)),
                body,
            )
            .await,
            70013,
        ),
        (
            "UserSig of another app",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID2, KEY, ADMIN, 86_400, 0)),
                body,
            )
            .await,
            70014,
        ),
        (
            "UserSig signature wrong",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID, KEY2, ADMIN, 86_400, 0)),
                body,
            )
            .await,
            70009,
        ),
        (
            "UserSig expired",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID, KEY, ADMIN, 60, 61)),
                body,
            )
            .await,
            70001,
        ),
        (
            "not an admin",
            post(&app, GET, &app.query_for("alice"), body).await,
            60010,
        ),
        ("body empty", post(&app, GET, &good, "").await, 60003),
        (
            "body not an object",
            post(&app, GET, &good, "[1]").await,
            60003,
        ),
        (
            "field of a wrong type",
            post(&app, GET, &good, r#"{"CallId":5}"#).await,
            60003,
        ),
        ("field missing", post(&app, GET, &good, "{}").await, 101002),
        (
            "field invalid",
            post(&app, FILTER, &good, r#"{"NumberPerPage":1001}"#).await,
            101002,
        ),
        (
            "EndTime before StartTime",
            post(&app, FILTER, &good, r#"{"StartTime":100,"EndTime":99}"#).await,
            101002,
        ),
        (
            "record not found",
            post(&app, GET, &good, body).await,
            101050,
        ),
    ];
    for (what, env, want) in rows {
        assert_eq!(code(&env), want, "{what}: {env}");
    }
    // An oversized body.
    let big = format!(r#"{{"CallId":"{}"}}"#, "x".repeat(1 << 20));
    assert_eq!(code(&post(&app, GET, &good, &big).await), 60003);

    // No group call package, and the rate limit.
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    let env = post(&app, GET, &app.query_for(ADMIN), body).await;
    assert_eq!(code(&env), 60020, "{env}");
    let app = spawn_app_with(TestConfig {
        extra_rate_limits: "get_record_by_callid = 1".into(),
        ..TestConfig::default()
    })
    .await;
    assert_eq!(
        code(&post(&app, GET, &app.query_for(ADMIN), body).await),
        101050
    );
    assert_eq!(
        code(&post(&app, GET, &app.query_for(ADMIN), body).await),
        60007
    );
    // The v1 API of the same operation has its own limit.
    let v1 = app
        .call(
            "/v1/records/get_record_by_callId",
            &json!({"callId": "nothing-here"}),
        )
        .await;
    assert_eq!(common::code(&v1), 101_050, "{v1}");
}

#[tokio::test]
async fn each_pair_of_adjacent_rows_answers_the_earlier_one() {
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        extra_rate_limits: "get_record_by_callid = 1\nget_record_by_filter = 1".into(),
        extra: second_app_toml(),
        ..TestConfig::default()
    })
    .await;
    let app_id = SDKAPPID.to_string();
    let admin_sig = app.admin_sig();
    let bad_body = r#"{"CallId":5}"#;
    let no_random = |q: String| q.replace("random=7&", "");
    let pairs: Vec<(&str, Value, u64)> = vec![
        (
            "unknown API + method",
            request(
                &app,
                reqwest::Method::GET,
                "/v4/x/y",
                &query(&app_id, ADMIN, &admin_sig),
                "",
            )
            .await,
            60009,
        ),
        (
            "method + sdkappid",
            request(
                &app,
                reqwest::Method::GET,
                GET,
                &query("x", ADMIN, &admin_sig),
                "",
            )
            .await,
            60002,
        ),
        (
            "sdkappid + another parameter",
            post(
                &app,
                GET,
                &no_random(query("x", ADMIN, &admin_sig)),
                bad_body,
            )
            .await,
            60012,
        ),
        (
            "another parameter + sdkappid not configured",
            post(
                &app,
                GET,
                &no_random(query("1400009999", ADMIN, &admin_sig)),
                bad_body,
            )
            .await,
            60002,
        ),
        (
            "sdkappid not configured + UserSig undecodable",
            post(&app, GET, &query("1400009999", ADMIN, "garbage!"), bad_body).await,
            70020,
        ),
        (
            "UserSig undecodable (identifier would differ too)",
            post(&app, GET, &query(&app_id, "bob", "garbage!"), bad_body).await,
            70003,
        ),
        (
            "identifier + app of the UserSig",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID2, KEY, "bob", 86_400, 0)),
                bad_body,
            )
            .await,
            70013,
        ),
        (
            "app of the UserSig + signature",
            post(
                &app,
                GET,
                &query(
                    &app_id,
                    ADMIN,
                    &sig(&app, SDKAPPID2, KEY2, ADMIN, 86_400, 0),
                ),
                bad_body,
            )
            .await,
            70014,
        ),
        (
            "signature + expired",
            post(
                &app,
                GET,
                &query(&app_id, ADMIN, &sig(&app, SDKAPPID, KEY2, ADMIN, 60, 61)),
                bad_body,
            )
            .await,
            70009,
        ),
        (
            "expired + not an admin",
            post(
                &app,
                GET,
                &query(&app_id, "alice", &sig(&app, SDKAPPID, KEY, "alice", 60, 61)),
                bad_body,
            )
            .await,
            70001,
        ),
        (
            "not an admin + no package",
            post(&app, GET, &app.query_for("alice"), bad_body).await,
            60010,
        ),
        (
            "no package + rate limit",
            post(&app, GET, &app.query_for(ADMIN), bad_body).await,
            60020,
        ),
    ];
    for (what, env, want) in pairs {
        assert_eq!(code(&env), want, "{what}: {env}");
    }

    // Rate limit + body, body type + field value: on an app with the package.
    let app = spawn_app_with(TestConfig {
        extra_rate_limits: "get_record_by_filter = 1".into(),
        ..TestConfig::default()
    })
    .await;
    let q = app.query_for(ADMIN);
    let env = post(&app, FILTER, &q, r#"{"StartTime":"x","NumberPerPage":0}"#).await;
    assert_eq!(code(&env), 60003, "body type + field value: {env}");
    let env = post(&app, FILTER, &q, "{").await;
    assert_eq!(code(&env), 60007, "rate limit + body: {env}");
}

/// The v4 record of a v1 record, as the mapping documents it.
fn v4_of_v1(r: &Value) -> Value {
    let result = match r["callResult"].as_str().unwrap() {
        "cancel" => "Cancel",
        "reject" => "Reject",
        "not_answer" => "NotAnswer",
        "call_busy" => "CallBusy",
        "normal_end" => "NormalEnd",
        "interrupt" => "Interrupt",
        "ongoing" => "Ongoing",
        other => panic!("unknown result {other}"),
    };
    let mut callees = vec![r["caller"].clone()];
    callees.extend(r["callees"].as_array().unwrap().iter().cloned());
    let room = r["roomId"].as_str().unwrap();
    let room_type = if room.is_empty() {
        0
    } else if !room.starts_with('0')
        && room
            .parse::<u64>()
            .is_ok_and(|n| (1..=4_294_967_295).contains(&n))
    {
        1
    } else {
        2
    };
    json!({
        "CallId": r["callId"],
        "Caller_Account": r["caller"],
        "MediaType": if r["mediaType"] == "video" { "Video" } else { "Audio" },
        "CallType": if r["callType"] == "single" { "SingleCall" } else { "MultiCall" },
        "StartTime": r["startCallTs"],
        "AcceptTime": r["acceptTs"],
        "EndTime": r["endTs"],
        "CallResult": result,
        "CalleeList_Account": callees,
        "RoomId": r["roomId"],
        "RoomIdType": room_type,
    })
}

#[tokio::test]
async fn v4_records_are_the_v1_records_mapped() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    let results = [
        "normal_end",
        "cancel",
        "reject",
        "call_busy",
        "not_answer",
        "interrupt",
        "ongoing",
    ];
    let mut events = Vec::new();
    for i in 0..70 {
        let call = format!("call-{i:03}");
        let mut call_events = single_call(&call, now - 600_000 + i * 1000, results[i as usize % 7]);
        if i % 3 == 0 {
            call_events[0]["roomId"] = json!(format!("{}", 1000 + i));
        } else if i % 3 == 1 {
            call_events[0]["roomId"] = json!(format!("room-{i}"));
        }
        events.extend(call_events);
    }
    app.report_all(&events).await;

    let q = || app.query_for(ADMIN);
    for i in [0, 1, 2, 5, 6, 33, 69] {
        let call = format!("call-{i:03}");
        let v1 = app.record(&call).await;
        let v4 = post(&app, GET, &q(), &json!({"CallId": call}).to_string()).await;
        assert_eq!(code(&v4), 0, "{v4}");
        assert_eq!(
            v4["Response"]["CallRecord"],
            v4_of_v1(&v1["data"]),
            "{call}"
        );
    }

    // Pages: the same records in the same order, NumberPerPage defaults to 10, Page is echoed
    // while there are records and 0 on an empty page.
    let v1_all = app
        .filter(&json!({"startTimestamp": 0, "numberPerPage": 1000}))
        .await;
    let v1_list = v1_all["callRecordList"].as_array().unwrap();
    assert_eq!(v1_list.len(), 60, "the ongoing calls are left out");
    let mut paged = Vec::new();
    for page in 1.. {
        let env = post(&app, FILTER, &q(), &json!({"Page": page}).to_string()).await;
        assert_eq!(code(&env), 0, "{env}");
        let resp = &env["Response"];
        assert_eq!(resp["TotalNum"], 60);
        let list = resp["CallRecordList"].as_array().unwrap();
        if list.is_empty() {
            assert_eq!(resp["Page"], 0, "{env}");
            break;
        }
        assert_eq!(resp["Page"], page);
        assert!(list.len() <= 10);
        paged.extend(list.iter().cloned());
    }
    let mapped: Vec<Value> = v1_list.iter().map(v4_of_v1).collect();
    assert_eq!(paged, mapped);

    // Filters in v4 names select what the v1 names select.
    for (v4_result, v1_result) in [
        ("NormalEnd", "normal_end"),
        ("Ongoing", "ongoing"),
        ("CallBusy", "call_busy"),
    ] {
        let v4 = post(
            &app,
            FILTER,
            &q(),
            &json!({"StartTime": 0, "CallResult": v4_result, "CallType": "SingleCall", "NumberPerPage": 1000}).to_string(),
        )
        .await;
        let v1 = app
            .filter(&json!({"startTimestamp": 0, "callResult": v1_result, "callType": "single", "numberPerPage": 1000}))
            .await;
        let v1_mapped: Vec<Value> = v1["callRecordList"]
            .as_array()
            .unwrap()
            .iter()
            .map(v4_of_v1)
            .collect();
        assert_eq!(
            v4["Response"]["CallRecordList"].as_array().unwrap(),
            &v1_mapped
        );
        assert_eq!(v4["Response"]["TotalNum"], v1["totalNum"]);
    }
}

#[tokio::test]
async fn v4_unknown_paths_under_v4_and_v1_paths_stay_in_their_generation() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    // A v1 path under /v4 is unknown to v4, and the other way round.
    let env = post(&app, "/v4/records/get_record_by_callId", &q, "{}").await;
    assert_eq!(code(&env), 60009);
    let v1 = app
        .post("/v1/call_record_http_srv/get_record_by_callid", &q, "{}")
        .await;
    let v1 = common::envelope_of(v1).await;
    assert_eq!(common::code(&v1), 70001, "{v1}");
    // Metrics count v4 requests under their API names.
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"callrec_requests_total{api="unknown",error_code="60009"} 1"#),
        "{text}"
    );
}

const CALL_INFO: &str = "/v4/call_engine_http_srv/get_call_info";
const END_CALL: &str = "/v4/call_engine_http_srv/end_call";
const ROBOT: &str = "/v4/call_engine_http_srv/start_call_by_robot";

#[tokio::test]
async fn the_call_engine_shows_ends_and_starts_calls() {
    let app = spawn_app().await;
    let q = || app.query_for(ADMIN);
    let now = app.clock.now_ms();
    let mut start = common::start_event("g1", "alice", &["bob", "carol", "dave"], now - 10_000);
    start["chatGroupId"] = json!("group-42");
    start["roomId"] = json!("9001");
    app.report_all(&[
        start,
        common::event("g1", "accept", "bob", now - 8_000),
        common::event("g1", "reject", "carol", now - 7_000),
    ])
    .await;
    let info = post(&app, CALL_INFO, &q(), r#"{"CallId":"g1"}"#).await;
    assert_eq!(code(&info), 0, "{info}");
    assert_eq!(
        info["Response"],
        json!({
            "CallInfo": {"CallId": "g1", "MediaType": "Audio", "ChatGroupId": "group-42",
                         "RoomId": "9001", "RoomIdType": 1},
            "UserList": [
                {"User_Account": "alice", "Status": "Calling"},
                {"User_Account": "bob", "Status": "Calling"},
                {"User_Account": "dave", "Status": "Waiting"},
            ]
        })
    );

    // end_call: envelope only, the call ends at once with normal_end (someone connected).
    let env = post(&app, END_CALL, &q(), r#"{"CallId":"g1"}"#).await;
    assert_eq!(code(&env), 0, "{env}");
    assert!(env.get("Response").is_none(), "{env}");
    let v1 = app.record("g1").await;
    assert_eq!(v1["data"]["callResult"], "normal_end", "{v1}");
    for path in [CALL_INFO, END_CALL] {
        for call in ["g1", "no-such-call"] {
            let env = post(&app, path, &q(), &json!({"CallId": call}).to_string()).await;
            assert_eq!(code(&env), 101_004, "{path} {call}: {env}");
        }
    }
    // A user may not report an end.
    let data = app
        .call_as(
            "bob",
            "/v1/events/report",
            &json!({"events": [common::event("g1", "end", "bob", now)]}),
        )
        .await;
    assert_eq!(common::rejected(&data["data"]), [(0, 70004)], "{data}");

    // start_call_by_robot: a new call with the robot as caller.
    let body = json!({"Robot_Account": "robot-1", "CalleeList_Account": ["erin"], "Timeout": 30_000,
        "CallInfo": {"MediaType": "Video", "RoomId": "r-7", "RoomIdType": 2},
        "UserData": "order 42", "OfflinePushInfo": {"Title": "ignored"}});
    let env = post(&app, ROBOT, &q(), &body.to_string()).await;
    assert_eq!(code(&env), 0, "{env}");
    let call_id = env["Response"]["CallId"].as_str().unwrap().to_owned();
    assert_eq!(call_id.len(), 36, "{call_id}");
    let v4 = post(&app, GET, &q(), &json!({"CallId": call_id}).to_string()).await;
    let rec = &v4["Response"]["CallRecord"];
    assert_eq!(rec["Caller_Account"], "robot-1");
    assert_eq!(rec["CallType"], "SingleCall");
    assert_eq!(rec["MediaType"], "Video");
    assert_eq!(rec["CallResult"], "Ongoing");
    assert_eq!(rec["RoomIdType"], 2);
    assert_eq!(rec["CalleeList_Account"], json!(["robot-1", "erin"]));
    let info = post(
        &app,
        CALL_INFO,
        &q(),
        &json!({"CallId": call_id}).to_string(),
    )
    .await;
    assert_eq!(
        info["Response"]["UserList"],
        json!([{"User_Account": "robot-1", "Status": "Calling"},
               {"User_Account": "erin", "Status": "Waiting"}])
    );
    for bad in [
        json!({"Robot_Account": "r", "CalleeList_Account": ["x"], "Timeout": 9_999, "CallInfo": {"MediaType": "Audio"}}),
        json!({"Robot_Account": "r", "CalleeList_Account": [], "Timeout": 10_000, "CallInfo": {"MediaType": "Audio"}}),
        json!({"Robot_Account": "r", "CalleeList_Account": ["x"], "Timeout": 10_000, "CallInfo": {"MediaType": "audio"}}),
        json!({"Robot_Account": "r", "CalleeList_Account": ["x"], "Timeout": 10_000}),
        json!({"Robot_Account": "r", "CalleeList_Account": ["x"], "Timeout": 10_000, "CallInfo": {"MediaType": "Audio"}, "UserData": "x".repeat(1001)}),
    ] {
        let env = post(&app, ROBOT, &q(), &bad.to_string()).await;
        assert_eq!(code(&env), 101_002, "{bad}: {env}");
    }
}

/// The reproduction of the issue: a start at now − 120 s and the callee's accept at now − 30 s
/// in one report, ring time-out 60 s: the accept came after the ring time-out, so the call was
/// not answered, ending at start + 60 s — on v1 and v4 alike, before any time-out job ran.
#[tokio::test]
async fn an_accept_timed_after_the_ring_time_out_does_not_connect_the_call() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    let start_ms = now - 120_000;
    app.report_all(&[
        common::start_event("late", "alice", &["bob"], start_ms),
        common::event("late", "accept", "bob", now - 30_000),
    ])
    .await;
    let v1 = app.record("late").await;
    assert_eq!(v1["data"]["callResult"], "not_answer", "{v1}");
    assert_eq!(v1["data"]["endTs"], (start_ms + 60_000).div_euclid(1000));
    assert_eq!(v1["data"]["acceptTs"], 0);
    let v4 = post(&app, GET, &app.query_for(ADMIN), r#"{"CallId":"late"}"#).await;
    assert_eq!(
        v4["Response"]["CallRecord"]["CallResult"], "NotAnswer",
        "{v4}"
    );
}

#[tokio::test]
async fn end_call_blocked_by_a_locked_database_answers_101001() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    app.report_all(&[common::start_event(
        "blocked",
        "alice",
        &["bob"],
        now - 1_000,
    )])
    .await;
    let db = app.data_dir().join("callrec.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(4_000));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    let env = post(
        &app,
        END_CALL,
        &app.query_for(ADMIN),
        r#"{"CallId":"blocked"}"#,
    )
    .await;
    assert_eq!(code(&env), 101_001, "{env}");
    holder.join().unwrap();
}
