//! `[rate_limit] redis_url` through the real server: an unreachable Redis never fails a request
//! (the node's own limit applies, and /metrics says so); a reachable one (`CALLREC_TEST_REDIS_URL`)
//! makes two servers share one limit.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::{TestApp, TestConfig, code, single_call, spawn_app_with};

const GET: &str = "/v1/records/get_record_by_callId";

/// A second app with a random sdkappid (a fresh Redis key namespace) limited to `n` per second
/// for get_record_by_callId, and `[rate_limit]` pointing at `redis_url`.
fn extra(sdkappid: u64, n: u32, redis_url: &str) -> String {
    format!(
        "[[apps]]\nsdkappid = {sdkappid}\nsecret_key = \"{}\"\nadmins = [\"{}\"]\n\
         [apps.rate_limits]\nget_record_by_callId = {n}\n\
         [rate_limit]\nredis_url = \"{redis_url}\"\n",
        common::KEY2,
        common::ADMIN
    )
}

fn random_app() -> u64 {
    1_700_000_000 + u64::from(rand::random::<u32>() % 100_000_000)
}

async fn get(app: &TestApp, sdkappid: u64, call_id: &str) -> u64 {
    code(
        &app.call_in(
            sdkappid,
            common::KEY2,
            common::ADMIN,
            GET,
            &json!({ "callId": call_id }),
        )
        .await,
    )
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics").await.text().await.unwrap()
}

#[tokio::test]
async fn unreachable_redis_never_fails_a_request_and_the_local_limit_applies() {
    let sdkappid = random_app();
    // Port 1 on loopback: connections are refused. The password must never show.
    let app = spawn_app_with(TestConfig {
        extra: extra(sdkappid, 5, "redis://:hunter2@127.0.0.1:1"),
        ..TestConfig::default()
    })
    .await;
    let now = app.clock.now_ms();
    let events = single_call("rl-local", now - 5_000, "normal_end");
    let env = app
        .call_in(
            sdkappid,
            common::KEY2,
            common::ADMIN,
            "/v1/events/report",
            &json!({ "events": events }),
        )
        .await;
    assert_eq!(code(&env), 0, "{env}");

    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(get(&app, sdkappid, "rl-local").await);
    }
    let elapsed = started.elapsed();
    let ok = codes.iter().filter(|&&c| c == 0).count();
    let limited = codes.iter().filter(|&&c| c == 70005).count();
    assert_eq!(ok + limited, 12, "only successes and 70005: {codes:?}");
    // The local bucket: a burst of 5, plus what refills (5/s) while the requests run.
    assert!(
        (5..=5 + 1 + usize::try_from(elapsed.as_secs()).unwrap() * 5).contains(&ok),
        "{codes:?} in {elapsed:?}"
    );
    assert!(limited >= 1, "{codes:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "a dead Redis must not slow requests down: {elapsed:?}"
    );
    let text = metrics(&app).await;
    assert!(
        text.contains(r#"callrec_rate_limit_backend_total{backend="local"} 12"#),
        "{text}"
    );
    assert!(!text.contains(r#"backend="redis""#), "{text}");
    assert!(!text.contains("hunter2"));
    // The unlimited app is not counted: no limit, no decision.
    assert_eq!(code(&app.record("nothing-here").await), 101_050);
}

#[tokio::test]
async fn two_servers_on_one_redis_share_the_limit() {
    let Ok(redis_url) = std::env::var("CALLREC_TEST_REDIS_URL") else {
        callrec_store_tests::print_skipped(
            "CALLREC_TEST_REDIS_URL not set (Redis rate-limit test skipped)",
        );
        return;
    };
    let sdkappid = random_app();
    let config = TestConfig {
        extra: extra(sdkappid, 6, &redis_url),
        ..TestConfig::default()
    };
    let a = spawn_app_with(config.clone()).await;
    let b = spawn_app_with(config).await;
    let started = Instant::now();
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        // No such call: 101050 means the request passed the limiter.
        match get(app, sdkappid, "none").await {
            101_050 => ok += 1,
            70005 => limited += 1,
            other => panic!("unexpected errorCode {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // One bucket for both: a burst of 6 plus 6/s — not 6 per server.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let most = 6 + (6.0 * elapsed).ceil() as usize;
    assert!(
        (6..=most).contains(&ok),
        "{ok} allowed, {limited} refused in {elapsed:.2} s"
    );
    for app in [&a, &b] {
        let text = metrics(app).await;
        assert!(
            text.contains(r#"callrec_rate_limit_backend_total{backend="redis"} 15"#),
            "{text}"
        );
    }
}
