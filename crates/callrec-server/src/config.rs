//! Configuration: the TOML file with `CALLREC_…` environment overrides of its fixed keys.
//!
//! Guarantees: every key is optional except `[[apps]]`; relative paths are resolved against the
//! config file's own directory; secret keys live in [`SecretString`]s and never appear in `Debug`
//! output, logs or error messages.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The fixed configuration keys that environment variables may override, with their variables
/// (`CALLREC_` + the key in upper case, a section's `.` as `__`).
const ENV_KEYS: &[(&str, &str)] = &[
    ("listen", "CALLREC_LISTEN"),
    ("data_dir", "CALLREC_DATA_DIR"),
    ("tls_cert", "CALLREC_TLS_CERT"),
    ("tls_key", "CALLREC_TLS_KEY"),
    ("insecure_http", "CALLREC_INSECURE_HTTP"),
    ("store.url", "CALLREC_STORE__URL"),
    ("retention.days", "CALLREC_RETENTION__DAYS"),
    (
        "auth.max_future_skew_secs",
        "CALLREC_AUTH__MAX_FUTURE_SKEW_SECS",
    ),
    ("limits.max_connections", "CALLREC_LIMITS__MAX_CONNECTIONS"),
    (
        "limits.header_read_timeout_ms",
        "CALLREC_LIMITS__HEADER_READ_TIMEOUT_MS",
    ),
    (
        "limits.idle_timeout_secs",
        "CALLREC_LIMITS__IDLE_TIMEOUT_SECS",
    ),
    ("limits.h2_max_streams", "CALLREC_LIMITS__H2_MAX_STREAMS"),
    (
        "calls.ring_timeout_secs",
        "CALLREC_CALLS__RING_TIMEOUT_SECS",
    ),
    ("calls.max_idle_secs", "CALLREC_CALLS__MAX_IDLE_SECS"),
    ("rate_limit.redis_url", "CALLREC_RATE_LIMIT__REDIS_URL"),
    (
        "callbacks.attempt_timeout_ms",
        "CALLREC_CALLBACKS__ATTEMPT_TIMEOUT_MS",
    ),
    (
        "callbacks.retry_delays_secs",
        "CALLREC_CALLBACKS__RETRY_DELAYS_SECS",
    ),
    (
        "callbacks.give_up_after_secs",
        "CALLREC_CALLBACKS__GIVE_UP_AFTER_SECS",
    ),
    ("callbacks.concurrency", "CALLREC_CALLBACKS__CONCURRENCY"),
    (
        "callbacks.deny_private_addresses",
        "CALLREC_CALLBACKS__DENY_PRIVATE_ADDRESSES",
    ),
];

/// Parses the file's text; `source` names it in errors, which give the line and column and show
/// the line (unless it may hold a secret key).
fn parse_file(text: &str, source: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let message = e.message().trim_end();
        let Some(span) = e.span() else {
            return ConfigError::Parse(format!("{source}: {message}"));
        };
        let before = &text[..span.start.min(text.len())];
        let line_no = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line = text[line_start..].lines().next().unwrap_or("");
        let shown = if line.contains("secret") || line.contains("token") {
            String::new()
        } else {
            format!("\n  {line_no} | {line}")
        };
        ConfigError::Parse(format!(
            "{source}, line {line_no}, column {column}: {message}{shown}"
        ))
    })
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be parsed.
    #[error("{0}")]
    Parse(String),
    /// The values parsed but break a rule.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A referenced file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// `[store]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://PATH` or `postgres://…`; default `sqlite://<data_dir>/callrec.db`.
    pub url: Option<String>,
}

/// `[retention]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Records older than this many days are invisible and purged.
    pub days: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self { days: 7 }
    }
}

/// `[limits]`: what one client connection may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Open connections at most; past it, new ones wait in the kernel's backlog.
    pub max_connections: u32,
    /// A request head must be complete this long after its first byte (and a new connection
    /// must send its first byte this soon), else the connection is dropped.
    pub header_read_timeout_ms: u64,
    /// A connection with no bytes in either direction for this long is closed (keep-alive).
    pub idle_timeout_secs: u64,
    /// Concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_secs: 75,
            h2_max_streams: 256,
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// A UserSig issued (`TLS.time`) more than this many seconds in the future is invalid; 0
    /// (the default, as TRTC's verifiers) accepts any issue time.
    pub max_future_skew_secs: u64,
}

/// `[calls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsSection {
    /// A callee still ringing this long after being invited counts as not answered.
    pub ring_timeout_secs: u64,
    /// A connected call with no event for this long is closed.
    pub max_idle_secs: u64,
}

impl Default for CallsSection {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 60,
            max_idle_secs: 43_200,
        }
    }
}

/// `[callbacks]`: how callbacks are delivered (docs/callbacks.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksSection {
    /// An attempt without a full answer within this long fails.
    pub attempt_timeout_ms: u64,
    /// After failed attempt k the next waits `retry_delays_secs[k]`; past the list the waits
    /// double from its last, capped at an hour.
    pub retry_delays_secs: Vec<u64>,
    /// A callback this old (seconds) is given up after its next failure; 0: after the list.
    pub give_up_after_secs: u64,
    /// Attempts in flight at once, per node.
    pub concurrency: u32,
    /// Refuse and never attempt URLs whose host is or resolves to a loopback, private,
    /// link-local, multicast or unspecified address.
    pub deny_private_addresses: bool,
}

impl Default for CallbacksSection {
    fn default() -> Self {
        Self {
            attempt_timeout_ms: 3000,
            retry_delays_secs: vec![0, 1, 1, 2, 3, 5],
            give_up_after_secs: 86_400,
            concurrency: 256,
            deny_private_addresses: false,
        }
    }
}

/// `[rate_limit]`: cluster-wide rate limiting.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSection {
    /// `redis://…`; absent: every node limits on its own.
    #[serde(default)]
    redis_url: Option<String>,
}

/// A Redis URL. It may hold a password, so its `Debug` and [`RedisUrl::redacted`] forms hide it;
/// [`RedisUrl::expose`] gives the whole URL to the Redis client only.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The whole URL, password included (never log this).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, safe to log and print.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…` (also `scheme://:secret@…`); URLs
/// without a password come back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The rate-limit settings shared by all apps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// When set, each app's per-API limits hold across every node sharing this Redis.
    pub redis_url: Option<RedisUrl>,
}

/// `[apps.rate_limits]`: requests per second per API, keyed by the API's name (see
/// [`crate::ops::ENDPOINTS`]); 0 = unlimited; an absent key takes the API's default; an
/// unknown key is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    set: std::collections::BTreeMap<String, u32>,
}

impl RateLimits {
    /// Limits with these keys set (the rest at their defaults).
    pub fn with(pairs: &[(&str, u32)]) -> Self {
        Self {
            set: pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    /// The limit of the API named `name`: as configured, else its default.
    pub fn per_second(&self, name: &str) -> u32 {
        if let Some(n) = self.set.get(name) {
            return *n;
        }
        crate::ops::ENDPOINTS
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.default_rate)
            .or_else(|| {
                crate::ops::RESERVED_RATE_KEYS
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, n)| *n)
            })
            .unwrap_or(0)
    }
}

impl<'de> Deserialize<'de> for RateLimits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let set = std::collections::BTreeMap::<String, u32>::deserialize(d)?;
        if let Some(unknown) = set.keys().find(|k| !crate::ops::is_rate_key(k)) {
            let known: Vec<&str> = crate::ops::ENDPOINTS.iter().map(|e| e.name).collect();
            return Err(serde::de::Error::custom(format!(
                "unknown rate-limit key `{unknown}`; the APIs are {}",
                known.join(", ")
            )));
        }
        Ok(Self { set })
    }
}

/// One `[[apps]]` entry as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSection {
    sdkappid: u64,
    #[serde(default)]
    secret_key: Option<SecretString>,
    #[serde(default)]
    secret_key_file: Option<PathBuf>,
    #[serde(default = "default_admins")]
    admins: Vec<String>,
    #[serde(default = "default_true")]
    group_call_package: bool,
    #[serde(default)]
    rate_limits: RateLimits,
    #[serde(default)]
    callback_secret: Option<SecretString>,
    #[serde(default)]
    callback_secret_file: Option<PathBuf>,
    #[serde(default)]
    callback_token: Option<SecretString>,
}

fn default_admins() -> Vec<String> {
    vec!["administrator".to_owned()]
}

fn default_true() -> bool {
    true
}

/// The file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
    #[serde(default)]
    insecure_http: bool,
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    retention: RetentionSection,
    #[serde(default)]
    calls: CallsSection,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    rate_limit: RateLimitSection,
    #[serde(default)]
    callbacks: CallbacksSection,
    #[serde(default)]
    apps: Vec<AppSection>,
}

impl FileConfig {
    /// Sets the fixed key `key` (one of [`ENV_KEYS`]) from an environment variable's text; on
    /// failure, says what was expected.
    fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        fn number<T: std::str::FromStr>(value: &str) -> Result<T, &'static str> {
            value
                .trim()
                .parse()
                .map_err(|_| "a whole number (digits only)")
        }
        match key {
            "listen" => self.listen = value.to_owned(),
            "data_dir" => self.data_dir = PathBuf::from(value),
            "tls_cert" => self.tls_cert = Some(PathBuf::from(value)),
            "tls_key" => self.tls_key = Some(PathBuf::from(value)),
            "insecure_http" => {
                self.insecure_http = match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err("true or false"),
                }
            }
            "store.url" => self.store.url = Some(value.to_owned()),
            "retention.days" => self.retention.days = number(value)?,
            "auth.max_future_skew_secs" => self.auth.max_future_skew_secs = number(value)?,
            "limits.max_connections" => self.limits.max_connections = number(value)?,
            "limits.header_read_timeout_ms" => {
                self.limits.header_read_timeout_ms = number(value)?;
            }
            "limits.idle_timeout_secs" => self.limits.idle_timeout_secs = number(value)?,
            "limits.h2_max_streams" => self.limits.h2_max_streams = number(value)?,
            "calls.ring_timeout_secs" => self.calls.ring_timeout_secs = number(value)?,
            "calls.max_idle_secs" => self.calls.max_idle_secs = number(value)?,
            "rate_limit.redis_url" => self.rate_limit.redis_url = Some(value.to_owned()),
            "callbacks.attempt_timeout_ms" => self.callbacks.attempt_timeout_ms = number(value)?,
            "callbacks.retry_delays_secs" => {
                self.callbacks.retry_delays_secs = value
                    .split(',')
                    .filter(|v| !v.trim().is_empty())
                    .map(number)
                    .collect::<Result<_, _>>()
                    .map_err(|_| "whole numbers separated by commas, like 0,1,1,2,3,5")?;
            }
            "callbacks.give_up_after_secs" => self.callbacks.give_up_after_secs = number(value)?,
            "callbacks.concurrency" => self.callbacks.concurrency = number(value)?,
            "callbacks.deny_private_addresses" => {
                self.callbacks.deny_private_addresses = match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err("true or false"),
                }
            }
            _ => return Err("no such key"),
        }
        Ok(())
    }
}

fn default_listen() -> String {
    "127.0.0.1:8443".to_owned()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

/// An app allowed to use the API.
pub struct App {
    /// Its SDKAppID.
    pub sdkappid: u64,
    /// The key UserSigs are signed with.
    pub secret_key: SecretString,
    /// Identifiers allowed to call the admin APIs.
    pub admins: Vec<String>,
    /// false: record APIs answer 50001.
    pub group_call_package: bool,
    /// Per-API rate limits.
    pub rate_limits: RateLimits,
    /// The Standard Webhooks signing key (the decoded bytes of `whsec_…`), if set.
    pub callback_secret: Option<secrecy::SecretBox<Vec<u8>>>,
    /// Tencent's callback token (`Sign` = sha256(token + RequestTime)), if set.
    pub callback_token: Option<SecretString>,
}

impl Clone for App {
    fn clone(&self) -> Self {
        App {
            sdkappid: self.sdkappid,
            secret_key: self.secret_key.clone(),
            admins: self.admins.clone(),
            group_call_package: self.group_call_package,
            rate_limits: self.rate_limits.clone(),
            callback_secret: self
                .callback_secret
                .as_ref()
                .map(|s| secrecy::SecretBox::new(Box::new(s.expose_secret().clone()))),
            callback_token: self.callback_token.clone(),
        }
    }
}

/// Decodes a `whsec_` secret: the prefix, then standard base64 of 24–64 bytes.
pub fn decode_callback_secret(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let Some(b64) = text.trim().strip_prefix("whsec_") else {
        return Err("must start with whsec_".into());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "is not whsec_ followed by base64".to_owned())?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(format!("must encode 24-64 bytes, not {}", bytes.len()));
    }
    Ok(bytes)
}

/// A fresh random callback secret: `whsec_` + base64 of 32 random bytes.
pub fn random_callback_secret() -> String {
    use base64::Engine as _;
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("sdkappid", &self.sdkappid)
            .field("secret_key", &"[redacted]")
            .field("admins", &self.admins)
            .field("group_call_package", &self.group_call_package)
            .field("rate_limits", &self.rate_limits)
            .field(
                "callback_secret",
                &self.callback_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "callback_token",
                &self.callback_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Embedded SQLite database file.
    Sqlite(PathBuf),
    /// PostgreSQL connection URL (kept whole; it may hold a password, so never log it).
    Postgres(String),
}

/// The loaded, validated configuration with every path absolute (or relative to the process's
/// working directory when the config file had no directory).
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTPS listener address.
    pub listen: SocketAddr,
    /// Embedded database and generated TLS certificate live here.
    pub data_dir: PathBuf,
    /// PEM certificate chain and key; `None`: self-signed under `<data_dir>/tls/`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP (behind a TLS-terminating proxy only).
    pub insecure_http: bool,
    /// The store.
    pub store: StoreUrl,
    /// Retention in days.
    pub retention_days: u32,
    /// Time-outs.
    pub calls: CallsSection,
    /// `[auth]`: UserSig rules beyond TRTC's.
    pub auth: AuthSection,
    /// `[limits]`: per-connection limits.
    pub limits: LimitsSection,
    /// `[rate_limit]`: where limits are kept.
    pub rate_limit: RateLimitConfig,
    /// `[callbacks]`: delivery.
    pub callbacks: CallbacksSection,
    /// The apps.
    pub apps: Vec<App>,
}

impl Config {
    /// Loads `path` (which must exist) and applies `CALLREC_…` environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, |name| std::env::var_os(name))
    }

    /// Loads `path`, taking environment overrides from `env` (a variable's value by name).
    fn load_with_env(
        path: &Path,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut file = parse_file(&text, &path.display().to_string())?;
        for (key, name) in ENV_KEYS {
            if let Some(value) = env(name) {
                let value = value.into_string().map_err(|_| {
                    ConfigError::Parse(format!(
                        "environment variable {name} (overriding {key}) is not valid UTF-8"
                    ))
                })?;
                file.set(key, &value).map_err(|expected| {
                    ConfigError::Parse(format!(
                        "environment variable {name}={value:?} (overriding {key}): expected {expected}"
                    ))
                })?;
            }
        }
        Self::resolve(file, &base)
    }

    /// Parses a config text as if it were a file in `base` (no environment overrides).
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Config, ConfigError> {
        Self::resolve(parse_file(text, "the configuration")?, base)
    }

    fn resolve(file: FileConfig, base: &Path) -> Result<Config, ConfigError> {
        // `./data` in a file in /etc/callrec becomes /etc/callrec/data (no `.` components, so
        // printed paths read cleanly).
        let abs = |p: &Path| -> PathBuf {
            let joined = if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            };
            joined
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect()
        };
        let listen = file.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen {:?} is not an address like 127.0.0.1:8443",
                file.listen
            ))
        })?;
        let data_dir = abs(&file.data_dir);
        let tls = match (&file.tls_cert, &file.tls_key) {
            (Some(c), Some(k)) => Some((abs(c), abs(k))),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "tls_cert and tls_key must be given together".into(),
                ));
            }
        };
        let store = match file.store.url.as_deref() {
            None => StoreUrl::Sqlite(data_dir.join("callrec.db")),
            Some(url) => {
                if let Some(p) = url.strip_prefix("sqlite://") {
                    if p.is_empty() {
                        return Err(ConfigError::Invalid(
                            "store.url sqlite:// needs a file path".into(),
                        ));
                    }
                    StoreUrl::Sqlite(abs(Path::new(p)))
                } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    StoreUrl::Postgres(url.to_owned())
                } else {
                    return Err(ConfigError::Invalid(
                        "store.url must start with sqlite:// or postgres://".into(),
                    ));
                }
            }
        };
        if file.retention.days == 0 {
            return Err(ConfigError::Invalid(
                "retention.days must be at least 1".into(),
            ));
        }
        let l = &file.limits;
        if l.max_connections == 0
            || l.header_read_timeout_ms == 0
            || l.idle_timeout_secs == 0
            || l.h2_max_streams == 0
        {
            return Err(ConfigError::Invalid(
                "every [limits] value must be at least 1".into(),
            ));
        }
        if file.calls.ring_timeout_secs == 0 || file.calls.max_idle_secs == 0 {
            return Err(ConfigError::Invalid(
                "calls.ring_timeout_secs and calls.max_idle_secs must be at least 1".into(),
            ));
        }
        if file.apps.is_empty() {
            return Err(ConfigError::Invalid(
                "at least one [[apps]] entry is required".into(),
            ));
        }
        let redis_url = match file.rate_limit.redis_url {
            None => None,
            Some(url) if url.trim().is_empty() => None,
            Some(url) => {
                let url = RedisUrl(url);
                if !(url.0.starts_with("redis://")
                    || url.0.starts_with("redis+unix://")
                    || url.0.starts_with("unix://"))
                {
                    return Err(ConfigError::Invalid(format!(
                        "rate_limit.redis_url {:?} must start with redis:// (or unix:// for a socket)",
                        url.redacted()
                    )));
                }
                if redis::Client::open(url.expose()).is_err() {
                    return Err(ConfigError::Invalid(format!(
                        "rate_limit.redis_url {:?} is not a valid Redis URL",
                        url.redacted()
                    )));
                }
                Some(url)
            }
        };
        let mut seen = HashSet::new();
        let mut apps = Vec::with_capacity(file.apps.len());
        for a in file.apps {
            if !seen.insert(a.sdkappid) {
                return Err(ConfigError::Invalid(format!(
                    "sdkappid {} appears twice",
                    a.sdkappid
                )));
            }
            let secret_key = match (a.secret_key, a.secret_key_file) {
                (Some(k), None) => k,
                (None, Some(f)) => {
                    let f = abs(&f);
                    let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Io {
                        path: f.clone(),
                        source,
                    })?;
                    SecretString::from(text.trim().to_owned())
                }
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "app {}: give exactly one of secret_key and secret_key_file",
                        a.sdkappid
                    )));
                }
            };
            if secret_key.expose_secret().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "app {}: the secret key is empty",
                    a.sdkappid
                )));
            }
            let callback_secret = match (a.callback_secret, a.callback_secret_file) {
                (None, None) => None,
                (Some(s), None) => Some(s.expose_secret().to_owned()),
                (None, Some(f)) => {
                    let f = abs(&f);
                    let text = std::fs::read_to_string(&f).map_err(|source| ConfigError::Io {
                        path: f.clone(),
                        source,
                    })?;
                    Some(text.trim().to_owned())
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Invalid(format!(
                        "app {}: give at most one of callback_secret and callback_secret_file",
                        a.sdkappid
                    )));
                }
            };
            let callback_secret = callback_secret
                .map(|text| {
                    decode_callback_secret(&text)
                        .map(|bytes| secrecy::SecretBox::new(Box::new(bytes)))
                        .map_err(|why| {
                            ConfigError::Invalid(format!(
                                "app {}: callback_secret {why}",
                                a.sdkappid
                            ))
                        })
                })
                .transpose()?;
            if let Some(t) = &a.callback_token {
                let n = t.expose_secret().chars().count();
                if !(1..=128).contains(&n) {
                    return Err(ConfigError::Invalid(format!(
                        "app {}: callback_token must be 1-128 characters, not {n}",
                        a.sdkappid
                    )));
                }
            }
            apps.push(App {
                sdkappid: a.sdkappid,
                secret_key,
                admins: a.admins,
                group_call_package: a.group_call_package,
                rate_limits: a.rate_limits,
                callback_secret,
                callback_token: a.callback_token,
            });
        }
        let cb = &file.callbacks;
        if cb.attempt_timeout_ms == 0 || cb.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "callbacks.attempt_timeout_ms and callbacks.concurrency must be at least 1".into(),
            ));
        }
        Ok(Config {
            listen,
            data_dir,
            tls,
            insecure_http: file.insecure_http,
            store,
            retention_days: file.retention.days,
            calls: file.calls,
            auth: file.auth,
            limits: file.limits,
            rate_limit: RateLimitConfig { redis_url },
            callbacks: file.callbacks,
            apps,
        })
    }

    /// The app with this SDKAppID.
    pub fn app(&self, sdkappid: u64) -> Option<&App> {
        self.apps.iter().find(|a| a.sdkappid == sdkappid)
    }

    /// Retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_days) * 86_400_000
    }
}

/// The SDKAppID written into a starter config.
pub const STARTER_SDKAPPID: u64 = 1_400_000_001;

/// A fresh random secret key: 64 lowercase hex characters, like the console's keys.
pub fn random_secret_key() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The commented starter config `serve` writes when the file is missing.
pub fn starter_config(sdkappid: u64, secret_key: &str) -> String {
    let callback_secret = random_callback_secret();
    format!(
        r#"# callrec configuration (written by `callrec serve` because no config file existed).
# Every key is optional except [[apps]]. Environment variables override keys:
# CALLREC_LISTEN, CALLREC_DATA_DIR, CALLREC_STORE__URL, CALLREC_RATE_LIMIT__REDIS_URL, ...
# Relative paths are relative to this file's directory.

listen = "127.0.0.1:8443"        # address of the HTTPS listener
data_dir = "./data"              # embedded database, generated TLS certificate
# tls_cert = "cert.pem"          # PEM; with tls_key. Absent: a self-signed cert is generated
# tls_key = "key.pem"            #   as <data_dir>/tls/cert.pem and key.pem on first start
insecure_http = false            # true: plain HTTP (only behind a TLS-terminating proxy)

[store]
url = "sqlite://./data/callrec.db"   # or postgres://user:pass@host:5432/db

[retention]
days = 7                         # records older than this are invisible and purged

[calls]
ring_timeout_secs = 60           # a callee still ringing this long counts as not answered
max_idle_secs = 43200            # a connected call with no event for this long is closed

# [auth]
# max_future_skew_secs = 300     # refuse UserSigs issued further in the future (0 = accept, as TRTC)

[limits]
max_connections = 10000          # past it, new connections wait in the kernel's backlog
header_read_timeout_ms = 10000   # a request head must arrive whole this soon after its first byte
idle_timeout_secs = 75           # a connection silent this long is closed (keep-alive)
h2_max_streams = 256             # concurrent streams per HTTP/2 connection

# [rate_limit]                   # several nodes on one store: share the rate limits through Redis
# redis_url = "redis://127.0.0.1:6379"   # unreachable Redis: each node limits on its own meanwhile

[callbacks]                      # calls to your server when calls change (docs/callbacks.md)
attempt_timeout_ms = 3000        # an attempt without a full answer by then fails
retry_delays_secs = [0, 1, 1, 2, 3, 5]   # waits after failed attempts; then doubling, up to 1 h
give_up_after_secs = 86400       # a callback this old is given up (kept; redeliverable); 0 = after the list
concurrency = 256                # attempts in flight at once
deny_private_addresses = false   # true: refuse URLs on loopback, private and link-local addresses

[[apps]]
sdkappid = {sdkappid}
secret_key = "{secret_key}"      # keep this file private (or use secret_key_file = "…")
admins = ["administrator"]       # identifiers allowed to call the admin APIs
group_call_package = true        # false: record APIs answer 50001
callback_secret = "{callback_secret}"   # signs callbacks (Standard Webhooks); or callback_secret_file
# callback_token = "…"           # also sign them Tencent's way (Sign and RequestTime in the URL)
[apps.rate_limits]               # requests per second, per app, per API; 0 = unlimited
get_record_by_callId = 20
get_records_by_filter = 200
report_events = 0
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("callrec.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn no_env(_: &str) -> Option<std::ffi::OsString> {
        None
    }

    /// An environment holding just `vars`.
    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
    }

    #[test]
    fn starter_config_loads_with_contract_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_secret_key();
        let cfg =
            Config::load_with_env(&write(dir.path(), &starter_config(7, &key)), no_env).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(cfg.data_dir, dir.path().join("data"));
        assert_eq!(
            cfg.store,
            StoreUrl::Sqlite(dir.path().join("data/callrec.db"))
        );
        assert_eq!(cfg.retention_days, 7);
        assert_eq!(cfg.calls.ring_timeout_secs, 60);
        assert_eq!(cfg.calls.max_idle_secs, 43_200);
        let app = cfg.app(7).unwrap();
        assert_eq!(app.secret_key.expose_secret(), key);
        assert_eq!(app.admins, vec!["administrator"]);
        assert!(app.group_call_package);
        for e in &crate::ops::ENDPOINTS {
            assert_eq!(
                app.rate_limits.per_second(e.name),
                e.default_rate,
                "{}",
                e.name
            );
        }
        assert!(cfg.tls.is_none() && !cfg.insecure_http);
    }

    #[test]
    fn environment_overrides_top_level_and_section_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n");
        let env = env_of(&[
            ("CALLREC_LISTEN", "0.0.0.0:9000"),
            ("CALLREC_STORE__URL", "postgres://u@h/db"),
            ("CALLREC_RETENTION__DAYS", "30"),
            ("CALLREC_CALLS__RING_TIMEOUT_SECS", "45"),
            ("CALLREC_INSECURE_HTTP", "true"),
            ("CALLREC_UNRELATED", "ignored"),
            (
                "CALLREC_RATE_LIMIT__REDIS_URL",
                "redis://:pw@10.0.0.5:6379/2",
            ),
        ]);
        let cfg = Config::load_with_env(&path, env).unwrap();
        assert_eq!(
            cfg.rate_limit.redis_url.as_ref().map(RedisUrl::expose),
            Some("redis://:pw@10.0.0.5:6379/2")
        );
        assert_eq!(cfg.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(cfg.store, StoreUrl::Postgres("postgres://u@h/db".into()));
        assert_eq!(cfg.retention_days, 30);
        assert_eq!(cfg.calls.ring_timeout_secs, 45);
        assert!(cfg.insecure_http);
    }

    #[test]
    fn a_bad_environment_value_is_blamed_on_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n");
        for (name, value) in [
            ("CALLREC_RETENTION__DAYS", "abc"),
            ("CALLREC_CALLS__MAX_IDLE_SECS", "-5"),
            ("CALLREC_INSECURE_HTTP", "yes"),
        ] {
            let err = Config::load_with_env(&path, env_of(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("environment variable {name}=\"{value}\"")),
                "{err}"
            );
            assert!(!err.contains("callrec.toml"), "{err}");
        }
    }

    #[test]
    fn file_errors_name_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "# a comment\nlisten = \"127.0.0.1:8443\"\n  lisen = \"typo\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
        );
        let err = Config::load_with_env(&path, no_env)
            .unwrap_err()
            .to_string();
        let want = format!(
            "{}, line 3, column 3: unknown field `lisen`, expected one of `listen`, ",
            path.display()
        );
        assert!(err.starts_with(&want), "{err}");
        assert!(err.ends_with("\n  3 |   lisen = \"typo\""), "{err}");
        assert!(!err.contains("default."), "{err}");

        let text = "[store]\nurl = \"sqlite://x.db\"\n[retention]\ndays = \"seven\"\n";
        let err = Config::from_toml_str(text, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the configuration, line 4, column 8: "),
            "{err}"
        );
        assert!(err.contains("invalid type: string \"seven\""), "{err}");

        // A line that may hold the secret key is not shown.
        let text = "[[apps]]\nsdkappid = 1\nsecret_key = \"hunter2\" extra\n";
        let err = Config::from_toml_str(text, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the configuration, line 3, column "),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.txt"), "sekrit\n").unwrap();
        let text = "data_dir = \"d\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n[store]\nurl = \"sqlite://x/y.db\"\n[[apps]]\nsdkappid = 1\nsecret_key_file = \"key.txt\"\n";
        let cfg = Config::load_with_env(&write(dir.path(), text), no_env).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("d"));
        assert_eq!(
            cfg.tls,
            Some((dir.path().join("c.pem"), dir.path().join("k.pem")))
        );
        assert_eq!(cfg.store, StoreUrl::Sqlite(dir.path().join("x/y.db")));
        assert_eq!(cfg.apps[0].secret_key.expose_secret(), "sekrit");
    }

    #[test]
    fn invalid_configs_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("", "at least one [[apps]]"),
            ("[[apps]]\nsdkappid = 1\n", "exactly one of secret_key"),
            (
                "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "twice",
            ),
            (
                "listen = \"nope\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "listen",
            ),
            (
                "lisen = \"typo\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "lisen",
            ),
            (
                "[store]\nurl = \"mysql://x\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "sqlite://",
            ),
            (
                "tls_cert = \"c\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "together",
            ),
            (
                "[rate_limit]\nredis_url = \"http://u:hunter2@h\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "redis://",
            ),
            (
                "[rate_limit]\nredis_uri = \"redis://h\"\n[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n",
                "redis_uri",
            ),
        ] {
            let err = Config::load_with_env(&write(dir.path(), text), no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(!err.contains("hunter2"), "passwords stay hidden: {err}");
        }
    }

    #[test]
    fn rate_limit_keys_are_the_api_names_and_an_unknown_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n[apps.rate_limits]\nget_record_by_callid = 7\nexport = 1\n";
        let cfg = Config::from_toml_str(text, dir.path()).unwrap();
        let limits = &cfg.apps[0].rate_limits;
        assert_eq!(limits.per_second("get_record_by_callid"), 7);
        assert_eq!(
            limits.per_second("get_record_by_callId"),
            20,
            "v1's own default"
        );
        assert_eq!(limits.per_second("start_call_by_robot"), 200);
        assert_eq!(limits.per_second("export"), 1);
        let text =
            "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n[apps.rate_limits]\nget_record = 7\n";
        let err = Config::from_toml_str(text, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown rate-limit key `get_record`"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn redis_url_is_optional_and_its_password_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let base = "[[apps]]\nsdkappid = 1\nsecret_key = \"k\"\n";
        let cfg = Config::load_with_env(&write(dir.path(), base), no_env).unwrap();
        assert_eq!(cfg.rate_limit.redis_url, None);
        let text = format!("[rate_limit]\nredis_url = \"redis://cr:s3cret@db:6379/1\"\n{base}");
        let cfg = Config::load_with_env(&write(dir.path(), &text), no_env).unwrap();
        let url = cfg.rate_limit.redis_url.clone().unwrap();
        assert_eq!(url.expose(), "redis://cr:s3cret@db:6379/1");
        assert_eq!(url.redacted(), "redis://cr:***@db:6379/1");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert_eq!(redact_url("redis://:pw@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn debug_output_never_shows_the_secret_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load_with_env(
            &write(dir.path(), &starter_config(1, "topsecretvalue")),
            no_env,
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("topsecretvalue"));
    }
}
