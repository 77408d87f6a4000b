//! Helpers shared by the integration tests: temp configs, the real `callrec` binary, a running
//! `callrec serve` child whose address is read from its stdout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use callrec_server::config::{STARTER_SDKAPPID, starter_config};

/// The secret key of the configs the tests write.
pub const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The `callrec` binary under test.
pub fn callrec() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callrec"));
    cmd.env_remove("CALLREC_LISTEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Runs `callrec ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    callrec().args(args).output().expect("runs callrec")
}

/// Stdout of a run that must succeed.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "callrec {args:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Writes `<dir>/callrec.toml`: the starter config on port 0 with the test key and unlimited rates.
pub fn write_config(dir: &Path) -> PathBuf {
    let text = starter_config(STARTER_SDKAPPID, KEY)
        .replace("listen = \"127.0.0.1:8443\"", "listen = \"127.0.0.1:0\"")
        .replace("get_record_by_callId = 20", "get_record_by_callId = 0")
        .replace("get_records_by_filter = 200", "get_records_by_filter = 0");
    assert!(text.contains("127.0.0.1:0"));
    let path = dir.join("callrec.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `callrec serve`.
pub struct Server {
    pub child: Child,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Everything printed on stdout so far.
    pub stdout: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `callrec serve --config PATH` with extra env and waits for its `listening on` line.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = callrec();
        cmd.args(["serve", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawns callrec serve");
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().unwrap());
        let sink = Arc::clone(&stdout);
        // Keeps draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "serve printed no `listening on` line: {}",
                    stdout.lock().unwrap()
                );
            }
        };
        Server { child, url, stdout }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_timeout(&mut self.child, Duration::from_secs(30))
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `<dir>/data/tls/cert.pem`, the self-signed certificate a starter config's server uses.
pub fn cert_path(dir: &Path) -> PathBuf {
    dir.join("data/tls/cert.pem")
}

/// What a [`start_receiver`] receiver got: (`webhook-id`, body, headers) per request.
pub type Received = Arc<Mutex<Vec<(String, Vec<u8>, http::HeaderMap)>>>;

/// A callback receiver on 127.0.0.1:`port` (0: any) that records each request and answers
/// success after `delay`. Returns what it got, its port and its task.
pub async fn start_receiver(
    port: u16,
    delay: Duration,
) -> (Received, u16, tokio::task::JoinHandle<()>) {
    let got: Received = Arc::default();
    let sink = Arc::clone(&got);
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let sink = Arc::clone(&sink);
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let id = parts.headers["webhook-id"].to_str().unwrap().to_owned();
            sink.lock()
                .unwrap()
                .push((id, body.to_vec(), parts.headers));
            tokio::time::sleep(delay).await;
            r#"{"ErrorCode":0}"#
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (got, port, task)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A reqwest builder trusting only the certificate of the server running in `dir` (add
/// `.timeout(…)`, `.http1_only()`, … and build).
pub fn client_builder(dir: &Path) -> reqwest::ClientBuilder {
    let pem = std::fs::read(cert_path(dir)).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
}

/// `{base}{path}` with the query of the starter app's admin: a fresh UserSig (valid an hour)
/// and a random `random`. `path` starts with `/v1/` or `/v4/`.
pub fn admin_url(base: &str, path: &str) -> String {
    let now = u64::try_from(now_ms() / 1000).unwrap();
    let sig = callrec_usersig::generate(STARTER_SDKAPPID, KEY, "administrator", 3600, now);
    format!(
        "{base}{path}?sdkappid={STARTER_SDKAPPID}&identifier=administrator&usersig={sig}&random={}&contenttype=json",
        rand::random::<u32>()
    )
}
