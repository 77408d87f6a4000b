//! Smoke tests: the contract's sample call, one test per error-table row, the operational
//! endpoints, HTTP/1.1 keep-alive, TLS versions and graceful shutdown — all over real TLS.

mod common;

use std::sync::Arc;

use callrec_domain::Clock;
use std::time::Duration;

use common::{
    ADMIN, KEY, SDKAPPID, TestConfig, code, envelope_of, spawn_app, spawn_app_in, spawn_app_with,
};
use serde_json::{Value, json};

const CALL_ID: &str = "2ae7d549-c441-4a9b-87c0-61810fe19582";
const GET: &str = "/v1/records/get_record_by_callId";
const FILTER: &str = "/v1/records/get_records_by_filter";
const REPORT: &str = "/v1/events/report";

fn sample_events(start_ms: i64) -> Value {
    json!({"events": [
        {"callId": CALL_ID, "type": "start", "userId": "alice", "time": start_ms,
         "callees": ["bob1"], "mediaType": "video", "roomId": "123456"},
        {"callId": CALL_ID, "type": "accept", "userId": "bob1", "time": start_ms + 5_000},
        {"callId": CALL_ID, "type": "hangup", "userId": "alice", "time": start_ms + 65_000},
    ]})
}

#[tokio::test]
async fn sample_call_is_reported_and_read_back_over_http2() {
    let app = spawn_app().await;
    let start_ms = app.clock.now_ms() - 120_000;
    let report = app.call(REPORT, &sample_events(start_ms)).await;
    assert_eq!(code(&report), 0, "{report}");
    assert_eq!(
        report["data"],
        json!({"accepted": 3, "duplicates": 0, "rejected": []})
    );

    let resp = app
        .post(
            GET,
            &app.query_for(ADMIN),
            json!({"callId": CALL_ID}).to_string(),
        )
        .await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let env = envelope_of(resp).await;
    let s = start_ms.div_euclid(1000);
    assert_eq!(
        env["data"],
        json!({
            "callId": CALL_ID, "sdkAppId": SDKAPPID, "mediaType": "video", "roomId": "123456",
            "startCallTs": s, "acceptTs": (start_ms + 5_000).div_euclid(1000),
            "endTs": (start_ms + 65_000).div_euclid(1000), "caller": "alice",
            "totalUserNumber": 2, "callType": "single", "callResult": "normal_end",
            "callees": ["bob1"]
        })
    );
    let filter = app
        .call(
            FILTER,
            &json!({"startTimestamp": s - 10, "extension": true}),
        )
        .await;
    assert_eq!(filter["data"]["totalNum"], 1, "{filter}");
    assert_eq!(filter["data"]["page"], 1);
    assert_eq!(filter["data"]["callRecordList"][0], env["data"]);

    let again = app.call(REPORT, &sample_events(start_ms)).await;
    assert_eq!(
        again["data"],
        json!({"accepted": 0, "duplicates": 3, "rejected": []})
    );
}

#[tokio::test]
async fn unknown_api_path_or_non_post_method_is_70001() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    let lower = app.post("/v1/records/get_record_by_callid", &q, "{}").await;
    assert_eq!(code(&envelope_of(lower).await), 70001);
    let nested = app.post("/v1/records", &q, "{}").await;
    assert_eq!(code(&envelope_of(nested).await), 70001);
    let get = app
        .client
        .get(format!("{}{GET}?{q}", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&envelope_of(get).await), 70001);
}

#[tokio::test]
async fn missing_or_bad_query_parameter_is_70001() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN).replace("&contenttype=json", "");
    let env = envelope_of(app.post(GET, &q, "{}").await).await;
    assert_eq!(code(&env), 70001);
    assert!(
        env["errorMessage"]
            .as_str()
            .unwrap()
            .contains("contenttype")
    );
    let q = app.query_for(ADMIN).replace("random=", "random=x");
    assert_eq!(
        code(&envelope_of(app.post(GET, &q, "{}").await).await),
        70001
    );
}

#[tokio::test]
async fn bad_usersig_or_unknown_app_is_70002() {
    let app = spawn_app().await;
    let forged = app.query_with(ADMIN, &app.sig_for("someone_else"));
    assert_eq!(
        code(&envelope_of(app.post(GET, &forged, "{}").await).await),
        70002
    );
    let garbage = app.query_with(ADMIN, "not-a-usersig");
    assert_eq!(
        code(&envelope_of(app.post(GET, &garbage, "{}").await).await),
        70002
    );
    let other_app = app
        .query_for(ADMIN)
        .replace(&format!("sdkappid={SDKAPPID}"), "sdkappid=1400000099");
    assert_eq!(
        code(&envelope_of(app.post(GET, &other_app, "{}").await).await),
        70002
    );
}

#[tokio::test]
async fn expired_usersig_is_70003() {
    let app = spawn_app().await;
    let now = u64::try_from(app.clock.now_secs()).unwrap();
    let old = callrec_usersig::generate(SDKAPPID, KEY, ADMIN, 60, now - 3_600);
    let env = envelope_of(app.post(GET, &app.query_with(ADMIN, &old), "{}").await).await;
    assert_eq!(code(&env), 70003);
}

#[tokio::test]
async fn record_api_by_non_admin_is_70004() {
    let app = spawn_app().await;
    let env = app.call_as("alice", GET, &json!({"callId": "x"})).await;
    assert_eq!(code(&env), 70004);
}

#[tokio::test]
async fn record_api_without_group_call_package_is_50001_but_report_works() {
    let app = spawn_app_with(TestConfig {
        group_call_package: false,
        ..TestConfig::default()
    })
    .await;
    assert_eq!(code(&app.call(GET, &json!({"callId": "x"})).await), 50001);
    assert_eq!(
        code(&app.call(FILTER, &json!({"startTimestamp": 0})).await),
        50001
    );
    let start = app.clock.now_ms();
    assert_eq!(code(&app.call(REPORT, &sample_events(start)).await), 0);
}

#[tokio::test]
async fn exceeding_the_rate_limit_is_70005() {
    let app = spawn_app_with(TestConfig {
        rate_limits: [1, 0, 0],
        ..TestConfig::default()
    })
    .await;
    let first = app.call(GET, &json!({"callId": "x"})).await;
    assert_eq!(code(&first), 101050);
    let second = app.call(GET, &json!({"callId": "x"})).await;
    assert_eq!(code(&second), 70005);
    // Other APIs have their own buckets.
    assert_eq!(
        code(&app.call(FILTER, &json!({"startTimestamp": 0})).await),
        0
    );
}

#[tokio::test]
async fn body_that_is_not_a_json_object_or_has_wrong_types_is_70009() {
    let app = spawn_app().await;
    let q = app.query_for(ADMIN);
    for body in ["", "not json", "[]", r#"{"callId": 5}"#] {
        let env = envelope_of(app.post(GET, &q, body).await).await;
        assert_eq!(code(&env), 70009, "{body:?}");
    }
    let env = app.call(FILTER, &json!({"startTimestamp": 1.5})).await;
    assert_eq!(code(&env), 70009);
    let env = app.call(REPORT, &json!({"events": {}})).await;
    assert_eq!(code(&env), 70009);
    let big = format!(r#"{{"callId":"{}"}}"#, "x".repeat(1 << 20));
    assert_eq!(
        code(&envelope_of(app.post(GET, &q, big).await).await),
        70009
    );
}

#[tokio::test]
async fn missing_or_invalid_field_is_70001() {
    let app = spawn_app().await;
    assert_eq!(code(&app.call(GET, &json!({})).await), 70001);
    assert_eq!(code(&app.call(GET, &json!({"callId": ""})).await), 70001);
    assert_eq!(code(&app.call(FILTER, &json!({})).await), 70001);
    let backwards = json!({"startTimestamp": 100, "endTimestamp": 99});
    assert_eq!(code(&app.call(FILTER, &backwards).await), 70001);
    let bad_page = json!({"startTimestamp": 0, "numberPerPage": 1001});
    assert_eq!(code(&app.call(FILTER, &bad_page).await), 70001);
    assert_eq!(code(&app.call(REPORT, &json!({"events": []})).await), 70001);
    assert_eq!(code(&app.call(REPORT, &json!({})).await), 70001);
}

#[tokio::test]
async fn unknown_call_is_101050() {
    let app = spawn_app().await;
    let env = app.call(GET, &json!({"callId": "no-such-call"})).await;
    assert_eq!(code(&env), 101050);
}

#[tokio::test]
async fn report_rejects_only_the_bad_events_of_a_batch() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    let batch = json!({"events": [
        {"callId": "c1", "type": "start", "userId": "alice", "time": now, "callees": ["bob"], "mediaType": "audio"},
        {"callId": "c1", "type": "dance", "userId": "alice", "time": now},
        {"callId": "c1", "type": "accept", "userId": "bob", "time": "soon"},
        {"callId": "c1", "type": "hangup", "userId": "mallory", "time": now + 1},
        {"callId": "c2", "type": "accept", "userId": "alice", "time": now},
        {"callId": "c1", "type": "hangup", "userId": "alice", "time": now + 2},
    ]});
    let env = app.call_as("alice", REPORT, &batch).await;
    assert_eq!(code(&env), 0, "{env}");
    let data = &env["data"];
    assert_eq!(data["accepted"], 2, "{env}");
    assert_eq!(data["duplicates"], 0);
    let rejected: Vec<(u64, u64)> = data["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["errorCode"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rejected, [(1, 70001), (2, 70001), (3, 70004), (4, 70001)]);
    let rec = app.call(GET, &json!({"callId": "c1"})).await;
    assert_eq!(rec["data"]["callResult"], "cancel", "{rec}");
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_auth() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.call(GET, &json!({"callId": "x"})).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"callrec_requests_total{api="get_record_by_callId",error_code="101050"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("callrec_store_operation_duration_seconds"));
    assert_eq!(app.get("/nope").await.status(), 404);
}

#[tokio::test]
async fn http1_connection_is_kept_alive_across_requests() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;

    let app = spawn_app().await;
    let tls = tls_connect(&app, &[&rustls::version::TLS13], &[b"http/1.1"]).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        // Both requests go over this one connection; the second fails if the server closed it.
        let req = http::Request::post(format!("{GET}?{}", app.query_for(ADMIN)))
            .header("host", "localhost")
            .body(Full::new(bytes::Bytes::from(r#"{"callId":"x"}"#)))
            .unwrap();
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_11);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let env: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(code(&env), 101050);
    }

    let h1 = app.client_builder().http1_only().build().unwrap();
    for _ in 0..2 {
        let resp = h1
            .get(format!("{}/healthz", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    }
}

async fn tls_connect(
    app: &common::TestApp,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = common::server_cert_pem(app.dir());
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_offered_with_h2_alpn() {
    let app = spawn_app().await;
    let tls12 = tls_connect(&app, &[&rustls::version::TLS12], &[b"h2", b"http/1.1"]).await;
    assert_eq!(
        tls12.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(tls12.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let tls13 = tls_connect(&app, &[&rustls::version::TLS13], &[b"http/1.1"]).await;
    assert_eq!(
        tls13.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(tls13.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn in_flight_report_is_answered_during_shutdown_and_survives_restart() {
    let mut app = spawn_app().await;
    let body = sample_events(app.clock.now_ms() - 120_000).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let (first, rest) = (first.to_owned(), rest.to_owned());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(2);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let request = app
        .client
        .post(format!("{}{REPORT}?{}", app.base_url, app.query_for(ADMIN)))
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(first)).await.unwrap();
    // Let the request reach the handler, which now waits for the rest of the body.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(Ok(rest)).await.unwrap();
    drop(tx);
    let env = envelope_of(in_flight.await.unwrap().unwrap()).await;
    assert_eq!(env["data"]["accepted"], 3, "{env}");

    let dir = app.stop().await;
    let again = spawn_app_in(dir, TestConfig::default()).await;
    let rec = again.call(GET, &json!({"callId": CALL_ID})).await;
    assert_eq!(rec["data"]["callResult"], "normal_end", "{rec}");
}

#[tokio::test]
async fn unreachable_postgres_store_fails_at_start_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let text = TestConfig::default().to_toml().replace(
        "data_dir = \"data\"\n",
        "data_dir = \"data\"\n[store]\nurl = \"postgres://u:secretpw@127.0.0.1:1/db\"\n",
    );
    let config = callrec_server::Config::from_toml_str(&text, dir.path()).unwrap();
    let err = callrec_server::Server::bind(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("secretpw"),
        "the URL may hold a password: {err}"
    );
    assert!(!err.contains("not supported"), "{err}");
}

#[tokio::test]
async fn ringing_callee_times_out_into_not_answer_via_the_timeout_job() {
    let clock = Arc::new(callrec_domain::ManualClock::new(
        callrec_domain::SystemClock.now_ms(),
    ));
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        ..TestConfig::default()
    })
    .await;
    let now = clock.now_ms();
    let start = json!({"events": [{"callId": "ring", "type": "start", "userId": "alice",
        "time": now, "callees": ["bob"], "mediaType": "audio"}]});
    assert_eq!(app.call(REPORT, &start).await["data"]["accepted"], 1);
    clock.advance_ms(61_000);
    let mut result = Value::Null;
    for _ in 0..50 {
        let rec = app.call(GET, &json!({"callId": "ring"})).await;
        result = rec["data"]["callResult"].clone();
        if result == "not_answer" {
            assert_eq!(rec["data"]["endTs"], (now + 60_000).div_euclid(1000));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the call was still {result} 5 s after its ring time-out");
}

#[tokio::test]
async fn user_may_report_about_calls_they_take_part_in_once_started() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    let early =
        json!({"events": [{"callId": "g", "type": "accept", "userId": "bob", "time": now}]});
    let env = app.call_as("bob", REPORT, &early).await;
    assert_eq!(env["data"]["rejected"][0]["errorCode"], 70001, "{env}");
    assert!(
        env["data"]["rejected"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("retry later")
    );
    let start = json!({"events": [{"callId": "g", "type": "start", "userId": "alice",
        "time": now, "callees": ["bob", "carol"], "mediaType": "video"}]});
    assert_eq!(
        app.call_as("alice", REPORT, &start).await["data"]["accepted"],
        1
    );
    assert_eq!(
        app.call_as("bob", REPORT, &early).await["data"]["accepted"],
        1
    );
    // Decision: anyone of the app may join a group call.
    let join =
        json!({"events": [{"callId": "g", "type": "join", "userId": "dave", "time": now + 1}]});
    assert_eq!(
        app.call_as("dave", REPORT, &join).await["data"]["accepted"],
        1
    );
    let stranger =
        json!({"events": [{"callId": "g", "type": "hangup", "userId": "eve", "time": now + 2}]});
    let env = app.call_as("eve", REPORT, &stranger).await;
    assert_eq!(env["data"]["rejected"][0]["errorCode"], 70004, "{env}");
    let rec = app.call(GET, &json!({"callId": "g"})).await;
    assert_eq!(rec["data"]["callees"], json!(["bob", "carol", "dave"]));
}

#[tokio::test]
async fn record_older_than_retention_is_invisible_before_any_purge() {
    let clock = Arc::new(callrec_domain::ManualClock::new(
        callrec_domain::SystemClock.now_ms(),
    ));
    let app = spawn_app_with(TestConfig {
        clock: clock.clone(),
        ..TestConfig::default()
    })
    .await;
    let start_ms = clock.now_ms() - 120_000;
    assert_eq!(code(&app.call(REPORT, &sample_events(start_ms)).await), 0);
    let all = json!({"startTimestamp": 0});
    assert_eq!(app.call(FILTER, &all).await["data"]["totalNum"], 1);
    clock.advance_ms(7 * 86_400_000);
    let env = app.call(GET, &json!({"callId": CALL_ID})).await;
    assert_eq!(code(&env), 101050, "{env}");
    let env = app.call(FILTER, &all).await;
    assert_eq!(env["data"]["totalNum"], 0, "{env}");
}
