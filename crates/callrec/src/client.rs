//! A client of the v1 API: signs its own UserSig, sends `POST /v1/{kind}/{command}` with the
//! query-string authentication, and unwraps the `{errorCode, errorMessage, requestId, data}`
//! envelope.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::connection::{Connection, Trust};
use crate::error::Error;
use crate::usersig::sign;

/// UserSigs the client signs for itself live this long.
const SIG_LIFETIME_SECS: u64 = 86_400;

/// A connected, authenticated API client. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    sdkappid: u64,
    identifier: String,
    usersig: String,
}

impl ApiClient {
    /// Builds the HTTP client for `conn` (HTTP/1.1 or HTTP/2 by ALPN) and signs a UserSig.
    pub fn new(conn: &Connection) -> Result<ApiClient, Error> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        match &conn.trust {
            Trust::CaCert(path) => {
                let pem = std::fs::read(path).map_err(Error::io(path))?;
                let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                    Error::Usage(format!("{}: not a PEM certificate: {e}", path.display()))
                })?;
                builder = builder.add_root_certificate(cert);
            }
            Trust::Default => {}
            Trust::Insecure => builder = builder.danger_accept_invalid_certs(true),
        }
        let http = builder
            .build()
            .map_err(|e| Error::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base_url: conn.base_url.clone(),
            sdkappid: conn.sdkappid,
            identifier: conn.identifier.clone(),
            usersig: sign(
                conn.sdkappid,
                &conn.key,
                &conn.identifier,
                SIG_LIFETIME_SECS,
            ),
        })
    }

    /// `POST /v1/{path}` with `body`; the envelope's `data` on errorCode 0, else [`Error::Api`].
    pub async fn call(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}/v1/{path}", self.base_url);
        let envelope = self.post(&url, body).await?;
        unwrap(&url, &envelope, ("errorCode", "errorMessage", "data"))
    }

    /// `POST /v4/{path}` with `body`; the envelope's `Response` on ErrorCode 0 (`null` when the
    /// API returns none), else [`Error::Api`].
    pub async fn call_v4(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}/v4/{path}", self.base_url);
        let envelope = self.post(&url, body).await?;
        unwrap(&url, &envelope, ("ErrorCode", "ErrorInfo", "Response"))
    }

    /// POSTs `body` to `/v1/{path}` and answers the raw response (for streamed answers), with no
    /// time limit on the whole transfer.
    pub async fn post_stream(&self, path: &str, body: &Value) -> Result<reqwest::Response, Error> {
        let url = format!("{}/v1/{path}", self.base_url);
        let random: u32 = rand::rng().random();
        self.http
            .post(&url)
            .query(&[
                ("sdkappid", self.sdkappid.to_string()),
                ("identifier", self.identifier.clone()),
                ("usersig", self.usersig.clone()),
                ("random", random.to_string()),
                ("contenttype", "json".to_owned()),
            ])
            .timeout(Duration::from_secs(7 * 86_400))
            .json(body)
            .send()
            .await
            .map_err(|source| Error::Http {
                url,
                source: source.without_url(),
            })
    }

    /// POSTs `body` with a fresh query string; the answer's JSON.
    async fn post(&self, url: &str, body: &Value) -> Result<Value, Error> {
        let random: u32 = rand::rng().random();
        let response = self
            .http
            .post(url)
            .query(&[
                ("sdkappid", self.sdkappid.to_string()),
                ("identifier", self.identifier.clone()),
                ("usersig", self.usersig.clone()),
                ("random", random.to_string()),
                ("contenttype", "json".to_owned()),
            ])
            .json(body)
            .send()
            .await
            .map_err(|source| Error::Http {
                url: url.to_owned(),
                source: source.without_url(),
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| Error::Http {
            url: url.to_owned(),
            source: source.without_url(),
        })?;
        serde_json::from_slice(&bytes).map_err(|_| {
            Error::BadResponse(format!(
                "HTTP {status} from {url}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })
    }
}

/// The payload of an envelope whose (code, message, payload) keys are `keys`.
fn unwrap(url: &str, envelope: &Value, keys: (&str, &str, &str)) -> Result<Value, Error> {
    let (code_key, message_key, payload_key) = keys;
    let code = envelope
        .get(code_key)
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::BadResponse(format!("no {code_key} in the answer of {url}")))?;
    if code != 0 {
        let message = envelope
            .get(message_key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Err(Error::Api { code, message });
    }
    Ok(envelope.get(payload_key).cloned().unwrap_or(Value::Null))
}
