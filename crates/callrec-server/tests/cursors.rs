//! Cursor paging and `withTotal` (record extensions) over real TLS, in both generations: a walk
//! that never repeats nor skips a record while records arrive, no `nextCursor` after the last
//! page (also a full one), forged and foreign cursors refused, totals left out on request.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

async fn v4(app: &TestApp, path: &str, body: &Value) -> Value {
    let resp = app
        .post(path, &app.query_for(ADMIN), body.to_string())
        .await;
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_v1_cursor_walk_sees_every_record_once_while_records_arrive() {
    let app = spawn_app().await;
    let t = app.clock.now_ms() - 3_600_000;
    for i in 0..30 {
        // Three calls per second: ties broken by callId.
        app.report_all(&single_call(
            &format!("c{i:02}"),
            t + (i / 3) * 1000,
            "reject",
        ))
        .await;
    }
    let filter = json!({"startTimestamp": t / 1000 - 1, "numberPerPage": 4, "withCursor": true});
    let mut body = filter.clone();
    let mut seen: Vec<String> = Vec::new();
    let mut added = 0;
    let mut mids = Vec::new();
    loop {
        let data = app.filter(&body).await;
        // The old ones fall before the filter's range; the new ones count.
        assert_eq!(data["totalNum"].as_u64().unwrap(), 30 + added, "{data}");
        seen.extend(call_ids(&data));
        let Some(next) = data["nextCursor"].as_str() else {
            break;
        };
        // A record newer than the walk (ahead of the cursor) and one older (behind it) arrive.
        app.report_all(&single_call(&format!("new{added}"), t + 100_000, "reject"))
            .await;
        app.report_all(&single_call(&format!("old{added}"), t - 100_000, "reject"))
            .await;
        // And one inside the range, behind the cursor (in the oldest second, named to sort
        // after every callId paged so far there): it must come.
        app.report_all(&single_call(&format!("mid{added:03}"), t, "reject"))
            .await;
        mids.push(format!("mid{added:03}"));
        added += 2;
        body = json!({"startTimestamp": t / 1000 - 200, "numberPerPage": 4, "cursor": next});
        // The filter changed (startTimestamp): the cursor is refused.
        let env = app.call("/v1/records/get_records_by_filter", &body).await;
        assert_eq!(code(&env), 70001, "{env}");
        body = json!({"startTimestamp": t / 1000 - 1, "numberPerPage": 4, "cursor": next});
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a record came twice: {seen:?}");
    for i in 0..30 {
        assert!(unique.contains(&format!("c{i:02}")), "c{i:02} skipped");
    }
    for m in &mids {
        assert!(
            unique.contains(m),
            "{m} arrived behind the cursor and was skipped"
        );
    }
    // Newer ones were ahead of the cursor; older ones are outside this filter's range.
    assert!(
        seen.iter()
            .all(|s| s.starts_with('c') || s.starts_with("mid")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn cursors_end_cleanly_and_forged_or_foreign_ones_are_refused() {
    let app = spawn_app_with(TestConfig {
        extra: second_app_toml(),
        ..TestConfig::default()
    })
    .await;
    let t = app.clock.now_ms() - 3_600_000;
    for i in 0..10 {
        app.report_all(&single_call(&format!("e{i}"), t + i * 1000, "cancel"))
            .await;
    }
    let first = app
        .filter(&json!({"startTimestamp": 0, "numberPerPage": 5, "withCursor": true, "withTotal": false}))
        .await;
    assert!(first.get("totalNum").is_none(), "{first}");
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    // The second page is full and the last: no nextCursor.
    let second = app
        .filter(
            &json!({"startTimestamp": 0, "numberPerPage": 5, "cursor": cursor, "withTotal": false}),
        )
        .await;
    assert_eq!(call_ids(&second).len(), 5);
    assert!(second.get("nextCursor").is_none(), "{second}");
    // Without withCursor, no cursor; withTotal false also in page mode.
    let paged = app
        .filter(&json!({"startTimestamp": 0, "numberPerPage": 5, "withTotal": false}))
        .await;
    assert!(
        paged.get("nextCursor").is_none() && paged.get("totalNum").is_none(),
        "{paged}"
    );
    // Forged: edited payload, edited tag, garbage.
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut bad_tag = tag.to_owned();
    bad_tag.replace_range(0..1, if tag.starts_with('A') { "B" } else { "A" });
    for forged in [
        format!("{payload}x.{tag}"),
        format!("{payload}.{bad_tag}"),
        "garbage".to_owned(),
        String::new(),
    ] {
        let env = app
            .call(
                "/v1/records/get_records_by_filter",
                &json!({"startTimestamp": 0, "numberPerPage": 5, "cursor": forged}),
            )
            .await;
        assert_eq!(code(&env), 70001, "{forged:?} → {env}");
    }
    // Foreign: the other app, another page size.
    let env = app
        .call_in(
            SDKAPPID2,
            KEY2,
            ADMIN,
            "/v1/records/get_records_by_filter",
            &json!({"startTimestamp": 0, "numberPerPage": 5, "cursor": cursor}),
        )
        .await;
    assert_eq!(code(&env), 70001, "{env}");
    let env = app
        .call(
            "/v1/records/get_records_by_filter",
            &json!({"startTimestamp": 0, "numberPerPage": 6, "cursor": cursor}),
        )
        .await;
    assert_eq!(code(&env), 70001, "{env}");
    assert_eq!(
        code(
            &app.call(
                "/v1/records/get_records_by_filter",
                &json!({"startTimestamp": 0, "withCursor": "yes"}),
            )
            .await
        ),
        70009
    );

    // v4: the same in v4's names and codes.
    let body = json!({"NumberPerPage": 4, "WithCursor": true, "WithTotal": false});
    let mut env = v4(&app, "/v4/call_record_http_srv/get_record_by_filter", &body).await;
    let mut ids = Vec::new();
    loop {
        assert_eq!(env["ErrorCode"], 0, "{env}");
        let r = &env["Response"];
        assert!(r.get("TotalNum").is_none(), "{env}");
        ids.extend(
            r["CallRecordList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["CallId"].as_str().unwrap().to_owned()),
        );
        let Some(next) = r["NextCursor"].as_str() else {
            break;
        };
        env = v4(
            &app,
            "/v4/call_record_http_srv/get_record_by_filter",
            &json!({"NumberPerPage": 4, "Cursor": next, "WithTotal": false}),
        )
        .await;
    }
    let v1_all = app
        .filter(&json!({"startTimestamp": 0, "numberPerPage": 100}))
        .await;
    assert_eq!(ids, call_ids(&v1_all));
    let env = v4(
        &app,
        "/v4/call_record_http_srv/get_record_by_filter",
        &json!({"Cursor": "forged.cursor"}),
    )
    .await;
    assert_eq!(env["ErrorCode"], 101002, "{env}");
}
