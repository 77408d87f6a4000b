//! Acknowledged reports survive `kill -9`: every event the server answered as accepted (or
//! duplicate) is still there after a SIGKILL in the middle of concurrent reporting.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Server, write_config};

fn client(dir: &std::path::Path) -> reqwest::Client {
    common::client_builder(dir)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn api_url(base: &str, path: &str) -> String {
    common::admin_url(base, &format!("/v1/{path}"))
}

/// `data` of a successful v1 answer, or `None` for any failure.
async fn call(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Option<Value> {
    let resp = http
        .post(api_url(base, path))
        .json(body)
        .send()
        .await
        .ok()?;
    let v: Value = resp.json().await.ok()?;
    (v["errorCode"] == 0).then(|| v["data"].clone())
}

/// Three events of one finished single call: start, accept, hangup.
fn call_events(call_id: &str, now_ms: i64) -> Vec<Value> {
    let t = now_ms - 60_000;
    vec![
        json!({"callId": call_id, "type": "start", "userId": "alice", "time": t,
               "eventId": format!("{call_id}:s"), "callees": ["bob"], "mediaType": "audio"}),
        json!({"callId": call_id, "type": "accept", "userId": "bob", "time": t + 3_000,
               "eventId": format!("{call_id}:a")}),
        json!({"callId": call_id, "type": "hangup", "userId": "alice", "time": t + 30_000,
               "eventId": format!("{call_id}:h")}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_reports_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let http = client(dir.path());
    let now_ms = common::now_ms();

    // 16 reporters, each sending batches of 17 calls (51 events) until told to stop.
    let acked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..16 {
        let (http, base, acked, stop) = (
            http.clone(),
            server.url.clone(),
            Arc::clone(&acked),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let mut batch_no = 0;
            // Bounded: at most 20 s or 2000 batches per task, whatever happens.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && Instant::now() < deadline
                && batch_no < 2000
            {
                let events: Vec<Value> = (0..17)
                    .flat_map(|i| call_events(&format!("t{task}-b{batch_no}-c{i}"), now_ms))
                    .collect();
                batch_no += 1;
                let n = events.len() as u64;
                let body = json!({ "events": events });
                match call(&http, &base, "events/report", &body).await {
                    Some(data) => {
                        let counted = data["accepted"].as_u64().unwrap()
                            + data["duplicates"].as_u64().unwrap();
                        assert_eq!(counted, n, "no event of a valid batch is rejected: {data}");
                        acked.lock().unwrap().extend(events);
                    }
                    None => {
                        // The server is gone (killed): nothing of this batch was acknowledged.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_kill = acked.lock().unwrap().len();
    // SIGKILL while the reporters are still sending.
    server.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        before_kill > 0 && acked.len() >= before_kill,
        "the server acknowledged reports before the kill ({before_kill})"
    );

    // Restart on the same config and data directory; every acknowledged event is a duplicate.
    let server = Server::start(&config, &[]);
    let http = client(dir.path());
    for chunk in acked.chunks(999) {
        let data = call(
            &http,
            &server.url,
            "events/report",
            &json!({ "events": chunk }),
        )
        .await
        .expect("re-report answered");
        assert_eq!(
            data["accepted"], 0,
            "an acknowledged event was lost by the kill: {data}"
        );
        assert_eq!(data["duplicates"].as_u64().unwrap(), chunk.len() as u64);
    }

    // And the records they make are readable.
    for e in acked.iter().step_by(3).take(5) {
        let call_id = e["callId"].as_str().unwrap();
        let rec = call(
            &http,
            &server.url,
            "records/get_record_by_callId",
            &json!({ "callId": call_id }),
        )
        .await
        .expect("record readable");
        assert_eq!(rec["callId"], call_id);
        assert_eq!(rec["callResult"], "normal_end");
    }
    eprintln!(
        "{} events acknowledged ({before_kill} before the kill), none lost",
        acked.len()
    );
    assert!(server.terminate().success());
}

/// Callbacks produced while the receiver is down survive a SIGKILL of the server: after both
/// come back, every one arrives (at least once) with its original id, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_callbacks_survive_sigkill_and_arrive_with_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // Quick retries, so the test does not wait long after the restart.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "retry_delays_secs = [0, 1, 1, 2, 3, 5]",
        "retry_delays_secs = [0, 1]",
    );
    std::fs::write(&config, &text).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("callback_secret = \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_owned();
    // A port nobody listens on yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(&config, &[]);
    let http = client(dir.path());
    let address = format!("http://127.0.0.1:{port}/hook");
    call(
        &http,
        &server.url,
        "callback/set",
        &json!({"address": address, "actions": ["caller_start_call", "callee_accept_call", "normal_end"]}),
    )
    .await
    .expect("callback configured");
    let now_ms = common::now_ms();
    for b in 0..10 {
        let events: Vec<Value> = (0..10)
            .flat_map(|i| call_events(&format!("k{b}-{i}"), now_ms))
            .collect();
        let data = call(
            &http,
            &server.url,
            "events/report",
            &json!({ "events": events }),
        )
        .await
        .expect("report acknowledged");
        assert_eq!(data["accepted"], 30);
    }
    // 100 calls × 3 callbacks, all pending (the receiver refuses connections).
    let listed = call(
        &http,
        &server.url,
        "callback/get_deliveries",
        &json!({"limit": 1000}),
    )
    .await
    .unwrap();
    let ids: std::collections::BTreeSet<String> = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 300);
    assert!(
        listed["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "pending"),
        "{listed}"
    );
    server.kill9();

    let (got, _, receiver) = common::start_receiver(port, Duration::ZERO).await;
    let server = Server::start(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen: std::collections::BTreeSet<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _, _)| id.clone())
            .collect();
        if ids.is_subset(&seen) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 300 callbacks arrived after the restart",
            ids.intersection(&seen).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    for (_, body, headers) in got.lock().unwrap().iter() {
        wh.verify(body, headers)
            .expect("signed with the app's secret");
    }
    eprintln!(
        "300 callbacks produced before the kill, {} deliveries after it",
        got.lock().unwrap().len()
    );
    assert!(server.terminate().success());
    receiver.abort();
}
