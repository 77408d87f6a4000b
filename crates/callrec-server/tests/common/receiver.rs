//! A real local HTTP receiver for callbacks: listens on 127.0.0.1, records every request, and
//! answers as its current [`Answer`] says (status, body, delay). It can be stopped and started
//! again on the same port, to play an outage.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path.
    pub path: String,
    /// The query parameters (last value wins), decoded.
    pub query: BTreeMap<String, String>,
    /// The raw query string.
    pub raw_query: String,
    /// Headers, names lower-case.
    pub headers: http::HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// When the answer went out (arrival + delay).
    pub answered: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The v1 `command` or v4 `CallbackCommand` query parameter.
    pub fn command(&self) -> &str {
        self.query
            .get("command")
            .or_else(|| self.query.get("CallbackCommand"))
            .map_or("", String::as_str)
    }
}

/// How the receiver answers the n-th request (0-based) it gets.
pub type Answer = Arc<dyn Fn(usize, &Received) -> (u16, String, Duration) + Send + Sync>;

/// Answers every request with 200 and TRTC's success body.
pub fn ok() -> Answer {
    Arc::new(|_, _| {
        (
            200,
            r#"{"ErrorCode":0,"ErrorMessage":"Success"}"#.into(),
            Duration::ZERO,
        )
    })
}

/// Answers every request with `status` and `body`.
pub fn always(status: u16, body: &str) -> Answer {
    let body = body.to_owned();
    Arc::new(move |_, _| (status, body.clone(), Duration::ZERO))
}

#[derive(Clone)]
struct Shared {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
    arrived: Arc<Notify>,
}

/// See the module docs.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on a free port answering with `answer`.
    pub async fn start(answer: Answer) -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap(), answer).await
    }

    /// Starts a receiver on `addr`.
    pub async fn start_on(addr: SocketAddr, answer: Answer) -> Receiver {
        let shared = Shared {
            got: Arc::default(),
            answer: Arc::new(Mutex::new(answer)),
            arrived: Arc::new(Notify::new()),
        };
        let mut r = Receiver {
            addr,
            shared,
            stop: None,
            task: None,
        };
        r.listen().await;
        r
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// Stops listening (connections are refused until [`Receiver::restart`]).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        self.listen().await;
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes how it answers from now on.
    pub fn answer_with(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `within`), and answers them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the receiver got {} requests, not {n}, within {within:?}: {:#?}",
                got.len(),
                got.iter()
                    .map(|r| (
                        r.command().to_owned(),
                        String::from_utf8_lossy(&r.body).into_owned()
                    ))
                    .collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Waits until requests matching `pred` number at least `n`.
    pub async fn wait_for_matching(
        &self,
        n: usize,
        within: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.arrived.notified();
            let got: Vec<Received> = self.received().into_iter().filter(|r| pred(r)).collect();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} matching requests, not {n}, within {within:?}",
                got.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let query = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let mut r = Received {
        path: parts.uri.path().to_owned(),
        query,
        raw_query,
        headers: parts.headers,
        body,
        at,
        answered: at,
    };
    let n = s.got.lock().unwrap().len();
    let answer = Arc::clone(&s.answer.lock().unwrap());
    let (status, text, delay) = answer(n, &r);
    r.answered = at + delay;
    s.got.lock().unwrap().push(r);
    s.arrived.notify_waiters();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (
        http::StatusCode::from_u16(status).unwrap(),
        [(http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}
