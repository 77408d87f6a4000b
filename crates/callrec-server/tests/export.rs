//! `/v1/records/export` (an extension) over real TLS: the filter's records, streamed as NDJSON
//! or CSV, gzip when asked, equal to what `get_records_by_filter` pages through; errors found
//! before the first byte answer with the envelope.

mod common;

use std::io::Read as _;

use common::*;
use serde_json::{Value, json};

/// Status and headers of an answer.
struct Head {
    status: u16,
    headers: http::HeaderMap,
}

impl Head {
    fn status(&self) -> u16 {
        self.status
    }

    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }
}

async fn export(app: &TestApp, body: &Value, gzip: bool) -> (Head, Vec<u8>) {
    let mut req = app
        .client
        .post(format!(
            "{}/v1/records/export?{}",
            app.base_url,
            app.query_for(ADMIN)
        ))
        .body(body.to_string());
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let head = Head {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
    };
    (head, resp.bytes().await.unwrap().to_vec())
}

/// Every record of the filter, paged with cursors.
async fn filtered(app: &TestApp, filter: &Value) -> Vec<Value> {
    let mut body = filter.clone();
    body["numberPerPage"] = json!(1000);
    body["withCursor"] = json!(true);
    let mut out = Vec::new();
    loop {
        let data = app.filter(&body).await;
        out.extend(data["callRecordList"].as_array().unwrap().iter().cloned());
        match data["nextCursor"].as_str() {
            Some(c) => body["cursor"] = json!(c),
            None => return out,
        }
    }
}

#[tokio::test]
async fn exports_equal_the_filter_in_both_formats_with_and_without_gzip() {
    // The export's default rate (2/s) would refuse this test's quick succession.
    let app = spawn_app_with(TestConfig {
        extra_rate_limits: "export = 0".into(),
        ..TestConfig::default()
    })
    .await;
    let t = app.clock.now_ms() - 3_600_000;
    // 1 500 calls (more than one store chunk), three results; one with a comma in its room.
    let mut events = Vec::new();
    for i in 0..1500 {
        let how = ["reject", "cancel", "call_busy"][i % 3];
        let mut call = single_call(&format!("x{i:04}"), t + (i as i64) * 100, how);
        if i == 7 {
            call[0]["roomId"] = json!("room, \"seven\"");
        }
        events.extend(call);
    }
    for chunk in events.chunks(1000) {
        app.report_all(chunk).await;
    }
    let filter = json!({"startTimestamp": 0});
    let expected = filtered(&app, &filter).await;
    assert_eq!(expected.len(), 1500);

    let (resp, body) = export(&app, &filter, false).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(resp.headers().get("content-encoding").is_none());
    assert_eq!(resp.headers()["x-request-id"].len(), 32);
    let lines: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, expected);

    let (resp, gz) = export(
        &app,
        &json!({"startTimestamp": 0, "format": "ndjson"}),
        true,
    )
    .await;
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    let unzipped: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(unzipped, expected);

    // CSV, filtered by result, gzip.
    let rejects = json!({"startTimestamp": 0, "callResult": "reject", "format": "csv"});
    let expected_rejects =
        filtered(&app, &json!({"startTimestamp": 0, "callResult": "reject"})).await;
    let (resp, gz) = export(&app, &rejects, true).await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut csv)
        .unwrap();
    let (_, plain) = export(&app, &rejects, false).await;
    assert_eq!(String::from_utf8(plain).unwrap(), csv);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "callId,sdkAppId,mediaType,roomId,startCallTs,acceptTs,endTs,caller,totalUserNumber,callType,callResult,callees"
    );
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), expected_rejects.len());
    for (row, rec) in rows.iter().zip(&expected_rejects) {
        let id = rec["callId"].as_str().unwrap();
        if id == "x0007" {
            assert!(row.contains(",\"room, \"\"seven\"\"\","), "{row}");
        } else {
            assert_eq!(
                *row,
                format!(
                    "{id},{SDKAPPID},audio,,{},{},{},alice,2,single,reject,bob",
                    rec["startCallTs"], rec["acceptTs"], rec["endTs"]
                )
            );
        }
    }

    // Nothing matches: an empty NDJSON body, a CSV with its header only.
    let none = json!({"startTimestamp": 0, "callResult": "interrupt"});
    let (resp, body) = export(&app, &none, false).await;
    assert_eq!(resp.status(), 200);
    assert!(body.is_empty());
    let mut csv_none = none.clone();
    csv_none["format"] = json!("csv");
    let (_, body) = export(&app, &csv_none, false).await;
    assert_eq!(body.iter().filter(|b| **b == b'\n').count(), 1);
}

#[tokio::test]
async fn errors_before_the_first_byte_answer_with_the_envelope() {
    // The export's default rate (2/s) would refuse this test's quick succession.
    let app = spawn_app_with(TestConfig {
        extra_rate_limits: "export = 0".into(),
        ..TestConfig::default()
    })
    .await;
    for (body, code_) in [
        (json!({"startTimestamp": 0, "format": "xml"}), 70001),
        (json!({}), 70001),
        (json!({"startTimestamp": 10, "endTimestamp": 5}), 70001),
        (json!({"startTimestamp": "x"}), 70009),
    ] {
        let env = app.call("/v1/records/export", &body).await;
        assert_eq!(code(&env), code_, "{body} → {env}");
    }
    let env = app
        .call_as("bob", "/v1/records/export", &json!({"startTimestamp": 0}))
        .await;
    assert_eq!(code(&env), 70004);
}

/// The extension fields narrow an export exactly as they narrow the filter, in the order asked
/// for, across store chunks.
#[tokio::test]
async fn exports_take_the_extension_fields_and_order_like_the_filter() {
    let app = spawn_app_with(TestConfig {
        extra_rate_limits: "export = 0".into(),
        ..TestConfig::default()
    })
    .await;
    let t = app.clock.now_ms() - 3_600_000;
    let users = ["amy", "ben", "cat"];
    let mut events = Vec::new();
    for i in 0..2400usize {
        let id = format!("e{i:04}");
        let (caller, callee) = (users[i % 3], users[(i + 1) % 3]);
        let start = t + (i as i64 / 2) * 1000;
        let mut s = start_event(&id, caller, &[callee], start);
        if i % 4 == 0 {
            s["mediaType"] = json!("video");
        }
        events.push(s);
        events.push(event(&id, "accept", callee, start + 300));
        events.push(event(
            &id,
            "hangup",
            caller,
            start + 300 + (i as i64 % 90) * 1000,
        ));
    }
    for chunk in events.chunks(900) {
        app.report_all(chunk).await;
    }
    let some_ids: Vec<String> = (0..2400).step_by(7).map(|i| format!("e{i:04}")).collect();
    for filter in [
        json!({"startTimestamp": 0, "userId": "amy", "order": "asc"}),
        json!({"startTimestamp": 0, "callee": "ben", "mediaType": "video"}),
        json!({"startTimestamp": 0, "minDurationSecs": 30, "maxDurationSecs": 60, "order": "asc"}),
        json!({"startTimestamp": 0, "callIds": some_ids, "caller": "cat"}),
    ] {
        let expected = filtered(&app, &filter).await;
        assert!(!expected.is_empty(), "{filter}");
        let (resp, body) = export(&app, &filter, false).await;
        assert_eq!(resp.status(), 200, "{filter}");
        let lines: Vec<Value> = String::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, expected, "{filter}");
    }
}
