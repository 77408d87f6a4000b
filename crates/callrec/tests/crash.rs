//! Crash test: `kill -9` the real server 20 times at random moments while reporters, record
//! queries and callback delivery all run, restarting it on the same data directory each time.
//! At the end, no acknowledged event and no callback those events must produce is lost.
//!
//! - Reporters send batches (1–100 events) interleaving the events of many calls of known shapes
//!   (single calls ended by either side, cancelled, rejected, connected and left going on, still
//!   ringing, group calls), each call's events in order, a batch retried until it is answered.
//!   An event counts as *acknowledged* once a report holding it was answered (accepted or
//!   duplicate); a failed request acknowledges nothing, even if the server stored it.
//! - Record queries (`get_record_by_callId`, `get_records_by_filter` by call ids and by result)
//!   check every record they get against the events acknowledged before the query was sent: the
//!   record must be the fold of at least those events (of a longer prefix of the call, if a batch
//!   whose answer was lost was stored).
//! - A local receiver takes both generations' callbacks, refusing some attempts (HTTP 500,
//!   `ErrorCode` 1, answers slower than the attempt time-out) so retries happen, and always
//!   accepting in the end. It keys each accepted callback by what it is about (v1: call, command,
//!   user; v4: call, command, changed user and action, or result) and counts `webhook-id`s.
//! - The callbacks a call's acknowledged events must produce follow docs/callbacks.md (the
//!   table "Which callbacks an event produces", the status callback, the v4 member changes and
//!   end), written out per call shape below. Every one must arrive at least once; every callback
//!   the server lists in `get_deliveries` must be delivered and have arrived under its id.
//!
//! The seed of the run is printed; `CRASH_SEED=<n>` replays the same kill delays and load shape
//! (the interleaving with the server's timing differs).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use common::{Server, write_config};

const KILLS: usize = 20;
const REPORTERS: usize = 3;
const QUERIERS: usize = 2;
/// The server's `[callbacks] attempt_timeout_ms` in this test.
const ATTEMPT_TIMEOUT_MS: u64 = 1_000;

// ---------------------------------------------------------------------------------------------
// The calls and what they must produce.

/// One call the reporters send: its events in order and, per event, what it must make.
#[derive(Debug)]
struct Plan {
    id: String,
    caller: String,
    callees: Vec<String>,
    call_type: &'static str,
    media: &'static str,
    events: Vec<Value>,
    /// The callbacks (keys, see [`Receiver`]) each event must produce, in event order.
    callbacks: Vec<Vec<String>>,
    /// The record's `callResult` after the first k events, at index k − 1.
    results: Vec<&'static str>,
    start_s: i64,
    /// Index of the accept that connects the call, and its Unix seconds.
    accept: Option<(usize, i64)>,
    /// Unix seconds of the event that ends the call (its last), if it ends.
    end_s: Option<i64>,
}

fn v1(call: &str, command: &str, user: &str) -> String {
    format!("v1 {call} {command} {user}")
}

fn v4_start(call: &str) -> String {
    format!("v4 {call} start")
}

fn v4_member(call: &str, user: &str, action: &str) -> String {
    format!("v4 {call} member {user}:{action}")
}

fn v4_end(call: &str, result: &str) -> String {
    format!("v4 {call} end {result}")
}

/// Builds call `id` of shape `shape` (0–6), starting at `t0` (Unix ms).
fn plan(id: String, shape: u32, t0: i64, rng: &mut StdRng) -> Plan {
    let (a, b, c) = ("alice".to_owned(), "bob".to_owned(), "carol".to_owned());
    let group = shape == 6;
    let callees = if group {
        vec![b.clone(), c.clone()]
    } else {
        vec![b.clone()]
    };
    let media = if rng.random_bool(0.5) {
        "audio"
    } else {
        "video"
    };
    let with_ids = rng.random_bool(0.7);
    let platforms = ["iOS", "Android", "Web"];
    let mut t = t0;
    let mut events = Vec::new();
    let mut push = |kind: &str, user: &str, extra: Value, rng: &mut StdRng| -> i64 {
        let mut e = json!({"callId": id, "type": kind, "userId": user, "time": t,
                           "platform": platforms[rng.random_range(0..3)]});
        if with_ids {
            e["eventId"] = json!(format!("{id}:{}", events.len()));
        }
        if let Value::Object(extra) = extra {
            e.as_object_mut().unwrap().extend(extra);
        }
        events.push(e);
        let at = t;
        t += rng.random_range(200..3_000);
        at / 1000
    };
    let mut start_extra = json!({"callees": callees, "mediaType": media});
    if rng.random_bool(0.5) {
        start_extra["roomId"] = json!(format!("room-{}", rng.random_range(1..100_000)));
    }
    if group {
        start_extra["callType"] = json!("group");
    }
    let start_s = push("start", &a, start_extra, rng);
    let mut start_cbs = vec![v1(&id, "caller_start_call", &a)];
    for u in &callees {
        start_cbs.push(v1(&id, "callee_receive_call", u));
    }
    start_cbs.push(v4_start(&id));
    let mut callbacks = vec![start_cbs];
    let mut results = vec!["ongoing"];
    let mut accept = None;
    let mut end_s = None;
    let accept_cbs = |id: &str| {
        vec![
            v1(id, "callee_accept_call", &b),
            v1(id, "caller_call_accepted", &a),
            v4_member(id, &b, "Accept"),
        ]
    };
    match shape {
        // Connected single calls, hung up by the caller (0) or the callee (1).
        0 | 1 => {
            accept = Some((1, push("accept", &b, json!({}), rng)));
            callbacks.push(accept_cbs(&id));
            results.push("ongoing");
            let (who, word) = if shape == 0 {
                (&a, "caller_call_end")
            } else {
                (&b, "callee_call_end")
            };
            end_s = Some(push("hangup", who, json!({}), rng));
            callbacks.push(vec![
                v1(&id, word, who),
                v1(&id, "normal_end", who),
                v4_member(&id, who, "Hangup"),
                v4_end(&id, "NormalEnd"),
            ]);
            results.push("normal_end");
        }
        // Cancelled by the caller while the callee rings.
        2 => {
            end_s = Some(push("cancel", &a, json!({}), rng));
            callbacks.push(vec![
                v1(&id, "caller_cancel_call", &a),
                v1(&id, "callee_call_canceled", &b),
                v1(&id, "cancel", &a),
                v4_member(&id, &b, "Cancel_Invite"),
                v4_end(&id, "Cancel"),
            ]);
            results.push("cancel");
        }
        // Rejected by the callee.
        3 => {
            end_s = Some(push("reject", &b, json!({}), rng));
            callbacks.push(vec![
                v1(&id, "callee_reject_call", &b),
                v1(&id, "caller_call_rejected", &a),
                v1(&id, "reject", &b),
                v4_member(&id, &b, "Reject"),
                v4_end(&id, "Reject"),
            ]);
            results.push("reject");
        }
        // Connected and still going on at the end of the test.
        4 => {
            accept = Some((1, push("accept", &b, json!({}), rng)));
            callbacks.push(accept_cbs(&id));
            results.push("ongoing");
        }
        // Still ringing at the end of the test (the ring time-out is an hour here).
        5 => {}
        // A group call: bob connects, carol rejects, bob hangs up: only alice is left and
        // nobody rings, so the call ends normally at bob's hang-up.
        _ => {
            accept = Some((1, push("accept", &b, json!({}), rng)));
            callbacks.push(accept_cbs(&id));
            results.push("ongoing");
            push("reject", &c, json!({}), rng);
            callbacks.push(vec![
                v1(&id, "callee_reject_call", &c),
                v1(&id, "caller_call_rejected", &a),
                v4_member(&id, &c, "Reject"),
            ]);
            results.push("ongoing");
            end_s = Some(push("hangup", &b, json!({}), rng));
            callbacks.push(vec![
                v1(&id, "callee_call_end", &b),
                v1(&id, "normal_end", &b),
                v4_member(&id, &b, "Hangup"),
                v4_end(&id, "NormalEnd"),
            ]);
            results.push("normal_end");
        }
    }
    Plan {
        id,
        caller: a,
        callees,
        call_type: if group { "group" } else { "single" },
        media,
        events,
        callbacks,
        results,
        start_s,
        accept,
        end_s,
    }
}

/// A random call shape: mostly calls that end, some left going on or ringing.
fn random_shape(rng: &mut StdRng) -> u32 {
    match rng.random_range(0..100) {
        0..30 => 0,
        30..40 => 1,
        40..55 => 2,
        55..65 => 3,
        65..75 => 4,
        75..80 => 5,
        _ => 6,
    }
}

/// Checks a v1 record of `p` against the fact that its first `k` events were acknowledged before
/// the record was read: it must be the fold of the first j events for some j ≥ k (j ≥ 1: a record
/// exists only once the start is stored).
fn check_record(p: &Plan, k: usize, rec: &Value) -> Result<(), String> {
    let n = p.events.len();
    let id = &p.id;
    let result = rec["callResult"].as_str().unwrap_or("?");
    let prefixes: Vec<usize> = (k.max(1)..=n)
        .filter(|&j| p.results[j - 1] == result)
        .collect();
    if prefixes.is_empty() {
        return Err(format!(
            "call {id}: record says {result}, but {k} of its {n} events were acknowledged \
             (it could be one of {:?}): {rec}",
            &p.results[k.max(1) - 1..]
        ));
    }
    let mut wrong = Vec::new();
    if rec["callId"] != json!(id) {
        wrong.push("callId");
    }
    if rec["startCallTs"] != json!(p.start_s) {
        wrong.push("startCallTs");
    }
    if rec["caller"] != json!(p.caller) {
        wrong.push("caller");
    }
    if rec["callees"] != json!(p.callees) {
        wrong.push("callees");
    }
    if rec["totalUserNumber"] != json!(p.callees.len() + 1) {
        wrong.push("totalUserNumber");
    }
    if rec["callType"] != json!(p.call_type) {
        wrong.push("callType");
    }
    if rec["mediaType"] != json!(p.media) {
        wrong.push("mediaType");
    }
    let accept_ok = prefixes.iter().any(|&j| {
        let want = match p.accept {
            Some((i, s)) if j > i => s,
            _ => 0,
        };
        rec["acceptTs"] == json!(want)
    });
    if !accept_ok {
        wrong.push("acceptTs");
    }
    let want_end = if result == "ongoing" {
        0
    } else {
        p.end_s.unwrap_or(-1)
    };
    if rec["endTs"] != json!(want_end) {
        wrong.push("endTs");
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "call {id}: record wrong in {wrong:?} with {k} of {n} events acknowledged: {rec}; \
             events {}",
            json!(p.events)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// What the server acknowledged.

#[derive(Default)]
struct Ledger {
    /// Counts acknowledgements; a query takes it before it is sent.
    seq: u64,
    /// Every call a reporter generated, by id, with the `seq` at which each of its first events
    /// was acknowledged (one entry per acknowledged event, in order).
    calls: HashMap<String, (Arc<Plan>, Vec<u64>)>,
    /// Events of each call ever sent (acknowledged or not), by id.
    sent: HashMap<String, usize>,
    /// Ids of calls with at least one acknowledged event (for random picks).
    acked_ids: Vec<String>,
    events_acked: u64,
    events_sent_again: u64,
    batches_acked: u64,
    batches_failed: u64,
}

impl Ledger {
    /// Events of `id` acknowledged at or before `snap`.
    fn acked_at(&self, id: &str, snap: u64) -> usize {
        self.calls
            .get(id)
            .map_or(0, |(_, s)| s.iter().filter(|&&x| x <= snap).count())
    }
}

type Shared<T> = Arc<Mutex<T>>;

/// What the load tasks share.
#[derive(Clone)]
struct Load {
    seed: u64,
    http: reqwest::Client,
    url: Url,
    ledger: Shared<Ledger>,
    violations: Shared<Vec<String>>,
    stats: Shared<QueryStats>,
    /// `startTimestamp` of the filters: before every call of the test.
    since_s: i64,
}

// ---------------------------------------------------------------------------------------------
// The API client.

fn client(dir: &std::path::Path) -> reqwest::Client {
    common::client_builder(dir)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// How a v1 API call went.
enum Answer {
    Data(Value),
    /// The server answered an error envelope with this code.
    Error(i64, Value),
    /// No answer (the server is down or was killed meanwhile).
    Down,
}

async fn v1_call(http: &reqwest::Client, base: &str, path: &str, body: &Value) -> Answer {
    let Ok(resp) = http
        .post(common::admin_url(base, &format!("/v1/{path}")))
        .json(body)
        .send()
        .await
    else {
        return Answer::Down;
    };
    let Ok(v) = resp.json::<Value>().await else {
        return Answer::Down;
    };
    match v["errorCode"].as_i64() {
        Some(0) => Answer::Data(v["data"].clone()),
        Some(code) => Answer::Error(code, v),
        None => Answer::Down,
    }
}

impl Answer {
    /// The data of an answer that must have succeeded.
    fn data(self, what: &str) -> Value {
        match self {
            Answer::Data(d) => d,
            Answer::Error(code, v) => panic!("{what} answered {code}: {v}"),
            Answer::Down => panic!("{what} not answered"),
        }
    }
}

/// The current server's base URL (it changes port at each restart).
type Url = Arc<RwLock<String>>;

fn url_of(u: &Url) -> String {
    u.read().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// The callback receiver.

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    /// Attempts per `webhook-id` (accepted or not).
    attempts: HashMap<String, u32>,
    /// Accepted deliveries per `webhook-id`.
    accepted: HashMap<String, u32>,
    /// Keys of accepted callbacks: `v1 CALL COMMAND USER`, `v4 CALL start`,
    /// `v4 CALL member USER:ACTION` (one per changed user), `v4 CALL end RESULT`.
    keys: HashSet<String>,
    requests: u64,
    refused: u64,
    /// Anything wrong with a request itself (bad signature, unreadable body).
    problems: Vec<String>,
}

fn fnv(seed: u64, s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The keys of one callback (see [`Receiver::keys`]).
fn keys_of(generation: &str, command: &str, body: &Value) -> Vec<String> {
    if generation == "v1" {
        let call = body["CallId"].as_str().unwrap_or("?");
        let user = body["UserId"].as_str().unwrap_or("?");
        return vec![v1(call, command, user)];
    }
    match command {
        "Call.CallbackAfterStartCall" => {
            vec![v4_start(body["CallInfo"]["CallId"].as_str().unwrap_or("?"))]
        }
        "Call.CallbackAfterMemberChanged" => {
            let call = body["CallId"].as_str().unwrap_or("?");
            body["ChangedUserList"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|u| {
                    v4_member(
                        call,
                        u["User_Account"].as_str().unwrap_or("?"),
                        u["ActionType"].as_str().unwrap_or("?"),
                    )
                })
                .collect()
        }
        "Call.CallbackAfterEndCall" => {
            let r = &body["CallRecord"];
            vec![v4_end(
                r["CallId"].as_str().unwrap_or("?"),
                r["CallResult"].as_str().unwrap_or("?"),
            )]
        }
        _ => vec![format!("v4 ? {command}")],
    }
}

/// Starts the receiver on 127.0.0.1 (any port). Each `webhook-id` is refused for its first 0–2
/// attempts (decided by a hash of the id with `seed`), in one of three ways: HTTP 500, HTTP 200
/// with `ErrorCode` 1, or an answer later than the server's attempt time-out; then accepted,
/// sometimes after a short delay.
async fn start_receiver(seed: u64, secret: String) -> (Shared<Receiver>, u16) {
    let state: Shared<Receiver> = Arc::default();
    let wh = Arc::new(standardwebhooks::Webhook::new(&secret).unwrap());
    let sink = Arc::clone(&state);
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (sink, wh) = (Arc::clone(&sink), Arc::clone(&wh));
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let generation = if parts.uri.path().starts_with("/v4") {
                "v4"
            } else {
                "v1"
            };
            let query: HashMap<String, String> =
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let command = query
                .get(if generation == "v1" {
                    "command"
                } else {
                    "CallbackCommand"
                })
                .cloned()
                .unwrap_or_default();
            let id = parts
                .headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let ok_body = if generation == "v1" {
                r#"{"ErrorCode":0,"ErrorMessage":"Success"}"#
            } else {
                r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#
            };
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            let verified = wh.verify(&body, &parts.headers);
            let h = fnv(seed, &id);
            let attempt = {
                let mut s = sink.lock().unwrap();
                s.requests += 1;
                if id.is_empty() || parsed.is_none() || verified.is_err() {
                    s.problems.push(format!(
                        "bad callback request (id {id:?}, {generation} {command}): {:?}",
                        verified.err()
                    ));
                    return (http::StatusCode::UNAUTHORIZED, "bad request").into_response();
                }
                let n = s.attempts.entry(id.clone()).or_insert(0);
                *n += 1;
                *n - 1
            };
            let refusals = match h % 20 {
                0..14 => 0,
                14..18 => 1,
                _ => 2,
            };
            if attempt < refusals {
                sink.lock().unwrap().refused += 1;
                return match (h / 20 + u64::from(attempt)) % 3 {
                    0 => (http::StatusCode::INTERNAL_SERVER_ERROR, "busy").into_response(),
                    1 => r#"{"ErrorCode":1,"ErrorMessage":"try again"}"#.into_response(),
                    _ => {
                        tokio::time::sleep(Duration::from_millis(ATTEMPT_TIMEOUT_MS + 400)).await;
                        (http::StatusCode::SERVICE_UNAVAILABLE, "too late").into_response()
                    }
                };
            }
            {
                let mut s = sink.lock().unwrap();
                *s.accepted.entry(id).or_insert(0) += 1;
                let keys = keys_of(generation, &command, parsed.as_ref().unwrap());
                s.keys.extend(keys);
            }
            if h.is_multiple_of(7) {
                tokio::time::sleep(Duration::from_millis(50 + h % 150)).await;
            }
            ok_body.into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (state, port)
}

// ---------------------------------------------------------------------------------------------
// The load.

/// One reporter: keeps 40 calls going, sends batches of their next events (each call's in
/// order), retries a batch until it is answered, and records what was acknowledged.
async fn reporter(task: usize, load: Load, stop: Arc<AtomicBool>) {
    let Load {
        seed,
        http,
        url,
        ledger,
        violations,
        ..
    } = load;
    let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9 * (task as u64 + 1)));
    let mut active: Vec<(Arc<Plan>, usize)> = Vec::new();
    let mut done: Vec<Arc<Plan>> = Vec::new();
    let mut next_call = 0u64;
    while !stop.load(Ordering::Relaxed) {
        while active.len() < 40 {
            let p = Arc::new(plan(
                format!("r{task}-{next_call}"),
                random_shape(&mut rng),
                common::now_ms() - 10_000,
                &mut rng,
            ));
            next_call += 1;
            ledger
                .lock()
                .unwrap()
                .calls
                .insert(p.id.clone(), (Arc::clone(&p), Vec::new()));
            active.push((p, 0));
        }
        // Take 1–100 events: the next event of a random active call, again and again.
        let size = if rng.random_bool(0.3) {
            rng.random_range(1..=5)
        } else {
            rng.random_range(5..=100)
        };
        let mut batch: Vec<(Arc<Plan>, usize)> = Vec::new();
        while batch.len() < size && !active.is_empty() {
            let i = rng.random_range(0..active.len());
            let (p, next) = &mut active[i];
            batch.push((Arc::clone(p), *next));
            *next += 1;
            if *next == p.events.len() {
                done.push(active.swap_remove(i).0);
            }
            if active.len() < 5 {
                break;
            }
        }
        // Sometimes events of finished calls sent again (acknowledged before, or earlier in this
        // batch): duplicates.
        let mut again = Vec::new();
        if !done.is_empty() && rng.random_bool(0.2) {
            for _ in 0..rng.random_range(1..=3) {
                let p = &done[rng.random_range(0..done.len())];
                again.push(p.events[rng.random_range(0..p.events.len())].clone());
            }
        }
        let mut events: Vec<Value> = batch.iter().map(|(p, i)| p.events[*i].clone()).collect();
        events.extend(again.iter().cloned());
        {
            let mut l = ledger.lock().unwrap();
            for (p, i) in &batch {
                l.sent.insert(p.id.clone(), i + 1);
            }
        }
        let n = events.len() as u64;
        let body = json!({ "events": events });
        // Retried until answered; past the stop, for at most 30 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match v1_call(&http, &url_of(&url), "events/report", &body).await {
                Answer::Data(data) => {
                    let counted = data["accepted"].as_u64().unwrap_or(0)
                        + data["duplicates"].as_u64().unwrap_or(0);
                    if counted != n || data["rejected"] != json!([]) {
                        violations
                            .lock()
                            .unwrap()
                            .push(format!("a valid batch of {n} was not all stored: {data}"));
                    }
                    let mut l = ledger.lock().unwrap();
                    l.seq += 1;
                    let seq = l.seq;
                    for (p, i) in &batch {
                        let (_, acks) = l.calls.get_mut(&p.id).unwrap();
                        assert_eq!(acks.len(), *i, "events of a call acknowledged in order");
                        acks.push(seq);
                        if *i == 0 {
                            l.acked_ids.push(p.id.clone());
                        }
                    }
                    l.events_acked += batch.len() as u64;
                    l.events_sent_again += again.len() as u64;
                    l.batches_acked += 1;
                    break;
                }
                Answer::Error(code, v) if code != 101001 => {
                    // Nothing of it acknowledged: this reporter stops (its calls' later events
                    // would come after a gap).
                    violations
                        .lock()
                        .unwrap()
                        .push(format!("a valid batch answered {code}: {v}"));
                    return;
                }
                _ => {
                    ledger.lock().unwrap().batches_failed += 1;
                    if stop.load(Ordering::Relaxed) && Instant::now() > deadline {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(rng.random_range(20..60))).await;
                }
            }
        }
        if done.len() > 200 {
            done.drain(..100);
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..100))).await;
    }
}

#[derive(Default)]
struct QueryStats {
    answered: u64,
    failed: u64,
    records_checked: u64,
}

/// One querier: reads records of acknowledged calls, one by id, by lists of ids, by result, and
/// checks each against what was acknowledged before the query was sent.
async fn querier(task: usize, load: Load, stop: Arc<AtomicBool>) {
    let Load {
        seed,
        http,
        url,
        ledger,
        violations,
        stats,
        since_s,
    } = load;
    let mut rng = StdRng::seed_from_u64(seed ^ (0x51_7cc1_b727 * (task as u64 + 1)));
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..50))).await;
        let (snap, picks) = {
            let l = ledger.lock().unwrap();
            if l.acked_ids.is_empty() {
                continue;
            }
            let picks: Vec<String> = (0..rng.random_range(1..=50))
                .map(|_| l.acked_ids[rng.random_range(0..l.acked_ids.len())].clone())
                .collect();
            (l.seq, picks)
        };
        let mode = rng.random_range(0..100);
        let (path, body) = match mode {
            0..55 => ("records/get_record_by_callId", json!({"callId": picks[0]})),
            55..85 => (
                "records/get_records_by_filter",
                json!({"startTimestamp": since_s, "callIds": picks, "numberPerPage": 100}),
            ),
            _ => {
                let results = ["normal_end", "cancel", "reject", "ongoing"];
                let mut body = json!({"startTimestamp": since_s, "numberPerPage": 50,
                                      "page": rng.random_range(1..=3)});
                if rng.random_bool(0.8) {
                    body["callResult"] = json!(results[rng.random_range(0..results.len())]);
                }
                ("records/get_records_by_filter", body)
            }
        };
        let answer = v1_call(&http, &url_of(&url), path, &body).await;
        let data = match answer {
            Answer::Data(d) => d,
            Answer::Error(101050, v) if mode < 55 => {
                violations.lock().unwrap().push(format!(
                    "call {} has acknowledged events but no record: {v}",
                    picks[0]
                ));
                continue;
            }
            Answer::Error(101001, _) | Answer::Down => {
                stats.lock().unwrap().failed += 1;
                continue;
            }
            Answer::Error(code, v) => {
                violations
                    .lock()
                    .unwrap()
                    .push(format!("{path} {body} answered {code}: {v}"));
                continue;
            }
        };
        let records: Vec<Value> = if mode < 55 {
            vec![data]
        } else {
            data["callRecordList"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let l = ledger.lock().unwrap();
        let mut bad = Vec::new();
        for rec in &records {
            let id = rec["callId"].as_str().unwrap_or("?");
            let Some((p, _)) = l.calls.get(id) else {
                bad.push(format!("a record of a call nobody reported: {rec}"));
                continue;
            };
            if let Err(e) = check_record(p, l.acked_at(id, snap), rec) {
                bad.push(format!("{path}: {e}"));
            }
            if mode < 55 {
                continue;
            }
            match body.get("callResult").and_then(Value::as_str) {
                Some(r) if rec["callResult"] != json!(r) => {
                    bad.push(format!("{path} {body} listed {rec}"));
                }
                None if rec["callResult"] == "ongoing" => {
                    bad.push(format!("{path} {body} listed an ongoing call: {rec}"));
                }
                _ => {}
            }
        }
        if (55..85).contains(&mode) {
            // Every listed call whose ending was acknowledged before the query is there.
            let listed: HashSet<&str> = records
                .iter()
                .filter_map(|r| r["callId"].as_str())
                .collect();
            for id in &picks {
                let (p, _) = &l.calls[id];
                let k = l.acked_at(id, snap);
                if k == p.events.len() && p.end_s.is_some() && !listed.contains(id.as_str()) {
                    bad.push(format!(
                        "call {id} ended ({}) and acknowledged, missing from {body}",
                        p.results[k - 1]
                    ));
                }
            }
        }
        drop(l);
        let mut s = stats.lock().unwrap();
        s.answered += 1;
        s.records_checked += records.len() as u64;
        drop(s);
        violations.lock().unwrap().extend(bad);
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_sigkills_under_mixed_load_lose_no_acknowledged_event_or_callback() {
    let began = Instant::now();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (CRASH_SEED={seed} replays the kill delays and load shape)");
    let mut rng = StdRng::seed_from_u64(seed);

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("ring_timeout_secs = 60", "ring_timeout_secs = 3600")
        .replace(
            "attempt_timeout_ms = 3000",
            &format!("attempt_timeout_ms = {ATTEMPT_TIMEOUT_MS}"),
        )
        .replace(
            "retry_delays_secs = [0, 1, 1, 2, 3, 5]",
            "retry_delays_secs = [0, 1]",
        )
        .replace("report_events = 0", "report_events = 0\nget_deliveries = 0");
    assert!(
        text.contains("ring_timeout_secs = 3600")
            && text.contains("retry_delays_secs = [0, 1] ")
            && text.contains("get_deliveries = 0")
    );
    std::fs::write(&config, &text).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("callback_secret = \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_owned();
    let env = [("RUST_LOG", "error")];

    let (received, port) = start_receiver(seed, secret).await;
    let mut server = tokio::task::block_in_place(|| Server::start(&config, &env));
    let url: Url = Arc::new(RwLock::new(server.url.clone()));
    let http = client(dir.path());

    // Both generations' callbacks, every command, to the receiver.
    let actions: Vec<&str> = callrec_server::v1::callbacks::STATUS_COMMANDS
        .iter()
        .chain(&callrec_server::v1::callbacks::EVENT_COMMANDS)
        .copied()
        .collect();
    let set = v1_call(
        &http,
        &server.url,
        "callback/set",
        &json!({"address": format!("http://127.0.0.1:{port}/v1cb"), "actions": actions}),
    )
    .await;
    assert!(matches!(set, Answer::Data(_)), "v1 callbacks configured");
    let v4: Value = http
        .post(common::admin_url(
            &server.url,
            "/v4/call_config/set_callback",
        ))
        .json(&json!({"Url": format!("http://127.0.0.1:{port}/v4cb"),
                      "CallbackCommandList": ["Call.CallbackAfterStartCall",
                          "Call.CallbackAfterMemberChanged", "Call.CallbackAfterEndCall"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v4["ErrorCode"], 0, "v4 callbacks configured: {v4}");

    let ledger: Shared<Ledger> = Arc::default();
    let violations: Shared<Vec<String>> = Arc::default();
    let qstats: Shared<QueryStats> = Arc::default();
    let stop_reports = Arc::new(AtomicBool::new(false));
    let stop_queries = Arc::new(AtomicBool::new(false));
    let load = Load {
        seed,
        http: http.clone(),
        url: Arc::clone(&url),
        ledger: Arc::clone(&ledger),
        violations: Arc::clone(&violations),
        stats: Arc::clone(&qstats),
        since_s: common::now_ms() / 1000 - 120,
    };
    let reporters: Vec<_> = (0..REPORTERS)
        .map(|task| tokio::spawn(reporter(task, load.clone(), Arc::clone(&stop_reports))))
        .collect();
    let queriers: Vec<_> = (0..QUERIERS)
        .map(|task| tokio::spawn(querier(task, load.clone(), Arc::clone(&stop_queries))))
        .collect();
    drop(load);

    // 20 kills, each 100–1500 ms after the server came (back) up.
    let restarts = Arc::new(AtomicU64::new(0));
    let mut acked_at_kills = Vec::new();
    let mut delays = Vec::new();
    for _ in 0..KILLS {
        let delay = rng.random_range(100..=1500);
        delays.push(delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::block_in_place(|| server.kill9());
        acked_at_kills.push(ledger.lock().unwrap().events_acked);
        server = tokio::task::block_in_place(|| Server::start(&config, &env));
        *url.write().unwrap() = server.url.clone();
        restarts.fetch_add(1, Ordering::Relaxed);
    }
    let kills_done = began.elapsed();
    // A last stretch on a server that stays up, then the load stops (each reporter finishes
    // the batch it is sending).
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop_reports.store(true, Ordering::Relaxed);
    for t in reporters {
        t.await.unwrap();
    }
    stop_queries.store(true, Ordering::Relaxed);
    for t in queriers {
        t.await.unwrap();
    }
    let ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("tasks are done")
        .into_inner()
        .unwrap();
    let busy_windows = acked_at_kills.windows(2).filter(|w| w[1] > w[0]).count();
    println!(
        "kill delays (ms after each restart) {delays:?}; events acknowledged by each kill \
         {acked_at_kills:?}"
    );
    assert!(
        busy_windows >= KILLS / 2,
        "reports were acknowledged between most kills: {acked_at_kills:?}"
    );

    // Every acknowledged call's record reflects its acknowledged events.
    let acked: Vec<(Arc<Plan>, usize)> = ledger
        .acked_ids
        .iter()
        .map(|id| {
            let (p, acks) = &ledger.calls[id];
            (Arc::clone(p), acks.len())
        })
        .collect();
    let base = url_of(&url);
    let checked: Vec<Result<(), String>> = futures::stream::iter(acked.iter().cloned())
        .map(|(p, k)| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                match v1_call(
                    &http,
                    &base,
                    "records/get_record_by_callId",
                    &json!({"callId": p.id}),
                )
                .await
                {
                    Answer::Data(rec) => check_record(&p, k, &rec),
                    Answer::Error(code, v) => Err(format!(
                        "call {} ({k} events acknowledged): record answered {code}: {v}",
                        p.id
                    )),
                    Answer::Down => Err(format!("call {}: no answer", p.id)),
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let record_errors: Vec<String> = checked.into_iter().filter_map(Result::err).collect();
    let ended = acked
        .iter()
        .filter(|(p, k)| *k == p.events.len() && p.end_s.is_some())
        .count();

    // Every acknowledged event is stored: reported again, each is a duplicate.
    let acked_events: Vec<Value> = acked
        .iter()
        .flat_map(|(p, k)| p.events[..*k].iter().cloned())
        .collect();
    assert_eq!(acked_events.len() as u64, ledger.events_acked);
    let mut lost_events = 0;
    for chunk in acked_events.chunks(1000) {
        let data = v1_call(&http, &base, "events/report", &json!({ "events": chunk }))
            .await
            .data("the re-report");
        lost_events += data["accepted"].as_u64().unwrap();
        assert_eq!(
            data["accepted"].as_u64().unwrap() + data["duplicates"].as_u64().unwrap(),
            chunk.len() as u64,
            "{data}"
        );
    }

    // Every callback the acknowledged events must produce arrives (at least once).
    let expected: HashSet<String> = acked
        .iter()
        .flat_map(|(p, k)| p.callbacks[..*k].iter().flatten().cloned())
        .collect();
    // Waits until all have arrived and the server has nothing pending; gives up at a deadline,
    // or once nothing is pending and nothing new arrived for 5 s (nothing more can come).
    let drain_began = Instant::now();
    let deadline = drain_began + Duration::from_secs(120);
    let mut last_progress = (0, Instant::now());
    let (missing, pending_left) = loop {
        let (missing, arrived): (Vec<String>, usize) = {
            let r = received.lock().unwrap();
            let missing = expected
                .iter()
                .filter(|k| !r.keys.contains(*k))
                .cloned()
                .collect();
            (missing, r.keys.len())
        };
        let pending = v1_call(
            &http,
            &base,
            "callback/get_deliveries",
            &json!({"status": "pending", "limit": 1000}),
        )
        .await
        .data("get_deliveries")["deliveries"]
            .as_array()
            .map_or(0, Vec::len);
        if arrived != last_progress.0 {
            last_progress = (arrived, Instant::now());
        }
        let settled = pending == 0 && last_progress.1.elapsed() > Duration::from_secs(5);
        if (missing.is_empty() && pending == 0) || settled || Instant::now() > deadline {
            break (missing, pending);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let drain = drain_began.elapsed();
    // Nothing arrives that no sent event explains (a callback about something that did not
    // happen): the keys of every event sent, acknowledged or not.
    let explained: HashSet<String> = ledger
        .sent
        .iter()
        .flat_map(|(id, n)| ledger.calls[id].0.callbacks[..*n].iter().flatten().cloned())
        .collect();
    let mut listed: Vec<Value> = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut body = json!({"limit": 1000});
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let d = v1_call(&http, &base, "callback/get_deliveries", &body)
            .await
            .data("get_deliveries");
        listed.extend(d["deliveries"].as_array().unwrap().iter().cloned());
        cursor = d["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let r = received.lock().unwrap();
    let not_arrived: Vec<&Value> = listed
        .iter()
        .filter(|d| {
            d["status"] != "delivered"
                || !r
                    .accepted
                    .contains_key(d["id"].as_str().unwrap_or_default())
        })
        .collect();
    let listed_ids: HashSet<&str> = listed.iter().filter_map(|d| d["id"].as_str()).collect();
    let unknown_arrived = r
        .accepted
        .keys()
        .filter(|id| !listed_ids.contains(id.as_str()))
        .count();
    let unexplained: Vec<&String> = r.keys.iter().filter(|k| !explained.contains(*k)).collect();
    let deliveries: u64 = r.accepted.values().map(|&n| u64::from(n)).sum();
    let duplicates = deliveries - r.accepted.len() as u64;
    let q = qstats.lock().unwrap();
    let v = violations.lock().unwrap();

    println!(
        "kills {KILLS} (restarts {}), kill phase {:.1}s; calls {} (acknowledged {}, {} ended), \
         events acknowledged {} (+{} sent again as duplicates), batches acknowledged {}, failed \
         requests {}",
        restarts.load(Ordering::Relaxed),
        kills_done.as_secs_f64(),
        ledger.calls.len(),
        acked.len(),
        ended,
        ledger.events_acked,
        ledger.events_sent_again,
        ledger.batches_acked,
        ledger.batches_failed,
    );
    println!(
        "queries answered {} (records checked {}), failed {}; records checked at the end {}; \
         events lost {lost_events}",
        q.answered,
        q.records_checked,
        q.failed,
        acked.len()
    );
    println!(
        "callbacks expected {} (missing {}), produced {} (not delivered/arrived {}), distinct \
         ids received {}, deliveries {}, duplicates {duplicates}, attempts refused {}, \
         requests {}; drain {:.1}s; total {:.1}s",
        expected.len(),
        missing.len(),
        listed.len(),
        not_arrived.len(),
        r.accepted.len(),
        deliveries,
        r.refused,
        r.requests,
        drain.as_secs_f64(),
        began.elapsed().as_secs_f64(),
    );

    assert!(
        v.is_empty(),
        "{} violations under load: {:#?}",
        v.len(),
        &v[..v.len().min(20)]
    );
    assert!(
        record_errors.is_empty(),
        "{} records wrong at the end: {:#?}",
        record_errors.len(),
        &record_errors[..record_errors.len().min(20)]
    );
    assert_eq!(lost_events, 0, "acknowledged events were lost");
    assert!(
        missing.is_empty(),
        "{} of {} expected callbacks never arrived, e.g. {:?}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!(pending_left, 0, "callbacks still pending at the deadline");
    assert!(
        not_arrived.is_empty(),
        "{} produced callbacks not delivered: {:#?}",
        not_arrived.len(),
        &not_arrived[..not_arrived.len().min(10)]
    );
    assert_eq!(
        unknown_arrived, 0,
        "callbacks arrived that the server does not list"
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(
        unexplained.is_empty(),
        "{} callbacks arrived that no sent event explains, e.g. {:?}",
        unexplained.len(),
        &unexplained[..unexplained.len().min(20)]
    );
    drop((r, q, v));
    assert!(tokio::task::block_in_place(|| server.terminate()).success());
}
