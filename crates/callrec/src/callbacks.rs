//! `callrec callbacks deliveries|redeliver|listen` (docs/callbacks.md).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use callrec_server::callbacks::sign::tencent_sign;
use callrec_server::config::{App, Config};
use callrec_server::v1::callbacks::{EVENT_COMMANDS, STATUS_COMMANDS};
use callrec_server::v4::callbacks::COMMANDS as V4_COMMANDS;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::cli::{
    CallbacksAction, CallbacksArgs, DeliveriesArgs, GenerationArg, ListenArgs, RedeliverArgs,
};
use crate::client::ApiClient;
use crate::connection::Connection;
use crate::error::Error;
use crate::timearg;

/// Runs `callrec callbacks …`.
pub async fn run(args: &CallbacksArgs) -> Result<ExitCode, Error> {
    match &args.action {
        CallbacksAction::Deliveries(a) => deliveries(a).await,
        CallbacksAction::Redeliver(a) => redeliver(a).await,
        CallbacksAction::Listen(a) => listen(a).await,
    }
}

async fn deliveries(args: &DeliveriesArgs) -> Result<ExitCode, Error> {
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let mut body = json!({ "limit": args.limit });
    if let Some(s) = &args.status {
        body["status"] = json!(s);
    }
    if let Some(c) = &args.call_id {
        body["callId"] = json!(c);
    }
    let data = client.call("callback/get_deliveries", &body).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", deliveries_table(&data));
    Ok(ExitCode::SUCCESS)
}

/// The deliveries as a readable table.
pub fn deliveries_table(data: &Value) -> String {
    let list = data["deliveries"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no callbacks\n".into();
    }
    let rows: Vec<[String; 7]> = list
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("").to_owned();
            [
                s("id"),
                s("status"),
                d["attempts"].to_string(),
                format!("{} {}", s("generation"), s("command")),
                s("callId"),
                d["createdMs"]
                    .as_i64()
                    .map(|ms| timearg::format_utc(ms.div_euclid(1000)))
                    .unwrap_or_default(),
                s("lastError"),
            ]
        })
        .collect();
    let header = [
        "ID",
        "STATUS",
        "TRIES",
        "CALLBACK",
        "CALL",
        "PRODUCED",
        "LAST ERROR",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[&str], out: &mut String| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(&header, &mut out);
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&cells, &mut out);
    }
    if data["nextCursor"].is_string() {
        out.push_str("(more: raise --limit, or page with the API's cursor)\n");
    }
    out
}

async fn redeliver(args: &RedeliverArgs) -> Result<ExitCode, Error> {
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let body = if args.failed {
        let since_ms = match &args.since {
            Some(t) => timearg::parse(t, timearg::now_secs()).map_err(Error::Usage)? * 1000,
            None => 0,
        };
        json!({ "status": "failed", "sinceMs": since_ms })
    } else {
        json!({ "ids": args.ids })
    };
    let data = client.call("callback/redeliver", &body).await?;
    println!("queued {}", data["queued"]);
    Ok(ExitCode::SUCCESS)
}

/// Every v1 command word (`--configure v1`): the event callbacks, then the status callbacks.
fn v1_commands() -> Vec<&'static str> {
    let mut all = EVENT_COMMANDS.to_vec();
    all.extend(STATUS_COMMANDS);
    all
}

/// What the receiver checks signatures with.
struct Verifier {
    webhook: Option<standardwebhooks::Webhook>,
    token: Option<String>,
}

impl Verifier {
    fn of(app: Option<&App>) -> Verifier {
        Verifier {
            webhook: app.and_then(|a| a.callback_secret.as_ref()).and_then(|s| {
                standardwebhooks::Webhook::from_bytes(s.expose_secret().clone()).ok()
            }),
            token: app
                .and_then(|a| a.callback_token.as_ref())
                .map(|t| t.expose_secret().to_owned()),
        }
    }

    /// What the signatures of a request say, for the printed line.
    fn check(&self, headers: &http::HeaderMap, query: &[(String, String)], body: &[u8]) -> String {
        let mut parts = Vec::new();
        match (&self.webhook, headers.contains_key("webhook-signature")) {
            (Some(wh), true) => parts.push(match wh.verify(body, headers) {
                Ok(()) => "signature ok".to_owned(),
                Err(e) => format!("signature INVALID ({e})"),
            }),
            (Some(_), false) => parts.push("UNSIGNED (expected a signature)".to_owned()),
            (None, true) => parts.push("signed (no callback_secret here to verify)".to_owned()),
            (None, false) => parts.push("unsigned".to_owned()),
        }
        if let Some(token) = &self.token {
            let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let ok = match (
                get("Sign"),
                get("RequestTime").and_then(|t| t.parse::<i64>().ok()),
            ) {
                (Some(sign), Some(t)) => sign == tencent_sign(token, t),
                _ => false,
            };
            parts.push(if ok { "Sign ok" } else { "Sign INVALID" }.to_owned());
        }
        parts.join(", ")
    }
}

/// One readable line about a callback.
pub fn describe(query: &[(String, String)], body: &Value) -> String {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    if let Some(command) = get("command") {
        let mut line = format!(
            "v1 {command:<24} call {} user {} ({})",
            s(&body["CallId"]),
            s(&body["UserId"]),
            s(&body["Role"])
        );
        if let Some(r) = body["CallResult"].as_str().filter(|r| !r.is_empty()) {
            line.push_str(&format!(" result {r}"));
        }
        return line;
    }
    let command = get("CallbackCommand").unwrap_or("?");
    let short = command.trim_start_matches("Call.CallbackAfter");
    let detail = match short {
        "StartCall" => {
            let users: Vec<String> = body["UserList"]
                .as_array()
                .map(|a| a.iter().map(|u| s(&u["User_Account"])).collect())
                .unwrap_or_default();
            format!(
                "call {} users {}",
                s(&body["CallInfo"]["CallId"]),
                users.join(",")
            )
        }
        "MemberChanged" => {
            let changed: Vec<String> = body["ChangedUserList"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|u| format!("{}:{}", s(&u["User_Account"]), s(&u["ActionType"])))
                        .collect()
                })
                .unwrap_or_default();
            format!("call {} changed {}", s(&body["CallId"]), changed.join(","))
        }
        "EndCall" => format!(
            "call {} result {}",
            s(&body["CallRecord"]["CallId"]),
            s(&body["CallRecord"]["CallResult"])
        ),
        _ => String::new(),
    };
    format!("v4 {short:<24} {detail}")
}

async fn listen(args: &ListenArgs) -> Result<ExitCode, Error> {
    let config = if args.connect.config.exists() {
        Some(Config::load(&args.connect.config)?)
    } else {
        None
    };
    let app = config.as_ref().map(|c| {
        args.connect
            .sdkappid
            .and_then(|id| c.app(id))
            .unwrap_or(&c.apps[0])
    });
    let verifier = Arc::new(Verifier::of(app));
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
    let url = format!("http://{addr}/callbacks");
    println!("listening on {url}");
    let configured = match args.configure {
        Some(g) => {
            let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
            let previous = configure(&client, g, &url).await?;
            println!(
                "{} callbacks of app {} now go here (every command)",
                gen_name(g),
                app.map_or(0, |a| a.sdkappid)
            );
            Some((client, g, previous))
        }
        None => None,
    };
    let handler = {
        let verifier = Arc::clone(&verifier);
        move |req: axum::extract::Request| {
            let verifier = Arc::clone(&verifier);
            async move { receive(&verifier, req).await }
        }
    };
    let router = axum::Router::new().fallback(handler);
    let serve = axum::serve(listener, router).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let served = serve.await;
    if let Some((client, g, previous)) = configured {
        restore(&client, g, previous).await?;
    }
    served.map_err(|e| Error::Server(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn gen_name(g: GenerationArg) -> &'static str {
    match g {
        GenerationArg::V1 => "v1",
        GenerationArg::V4 => "v4",
    }
}

/// The configuration before `--configure` changed it.
enum Previous {
    None,
    V1(Value),
    V4(Value),
}

async fn configure(client: &ApiClient, g: GenerationArg, url: &str) -> Result<Previous, Error> {
    match g {
        GenerationArg::V1 => {
            let previous = match client.call("callback/get", &json!({})).await {
                Ok(data) => Previous::V1(data),
                Err(Error::Api { code: 999, .. }) => Previous::None,
                Err(e) => return Err(e),
            };
            client
                .call(
                    "callback/set",
                    &json!({"address": url, "actions": v1_commands()}),
                )
                .await?;
            Ok(previous)
        }
        GenerationArg::V4 => {
            let previous = match client.call_v4("call_config/get_callback", &json!({})).await {
                Ok(data) => Previous::V4(data),
                Err(Error::Api { code: 100_301, .. }) => Previous::None,
                Err(e) => return Err(e),
            };
            client
                .call_v4(
                    "call_config/set_callback",
                    &json!({"Url": url, "CallbackCommandList": V4_COMMANDS}),
                )
                .await?;
            Ok(previous)
        }
    }
}

async fn restore(client: &ApiClient, g: GenerationArg, previous: Previous) -> Result<(), Error> {
    match previous {
        Previous::V1(data) => {
            client.call("callback/set", &data).await?;
        }
        Previous::V4(data) => {
            client.call_v4("call_config/set_callback", &data).await?;
        }
        Previous::None => match g {
            GenerationArg::V1 => {
                client.call("callback/delete", &json!({})).await?;
            }
            GenerationArg::V4 => {
                client
                    .call_v4("call_config/delete_callback", &json!({}))
                    .await?;
            }
        },
    }
    println!("{} callback configuration restored", gen_name(g));
    Ok(())
}

async fn receive(verifier: &Verifier, req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 8 << 20)
        .await
        .unwrap_or_default();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let signature = verifier.check(&parts.headers, &query, &body);
    let time = timearg::format_utc(timearg::now_secs());
    println!("{time}  {}  [{signature}]", describe(&query, &json));
    println!("  {}", String::from_utf8_lossy(&body));
    let v4 = query.iter().any(|(k, _)| k == "CallbackCommand");
    let answer = if v4 {
        r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#
    } else {
        r#"{"ErrorCode":0,"ErrorMessage":"Success"}"#
    };
    ([(http::header::CONTENT_TYPE, "application/json")], answer).into_response()
}
