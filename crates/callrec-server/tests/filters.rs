//! The record extensions' filter fields, order and statistics over real TLS, in both
//! generations' names, against a model written here over the records the API itself shows
//! (`get_record_by_callId`): every field alone and combined with each other and with TRTC's,
//! cursor walks in both orders with records arriving between pages, cursors refused for
//! another filter, statistics per hour, day and all with empty buckets, and bad values.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{Map, Value, json};

const V4_FILTER: &str = "/v4/call_record_http_srv/get_record_by_filter";
const USERS: [&str; 6] = ["amy", "ben", "cat", "dan", "eve", "fay"];
const ROOMS: [&str; 3] = ["", "room-1", "room-2"];

/// A small xorshift generator (fixed seed: the data set is the same on every run).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Idle time-out longer than the data set's span: no record changes while the test reads.
fn config() -> TestConfig {
    TestConfig {
        timeouts_secs: (60, 6 * 86_400),
        extra_rate_limits: "get_stats = 0\nget_record_by_filter = 0".into(),
        ..TestConfig::default()
    }
}

/// The events of call `i` starting at `t`: random people, media, room and outcome (ongoing
/// ones are connected and nobody is left ringing, so no time-out changes them); talk times
/// 0–400 s.
fn call_events(rng: &mut Rng, id: &str, t: i64) -> Vec<Value> {
    let mut people: Vec<&str> = USERS.to_vec();
    for i in (1..people.len()).rev() {
        people.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let caller = people[0];
    let callees = &people[1..=1 + rng.below(3) as usize];
    let mut start = start_event(id, caller, callees, t);
    start["mediaType"] = json!(if rng.below(2) == 0 { "audio" } else { "video" });
    let room = ROOMS[rng.below(3) as usize];
    if !room.is_empty() {
        start["roomId"] = json!(room);
    }
    let answer = t + 1_000 + rng.below(9_000) as i64;
    let end = answer + rng.below(400_000) as i64;
    let mut events = vec![start];
    // Every other callee declines at once, so no ring time-out is left pending: the records
    // stay as read while the test runs.
    for c in &callees[1..] {
        events.push(event(id, "reject", c, t + 500));
    }
    match rng.below(5) {
        0 => events.push(event(id, "accept", callees[0], answer)),
        1 => events.push(event(id, "reject", callees[0], answer)),
        2 => events.push(event(id, "cancel", caller, answer)),
        3 => {
            events.push(event(id, "accept", callees[0], answer));
            events.push(event(id, "hangup", caller, end));
        }
        _ => {
            events.push(event(id, "accept", callees[0], answer));
            events.push(event(id, "offline", callees[0], end));
        }
    }
    events
}

/// Reports `n` calls (ids `<prefix>NNN`) from `from_ms`, about 15 minutes apart, some sharing a
/// second; answers their records as the API shows them.
async fn simulate(app: &TestApp, prefix: &str, n: usize, from_ms: i64, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    let mut t = from_ms;
    let mut events = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        if i % 7 != 0 {
            t += 600_000 + rng.below(600_000) as i64;
        }
        let id = format!("{prefix}{i:03}");
        events.extend(call_events(&mut rng, &id, t));
        ids.push(id);
    }
    for chunk in events.chunks(400) {
        app.report_all(chunk).await;
    }
    let mut records = Vec::new();
    for id in ids {
        let env = app.record(&id).await;
        assert_eq!(code(&env), 0, "{env}");
        records.push(env["data"].clone());
    }
    records
}

fn num(r: &Value, k: &str) -> i64 {
    r[k].as_i64().unwrap()
}

fn duration(r: &Value) -> i64 {
    if num(r, "acceptTs") > 0 && num(r, "endTs") > 0 {
        num(r, "endTs") - num(r, "acceptTs")
    } else {
        0
    }
}

/// The model: does v1 record `r` match the v1 filter body `f`?
fn matches(f: &Value, r: &Value) -> bool {
    let s = |k: &str| f.get(k).and_then(Value::as_str);
    let n = |k: &str| f.get(k).and_then(Value::as_i64);
    let callees: Vec<&str> = r["callees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let caller = r["caller"].as_str().unwrap();
    let start = num(r, "startCallTs");
    let result = r["callResult"].as_str().unwrap();
    let ended = result != "ongoing";
    n("startTimestamp").is_none_or(|v| start >= v)
        && n("endTimestamp").is_none_or(|v| start <= v)
        && match s("callResult") {
            None => ended,
            Some(want) => result == want,
        }
        && s("callType").is_none_or(|v| r["callType"] == v)
        && s("userId").is_none_or(|u| caller == u || callees.contains(&u))
        && s("caller").is_none_or(|u| caller == u)
        && s("callee").is_none_or(|u| callees.contains(&u))
        && s("mediaType").is_none_or(|v| r["mediaType"] == v)
        && s("roomId").is_none_or(|v| r["roomId"] == v)
        && n("minDurationSecs").is_none_or(|v| duration(r) >= v)
        && n("maxDurationSecs").is_none_or(|v| duration(r) <= v)
        && f.get("callIds")
            .is_none_or(|ids| ids.as_array().unwrap().iter().any(|id| *id == r["callId"]))
}

/// The model's list for filter `f`: matching call ids in the filter's order.
fn expected(f: &Value, records: &[Value]) -> Vec<String> {
    let mut found: Vec<&Value> = records.iter().filter(|r| matches(f, r)).collect();
    let asc = f.get("order").and_then(Value::as_str) == Some("asc");
    found.sort_by(|a, b| {
        let by_start = num(a, "startCallTs").cmp(&num(b, "startCallTs"));
        let by_start = if asc { by_start } else { by_start.reverse() };
        by_start.then_with(|| a["callId"].as_str().cmp(&b["callId"].as_str()))
    });
    found
        .into_iter()
        .map(|r| r["callId"].as_str().unwrap().to_owned())
        .collect()
}

/// The same filter in v4's names and values.
fn v4_body(f: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in f.as_object().unwrap() {
        let (name, value) = match k.as_str() {
            "startTimestamp" => ("StartTime", v.clone()),
            "endTimestamp" => ("EndTime", v.clone()),
            "numberPerPage" => ("NumberPerPage", v.clone()),
            "callResult" => {
                let r = match v.as_str().unwrap() {
                    "normal_end" => "NormalEnd",
                    "reject" => "Reject",
                    "cancel" => "Cancel",
                    "interrupt" => "Interrupt",
                    "ongoing" => "Ongoing",
                    other => panic!("{other}"),
                };
                ("CallResult", json!(r))
            }
            "callType" => (
                "CallType",
                json!(if v == "single" {
                    "SingleCall"
                } else {
                    "MultiCall"
                }),
            ),
            "userId" => ("UserId", v.clone()),
            "caller" => ("Caller_Account", v.clone()),
            "callee" => ("Callee_Account", v.clone()),
            "mediaType" => (
                "MediaType",
                json!(if v == "audio" { "Audio" } else { "Video" }),
            ),
            "roomId" => ("RoomId", v.clone()),
            "minDurationSecs" => ("MinDuration", v.clone()),
            "maxDurationSecs" => ("MaxDuration", v.clone()),
            "callIds" => ("CallIdList", v.clone()),
            "order" => ("Order", v.clone()),
            "withCursor" => ("WithCursor", v.clone()),
            "withTotal" => ("WithTotal", v.clone()),
            "cursor" => ("Cursor", v.clone()),
            other => panic!("no v4 name for {other}"),
        };
        out.insert(name.into(), value);
    }
    Value::Object(out)
}

/// A v4 `get_record_by_filter` as the admin: `(TotalNum, call ids, NextCursor)`.
async fn v4_filter(app: &TestApp, body: &Value) -> (Option<u64>, Vec<String>, Option<String>) {
    let resp = app
        .post(V4_FILTER, &app.query_for(ADMIN), body.to_string())
        .await;
    let env: Value = resp.json().await.unwrap();
    assert_eq!(env["ErrorCode"], 0, "{body}: {env}");
    let data = &env["Response"];
    let ids = data["CallRecordList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["CallId"].as_str().unwrap().to_owned())
        .collect();
    (
        data["TotalNum"].as_u64(),
        ids,
        data["NextCursor"].as_str().map(str::to_owned),
    )
}

/// Filters alone and combined, with and without TRTC's fields.
fn filters(records: &[Value], from: i64, to: i64) -> Vec<Value> {
    let base = json!({"startTimestamp": from, "endTimestamp": to, "numberPerPage": 1000});
    let some_ids: Vec<&Value> = records.iter().step_by(4).map(|r| &r["callId"]).collect();
    let extra: Vec<Value> = vec![
        json!({}),
        json!({"userId": "amy"}),
        json!({"userId": "nobody"}),
        json!({"caller": "ben"}),
        json!({"callee": "ben"}),
        json!({"caller": "cat", "callee": "dan"}),
        json!({"userId": "eve", "callee": "eve"}),
        json!({"userId": "fay", "caller": "amy"}),
        json!({"mediaType": "video"}),
        json!({"mediaType": "audio", "callResult": "normal_end"}),
        json!({"roomId": "room-1"}),
        json!({"roomId": "room-2", "mediaType": "audio", "callType": "group"}),
        json!({"minDurationSecs": 120}),
        json!({"maxDurationSecs": 60}),
        json!({"minDurationSecs": 30, "maxDurationSecs": 300, "callResult": "interrupt"}),
        json!({"maxDurationSecs": 0}),
        json!({"callIds": some_ids}),
        json!({"callIds": some_ids, "userId": "cat", "order": "asc"}),
        json!({"order": "asc"}),
        json!({"order": "asc", "callType": "single", "callResult": "reject"}),
        json!({"userId": "dan", "minDurationSecs": 10, "mediaType": "video"}),
        json!({"callee": "amy", "roomId": "room-1", "order": "asc"}),
        json!({"callResult": "ongoing", "userId": "ben"}),
        json!({"callResult": "ongoing", "order": "asc"}),
    ];
    extra
        .into_iter()
        .map(|e| {
            let mut f = base.clone();
            for (k, v) in e.as_object().unwrap() {
                f[k] = v.clone();
            }
            f
        })
        .collect()
}

#[tokio::test]
async fn every_filter_field_alone_and_combined_answers_the_models_records_in_both_generations() {
    let app = spawn_app_with(config()).await;
    let from_ms = app.clock.now_ms() - 2 * 86_400_000;
    let records = simulate(&app, "f", 180, from_ms, 99).await;
    // Cut the range off the calls at both ends.
    let from = from_ms / 1000 + 4_000;
    let to = app.clock.now_secs() - 20_000;
    let mut non_empty = 0;
    for f in filters(&records, from, to) {
        let want = expected(&f, &records);
        non_empty += usize::from(!want.is_empty());
        let data = app.filter(&f).await;
        assert_eq!(call_ids(&data), want, "v1 {f}");
        assert_eq!(data["totalNum"], want.len(), "v1 total of {f}");
        let (total, ids, _) = v4_filter(&app, &v4_body(&f)).await;
        assert_eq!(ids, want, "v4 {f}");
        assert_eq!(total, Some(want.len() as u64), "v4 total of {f}");
        // Offset pages slice the same list.
        let mut paged = f.clone();
        paged["numberPerPage"] = json!(4);
        paged["page"] = json!(2);
        let data = app.filter(&paged).await;
        let slice: Vec<String> = want.iter().skip(4).take(4).cloned().collect();
        assert_eq!(call_ids(&data), slice, "page 2 of {f}");
    }
    assert!(non_empty >= 20, "the data set exercises the filters");
}

#[tokio::test]
async fn cursor_walks_in_both_orders_see_each_match_once_while_records_arrive() {
    let app = spawn_app_with(config()).await;
    let from_ms = app.clock.now_ms() - 2 * 86_400_000;
    let mut records = simulate(&app, "w", 120, from_ms, 5).await;
    let from = from_ms / 1000 - 10;
    let to = app.clock.now_secs();
    for (gen4, order) in [
        (false, "desc"),
        (true, "asc"),
        (false, "asc"),
        (true, "desc"),
    ] {
        let f = json!({"startTimestamp": from, "endTimestamp": to, "numberPerPage": 5,
            "userId": "amy", "order": order, "withCursor": true});
        let before = expected(&f, &records);
        let mut seen: Vec<String> = Vec::new();
        let mut body = f.clone();
        let mut added: Vec<String> = Vec::new();
        for round in 0..200 {
            let (ids, next) = if gen4 {
                let (_, ids, next) = v4_filter(&app, &v4_body(&body)).await;
                (ids, next)
            } else {
                let data = app.filter(&body).await;
                (
                    call_ids(&data),
                    data["nextCursor"].as_str().map(str::to_owned),
                )
            };
            seen.extend(ids);
            let Some(next) = next else { break };
            // A call of amy's arrives behind the cursor (it must come) and one of someone
            // else's (it must not).
            let last = records
                .iter()
                .find(|r| r["callId"] == json!(seen.last().unwrap()))
                .unwrap()
                .clone();
            let t = num(&last, "startCallTs") * 1000;
            let behind = if order == "desc" {
                t - 1_500
            } else {
                t + 1_500
            };
            let id = format!("late-{order}-{gen4}-{round:03}");
            let other = format!("other-{order}-{gen4}-{round:03}");
            app.report_all(&[
                start_event(&id, "amy", &["ben"], behind),
                event(&id, "reject", "ben", behind + 100),
                start_event(&other, "cat", &["dan"], behind),
                event(&other, "reject", "dan", behind + 100),
            ])
            .await;
            for new in [&id, &other] {
                records.push(app.record(new).await["data"].clone());
            }
            added.push(id);
            // The same cursor under another filter or order is refused.
            let mut wrong = body.clone();
            wrong["cursor"] = json!(next);
            wrong["userId"] = json!("ben");
            let env = app.call("/v1/records/get_records_by_filter", &wrong).await;
            if !gen4 {
                assert_eq!(code(&env), 70001, "{env}");
                wrong["userId"] = json!("amy");
                wrong["order"] = json!(if order == "asc" { "desc" } else { "asc" });
                let env = app.call("/v1/records/get_records_by_filter", &wrong).await;
                assert_eq!(code(&env), 70001, "{env}");
            }
            body["cursor"] = json!(next);
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{order} v4={gen4}: a record twice"
        );
        for id in before.iter().chain(&added) {
            assert!(unique.contains(id), "{order} v4={gen4}: {id} skipped");
        }
        // Only amy's calls, in the walk's order.
        let after = expected(&f, &records);
        let in_order: Vec<&String> = after.iter().filter(|id| unique.contains(id)).collect();
        let extra: Vec<&Value> = seen
            .iter()
            .filter(|id| !after.contains(id))
            .filter_map(|id| records.iter().find(|r| r["callId"] == json!(id)))
            .collect();
        assert_eq!(
            in_order,
            seen.iter().collect::<Vec<_>>(),
            "{order} v4={gen4}: not in the model: {extra:?}"
        );
    }
}

/// The model's statistics of filter `f` with `bucket` over `[from, to]`.
fn expected_stats(f: &Value, records: &[Value], bucket: &str, from: i64, to: i64) -> Vec<Value> {
    let width = match bucket {
        "hour" => Some(3600),
        "day" => Some(86_400),
        _ => None,
    };
    let start_of = |s: i64| width.map_or(from, |w: i64| s.div_euclid(w) * w);
    let mut buckets: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    let mut s = start_of(from);
    loop {
        buckets.insert(s, Vec::new());
        match width {
            Some(w) if s + w <= to => s += w,
            _ => break,
        }
    }
    for r in records {
        if r["callResult"] != "ongoing" && matches(f, r) {
            buckets
                .get_mut(&start_of(num(r, "startCallTs")))
                .unwrap()
                .push(r);
        }
    }
    buckets
        .into_iter()
        .map(|(start, rs)| {
            let total = rs.len() as u64;
            let connected: Vec<&&Value> = rs.iter().filter(|r| num(r, "acceptTs") > 0).collect();
            let talk: i64 = connected.iter().map(|r| duration(r)).sum();
            let mut by_result = Map::new();
            for k in [
                "cancel",
                "reject",
                "not_answer",
                "call_busy",
                "normal_end",
                "interrupt",
            ] {
                by_result.insert(
                    k.into(),
                    json!(rs.iter().filter(|r| r["callResult"] == k).count()),
                );
            }
            let rate = if total == 0 {
                0.0
            } else {
                connected.len() as f64 / total as f64
            };
            let avg = if connected.is_empty() {
                0.0
            } else {
                talk as f64 / connected.len() as f64
            };
            json!({"startTs": start, "total": total, "connected": connected.len(),
                "answerRate": rate, "byResult": by_result, "talkSecs": talk, "avgTalkSecs": avg})
        })
        .collect()
}

/// Asserts the answered buckets equal the model's (the fractions to 1e-9: JSON numbers are
/// parsed back here with a reader that may round the last digit).
fn same_buckets(got: &Value, want: &[Value], what: &str) {
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "buckets of {what}");
    for (g, w) in got.iter().zip(want) {
        for k in ["startTs", "total", "connected", "byResult", "talkSecs"] {
            assert_eq!(g[k], w[k], "{k} of {what}: {g} vs {w}");
        }
        for k in ["answerRate", "avgTalkSecs"] {
            let (a, b) = (g[k].as_f64().unwrap(), w[k].as_f64().unwrap());
            assert!((a - b).abs() < 1e-9, "{k} of {what}: {g} vs {w}");
        }
    }
}

#[tokio::test]
async fn stats_per_hour_day_and_all_equal_the_model_with_every_bucket_present() {
    let app = spawn_app_with(config()).await;
    let from_ms = app.clock.now_ms() - 2 * 86_400_000;
    let records = simulate(&app, "s", 150, from_ms, 17).await;
    let from = from_ms / 1000 + 1_234;
    let to = app.clock.now_secs();
    let mut checked = 0;
    for f in filters(&records, from, to) {
        if f["callResult"] == "ongoing" || f.get("order").is_some() {
            continue;
        }
        for bucket in ["hour", "day", "all"] {
            let mut body = f.clone();
            body["bucket"] = json!(bucket);
            let env = app.call("/v1/records/get_stats", &body).await;
            assert_eq!(code(&env), 0, "{body}: {env}");
            let want = expected_stats(&f, &records, bucket, from, to);
            same_buckets(&env["data"]["buckets"], &want, &format!("{bucket} of {f}"));
            checked += 1;
        }
    }
    assert!(checked > 50);
    // The default bucket is a day; a range with no calls has every bucket, empty.
    let empty = app
        .call(
            "/v1/records/get_stats",
            &json!({"startTimestamp": from - 86_400, "endTimestamp": from - 86_400 + 7_199,
                "bucket": "hour"}),
        )
        .await;
    let buckets = empty["data"]["buckets"].as_array().unwrap();
    assert!(buckets.len() >= 2, "{empty}");
    assert!(
        buckets
            .iter()
            .all(|b| b["total"] == 0 && b["answerRate"] == 0.0),
        "{empty}"
    );
    let days = app
        .call("/v1/records/get_stats", &json!({"startTimestamp": from}))
        .await;
    let want = expected_stats(&json!({"startTimestamp": from}), &records, "day", from, to);
    same_buckets(&days["data"]["buckets"], &want, "default bucket");
}

#[tokio::test]
async fn bad_extension_values_are_refused_in_both_generations() {
    let app = spawn_app_with(config()).await;
    let ok = json!({"startTimestamp": 0});
    let cases: Vec<(&str, Value, u64)> = vec![
        ("empty userId", json!({"userId": ""}), 70001),
        ("v4 media in v1", json!({"mediaType": "Video"}), 70001),
        ("negative duration", json!({"minDurationSecs": -1}), 70001),
        (
            "min above max",
            json!({"minDurationSecs": 9, "maxDurationSecs": 8}),
            70001,
        ),
        ("empty callIds", json!({"callIds": []}), 70001),
        (
            "too many callIds",
            json!({"callIds": (0..1001).map(|i| format!("c{i}")).collect::<Vec<_>>()}),
            70001,
        ),
        ("bad order", json!({"order": "sideways"}), 70001),
        ("userId not a string", json!({"userId": 7}), 70009),
        ("callIds not an array", json!({"callIds": "c1"}), 70009),
    ];
    for (name, extra, want) in cases {
        let mut body = ok.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let env = app.call("/v1/records/get_records_by_filter", &body).await;
        assert_eq!(code(&env), want, "v1 {name}: {env}");
        let env = app.call("/v1/records/get_stats", &body).await;
        assert_eq!(code(&env), want, "stats {name}: {env}");
        if name == "v4 media in v1" {
            // (In v4's names the same value is valid.)
            continue;
        }
        let resp = app
            .post(V4_FILTER, &app.query_for(ADMIN), v4_body(&body).to_string())
            .await;
        let env: Value = resp.json().await.unwrap();
        let want4 = if want == 70001 { 101002 } else { 60003 };
        assert_eq!(env["ErrorCode"], want4, "v4 {name}: {env}");
    }
    for (name, body) in [
        (
            "ongoing",
            json!({"startTimestamp": 0, "callResult": "ongoing"}),
        ),
        ("bad bucket", json!({"startTimestamp": 0, "bucket": "week"})),
        (
            "too many buckets",
            json!({"startTimestamp": 0, "bucket": "hour"}),
        ),
        ("no start", json!({"bucket": "day"})),
    ] {
        let env = app.call("/v1/records/get_stats", &body).await;
        assert_eq!(code(&env), 70001, "stats {name}: {env}");
    }
}
