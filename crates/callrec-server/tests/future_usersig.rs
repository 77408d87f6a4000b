//! `[auth] max_future_skew_secs` over real TLS: off by default (TRTC's verifiers accept a
//! UserSig issued in the future, so a far-future token with a short expiry never expires); when
//! set, a UserSig issued further ahead than that is invalid (v1 70002, v4 70003) and one within
//! it is accepted.

mod common;

use common::*;
use serde_json::{Value, json};

const V4_GET: &str = "/v4/call_record_http_srv/get_record_by_callid";

/// A UserSig for the admin issued `ahead` seconds from now, valid for 60 s from then.
fn future_sig(app: &TestApp, ahead: u64) -> String {
    let now = u64::try_from(app.clock.now_secs()).unwrap();
    callrec_usersig::generate(SDKAPPID, KEY, ADMIN, 60, now + ahead)
}

async fn v1_code(app: &TestApp, sig: &str) -> u64 {
    let resp = app
        .post(
            "/v1/records/get_record_by_callId",
            &app.query_with(ADMIN, sig),
            json!({"callId": "c1"}).to_string(),
        )
        .await;
    code(&envelope_of(resp).await)
}

async fn v4_code(app: &TestApp, sig: &str) -> u64 {
    let resp = app
        .post(
            V4_GET,
            &app.query_with(ADMIN, sig),
            json!({"CallId": "c1"}).to_string(),
        )
        .await;
    let env: Value = resp.json().await.unwrap();
    env["ErrorCode"].as_u64().unwrap()
}

#[tokio::test]
async fn future_usersigs_are_accepted_by_default_like_trtc() {
    let app = spawn_app().await;
    app.report_all(&single_call("c1", app.clock.now_ms() - 60_000, "reject"))
        .await;
    let sig = future_sig(&app, 10 * 365 * 86_400);
    assert_eq!(v1_code(&app, &sig).await, 0);
    assert_eq!(v4_code(&app, &sig).await, 0);
}

#[tokio::test]
async fn with_a_skew_set_usersigs_issued_further_ahead_are_invalid() {
    let app = spawn_app_with(TestConfig {
        extra: "[auth]\nmax_future_skew_secs = 300\n".into(),
        ..TestConfig::default()
    })
    .await;
    app.report_all(&single_call("c1", app.clock.now_ms() - 60_000, "reject"))
        .await;
    let far = future_sig(&app, 3_600);
    assert_eq!(v1_code(&app, &far).await, 70002);
    assert_eq!(v4_code(&app, &far).await, 70003);
    // Within the allowed skew (clocks a little apart) it still works, as does a normal one.
    let near = future_sig(&app, 200);
    assert_eq!(v1_code(&app, &near).await, 0);
    assert_eq!(v4_code(&app, &near).await, 0);
    assert_eq!(v1_code(&app, &app.admin_sig()).await, 0);
}
