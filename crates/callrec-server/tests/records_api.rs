//! The record APIs (docs/api.md) through the real server: `get_record_by_callId` and every rule of
//! `get_records_by_filter`. Each test runs its own server on a manual clock (frozen at a whole
//! second), with time-outs long enough that no job changes a record under the test.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use callrec_domain::{Clock, ManualClock};
use common::{
    ADMIN, KEY2, SDKAPPID, SDKAPPID2, TestApp, TestConfig, call_ids, code, envelope_of, event,
    manual_clock, second_app_toml, single_call, spawn_app_with, start_event,
};
use serde_json::{Value, json};

const GET: &str = "/v1/records/get_record_by_callId";
const FILTER: &str = "/v1/records/get_records_by_filter";

const RESULTS: [&str; 6] = [
    "cancel",
    "reject",
    "not_answer",
    "call_busy",
    "normal_end",
    "interrupt",
];

/// A server on a manual clock; calls never time out during a test.
async fn app_on_manual_clock(extra: String) -> (TestApp, Arc<ManualClock>) {
    let clock = manual_clock();
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        timeouts_secs: (86_400, 86_400),
        extra,
        ..TestConfig::default()
    })
    .await;
    (app, clock)
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

// ---------------------------------------------------------------------------------------------
// get_record_by_callId

#[tokio::test]
async fn get_record_call_id_must_be_a_string_of_1_to_128_characters() {
    let (app, _) = app_on_manual_clock(String::new()).await;
    for (body, expected) in [
        (json!({}), 70001),
        (json!({"callId": null}), 70001),
        (json!({"callId": ""}), 70001),
        (json!({"callId": "c".repeat(129)}), 70001),
        (json!({"callId": "字".repeat(129)}), 70001),
        (json!({"callId": 5}), 70009),
        (json!({"callId": ["x"]}), 70009),
        (json!({"callId": "c".repeat(128)}), 101050),
        // 128 characters of 3 bytes each: the limit counts characters.
        (json!({"callId": "字".repeat(128)}), 101050),
        (json!({"callId": "x"}), 101050),
    ] {
        let env = app.call(GET, &body).await;
        assert_eq!(code(&env), expected, "{body}: {env}");
        if expected == 70001 && body.get("callId").is_some_and(|v| !v.is_null()) {
            assert!(
                env["errorMessage"].as_str().unwrap().contains("callId"),
                "{env}"
            );
        }
    }
    // A 128-character callId can be reported and read back.
    let long = "L".repeat(128);
    let now = app.clock.now_ms();
    app.report_all(&single_call(&long, now - 5_000, "cancel"))
        .await;
    assert_eq!(app.record(&long).await["data"]["callId"], long.as_str());
}

#[tokio::test]
async fn get_record_returns_exactly_the_documented_fields_with_their_types() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let start = clock.now_ms() - 30_250;
    app.report_all(&[
        json!({"callId": "shape", "type": "start", "userId": "alice", "time": start,
               "callees": ["bob", "carol"], "mediaType": "video", "roomId": "room-7"}),
        event("shape", "accept", "carol", start + 2_600),
        event("shape", "reject", "bob", start + 3_000),
        event("shape", "hangup", "carol", start + 20_999),
    ])
    .await;
    let env = app.record("shape").await;
    assert_eq!(code(&env), 0, "{env}");
    let data = env["data"].as_object().unwrap();
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    let documented: BTreeSet<&str> = [
        "callId",
        "sdkAppId",
        "mediaType",
        "roomId",
        "startCallTs",
        "acceptTs",
        "endTs",
        "caller",
        "totalUserNumber",
        "callType",
        "callResult",
        "callees",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, documented);
    for name in [
        "callId",
        "mediaType",
        "roomId",
        "caller",
        "callType",
        "callResult",
    ] {
        assert!(data[name].is_string(), "{name} must be a string: {env}");
    }
    for name in [
        "sdkAppId",
        "startCallTs",
        "acceptTs",
        "endTs",
        "totalUserNumber",
    ] {
        assert!(data[name].is_i64(), "{name} must be an integer: {env}");
    }
    assert!(
        data["callees"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    // The values, as the contract's table defines them (timestamps in floor seconds).
    assert_eq!(data["sdkAppId"], SDKAPPID);
    assert_eq!(data["mediaType"], "video");
    assert_eq!(data["roomId"], "room-7");
    assert_eq!(data["startCallTs"], secs(start));
    assert_eq!(data["acceptTs"], secs(start + 2_600));
    assert_eq!(data["endTs"], secs(start + 20_999));
    assert_eq!(data["caller"], "alice");
    assert_eq!(data["totalUserNumber"], 3);
    assert_eq!(data["callType"], "group");
    assert_eq!(data["callResult"], "normal_end");
    assert_eq!(data["callees"], json!(["bob", "carol"]));

    // roomId defaults to "" when none was reported.
    app.report_all(&single_call("no-room", start, "cancel"))
        .await;
    assert_eq!(app.record("no-room").await["data"]["roomId"], "");
}

#[tokio::test]
async fn ongoing_call_shows_call_result_ongoing_and_end_ts_zero() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let start = clock.now_ms() - 10_000;
    app.report_all(&single_call("ringing", start, "ongoing"))
        .await;
    let rec = app.record("ringing").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    assert_eq!(rec["endTs"], 0);
    assert_eq!(rec["acceptTs"], 0);
    assert_eq!(rec["startCallTs"], secs(start));

    // Connected and still going: acceptTs is set, endTs still 0.
    app.report_all(&[event("ringing", "accept", "bob", start + 4_000)])
        .await;
    let rec = app.record("ringing").await["data"].clone();
    assert_eq!(rec["callResult"], "ongoing", "{rec}");
    assert_eq!(rec["acceptTs"], secs(start + 4_000));
    assert_eq!(rec["endTs"], 0);
}

#[tokio::test]
async fn get_record_answers_only_from_the_callers_app() {
    let (app, clock) = app_on_manual_clock(second_app_toml()).await;
    let now = clock.now_ms();
    // The same callId in both apps, with different calls.
    app.report_all(&single_call("shared-id", now - 9_000, "reject"))
        .await;
    let env = app
        .call_in(
            SDKAPPID2,
            KEY2,
            ADMIN,
            "/v1/events/report",
            &json!({"events": single_call("shared-id", now - 5_000, "call_busy")}),
        )
        .await;
    assert_eq!(env["data"]["accepted"], 2, "{env}");
    let one = app.record("shared-id").await["data"].clone();
    assert_eq!(one["sdkAppId"], SDKAPPID);
    assert_eq!(one["callResult"], "reject");
    let two = app
        .call_in(SDKAPPID2, KEY2, ADMIN, GET, &json!({"callId": "shared-id"}))
        .await["data"]
        .clone();
    assert_eq!(two["sdkAppId"], SDKAPPID2);
    assert_eq!(two["callResult"], "call_busy");
    assert_eq!(two["startCallTs"], secs(now - 5_000));
}

// ---------------------------------------------------------------------------------------------
// get_records_by_filter

#[tokio::test]
async fn filter_start_timestamp_is_a_required_integer() {
    let (app, _) = app_on_manual_clock(String::new()).await;
    for (body, expected) in [
        (json!({}), 70001),
        (json!({"startTimestamp": null}), 70001),
        (json!({"endTimestamp": 5}), 70001),
        (json!({"startTimestamp": "0"}), 70009),
        (json!({"startTimestamp": 1.5}), 70009),
        (json!({"startTimestamp": true}), 70009),
        (json!({"startTimestamp": 0}), 0),
        (json!({"startTimestamp": -5}), 0),
    ] {
        let env = app.call(FILTER, &body).await;
        assert_eq!(code(&env), expected, "{body}: {env}");
    }
    let env = app.call(FILTER, &json!({})).await;
    assert!(
        env["errorMessage"]
            .as_str()
            .unwrap()
            .contains("startTimestamp")
    );
}

#[tokio::test]
async fn filter_start_timestamp_is_raised_to_now_minus_retention() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let t0 = clock.now_ms();
    let week = 7 * 86_400_000;
    // Two calls 1 s apart near the far edge of the window, and a recent one.
    let mut events = single_call("old", t0 - week + 1_000, "cancel");
    events.extend(single_call("edge", t0 - week + 2_000, "cancel"));
    events.extend(single_call("recent", t0 - 60_000, "cancel"));
    app.report_all(&events).await;
    let all = json!({"startTimestamp": 0});
    assert_eq!(app.filter(&all).await["totalNum"], 3);
    // Two seconds later "old" is older than the window (the retention job has not run: it runs
    // only at start-up and every 10 minutes), "edge" starts exactly at now − retention.
    clock.advance_ms(2_000);
    let data = app.filter(&all).await;
    assert_eq!(call_ids(&data), ["recent", "edge"], "{data}");
    assert_eq!(data["totalNum"], 2);
    // An explicit range that lies entirely before the window finds nothing.
    let before = json!({"startTimestamp": 0, "endTimestamp": secs(t0 - week + 1_000)});
    let data = app.filter(&before).await;
    assert_eq!(data["totalNum"], 0, "{data}");
    assert_eq!(data["callRecordList"], json!([]));
}

#[tokio::test]
async fn filter_end_timestamp_defaults_to_now() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let mut events = single_call("at-now", now, "cancel");
    // Reports may be up to 300 s ahead of the server's clock.
    events.extend(single_call("future", now + 200_000, "cancel"));
    app.report_all(&events).await;
    let data = app.filter(&json!({"startTimestamp": secs(now) - 10})).await;
    assert_eq!(call_ids(&data), ["at-now"], "{data}");
    let data = app
        .filter(&json!({"startTimestamp": secs(now) - 10, "endTimestamp": secs(now) + 300}))
        .await;
    assert_eq!(call_ids(&data), ["future", "at-now"], "{data}");
    // When the clock reaches the future call, the default includes it.
    clock.advance_ms(200_000);
    let data = app.filter(&json!({"startTimestamp": secs(now) - 10})).await;
    assert_eq!(data["totalNum"], 2, "{data}");
}

#[tokio::test]
async fn filter_end_timestamp_before_start_timestamp_is_70001() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = secs(clock.now_ms());
    for (start, end) in [(now, now - 1), (100, 99), (now + 10, now)] {
        let env = app
            .call(
                FILTER,
                &json!({"startTimestamp": start, "endTimestamp": end}),
            )
            .await;
        assert_eq!(code(&env), 70001, "{start}..{end}: {env}");
        assert!(
            env["errorMessage"]
                .as_str()
                .unwrap()
                .contains("endTimestamp")
        );
    }
    // Equal ends are a valid one-second range; without an endTimestamp the default (now) is
    // compared too.
    let env = app
        .call(FILTER, &json!({"startTimestamp": now, "endTimestamp": now}))
        .await;
    assert_eq!(code(&env), 0, "{env}");
    let env = app.call(FILTER, &json!({"startTimestamp": now + 1})).await;
    assert_eq!(code(&env), 70001, "{env}");
    let env = app
        .call(FILTER, &json!({"endTimestamp": "x", "startTimestamp": 5}))
        .await;
    assert_eq!(code(&env), 70009, "{env}");
}

#[tokio::test]
async fn filter_time_range_applies_to_start_call_ts_inclusive_at_both_ends() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let s = secs(clock.now_ms()) - 600;
    let e = s + 100;
    let mut events = Vec::new();
    for (id, ms) in [
        ("before", (s - 1) * 1000 + 999),
        ("first", s * 1000),
        ("first-late", s * 1000 + 999),
        ("middle", (s + 50) * 1000 + 123),
        ("last", e * 1000 + 999),
        ("after", (e + 1) * 1000),
    ] {
        events.extend(single_call(id, ms, "cancel"));
    }
    // A call that started before the range but ended inside it is not in the range.
    events.extend([
        start_event("ends-inside", "alice", &["bob"], (s - 30) * 1000),
        event("ends-inside", "cancel", "alice", (s + 10) * 1000),
    ]);
    app.report_all(&events).await;
    let data = app
        .filter(&json!({"startTimestamp": s, "endTimestamp": e}))
        .await;
    assert_eq!(
        call_ids(&data),
        ["last", "middle", "first", "first-late"],
        "{data}"
    );
    assert_eq!(data["totalNum"], 4);
}

#[tokio::test]
async fn filter_call_result_selects_each_result_and_ongoing_only_when_asked() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let mut events = Vec::new();
    for (i, result) in RESULTS.iter().enumerate() {
        events.extend(single_call(result, now - 60_000 + i as i64 * 1_000, result));
    }
    events.extend(single_call("ongoing", now - 30_000, "ongoing"));
    app.report_all(&events).await;
    for result in RESULTS {
        let data = app
            .filter(&json!({"startTimestamp": 0, "callResult": result}))
            .await;
        assert_eq!(call_ids(&data), [result], "{result}: {data}");
        assert_eq!(data["callRecordList"][0]["callResult"], result);
        assert_eq!(data["totalNum"], 1);
    }
    // Omitted: every ended call, not the ongoing one.
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    assert_eq!(data["totalNum"], 6, "{data}");
    assert!(!call_ids(&data).contains(&"ongoing".to_owned()));
    let data = app
        .filter(&json!({"startTimestamp": 0, "callResult": "ongoing"}))
        .await;
    assert_eq!(call_ids(&data), ["ongoing"], "{data}");
    assert_eq!(data["callRecordList"][0]["endTs"], 0);
    // Anything else is invalid; a non-string is the wrong type.
    for bad in ["", "offline", "ONGOING", "Cancel", "busy", "all"] {
        let env = app
            .call(FILTER, &json!({"startTimestamp": 0, "callResult": bad}))
            .await;
        assert_eq!(code(&env), 70001, "{bad:?}: {env}");
    }
    let env = app
        .call(FILTER, &json!({"startTimestamp": 0, "callResult": 1}))
        .await;
    assert_eq!(code(&env), 70009);
}

#[tokio::test]
async fn filter_call_type_selects_single_or_group() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let mut events = single_call("one-to-one", now - 20_000, "reject");
    events.extend([
        start_event("many", "alice", &["bob", "carol"], now - 19_000),
        event("many", "cancel", "alice", now - 18_000),
        // A group call with a single callee, declared so.
        json!({"callId": "group-of-one", "type": "start", "userId": "alice", "time": now - 17_000,
               "callees": ["bob"], "mediaType": "audio", "callType": "group"}),
        event("group-of-one", "cancel", "alice", now - 16_000),
    ]);
    app.report_all(&events).await;
    let data = app
        .filter(&json!({"startTimestamp": 0, "callType": "single"}))
        .await;
    assert_eq!(call_ids(&data), ["one-to-one"], "{data}");
    let data = app
        .filter(&json!({"startTimestamp": 0, "callType": "group"}))
        .await;
    assert_eq!(call_ids(&data), ["group-of-one", "many"], "{data}");
    // Combined with callResult.
    let data = app
        .filter(&json!({"startTimestamp": 0, "callType": "group", "callResult": "reject"}))
        .await;
    assert_eq!(data["totalNum"], 0, "{data}");
    for bad in ["", "Single", "GROUP", "multi"] {
        let env = app
            .call(FILTER, &json!({"startTimestamp": 0, "callType": bad}))
            .await;
        assert_eq!(code(&env), 70001, "{bad:?}: {env}");
    }
}

#[tokio::test]
async fn filter_number_per_page_is_1_to_1000_and_defaults_to_100() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let events: Vec<Value> = (0..105)
        .flat_map(|i| single_call(&format!("call-{i:03}"), now - 300_000 + i * 1_000, "cancel"))
        .collect();
    app.report_all(&events).await;
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    assert_eq!(data["totalNum"], 105);
    assert_eq!(data["callRecordList"].as_array().unwrap().len(), 100);
    assert_eq!(data["page"], 1);
    let data = app.filter(&json!({"startTimestamp": 0, "page": 2})).await;
    assert_eq!(
        call_ids(&data),
        ["call-004", "call-003", "call-002", "call-001", "call-000"]
    );
    for n in [1_i64, 7, 1000] {
        let data = app
            .filter(&json!({"startTimestamp": 0, "numberPerPage": n}))
            .await;
        assert_eq!(
            data["callRecordList"].as_array().unwrap().len(),
            usize::try_from(n.min(105)).unwrap()
        );
        assert_eq!(data["totalNum"], 105);
    }
    for bad in [0_i64, -1, 1001, 100_000] {
        let env = app
            .call(FILTER, &json!({"startTimestamp": 0, "numberPerPage": bad}))
            .await;
        assert_eq!(code(&env), 70001, "{bad}: {env}");
        assert!(
            env["errorMessage"]
                .as_str()
                .unwrap()
                .contains("numberPerPage")
        );
    }
    let env = app
        .call(FILTER, &json!({"startTimestamp": 0, "numberPerPage": "10"}))
        .await;
    assert_eq!(code(&env), 70009);
}

#[tokio::test]
async fn filter_page_is_at_least_1_defaults_to_1_and_past_the_end_is_empty() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let events: Vec<Value> = (0..5)
        .flat_map(|i| single_call(&format!("p{i}"), now - 100_000 + i * 1_000, "cancel"))
        .collect();
    app.report_all(&events).await;
    let base = |page: Value| json!({"startTimestamp": 0, "numberPerPage": 2, "page": page});
    let data = app
        .filter(&json!({"startTimestamp": 0, "numberPerPage": 2}))
        .await;
    assert_eq!(call_ids(&data), ["p4", "p3"]);
    assert_eq!(data["page"], 1);
    let mut seen = Vec::new();
    for page in 1..=3 {
        let data = app.filter(&base(json!(page))).await;
        assert_eq!(data["page"], page, "page is echoed");
        assert_eq!(data["totalNum"], 5);
        seen.extend(call_ids(&data));
    }
    assert_eq!(seen, ["p4", "p3", "p2", "p1", "p0"]);
    for page in [4, 99] {
        let data = app.filter(&base(json!(page))).await;
        assert_eq!(data["callRecordList"], json!([]), "{data}");
        assert_eq!(data["totalNum"], 5);
        assert_eq!(data["page"], page);
    }
    for bad in [0, -1] {
        let env = app.call(FILTER, &base(json!(bad))).await;
        assert_eq!(code(&env), 70001, "{bad}: {env}");
        assert!(env["errorMessage"].as_str().unwrap().contains("page"));
    }
    assert_eq!(code(&app.call(FILTER, &base(json!("2"))).await), 70009);
}

#[tokio::test]
async fn filter_orders_by_start_call_ts_descending_then_call_id_ascending() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let s = secs(clock.now_ms()) - 100;
    let mut events = Vec::new();
    // Ties within one second, reported (and timed) in an order unlike the expected one.
    for (id, ms) in [
        ("b", s * 1000 + 10),
        ("c", s * 1000),
        ("a", s * 1000 + 900),
        ("z", (s + 1) * 1000 + 500),
        ("0", (s - 1) * 1000),
    ] {
        events.extend(single_call(id, ms, "cancel"));
    }
    app.report_all(&events).await;
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    let expected = ["z", "a", "b", "c", "0"];
    assert_eq!(call_ids(&data), expected, "{data}");
    // Pages cut the same order.
    let mut paged = Vec::new();
    for page in 1..=3 {
        let data = app
            .filter(&json!({"startTimestamp": 0, "numberPerPage": 2, "page": page}))
            .await;
        paged.extend(call_ids(&data));
    }
    assert_eq!(paged, expected);
}

#[tokio::test]
async fn filter_total_num_counts_all_matches_and_unknown_request_fields_are_ignored() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    let mut events = Vec::new();
    for i in 0..7 {
        events.extend(single_call(
            &format!("r{i}"),
            now - 50_000 + i * 1_000,
            "reject",
        ));
    }
    for i in 0..3 {
        events.extend(single_call(
            &format!("n{i}"),
            now - 40_000 + i * 1_000,
            "normal_end",
        ));
    }
    app.report_all(&events).await;
    let plain = json!({"startTimestamp": 0, "callResult": "reject", "numberPerPage": 3});
    let data = app.filter(&plain).await;
    assert_eq!(data["totalNum"], 7);
    assert_eq!(data["callRecordList"].as_array().unwrap().len(), 3);
    let mut noisy = plain.clone();
    for (k, v) in [
        ("participants", json!(["alice"])),
        ("pageToken", json!({"after": "x"})),
        ("StartTimestamp", json!("not even checked")),
        ("extension", json!(null)),
    ] {
        noisy[k] = v;
    }
    assert_eq!(app.filter(&noisy).await, data);
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    assert_eq!(data["totalNum"], 10);
}

#[tokio::test]
async fn filter_answers_only_the_callers_app() {
    let (app, clock) = app_on_manual_clock(second_app_toml()).await;
    let now = clock.now_ms();
    app.report_all(&single_call("mine", now - 9_000, "cancel"))
        .await;
    let theirs = [
        single_call("theirs", now - 8_000, "cancel"),
        single_call("mine", now - 7_000, "reject"),
    ]
    .concat();
    let env = app
        .call_in(
            SDKAPPID2,
            KEY2,
            ADMIN,
            "/v1/events/report",
            &json!({ "events": theirs }),
        )
        .await;
    assert_eq!(env["data"]["accepted"], 4, "{env}");
    let data = app.filter(&json!({"startTimestamp": 0})).await;
    assert_eq!(call_ids(&data), ["mine"], "{data}");
    assert_eq!(data["callRecordList"][0]["callResult"], "cancel");
    let env = app
        .call_in(
            SDKAPPID2,
            KEY2,
            ADMIN,
            FILTER,
            &json!({"startTimestamp": 0}),
        )
        .await;
    assert_eq!(call_ids(&env["data"]), ["mine", "theirs"], "{env}");
    assert!(
        env["data"]["callRecordList"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["sdkAppId"] == SDKAPPID2)
    );
}

#[tokio::test]
async fn filter_with_extreme_but_valid_numbers_answers_normally() {
    let (app, clock) = app_on_manual_clock(String::new()).await;
    let now = clock.now_ms();
    app.report_all(&single_call("only", now - 5_000, "cancel"))
        .await;
    // A page far past the end is still just past the end.
    for page in [i64::MAX, 1 << 53, 4_294_967_297] {
        let data = app
            .filter(&json!({"startTimestamp": 0, "numberPerPage": 1000, "page": page}))
            .await;
        assert_eq!(data["callRecordList"], json!([]), "{page}: {data}");
        assert_eq!(data["totalNum"], 1);
        assert_eq!(data["page"], page);
    }
    // The widest possible time range.
    let data = app
        .filter(&json!({"startTimestamp": i64::MIN, "endTimestamp": i64::MAX}))
        .await;
    assert_eq!(call_ids(&data), ["only"], "{data}");
    // A start beyond any time and no end: the default end (now) is earlier, so 70001.
    let env = app.call(FILTER, &json!({"startTimestamp": i64::MAX})).await;
    assert_eq!(code(&env), 70001, "{env}");
    // Beyond i64: out of range (70001), not a type error — also past 64 bits, either side.
    let env = app.call(FILTER, &json!({"startTimestamp": u64::MAX})).await;
    assert_eq!(code(&env), 70001, "{env}");
    for raw in [
        r#"{"startTimestamp": 18446744073709551616}"#,
        r#"{"startTimestamp": -9223372036854775809}"#,
        r#"{"startTimestamp": 0, "endTimestamp": 100000000000000000000000}"#,
    ] {
        let resp = app.post(FILTER, &app.query_for(ADMIN), raw).await;
        let env = envelope_of(resp).await;
        assert_eq!(code(&env), 70001, "{raw}: {env}");
    }
    // A key given twice: the last one counts (the first alone would be after the end: 70001).
    let resp = app
        .post(
            FILTER,
            &app.query_for(ADMIN),
            r#"{"startTimestamp": 99999999999, "startTimestamp": 0}"#,
        )
        .await;
    assert_eq!(code(&envelope_of(resp).await), 0);
    // `-0` is the integer zero; a fraction is still a type error.
    let resp = app
        .post(FILTER, &app.query_for(ADMIN), r#"{"startTimestamp": -0}"#)
        .await;
    assert_eq!(code(&envelope_of(resp).await), 0);
    let resp = app
        .post(FILTER, &app.query_for(ADMIN), r#"{"startTimestamp": 1.5}"#)
        .await;
    assert_eq!(code(&envelope_of(resp).await), 70009);
}
