//! The v1 error table of docs/api.md through the real server (TLS, port 0): every row, and the ORDER of
//! the checks — for each pair of adjacent rows, a request failing both answers the earlier row.
//! Also the envelope invariants of every `/v1/` response, the body-size limits and the
//! 3-second deadline (101001) under a real blocked write.

mod common;

use std::time::{Duration, Instant};

use callrec_domain::Clock;
use common::{
    ADMIN, KEY, KEY2, SDKAPPID, SDKAPPID2, TestConfig, code, envelope_of, event, manual_clock,
    second_app_toml, single_call, spawn_app, spawn_app_with, start_event,
};
use serde_json::{Value, json};

const GET: &str = "/v1/records/get_record_by_callId";
const FILTER: &str = "/v1/records/get_records_by_filter";
const REPORT: &str = "/v1/events/report";

/// A message of an envelope.
fn message(env: &Value) -> &str {
    env["errorMessage"].as_str().unwrap()
}

/// The query of `app.query_for(ADMIN)` with parameter `name` removed.
fn without(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.starts_with(&format!("{name}=")))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query with `name`'s value replaced by `value`.
fn with_value(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|p| {
            if p.starts_with(&format!("{name}=")) {
                format!("{name}={value}")
            } else {
                p.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------------
// The envelope.

#[tokio::test]
async fn every_v1_response_is_http_200_json_with_a_request_id_header_and_no_data_on_failure() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    // One request per outcome: success, each failing row, over HTTP/2 and HTTP/1.1.
    let h1 = app.client_builder().http1_only().build().unwrap();
    let mut ids = std::collections::HashSet::new();
    let cases: Vec<(reqwest::RequestBuilder, u64)> = vec![
        (
            app.client
                .post(format!("{}/v1/nope/nope?{q}", app.base_url))
                .body("{}"),
            70001,
        ),
        (
            app.client
                .put(format!("{}{GET}?{q}", app.base_url))
                .body("{}"),
            70001,
        ),
        (
            app.client
                .post(format!("{}{GET}?{}", app.base_url, without(&q, "random")))
                .body("{}"),
            70001,
        ),
        (
            app.client
                .post(format!(
                    "{}{GET}?{}",
                    app.base_url,
                    app.query_with(ADMIN, "garbage")
                ))
                .body("{}"),
            70002,
        ),
        (
            app.client
                .post(format!("{}{GET}?{}", app.base_url, app.query_for("alice")))
                .body("{}"),
            70004,
        ),
        (
            app.client
                .post(format!("{}{GET}?{q}", app.base_url))
                .body("{"),
            70009,
        ),
        (
            h1.post(format!("{}{GET}?{q}", app.base_url))
                .body(r#"{"callId":"none"}"#),
            101050,
        ),
        (
            h1.post(format!("{}{FILTER}?{q}", app.base_url))
                .body(r#"{"startTimestamp":0}"#),
            0,
        ),
    ];
    for (request, expected) in cases {
        let resp = request.send().await.unwrap();
        let header = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        // envelope_of asserts: HTTP 200, Content-Type application/json, requestId = header,
        // 32 lowercase hex, non-empty errorMessage, data present exactly on success.
        let env = envelope_of(resp).await;
        assert_eq!(code(&env), expected, "{env}");
        if expected == 0 {
            assert_eq!(message(&env), "Success");
            assert!(env["data"].is_object());
        } else {
            assert!(env.get("data").is_none(), "{env}");
            assert_ne!(message(&env), "Success");
        }
        let keys: Vec<&str> = env
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected_keys = vec!["errorCode", "errorMessage", "requestId"];
        if expected == 0 {
            expected_keys.push("data");
        }
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        expected_keys.sort_unstable();
        assert_eq!(sorted, expected_keys);
        assert!(ids.insert(header), "requestIds must be fresh per request");
    }
}

// ---------------------------------------------------------------------------------------------
// Row 1: path and method.

#[tokio::test]
async fn unknown_path_is_70001_even_when_the_query_is_also_bad() {
    let app = spawn_app().await;
    // Row 1 and row 2 both fail: the path's message answers.
    for path in ["/v1/records/nope", "/v1/events/report/", "/v1/x"] {
        let env = envelope_of(app.post(path, "random=x", "{").await).await;
        assert_eq!(code(&env), 70001, "{path}");
        assert!(message(&env).contains("unknown API"), "{path}: {env}");
    }
    // A bad method on a known path with no query at all: the method's message answers.
    let resp = app
        .client
        .delete(format!("{}{REPORT}", app.base_url))
        .send()
        .await
        .unwrap();
    let env = envelope_of(resp).await;
    assert_eq!(code(&env), 70001);
    assert!(message(&env).contains("POST"), "{env}");
}

// ---------------------------------------------------------------------------------------------
// Row 2: the query string.

#[tokio::test]
async fn each_missing_query_parameter_is_70001_naming_it() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    for name in ["sdkappid", "identifier", "usersig", "random", "contenttype"] {
        for api in [GET, FILTER, REPORT] {
            let env = envelope_of(app.post(api, &without(&q, name), "{}").await).await;
            assert_eq!(code(&env), 70001, "{name} missing on {api}");
            assert!(message(&env).contains(name), "{name}: {env}");
        }
    }
    let env = envelope_of(app.post(GET, "", "{}").await).await;
    assert_eq!(code(&env), 70001);
}

#[tokio::test]
async fn each_malformed_or_repeated_query_parameter_is_70001_naming_it() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    let body = json!({"callId": "none"}).to_string();
    for (name, value) in [
        ("random", "4294967296"),
        ("random", "-1"),
        ("random", "x"),
        ("random", ""),
        ("random", "1.0"),
        ("sdkappid", "abc"),
        ("sdkappid", "-1400000001"),
        ("sdkappid", ""),
        ("identifier", ""),
        ("usersig", ""),
        ("contenttype", "JSON"),
        ("contenttype", "xml"),
        ("contenttype", ""),
    ] {
        let env = envelope_of(
            app.post(GET, &with_value(&q, name, value), body.clone())
                .await,
        )
        .await;
        assert_eq!(code(&env), 70001, "{name}={value}");
        assert!(message(&env).contains(name), "{name}={value}: {env}");
    }
    for name in ["sdkappid", "identifier", "usersig", "random", "contenttype"] {
        let value = q
            .split('&')
            .find(|p| p.starts_with(&format!("{name}=")))
            .unwrap();
        let repeated = format!("{q}&{value}");
        let env = envelope_of(app.post(GET, &repeated, body.clone()).await).await;
        assert_eq!(code(&env), 70001, "{name} repeated");
        assert!(message(&env).contains(name), "{name} repeated: {env}");
    }
    // Parameter names are case-sensitive.
    let env = envelope_of(
        app.post(
            GET,
            &q.replace("contenttype=", "ContentType="),
            body.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(code(&env), 70001);
    // The edges of the `random` range and unknown extra parameters pass row 2.
    for value in ["0", "4294967295"] {
        let env = envelope_of(
            app.post(GET, &with_value(&q, "random", value), body.clone())
                .await,
        )
        .await;
        assert_eq!(code(&env), 101050, "random={value}: {env}");
    }
    let env = envelope_of(app.post(GET, &format!("{q}&extra=1"), body.clone()).await).await;
    assert_eq!(code(&env), 101050, "{env}");
}

#[tokio::test]
async fn a_bad_query_is_70001_even_when_the_usersig_is_also_bad() {
    let app = spawn_app().await;
    let q = app.query_with(ADMIN, "garbage");
    let env = envelope_of(app.post(GET, &with_value(&q, "random", "x"), "{}").await).await;
    assert_eq!(code(&env), 70001);
    assert!(message(&env).contains("random"), "{env}");
    // An unknown app with a bad query: still the query's error.
    let q = with_value(&app.query_for(ADMIN), "sdkappid", "1400000099");
    let env = envelope_of(app.post(GET, &without(&q, "contenttype"), "{}").await).await;
    assert_eq!(code(&env), 70001);
}

// ---------------------------------------------------------------------------------------------
// Row 3: authentication.

#[tokio::test]
async fn usersig_that_does_not_authenticate_the_caller_for_the_app_is_70002() {
    let app = spawn_app_with(TestConfig {
        extra: second_app_toml(),
        ..TestConfig::default()
    })
    .await;
    let now = u64::try_from(app.clock.now_secs()).unwrap();
    let body = json!({"callId": "none"}).to_string();
    let other_key = "f".repeat(64);
    let cases = [
        (
            "unknown sdkappid",
            with_value(&app.query_for(ADMIN), "sdkappid", "1400000099"),
        ),
        ("garbage usersig", app.query_with(ADMIN, "garbage!!")),
        (
            "usersig of another identifier",
            app.query_with(ADMIN, &app.sig_for("alice")),
        ),
        (
            "usersig of another sdkappid (same key)",
            app.query_with(
                ADMIN,
                &callrec_usersig::generate(SDKAPPID2, KEY, ADMIN, 86_400, now),
            ),
        ),
        (
            "usersig of the other configured app presented to this one",
            app.query_with(
                ADMIN,
                &callrec_usersig::generate(SDKAPPID2, KEY2, ADMIN, 86_400, now),
            ),
        ),
        (
            "usersig signed with another key",
            app.query_with(
                ADMIN,
                &callrec_usersig::generate(SDKAPPID, &other_key, ADMIN, 86_400, now),
            ),
        ),
    ];
    for (what, query) in cases {
        for api in [GET, REPORT] {
            let env = envelope_of(app.post(api, &query, body.clone()).await).await;
            assert_eq!(code(&env), 70002, "{what} on {api}: {env}");
        }
    }
    // Control: the second app's own token works for the second app.
    let env = app
        .call_in(SDKAPPID2, KEY2, ADMIN, GET, &json!({"callId": "none"}))
        .await;
    assert_eq!(code(&env), 101050, "{env}");
}

#[tokio::test]
async fn a_bad_usersig_is_70002_even_when_the_caller_is_also_not_an_admin() {
    let app = spawn_app().await;
    // A token of `bob` presented as `alice` (not an admin) on an admin API.
    let q = app.query_with("alice", &app.sig_for("bob"));
    let env = envelope_of(app.post(GET, &q, r#"{"callId":"x"}"#).await).await;
    assert_eq!(code(&env), 70002, "{env}");
    let q = app.query_with("alice", "garbage");
    let env = envelope_of(app.post(FILTER, &q, r#"{"startTimestamp":0}"#).await).await;
    assert_eq!(code(&env), 70002, "{env}");
}

// ---------------------------------------------------------------------------------------------
// Row 4: expiry.

#[tokio::test]
async fn usersig_is_expired_only_after_time_plus_expire_and_then_wins_over_not_being_an_admin() {
    let clock = manual_clock();
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        ..TestConfig::default()
    })
    .await;
    let now = u64::try_from(clock.now_secs()).unwrap();
    let body = json!({"callId": "none"}).to_string();
    // now == time + expire: still valid.
    let edge = callrec_usersig::generate(SDKAPPID, KEY, ADMIN, 60, now - 60);
    let env = envelope_of(
        app.post(GET, &app.query_with(ADMIN, &edge), body.clone())
            .await,
    )
    .await;
    assert_eq!(code(&env), 101050, "{env}");
    // One second later: expired.
    let expired = callrec_usersig::generate(SDKAPPID, KEY, ADMIN, 60, now - 61);
    let env = envelope_of(
        app.post(GET, &app.query_with(ADMIN, &expired), body.clone())
            .await,
    )
    .await;
    assert_eq!(code(&env), 70003, "{env}");
    // The very token that was valid becomes expired when the clock moves on.
    clock.advance_ms(1_000);
    let env = envelope_of(
        app.post(GET, &app.query_with(ADMIN, &edge), body.clone())
            .await,
    )
    .await;
    assert_eq!(code(&env), 70003, "{env}");
    // Expired AND not an admin on an admin API: 70003.
    let alice = callrec_usersig::generate(SDKAPPID, KEY, "alice", 3_600, now - 86_400);
    let env = envelope_of(
        app.post(GET, &app.query_with("alice", &alice), body.clone())
            .await,
    )
    .await;
    assert_eq!(code(&env), 70003, "{env}");
    assert!(message(&env).to_lowercase().contains("expired"), "{env}");
}

// ---------------------------------------------------------------------------------------------
// Rows 5 and 6: admin, group call package.

#[tokio::test]
async fn record_apis_by_a_non_admin_are_70004_even_without_the_group_call_package() {
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    let env = app.call_as("alice", GET, &json!({"callId": "x"})).await;
    assert_eq!(code(&env), 70004, "{env}");
    let env = app
        .call_as("alice", FILTER, &json!({"startTimestamp": 0}))
        .await;
    assert_eq!(code(&env), 70004, "{env}");
    // An admin of the same app gets the package's 50001 (so the 70004 above was the order).
    assert_eq!(code(&app.call(GET, &json!({"callId": "x"})).await), 50001);
    // Reporting is not an admin API: a user's own report is answered.
    let now = app.clock.now_ms();
    let env = app
        .call_as(
            "alice",
            REPORT,
            &json!({"events": [start_event("own", "alice", &["bob"], now)]}),
        )
        .await;
    assert_eq!(env["data"]["accepted"], 1, "{env}");
}

#[tokio::test]
async fn missing_group_call_package_is_50001_even_when_the_rate_is_also_exceeded() {
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        rate_limits: [1, 1, 0],
        ..TestConfig::default()
    })
    .await;
    // With a rate of 1/s, the 2nd and 3rd request would be 70005 if the rate came first.
    for _ in 0..3 {
        let env = app.call(GET, &json!({"callId": "x"})).await;
        assert_eq!(code(&env), 50001, "{env}");
        let env = app.call(FILTER, &json!({"startTimestamp": 0})).await;
        assert_eq!(code(&env), 50001, "{env}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rows 7 and 8: rate limit, body.

#[tokio::test]
async fn exceeded_rate_is_70005_even_when_the_body_is_also_bad() {
    let app = spawn_app_with(TestConfig {
        rate_limits: [1, 1, 1],
        ..TestConfig::default()
    })
    .await;
    let q = app.query_for(ADMIN);
    assert_eq!(code(&app.call(GET, &json!({"callId": "x"})).await), 101050);
    let env = envelope_of(app.post(GET, &q, "not json").await).await;
    assert_eq!(code(&env), 70005, "{env}");
    assert!(message(&env).contains("rate"), "{env}");

    assert_eq!(
        code(&app.call(FILTER, &json!({"startTimestamp": 0})).await),
        0
    );
    let env = app.call(FILTER, &json!({"startTimestamp": "x"})).await;
    assert_eq!(code(&env), 70005, "{env}");

    let now = app.clock.now_ms();
    app.report_all(&[start_event("r", "alice", &["bob"], now)])
        .await;
    let env = app.call(REPORT, &json!({"events": {}})).await;
    assert_eq!(code(&env), 70005, "{env}");
}

#[tokio::test]
async fn wrong_body_type_is_70009_even_when_a_field_is_also_missing() {
    let app = spawn_app().await;
    // startTimestamp missing (70001) and endTimestamp of the wrong type (70009).
    let env = app.call(FILTER, &json!({"endTimestamp": "x"})).await;
    assert_eq!(code(&env), 70009, "{env}");
    let env = app
        .call(
            FILTER,
            &json!({"callType": 5, "page": 0, "numberPerPage": 0}),
        )
        .await;
    assert_eq!(code(&env), 70009, "{env}");
    // startTimestamp present but a later field has the wrong type while another is invalid.
    let env = app
        .call(
            FILTER,
            &json!({"startTimestamp": 0, "page": 0, "callResult": ["x"]}),
        )
        .await;
    assert_eq!(code(&env), 70009, "{env}");
    // The body is not an object at all.
    let env = envelope_of(app.post(GET, &app.query_for(ADMIN), "[]").await).await;
    assert_eq!(code(&env), 70009);
}

#[tokio::test]
async fn invalid_field_is_70001_even_when_the_record_would_also_not_be_found() {
    let app = spawn_app().await;
    let env = app.call(GET, &json!({"callId": "x".repeat(129)})).await;
    assert_eq!(code(&env), 70001, "{env}");
    assert!(message(&env).contains("callId"), "{env}");
}

#[tokio::test]
async fn body_over_1_mib_for_records_or_8_mib_for_report_is_70009() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    let pad = |json: String, size: usize| {
        let mut s = json;
        assert!(s.len() <= size);
        s.push_str(&" ".repeat(size - s.len()));
        s
    };
    let get = json!({"callId": "none"}).to_string();
    let filter = json!({"startTimestamp": 0}).to_string();
    // Exactly 1 MiB passes the limit; one byte more does not.
    let env = envelope_of(app.post(GET, &q, pad(get.clone(), 1 << 20)).await).await;
    assert_eq!(code(&env), 101050, "{}", env["errorMessage"]);
    let env = envelope_of(app.post(GET, &q, pad(get, (1 << 20) + 1)).await).await;
    assert_eq!(code(&env), 70009);
    assert!(message(&env).contains("larger"), "{env}");
    let env = envelope_of(app.post(FILTER, &q, pad(filter.clone(), 1 << 20)).await).await;
    assert_eq!(code(&env), 0, "{}", env["errorMessage"]);
    let env = envelope_of(app.post(FILTER, &q, pad(filter, (1 << 20) + 1)).await).await;
    assert_eq!(code(&env), 70009);

    // A 2 MiB report is fine size-wise; 8 MiB + 1 byte is not.
    let now = app.clock.now_ms();
    let report = json!({"events": [start_event("big", "alice", &["bob"], now)]}).to_string();
    let env = envelope_of(app.post(REPORT, &q, pad(report.clone(), 2 << 20)).await).await;
    assert_eq!(code(&env), 0, "{}", env["errorMessage"]);
    assert_eq!(env["data"]["accepted"], 1);
    let env = envelope_of(app.post(REPORT, &q, pad(report.clone(), 8 << 20)).await).await;
    assert_eq!(code(&env), 0, "{}", env["errorMessage"]);
    assert_eq!(env["data"]["duplicates"], 1);
    let env = envelope_of(app.post(REPORT, &q, pad(report, (8 << 20) + 1)).await).await;
    assert_eq!(code(&env), 70009);
}

// ---------------------------------------------------------------------------------------------
// 101050.

#[tokio::test]
async fn record_not_found_is_101050_for_unknown_calls_other_apps_calls_and_calls_past_retention() {
    let clock = manual_clock();
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        extra: second_app_toml(),
        ..TestConfig::default()
    })
    .await;
    let now = clock.now_ms();
    let week = 7 * 86_400_000;
    // In app 2 only.
    let env = app
        .call_in(
            SDKAPPID2,
            KEY2,
            ADMIN,
            REPORT,
            &json!({"events": single_call("app2-call", now - 10_000, "cancel")}),
        )
        .await;
    assert_eq!(env["data"]["accepted"], 2, "{env}");
    // In app 1: one call right at the start of the retention window, one 1 s later.
    let mut events = single_call("edge", now - week, "cancel");
    events.extend(single_call("inside", now - week + 1_000, "cancel"));
    app.report_all(&events).await;

    let env = app.record("no-such-call").await;
    assert_eq!(code(&env), 101050);
    assert!(message(&env).contains("no-such-call"), "{env}");
    let env = app.record("app2-call").await;
    assert_eq!(code(&env), 101050, "another app's call: {env}");
    let env = app
        .call_in(SDKAPPID2, KEY2, ADMIN, GET, &json!({"callId": "app2-call"}))
        .await;
    assert_eq!(code(&env), 0, "{env}");

    // startCallTs == now - retention is still found; a millisecond later it is not.
    assert_eq!(code(&app.record("edge").await), 0);
    clock.advance_ms(1);
    assert_eq!(code(&app.record("edge").await), 101050);
    assert_eq!(code(&app.record("inside").await), 0);
    clock.advance_ms(1_000);
    assert_eq!(code(&app.record("inside").await), 101050);
}

// ---------------------------------------------------------------------------------------------
// 101001: the 3-second deadline.

#[tokio::test]
async fn report_blocked_by_a_locked_database_answers_101001_after_3_seconds_and_loses_nothing() {
    let app = spawn_app().await;
    let db = app.data_dir().join("callrec.db");
    assert!(db.exists(), "{}", db.display());
    let now = app.clock.now_ms();
    let events = single_call("locked", now - 2_000, "normal_end");
    let body = json!({ "events": events });

    // Another connection takes SQLite's write lock and holds it for 4.5 s.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(4_500));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();

    let sent = Instant::now();
    let env = app.call(REPORT, &body).await;
    let took = sent.elapsed();
    assert_eq!(code(&env), 101001, "{env}");
    assert!(
        message(&env).contains("3 seconds"),
        "the message should say why: {env}"
    );
    assert!(
        took >= Duration::from_millis(2_900) && took < Duration::from_millis(4_500),
        "answered after {took:?}"
    );
    holder.join().unwrap();

    // Re-reporting the same events now succeeds: each is accepted or a duplicate, none fails.
    let mut data = Value::Null;
    for _ in 0..50 {
        let env = app.call(REPORT, &body).await;
        if code(&env) == 0 {
            data = env["data"].clone();
            break;
        }
        // The store may still be finishing the blocked write; it must not stay failed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(data["rejected"], json!([]), "{data}");
    assert_eq!(
        data["accepted"].as_u64().unwrap() + data["duplicates"].as_u64().unwrap(),
        3,
        "{data}"
    );
    let rec = app.record("locked").await;
    assert_eq!(rec["data"]["callResult"], "normal_end", "{rec}");
    // Reads were never blocked by the write lock (WAL), and the deadline applies per request:
    // a fresh request is answered quickly.
    let sent = Instant::now();
    let env = app
        .call(
            REPORT,
            &json!({"events": [event("locked", "hangup", "bob", now)]}),
        )
        .await;
    assert_eq!(code(&env), 0, "{env}");
    assert!(sent.elapsed() < Duration::from_secs(2));
}
