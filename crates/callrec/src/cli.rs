//! The command-line surface (clap derive). Parsing only: each command's behaviour lives in its
//! own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A self-hosted, wire-compatible TRTC Call (TUICallKit) v1 call-record server and its tools.
#[derive(Debug, Parser)]
#[command(name = "callrec", version)]
pub struct Cli {
    /// Log as JSON lines (level from RUST_LOG, default info).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (writes a starter config first if the file does not exist).
    Serve(ServeArgs),
    /// Print a UserSig made exactly as Tencent's TLSSigAPIv2 makes it.
    Usersig(UsersigArgs),
    /// Read call records from a running server.
    Records(Box<RecordsArgs>),
    /// Report realistic synthetic calls to a running server.
    Simulate(SimulateArgs),
    /// Callbacks: list deliveries, redeliver, or receive them locally.
    Callbacks(CallbacksArgs),
    /// Print the web console's address with a fresh admin sign-in in its fragment.
    Console(ConsoleArgs),
    /// Print an example config or check one.
    Config(ConfigArgs),
}

/// `callrec serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file; written with a fresh secret key if it does not exist.
    #[arg(long, default_value = "callrec.toml")]
    pub config: PathBuf,
}

/// `callrec usersig`.
#[derive(Debug, Args)]
#[command(after_help = "\
Either give --sdkappid, --key or --key-file, and --identifier, or (extension) --config PATH to take \
the sdkappid and key from the config's first app; the identifier then defaults to its first admin.")]
pub struct UsersigArgs {
    /// Take sdkappid and key from this config's first [[apps]] entry (extension).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The application's SDKAppID.
    #[arg(long)]
    pub sdkappid: Option<u64>,
    /// The application's secret key.
    #[arg(long, conflicts_with = "key_file")]
    pub key: Option<String>,
    /// A file holding the secret key (surrounding whitespace ignored).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// The user the UserSig is for (default with --config: the app's first admin).
    #[arg(long)]
    pub identifier: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400 * 180)]
    pub expire: u64,
}

/// How to reach and authenticate to a running server (shared by `records` and `simulate`).
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Config to take the address, app, admin and certificate from.
    #[arg(long, default_value = "callrec.toml")]
    pub config: PathBuf,
    /// Server base URL, e.g. https://127.0.0.1:8443 (default: from the config's listen).
    #[arg(long)]
    pub url: Option<String>,
    /// SDKAppID (default: the config's first app).
    #[arg(long)]
    pub sdkappid: Option<u64>,
    /// Secret key (default: the app's key from the config).
    #[arg(long, conflicts_with = "key_file")]
    pub key: Option<String>,
    /// File holding the secret key.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Identifier to sign the UserSig for (default: the app's first admin).
    #[arg(long)]
    pub identifier: Option<String>,
    /// PEM certificate to trust (default: the config's tls_cert, or <data_dir>/tls/cert.pem).
    #[arg(long, conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate.
    #[arg(long)]
    pub insecure: bool,
}

/// `callrec records`.
#[derive(Debug, Args)]
pub struct RecordsArgs {
    /// The query.
    #[command(subcommand)]
    pub query: RecordsQuery,
}

/// `callrec records get|filter`.
#[derive(Debug, Subcommand)]
pub enum RecordsQuery {
    /// One record by its callId (`get_record_by_callId`).
    Get(GetArgs),
    /// Records in a time range (`get_records_by_filter`).
    #[command(after_help = "\
Times (T) are Unix seconds (1700000000), RFC 3339 (2024-05-01T12:00:00Z), `now`, or relative to now: \
-30s, -15m, -1h, -7d, -2w.")]
    Filter(FilterArgs),
    /// Every record of a time range to a file or stdout (`export`, an extension), with a
    /// progress bar.
    Export(ExportArgs),
    /// Calls, answer rate and talk time per hour or day (`get_stats`, an extension), as a table.
    #[command(after_help = "\
Times (T) are Unix seconds (1700000000), RFC 3339 (2024-05-01T12:00:00Z), `now`, or relative to now: \
-30s, -15m, -1h, -7d, -2w. Buckets are UTC hours or days.")]
    Stats(StatsArgs),
}

/// The record extensions' filter flags (`records filter`, `export`, `stats`).
#[derive(Debug, Clone, Default, Args)]
pub struct ExtFilterArgs {
    /// Only calls this user made or was called in.
    #[arg(long)]
    pub user: Option<String>,
    /// Only calls this user made.
    #[arg(long)]
    pub caller: Option<String>,
    /// Only calls this user was called in.
    #[arg(long)]
    pub callee: Option<String>,
    /// Only audio or only video calls.
    #[arg(long, value_parser = ["audio", "video"])]
    pub media: Option<String>,
    /// Only calls in this room.
    #[arg(long)]
    pub room: Option<String>,
    /// Only calls connected at least this many seconds.
    #[arg(long)]
    pub min_duration: Option<u64>,
    /// Only calls connected at most this many seconds (0: never connected).
    #[arg(long)]
    pub max_duration: Option<u64>,
    /// Only these calls (repeat the flag, up to 1000).
    #[arg(long = "call-id")]
    pub call_ids: Vec<String>,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub asc: bool,
}

/// `callrec records stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Earliest start time (default -7d).
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Latest start time (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// `hour`, `day` or `all`.
    #[arg(long, default_value = "day", value_parser = ["hour", "day", "all"])]
    pub bucket: String,
    /// Only this result.
    #[arg(long, value_enum)]
    pub result: Option<ResultArg>,
    /// Only this call type.
    #[arg(long = "type", value_enum)]
    pub call_type: Option<TypeArg>,
    /// The extensions' filters.
    #[command(flatten)]
    pub ext: ExtFilterArgs,
    /// Print the response's data as pretty JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `callrec records export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Earliest start time (default -7d).
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Latest start time (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Only this result.
    #[arg(long, value_enum)]
    pub result: Option<ResultArg>,
    /// Only this call type.
    #[arg(long = "type", value_enum)]
    pub call_type: Option<TypeArg>,
    /// `ndjson` (one JSON record per line) or `csv`.
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "csv"])]
    pub format: String,
    /// The extensions' filters.
    #[command(flatten)]
    pub ext: ExtFilterArgs,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `callrec records get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The call's id.
    pub call_id: String,
    /// Print the response's data as pretty JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Use the v4 API (`/v4/call_record_http_srv/…`); `--json` then prints v4 JSON.
    #[arg(long)]
    pub v4: bool,
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `callrec records filter`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Print the response's data as pretty JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Use the v4 API (`/v4/call_record_http_srv/…`); `--json` then prints v4 JSON.
    #[arg(long)]
    pub v4: bool,
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Earliest start time (default -7d).
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Latest start time (default now).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Only this result (ongoing calls appear only when asked for).
    #[arg(long, value_enum)]
    pub result: Option<ResultArg>,
    /// Only this call type.
    #[arg(long = "type", value_enum)]
    pub call_type: Option<TypeArg>,
    /// Page number, from 1.
    #[arg(long)]
    pub page: Option<u32>,
    /// Records per page, 1-1000.
    #[arg(long)]
    pub per_page: Option<u32>,
    /// The extensions' filters.
    #[command(flatten)]
    pub ext: ExtFilterArgs,
}

/// `--result`.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum ResultArg {
    Cancel,
    Reject,
    NotAnswer,
    CallBusy,
    NormalEnd,
    Interrupt,
    Ongoing,
}

impl ResultArg {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultArg::Cancel => "cancel",
            ResultArg::Reject => "reject",
            ResultArg::NotAnswer => "not_answer",
            ResultArg::CallBusy => "call_busy",
            ResultArg::NormalEnd => "normal_end",
            ResultArg::Interrupt => "interrupt",
            ResultArg::Ongoing => "ongoing",
        }
    }

    /// The v4 name.
    pub fn v4_name(self) -> &'static str {
        match self {
            ResultArg::Cancel => "Cancel",
            ResultArg::Reject => "Reject",
            ResultArg::NotAnswer => "NotAnswer",
            ResultArg::CallBusy => "CallBusy",
            ResultArg::NormalEnd => "NormalEnd",
            ResultArg::Interrupt => "Interrupt",
            ResultArg::Ongoing => "Ongoing",
        }
    }
}

/// `--type`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeArg {
    Single,
    Group,
}

impl TypeArg {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeArg::Single => "single",
            TypeArg::Group => "group",
        }
    }

    /// The v4 name.
    pub fn v4_name(self) -> &'static str {
        match self {
            TypeArg::Single => "SingleCall",
            TypeArg::Group => "MultiCall",
        }
    }
}

/// `callrec console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Connection settings (the address, app and admin the link signs in as).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How long the sign-in is valid, seconds.
    #[arg(long, default_value_t = 12 * 3600)]
    pub expire: u64,
}

/// `callrec callbacks`.
#[derive(Debug, Args)]
pub struct CallbacksArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CallbacksAction,
}

/// `callrec callbacks deliveries|redeliver|listen`.
#[derive(Debug, Subcommand)]
pub enum CallbacksAction {
    /// List produced callbacks with their delivery state, newest first.
    Deliveries(DeliveriesArgs),
    /// Make callbacks pending again (same ids, a fresh retry schedule).
    Redeliver(RedeliverArgs),
    /// Receive callbacks locally: print each one, verify its signature, answer success.
    Listen(ListenArgs),
}

/// `callrec callbacks deliveries`.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Only this status.
    #[arg(long, value_parser = ["pending", "delivered", "failed"])]
    pub status: Option<String>,
    /// Only this call.
    #[arg(long = "call")]
    pub call_id: Option<String>,
    /// How many (1-1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the API's data as JSON.
    #[arg(long)]
    pub json: bool,
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `callrec callbacks redeliver`.
#[derive(Debug, Args)]
pub struct RedeliverArgs {
    /// Callback ids (the `webhook-id`s `deliveries` lists).
    #[arg(required_unless_present = "failed", conflicts_with = "failed")]
    pub ids: Vec<String>,
    /// Every failed callback instead (produced since --since).
    #[arg(long)]
    pub failed: bool,
    /// With --failed: only those produced since T (default: the whole retention window).
    #[arg(long, requires = "failed", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Which generation's configuration `listen --configure` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerationArg {
    V1,
    V4,
}

/// `callrec callbacks listen`.
#[derive(Debug, Args)]
#[command(
    after_help = "With --configure, the app's callback configuration of that generation points at this receiver with every command while it runs; on Ctrl-C the previous configuration is put back (or removed if there was none)."
)]
pub struct ListenArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Point the app's configuration of this generation at this receiver.
    #[arg(long, value_enum)]
    pub configure: Option<GenerationArg>,
    /// Connection settings (the config also gives the app's callback_secret and token).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `callrec simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// How many calls to report.
    #[arg(long)]
    pub calls: u32,
    /// Calls per second (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Concurrent report requests.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Most events per report (1-1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch: u32,
    /// Seed for the generator (default: random), to repeat a run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Spread the calls over this long before now: `30m`, `24h`, `3d` (default `1h`; events
    /// older than the server's retention are refused).
    #[arg(long, value_parser = parse_span)]
    pub over: Option<i64>,
    /// Connection settings.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A span such as `30m`, `24h` or `3d`, in seconds (at least a minute).
fn parse_span(text: &str) -> Result<i64, String> {
    let secs = crate::timearg::parse(&format!("-{}", text.trim_start_matches('-')), 0)
        .map_err(|_| format!("{text:?} is not a span such as 30m, 24h or 3d"))?;
    if -secs < 60 {
        return Err(format!("{text:?}: the span must be at least 1m"));
    }
    Ok(-secs)
}

/// `callrec config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `callrec config example|check`.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print a commented starter config with a fresh secret key.
    Example,
    /// Load a config and print a summary (never the key).
    Check {
        /// The file.
        #[arg(long, default_value = "callrec.toml")]
        config: PathBuf,
    },
}
