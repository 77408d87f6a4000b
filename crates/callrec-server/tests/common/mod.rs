//! Test harness: starts the real server on port 0 over real TLS in a temporary directory and
//! speaks HTTP to it. Reusable by every integration test file (`mod common;`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use callrec_domain::{Clock, ManualClock, SystemClock};
use callrec_server::{Config, Server, ServerError};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod raw;
pub mod receiver;

/// The test app's SDKAppID.
pub const SDKAPPID: u64 = 1_400_000_001;
/// Its secret key.
pub const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
/// Its admin.
pub const ADMIN: &str = "administrator";

/// A second app (configured by [`second_app_toml`]), for app-isolation tests.
pub const SDKAPPID2: u64 = 1_400_000_002;
/// The second app's secret key.
pub const KEY2: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// `TestConfig.extra` declaring the second app (same admin identifier, other key).
pub fn second_app_toml() -> String {
    format!("[[apps]]\nsdkappid = {SDKAPPID2}\nsecret_key = \"{KEY2}\"\nadmins = [\"{ADMIN}\"]\n")
}

/// A manual clock standing at the current wall-clock time, rounded down to a whole second.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemClock.now_ms().div_euclid(1000) * 1000,
    ))
}

/// How to configure a test server.
#[derive(Clone)]
pub struct TestConfig {
    /// `[apps.rate_limits]`: get_record_by_callId, get_records_by_filter, report_events
    /// (0 = unlimited; the default here, so tests do not trip over limits by accident).
    pub rate_limits: [u32; 3],
    /// The app's `group_call_package`.
    pub group_call_package: bool,
    /// `[retention] days`.
    pub retention_days: u32,
    /// `[calls]` ring_timeout_secs, max_idle_secs.
    pub timeouts_secs: (u64, u64),
    /// More `key = n` lines for the app's `[apps.rate_limits]` (v4 APIs, say).
    pub extra_rate_limits: String,
    /// Raw TOML appended at the end; must start with its own table header (e.g. `[[apps]]`).
    pub extra: String,
    /// More `key = value` lines for the test app's `[[apps]]` table (callback secrets, say).
    pub app_extra: String,
    /// The body of the `[callbacks]` table (`key = value` lines).
    pub callbacks: String,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            rate_limits: [0, 0, 0],
            group_call_package: true,
            retention_days: 7,
            timeouts_secs: (60, 43_200),
            extra_rate_limits: String::new(),
            extra: String::new(),
            app_extra: String::new(),
            callbacks: String::new(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl TestConfig {
    /// The config file text.
    pub fn to_toml(&self) -> String {
        let [get, filter, report] = self.rate_limits;
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = "data"

[retention]
days = {days}

[calls]
ring_timeout_secs = {ring}
max_idle_secs = {idle}

[callbacks]
{callbacks}

[[apps]]
sdkappid = {SDKAPPID}
secret_key = "{KEY}"
admins = ["{ADMIN}"]
group_call_package = {gcp}
{app_extra}
[apps.rate_limits]
get_record_by_callId = {get}
get_records_by_filter = {filter}
report_events = {report}
{extra_rates}
{extra}
"#,
            days = self.retention_days,
            ring = self.timeouts_secs.0,
            idle = self.timeouts_secs.1,
            gcp = self.group_call_package,
            extra_rates = self.extra_rate_limits,
            extra = self.extra,
            callbacks = self.callbacks,
            app_extra = self.app_extra,
        )
    }
}

/// A running server and a client that trusts its certificate.
pub struct TestApp {
    /// The listener's address.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// HTTP/2 (via ALPN) client trusting the server's self-signed certificate.
    pub client: reqwest::Client,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
    /// The config the server runs with.
    pub config: TestConfig,
    dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

/// Starts a server with the default test config.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

/// Starts a server with `config` in a fresh temporary directory.
pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    spawn_app_in(tempfile::tempdir().unwrap(), config).await
}

/// Starts a server in `dir` (re-using its data directory if a server ran there before).
pub async fn spawn_app_in(dir: TempDir, config: TestConfig) -> TestApp {
    let path = dir.path().join("callrec.toml");
    std::fs::write(&path, config.to_toml()).unwrap();
    let parsed = Config::from_toml_str(&config.to_toml(), dir.path()).unwrap();
    let server = Server::bind_with_clock(parsed, Arc::clone(&config.clock))
        .await
        .expect("server binds");
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    let client = client_builder(dir.path()).build().unwrap();
    TestApp {
        addr,
        base_url: format!("https://127.0.0.1:{}", addr.port()),
        client,
        clock: Arc::clone(&config.clock),
        config,
        dir: Some(dir),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// PEM of the self-signed certificate the server generated in `dir`.
pub fn server_cert_pem(dir: &Path) -> Vec<u8> {
    let (cert, _) = callrec_server::tls::self_signed_paths(&dir.join("data"));
    std::fs::read(cert).unwrap()
}

/// A reqwest builder that trusts only the server's certificate (add `.http1_only()` etc.).
pub fn client_builder(dir: &Path) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(&server_cert_pem(dir)).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
}

impl TestApp {
    /// The temporary directory holding the config and `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// A reqwest builder trusting this server (for HTTP/1.1-only clients and the like).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        client_builder(self.dir())
    }

    /// A UserSig for `identifier`, issued now by the server's clock, valid for a day.
    pub fn sig_for(&self, identifier: &str) -> String {
        let now = u64::try_from(self.clock.now_secs()).unwrap();
        callrec_usersig::generate(SDKAPPID, KEY, identifier, 86_400, now)
    }

    /// A UserSig for the admin.
    pub fn admin_sig(&self) -> String {
        self.sig_for(ADMIN)
    }

    /// The query string of a request by `identifier` with `usersig`.
    pub fn query_with(&self, identifier: &str, usersig: &str) -> String {
        format!(
            "sdkappid={SDKAPPID}&identifier={identifier}&usersig={usersig}&random={}&contenttype=json",
            rand::random::<u32>()
        )
    }

    /// The query string of a correctly signed request by `identifier`.
    pub fn query_for(&self, identifier: &str) -> String {
        self.query_with(identifier, &self.sig_for(identifier))
    }

    /// `POST <path>?<query>` with a raw body.
    pub async fn post(
        &self,
        path: &str,
        query: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}?{query}", self.base_url))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` as `identifier` (correctly signed) and returns the envelope, checking the
    /// invariants every `/v1/` response has.
    pub async fn call_as(&self, identifier: &str, path: &str, body: &Value) -> Value {
        let resp = self
            .post(path, &self.query_for(identifier), body.to_string())
            .await;
        envelope_of(resp).await
    }

    /// [`TestApp::call_as`] as the admin.
    pub async fn call(&self, path: &str, body: &Value) -> Value {
        self.call_as(ADMIN, path, body).await
    }

    /// POSTs `body` to `path` as `identifier` of app `sdkappid` (signed with `key`).
    pub async fn call_in(
        &self,
        sdkappid: u64,
        key: &str,
        identifier: &str,
        path: &str,
        body: &Value,
    ) -> Value {
        let now = u64::try_from(self.clock.now_secs()).unwrap();
        let sig = callrec_usersig::generate(sdkappid, key, identifier, 86_400, now);
        let query = self.query_with(identifier, &sig).replace(
            &format!("sdkappid={SDKAPPID}&"),
            &format!("sdkappid={sdkappid}&"),
        );
        envelope_of(self.post(path, &query, body.to_string()).await).await
    }

    /// Reports `events` as the admin; asserts the envelope succeeded and returns its `data`.
    pub async fn report(&self, events: &[Value]) -> Value {
        let env = self
            .call(
                "/v1/events/report",
                &serde_json::json!({ "events": events }),
            )
            .await;
        assert_eq!(code(&env), 0, "{env}");
        env["data"].clone()
    }

    /// Reports `events` as the admin and asserts every one of them was newly stored.
    pub async fn report_all(&self, events: &[Value]) {
        let data = self.report(events).await;
        assert_eq!(data["accepted"], events.len(), "{data}");
    }

    /// `get_record_by_callId` as the admin: the envelope.
    pub async fn record(&self, call_id: &str) -> Value {
        self.call(
            "/v1/records/get_record_by_callId",
            &serde_json::json!({ "callId": call_id }),
        )
        .await
    }

    /// `get_records_by_filter` as the admin; asserts success and returns `data`.
    pub async fn filter(&self, body: &Value) -> Value {
        let env = self.call("/v1/records/get_records_by_filter", body).await;
        assert_eq!(code(&env), 0, "{env}");
        env["data"].clone()
    }

    /// `GET <path>`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap()
    }

    /// Tells the server to shut down (without waiting).
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts the server down, waits until it stopped cleanly and hands back its directory (to
    /// start another server on the same data).
    pub async fn stop(mut self) -> TempDir {
        self.trigger_shutdown();
        self.handle
            .take()
            .unwrap()
            .await
            .unwrap()
            .expect("server stops cleanly");
        self.dir.take().unwrap()
    }
}

/// Checks the `/v1/` response invariants (HTTP 200, JSON content type, requestId = X-Request-Id,
/// 32 lowercase hex) and returns the parsed envelope.
pub async fn envelope_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let header_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let id = body["requestId"].as_str().unwrap();
    assert_eq!(id, header_id);
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(
        body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "errorMessage must be a non-empty string: {body}"
    );
    if body["errorCode"] == 0 {
        assert_eq!(body["errorMessage"], "Success");
        assert!(body.get("data").is_some());
    } else {
        assert!(body.get("data").is_none(), "{body}");
    }
    body
}

/// The error code of an envelope.
pub fn code(env: &Value) -> u64 {
    env["errorCode"].as_u64().unwrap()
}

/// The `(index, errorCode)` pairs of a report's `data.rejected`.
pub fn rejected(data: &Value) -> Vec<(u64, u64)> {
    data["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["errorCode"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The callIds of a filter answer's `callRecordList`, in order.
pub fn call_ids(data: &Value) -> Vec<String> {
    data["callRecordList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["callId"].as_str().unwrap().to_owned())
        .collect()
}

/// A `start` event of a call by `caller` to `callees` at `time_ms` (audio, type by default).
pub fn start_event(call_id: &str, caller: &str, callees: &[&str], time_ms: i64) -> Value {
    serde_json::json!({"callId": call_id, "type": "start", "userId": caller, "time": time_ms,
        "callees": callees, "mediaType": "audio"})
}

/// A non-`start` event.
pub fn event(call_id: &str, kind: &str, user: &str, time_ms: i64) -> Value {
    serde_json::json!({"callId": call_id, "type": kind, "userId": user, "time": time_ms})
}

/// The events of a single call alice → bob starting at `start_ms` that (by the contract's fold)
/// ends with `result` 1 s later (`ongoing`: the start only; `normal_end`/`interrupt`: bob accepts
/// after 0.5 s and alice hangs up / goes offline after 1 s).
pub fn single_call(call_id: &str, start_ms: i64, result: &str) -> Vec<Value> {
    let mut events = vec![start_event(call_id, "alice", &["bob"], start_ms)];
    let end = start_ms + 1_000;
    match result {
        "ongoing" => {}
        "cancel" => events.push(event(call_id, "cancel", "alice", end)),
        "reject" => events.push(event(call_id, "reject", "bob", end)),
        "not_answer" => events.push(event(call_id, "no_answer", "bob", end)),
        "call_busy" => events.push(event(call_id, "busy", "bob", end)),
        "normal_end" | "interrupt" => {
            events.push(event(call_id, "accept", "bob", start_ms + 500));
            let kind = if result == "normal_end" {
                "hangup"
            } else {
                "offline"
            };
            events.push(event(call_id, kind, "alice", end));
        }
        other => panic!("no such call result {other}"),
    }
    events
}
