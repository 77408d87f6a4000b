//! The web console in real headless Chromium (Debian's `chromium` and `chromium-driver`), driven
//! over WebDriver against a real `callrec serve` with traffic from `callrec simulate`, signed in
//! with the link `callrec console` prints.
//!
//! It checks what each view shows against what the APIs answer (call ids, results, timeline
//! lanes, stats, the callback configurations and a redelivery that turns a failed callback into a
//! delivered one), that the page fits 390 px, that the browser logged no error, and saves
//! screenshots of every view at 1280 and 390 px under `target/tmp/console-screenshots/` (or
//! `$CALLREC_CONSOLE_SCREENSHOTS`). Without Chromium and ChromeDriver it says `skipped: …` and
//! passes.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::{KEY, Server, admin_url, client_builder, run_ok, write_config};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The browser and its driver: `$CALLREC_TEST_CHROMIUM` / `$CALLREC_TEST_CHROMEDRIVER`, or
/// Debian's paths; None when either is missing.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let pick = |var: &str, default: &str| {
        let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
        path.exists().then_some(path)
    };
    Some((
        pick("CALLREC_TEST_CHROMIUM", CHROMIUM)?,
        pick("CALLREC_TEST_CHROMEDRIVER", CHROMEDRIVER)?,
    ))
}

/// A running ChromeDriver, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(path: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(resp) = reqwest::get(format!("{url}/status")).await {
            let body: Value = resp.json().await.unwrap_or_default();
            if body["value"]["ready"] == true {
                break;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

/// A WebDriver command ChromeDriver has beyond the standard: `POST /session/{id}/{path}`.
#[derive(Debug)]
struct Vendor {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Vendor {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or(""),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Sets the page's viewport to `width` × `height` CSS pixels (Chrome DevTools emulation).
async fn viewport(c: &Client, width: u32, height: u32) {
    c.issue_cmd(Vendor {
        path: "goog/cdp/execute",
        body: json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}}),
    })
    .await
    .unwrap();
}

/// The browser's console entries so far.
async fn browser_log(c: &Client) -> Vec<Value> {
    let log = c
        .issue_cmd(Vendor {
            path: "se/log",
            body: json!({"type": "browser"}),
        })
        .await
        .unwrap();
    log.as_array().cloned().unwrap_or_default()
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CALLREC_CONSOLE_SCREENSHOTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"),
        PathBuf::from,
    )
}

/// Screenshots of the current view at 1280 and 390 px, named `{name}-{width}.png`; the page
/// must show no unrendered value and, at 390 px, not be wider than the screen.
async fn shoot(c: &Client, name: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // A value the page failed to render shows up as one of these words.
    let text = js(c, "return document.body.innerText").await;
    for word in ["null", "undefined", "NaN", "[object"] {
        assert!(
            !text.as_str().unwrap().contains(word),
            "{name} shows {word:?}: {text}"
        );
    }
    for (width, height) in [(1280, 900), (390, 844)] {
        viewport(c, width, height).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = js(
            c,
            "return document.documentElement.scrollWidth - window.innerWidth",
        )
        .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{name} at {width} px is {overflow} px wider than the screen"
        );
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{width}.png")), png).unwrap();
    }
    viewport(c, 1280, 900).await;
}

/// Runs `script` (which returns a value) until `ok` accepts its value, for up to 20 s.
async fn wait_for(c: &Client, what: &str, script: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = js(c, script).await;
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited 20 s for {what}; last: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `data-*` attribute `attr` of every element matching `selector`.
fn attrs_script(selector: &str, attr: &str) -> String {
    format!(
        "return [...document.querySelectorAll({selector:?})].map(e => e.getAttribute({attr:?}))"
    )
}

/// Runs `script` in the page and answers what it returns.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// The attribute `attr` of every element matching `selector`, now.
async fn attrs(c: &Client, selector: &str, attr: &str) -> Vec<String> {
    strings(&js(c, &attrs_script(selector, attr)).await)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// An admin API call over TLS, answering `data` (v1) or `Response` (v4).
async fn api(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Value {
    let env: Value = http
        .post(admin_url(base, path))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = env
        .get("errorCode")
        .or_else(|| env.get("ErrorCode"))
        .unwrap();
    assert_eq!(code, 0, "{path}: {env}");
    env.get("data")
        .or_else(|| env.get("Response"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A callback receiver that answers HTTP 500 until `healthy` is set, then TRTC's success.
async fn start_receiver(healthy: Arc<AtomicBool>) -> SocketAddr {
    let app = axum::Router::new().fallback(move || {
        let healthy = Arc::clone(&healthy);
        async move {
            if healthy.load(Ordering::SeqCst) {
                (http::StatusCode::OK, r#"{"ErrorCode":0}"#)
            } else {
                (http::StatusCode::INTERNAL_SERVER_ERROR, "down")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn now() -> i64 {
    common::now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_every_view_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser() else {
        println!(
            "skipped: needs {CHROMIUM} and {CHROMEDRIVER} (Debian's chromium and chromium-driver; .ci/run installs them)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(
        &config,
        &[
            ("CALLREC_CALLBACKS__RETRY_DELAYS_SECS", "0,1"),
            ("CALLREC_CALLBACKS__GIVE_UP_AFTER_SECS", "0"),
            ("CALLREC_CALLBACKS__ATTEMPT_TIMEOUT_MS", "500"),
        ],
    );
    let base = server.url.clone();
    let http = client_builder(dir.path()).build().unwrap();
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = start_receiver(Arc::clone(&healthy)).await;

    let driver = start_driver(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "acceptInsecureCerts": true,
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())],
        },
    });
    // ChromeDriver speaks plain HTTP on loopback: no TLS stack needed for it.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .expect("a Chromium session");

    // Sign-in by hand: an expired UserSig is refused with a message saying so.
    c.goto(&format!("{base}/console/")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#signin-form"))
        .await
        .unwrap();
    shoot(&c, "signin").await;
    let old = callrec_usersig::generate(
        callrec_server::config::STARTER_SDKAPPID,
        KEY,
        "administrator",
        60,
        u64::try_from(now() - 3600).unwrap(),
    );
    c.find(Locator::Css("input[name=sdkappid]"))
        .await
        .unwrap()
        .send_keys(&callrec_server::config::STARTER_SDKAPPID.to_string())
        .await
        .unwrap();
    c.find(Locator::Css("input[name=identifier]"))
        .await
        .unwrap()
        .send_keys("administrator")
        .await
        .unwrap();
    c.find(Locator::Css("textarea[name=usersig]"))
        .await
        .unwrap()
        .send_keys(&old)
        .await
        .unwrap();
    c.find(Locator::Css("#signin-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refused = wait_for(
        &c,
        "the expired sign-in's message",
        "const e = document.querySelector('.signin .error'); return e ? e.textContent : ''",
        |v| !v.as_str().unwrap_or_default().is_empty(),
    )
    .await;
    assert!(
        refused.as_str().unwrap().contains("expired"),
        "refused with: {refused}"
    );

    // The link `callrec console` prints signs in and opens on Calls; the fragment is dropped.
    let cfg = config.to_str().unwrap();
    let link = run_ok(&["console", "--config", cfg, "--url", &base]);
    let link = link.trim();
    assert!(
        link.starts_with(&format!("{base}/console/#sdkappid=")),
        "{link}"
    );
    c.goto(link).await.unwrap();
    wait_for(
        &c,
        "the Calls view",
        "return !!document.querySelector('#calls-summary')",
        |v| v == true,
    )
    .await;
    let address = js(&c, "return location.hash").await;
    assert_eq!(address, "#/calls", "the UserSig left the address bar");
    let who = js(&c, "return document.querySelector('#who').textContent").await;
    assert!(who.as_str().unwrap().contains("administrator"), "{who}");

    // Callbacks: both configurations set through the forms, reached by keyboard.
    c.find(Locator::Css("nav a[data-view=callbacks]"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    for (panel, path) in [("#config-v1", "v1"), ("#config-v4", "v4")] {
        let form = format!("{panel} form");
        c.wait().for_element(Locator::Css(&form)).await.unwrap();
        let url_input = c
            .find(Locator::Css(&format!("{form} input[name=url]")))
            .await
            .unwrap();
        url_input.clear().await.unwrap();
        url_input
            .send_keys(&format!("http://{receiver}/{path}"))
            .await
            .unwrap();
        js(&c, &format!("[...document.querySelectorAll('{form} .buttons button')].find(b => b.textContent === 'All commands').click()")).await;
        c.find(Locator::Css(&format!("{form} button[type=submit]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "Saved.",
            &format!("return document.querySelector('{panel} .status').textContent"),
            |v| v == "Saved.",
        )
        .await;
    }
    let v1 = api(&http, &base, "/v1/callback/get", &json!({})).await;
    assert_eq!(v1["address"], format!("http://{receiver}/v1"));
    assert_eq!(v1["actions"].as_array().unwrap().len(), 25, "{v1}");
    let v4 = api(&http, &base, "/v4/call_config/get_callback", &json!({})).await;
    assert_eq!(v4["Url"], format!("http://{receiver}/v4"));
    assert_eq!(v4["CallbackCommandList"].as_array().unwrap().len(), 3);

    // Traffic: simulated calls (some left ongoing), whose callbacks fail at first.
    run_ok(&["simulate", "--config", cfg, "--url", &base, "--calls", "40"]);
    // Simulated calls are left ongoing at random (a run may leave none): one that surely is.
    let t = common::now_ms();
    let reported = api(
        &http,
        &base,
        "/v1/events/report",
        &json!({"events": [
            {"callId": "console-ongoing", "type": "start", "userId": "ann", "time": t - 20_000,
             "callees": ["bob"], "mediaType": "video"},
            {"callId": "console-ongoing", "type": "accept", "userId": "bob", "time": t - 15_000}]}),
    )
    .await;
    assert_eq!(reported["accepted"], 2, "{reported}");

    // Calls: the table shows what the filter API answers for the same last 24 hours.
    c.goto(&format!("{base}/console/#/calls")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#calls-table"))
        .await
        .unwrap();
    let shown_ids = attrs(&c, "#calls-table tbody tr", "data-call-id").await;
    let shown_results = attrs(&c, "#calls-table tbody tr", "data-result").await;
    let filter = api(
        &http,
        &base,
        "/v1/records/get_records_by_filter",
        &json!({"startTimestamp": now() - 86_400, "numberPerPage": 100}),
    )
    .await;
    let records = filter["callRecordList"].as_array().unwrap();
    assert!(!shown_ids.is_empty());
    // Calls that were still ongoing when the page loaded may have ended since: the page shows
    // a subset of what the API answers now, in the same order and with the same results.
    let api_rows: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["callId"].as_str().unwrap().to_owned(),
                r["callResult"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let shown: Vec<(String, String)> = shown_ids
        .iter()
        .cloned()
        .zip(shown_results.iter().cloned())
        .collect();
    let api_subset: Vec<(String, String)> = api_rows
        .iter()
        .filter(|(id, _)| shown_ids.contains(id))
        .cloned()
        .collect();
    assert_eq!(shown, api_subset, "the table is the API's list");
    assert!(
        shown.len() + 10 >= api_rows.len(),
        "{shown:?} vs {api_rows:?}"
    );
    let summary = js(
        &c,
        "return document.querySelector('#calls-summary').textContent",
    )
    .await;
    assert_eq!(
        summary,
        format!("Calls 1–{n} of {n}", n = shown.len()),
        "{summary}"
    );

    // The filter form: one result only, as the API answers it.
    js(
        &c,
        "document.querySelector('#calls-filter select[name=result]').value = 'normal_end'",
    )
    .await;
    c.find(Locator::Css("#calls-filter button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let filtered = strings(
        &wait_for(
            &c,
            "the normal_end calls",
            "return location.hash.includes('result=normal_end') && document.querySelector('#calls-table') ? [...document.querySelectorAll('#calls-table tbody tr')].map(r => r.dataset.result) : []",
            |v| !strings(v).is_empty(),
        )
        .await,
    );
    assert!(filtered.iter().all(|r| r == "normal_end"), "{filtered:?}");
    let normal_end = api(
        &http,
        &base,
        "/v1/records/get_records_by_filter",
        &json!({"startTimestamp": now() - 86_400, "callResult": "normal_end", "numberPerPage": 100}),
    )
    .await;
    assert_eq!(
        filtered.len(),
        normal_end["callRecordList"].as_array().unwrap().len(),
        "every normal_end call"
    );
    c.goto(&format!("{base}/console/#/calls")).await.unwrap();

    // The live view lists the calls going on now, as the API does (it refreshes every 2 s).
    let ongoing = api(
        &http,
        &base,
        "/v1/records/get_records_by_filter",
        &json!({"startTimestamp": 0, "callResult": "ongoing", "numberPerPage": 100}),
    )
    .await;
    let ongoing_ids: BTreeSet<String> = ongoing["callRecordList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["callId"].as_str().unwrap().to_owned())
        .collect();
    assert!(ongoing_ids.contains("console-ongoing"), "{ongoing_ids:?}");
    wait_for(
        &c,
        "the live view to list the ongoing calls",
        &attrs_script("#live-table tbody tr", "data-call-id"),
        |v| strings(v).into_iter().collect::<BTreeSet<_>>() == ongoing_ids,
    )
    .await;
    shoot(&c, "calls").await;

    // Cursor paging: pages of 10, walked forward and back, are the API's offset pages.
    c.goto(&format!("{base}/console/#/calls?per=10"))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#calls-table"))
        .await
        .unwrap();
    let page1 = attrs(&c, "#calls-table tbody tr", "data-call-id").await;
    c.find(Locator::Css("#page-older"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page2 = strings(
        &wait_for(
            &c,
            "page 2",
            &attrs_script("#calls-table tbody tr", "data-call-id"),
            |v| strings(v) != page1,
        )
        .await,
    );
    assert_eq!(page1.len(), 10);
    let walked: Vec<String> = page1.iter().chain(&page2).cloned().collect();
    let expected: Vec<String> = shown_ids.iter().take(walked.len()).cloned().collect();
    assert_eq!(walked, expected, "pages 1 and 2 follow the list");
    c.find(Locator::Css("#page-newer"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "page 1 again",
        &attrs_script("#calls-table tbody tr", "data-call-id"),
        |v| strings(v) == page1,
    )
    .await;

    // Call: a group call that connected, with one lane per participant.
    let group = records
        .iter()
        .find(|r| r["callType"] == "group" && r["callResult"] == "normal_end")
        .or_else(|| records.iter().find(|r| r["callResult"] == "normal_end"))
        .expect("a normal_end call");
    let call_id = group["callId"].as_str().unwrap();
    let link = c
        .find(Locator::Css(&format!(
            "#calls-table tr[data-call-id=\"{call_id}\"] a"
        )))
        .await;
    match link {
        Ok(a) => a.click().await.unwrap(),
        Err(_) => c
            .goto(&format!("{base}/console/#/call/{call_id}"))
            .await
            .unwrap(),
    }
    c.wait()
        .for_element(Locator::Css("#timeline-svg"))
        .await
        .unwrap();
    let detail = api(
        &http,
        &base,
        "/v1/records/get_call_detail",
        &json!({"callId": call_id}),
    )
    .await;
    let lanes = attrs(&c, "#timeline-svg g.lane", "data-user").await;
    let participants: Vec<String> = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(lanes, participants, "one lane per participant, in order");
    let connected_lanes = js(&c, "return new Set([...document.querySelectorAll('#timeline-svg .span-connected')].map(r => r.closest('g.lane').dataset.user)).size").await;
    let connected_users = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["connectedMs"].as_i64().unwrap() > 0)
        .count();
    assert_eq!(
        connected_lanes, connected_users,
        "a connected span for each who connected"
    );
    let marks = js(
        &c,
        "return document.querySelectorAll('#timeline-svg .mark').length",
    )
    .await;
    let events_of_participants = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| participants.iter().any(|p| e["userId"] == p.as_str()))
        .count();
    assert_eq!(marks, events_of_participants, "every event is a mark");
    let shown_record = js(
        &c,
        "return document.querySelector('#record-json').textContent",
    )
    .await;
    let shown_record: Value = serde_json::from_str(shown_record.as_str().unwrap()).unwrap();
    let record = api(
        &http,
        &base,
        "/v1/records/get_record_by_callId",
        &json!({"callId": call_id}),
    )
    .await;
    assert_eq!(
        shown_record, record,
        "the v1 record exactly as the API gives it"
    );
    shoot(&c, "call").await;

    // Stats: per hour of the last 24 hours, a stacked bar per bucket; totals as the API says.
    let stats_body = json!({"startTimestamp": now() - 86_400, "bucket": "hour"});
    let before = api(&http, &base, "/v1/records/get_stats", &stats_body).await;
    c.goto(&format!("{base}/console/#/stats")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#stats-chart"))
        .await
        .unwrap();
    let after = api(&http, &base, "/v1/records/get_stats", &stats_body).await;
    let total_of = |stats: &Value| -> i64 {
        stats["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["total"].as_i64().unwrap())
            .sum()
    };
    let shown_total: i64 = js(
        &c,
        "return document.querySelector('#stat-total').textContent",
    )
    .await
    .as_str()
    .unwrap()
    .parse()
    .unwrap();
    assert!(
        (total_of(&before)..=total_of(&after)).contains(&shown_total),
        "{shown_total} calls shown, the API said {} then {}",
        total_of(&before),
        total_of(&after)
    );
    assert!(shown_total > 0);
    let bars = js(
        &c,
        "return document.querySelectorAll('#stats-chart g.bar').length",
    )
    .await;
    let buckets = after["buckets"].as_array().unwrap().len();
    assert!(
        bars.as_u64().unwrap().abs_diff(buckets as u64) <= 1,
        "{bars} bars for {buckets} buckets"
    );
    let stacked = js(
        &c,
        "return document.querySelectorAll('#stats-chart g.bar rect').length",
    )
    .await;
    assert!(
        stacked.as_u64().unwrap() > 0,
        "the bars have result segments"
    );
    shoot(&c, "stats").await;

    // Callbacks: the failed deliveries with their error; one redelivered once the receiver is up
    // turns delivered.
    let (failed, failed_call) = wait_for_failed(&http, &base).await;
    let failed_id = failed.clone();
    c.goto(&format!("{base}/console/#/callbacks?status=failed"))
        .await
        .unwrap();
    let shown_failed = strings(
        &wait_for(
            &c,
            "the failed deliveries",
            &attrs_script("#deliveries tbody tr", "data-id"),
            |v| !strings(v).is_empty(),
        )
        .await,
    );
    assert!(
        shown_failed.contains(&failed),
        "{failed} not in {shown_failed:?}"
    );
    let error = js(
        &c,
        &format!(
            "return document.querySelector('#deliveries tr[data-id=\"{failed}\"]').textContent"
        ),
    )
    .await;
    assert!(error.as_str().unwrap().contains("HTTP 500"), "{error}");
    shoot(&c, "callbacks").await;
    healthy.store(true, Ordering::SeqCst);
    c.find(Locator::Css(&format!(
        "#deliveries tr[data-id=\"{failed}\"] button.redeliver"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    // The page filters on `failed`, so the redelivered one leaves it; among its call's
    // callbacks it turns delivered (the page refreshes while one is pending).
    wait_for(
        &c,
        "the redelivered callback to leave the failed ones",
        &attrs_script("#deliveries tbody tr", "data-id"),
        |v| !strings(v).contains(&failed_id),
    )
    .await;
    c.goto(&format!(
        "{base}/console/#/callbacks?call={}",
        form_urlencoded::byte_serialize(failed_call.as_bytes()).collect::<String>()
    ))
    .await
    .unwrap();
    wait_for(
        &c,
        "the redelivered callback to show delivered",
        &format!(
            "const r = document.querySelector('#deliveries tr[data-id=\"{failed_id}\"]'); return r ? r.dataset.status : ''"
        ),
        |v| v == "delivered",
    )
    .await;
    let deliveries = api(
        &http,
        &base,
        "/v1/callback/get_deliveries",
        &json!({"limit": 1000}),
    )
    .await;
    let row = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == failed.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["status"], "delivered", "{row}");

    // A sign-in that expires sends the page back to the sign-in form, saying why.
    let short = run_ok(&["console", "--config", cfg, "--url", &base, "--expire", "3"]);
    c.goto(short.trim()).await.unwrap();
    wait_for(
        &c,
        "the Calls view with the short sign-in",
        "return !!document.querySelector('#calls-summary')",
        |v| v == true,
    )
    .await;
    let message = wait_for(
        &c,
        "the expiry message",
        "const e = document.querySelector('.signin .error'); return e ? e.textContent : ''",
        |v| !v.as_str().unwrap_or_default().is_empty(),
    )
    .await;
    assert!(message.as_str().unwrap().contains("expired"), "{message}");

    // No errors in the browser's console on any view.
    let log = browser_log(&c).await;
    let errors: Vec<&Value> = log.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    c.close().await.unwrap();
    drop(driver);
    drop(server);
}

/// Waits until a callback failed for good, and answers its id and call.
async fn wait_for_failed(http: &reqwest::Client, base: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = api(
            http,
            base,
            "/v1/callback/get_deliveries",
            &json!({"status": "failed", "limit": 1}),
        )
        .await;
        if let Some(d) = page["deliveries"].as_array().unwrap().first() {
            return (
                d["id"].as_str().unwrap().to_owned(),
                d["callId"].as_str().unwrap().to_owned(),
            );
        }
        assert!(Instant::now() < deadline, "no callback failed within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
