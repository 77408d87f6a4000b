//! What the API layer speaks inside, whatever the generation: requests and outcomes in domain
//! types, and the [`Wire`] trait through which a generation maps them to and from its JSON.
//!
//! The pipeline (`pipeline.rs`) runs the checks and calls a handler with a [`Request`]; the
//! handlers (`records.rs`, `report.rs`, `engine.rs`) answer with an [`Outcome`]. Only the `v1`
//! and `v4` modules know field names, envelopes and error numbers.

use callrec_domain::{
    BucketStats, CallType, CallbackConfig, Delivery, DeliveryStatus, Event, MediaType, Order,
    Record, RecordFilter, Redeliver, ResultFilter, StatsBucket,
};
use serde_json::{Map, Value};

use crate::failure::{Failure, FailureKind};
use crate::ops::{Endpoint, Generation};

/// A validated request, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// One record by callId.
    GetRecord {
        /// The call.
        call_id: String,
    },
    /// A page of records.
    FilterRecords(FilterParams),
    /// A batch of events, each parsed or refused with the reason.
    ReportEvents(Vec<Result<Event, String>>),
    /// The users of a call that has not ended.
    GetCallInfo {
        /// The call.
        call_id: String,
    },
    /// End a call now.
    EndCall {
        /// The call.
        call_id: String,
    },
    /// Start a call for a robot account.
    StartCallByRobot(RobotCall),
    /// Store a callback configuration (its generation is the config's).
    SetCallback {
        /// The configuration (URL not yet checked).
        config: CallbackConfig,
        /// Only replace an existing one (v1 `update`).
        must_exist: bool,
    },
    /// The callback configuration of this generation.
    GetCallback(Generation),
    /// Remove the callback configuration of this generation.
    DeleteCallback(Generation),
    /// Every record matching a filter, streamed.
    Export {
        /// The filter (its page fields are ignored).
        filter: FilterParams,
        /// NDJSON or CSV.
        format: ExportFormat,
    },
    /// One call in detail.
    GetCallDetail {
        /// The call.
        call_id: String,
    },
    /// Statistics of the ended calls matching a filter.
    GetStats {
        /// The filter (its page fields are ignored).
        filter: FilterParams,
        /// How calls are grouped.
        bucket: StatsBucket,
    },
    /// A page of produced callbacks.
    GetDeliveries(DeliveriesParams),
    /// Make callbacks pending again.
    Redeliver(Redeliver),
}

/// How `export` writes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One v1 record (JSON) per line.
    Ndjson,
    /// A header line, then one line per record.
    Csv,
}

/// A `get_deliveries` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesParams {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this call.
    pub call_id: Option<String>,
    /// Page size, 1–1000.
    pub limit: u32,
    /// Where the previous page ended (its `nextCursor`).
    pub cursor: Option<String>,
}

/// A record filter as the client gave it (defaults of its generation filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterParams {
    /// Earliest start, Unix seconds; `None`: the retention window's start.
    pub start_secs: Option<i64>,
    /// Latest start, Unix seconds; `None`: now.
    pub end_secs: Option<i64>,
    /// Which results.
    pub result: ResultFilter,
    /// Which type, if one.
    pub call_type: Option<CallType>,
    /// Page size.
    pub per_page: u32,
    /// 1-based page.
    pub page: u64,
    /// The generation's names of the start and end fields, for messages.
    pub field_names: (&'static str, &'static str),
    /// Cursor mode (an extension): answer a `next_cursor`; `page` is then ignored.
    pub with_cursor: bool,
    /// The cursor of the page to answer (implies cursor mode).
    pub cursor: Option<String>,
    /// Count the matches (default true; an extension).
    pub with_total: bool,
    /// The extensions' filter fields.
    pub filter: RecordFilter,
    /// The page order (an extension).
    pub order: Order,
}

/// `start_call_by_robot`'s request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotCall {
    /// The robot: the caller.
    pub robot: String,
    /// Who is called.
    pub callees: Vec<String>,
    /// How long they ring, milliseconds.
    pub ring_timeout_ms: i64,
    /// Audio or video.
    pub media_type: MediaType,
    /// The room, if given.
    pub room_id: Option<String>,
    /// The room id's type (1 numeric, 2 string), if given.
    pub room_id_type: Option<u8>,
    /// Opaque data kept with the call.
    pub user_data: Option<String>,
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// One record.
    Record(Record),
    /// A page of records.
    Page(RecordPage),
    /// What became of a batch of events.
    Report(ReportOutcome),
    /// A running call and its users.
    CallInfo(CallInfo),
    /// Done; nothing to show.
    Done,
    /// A call was started.
    CallStarted {
        /// Its new callId.
        call_id: String,
    },
    /// A call in detail.
    CallDetail(Box<callrec_domain::CallDetail>),
    /// Statistics, every bucket of the range, oldest first.
    Stats(Vec<BucketStats>),
    /// Records to stream (the pipeline streams them after the checks).
    Export {
        /// The query; its `after` and `limit` are the stream's.
        query: Option<callrec_domain::RecordQuery>,
        /// The format.
        format: ExportFormat,
    },
    /// A callback configuration was stored.
    CallbackSet {
        /// Its URL.
        url: String,
    },
    /// A callback configuration.
    Callback(CallbackConfig),
    /// A callback configuration was removed (or there was none).
    CallbackDeleted,
    /// A page of callbacks.
    Deliveries {
        /// Newest first.
        deliveries: Vec<Delivery>,
        /// The cursor of the next page, if there may be one.
        next_cursor: Option<String>,
    },
    /// Callbacks made pending again.
    Queued(u64),
}

/// A page of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    /// Matches on all pages (`None` when the request asked for no total).
    pub total: Option<u64>,
    /// The page asked for.
    pub page: u64,
    /// This page's records.
    pub records: Vec<Record>,
    /// In cursor mode, the cursor of the next page; `None` when nothing more matches.
    pub next_cursor: Option<String>,
}

/// What became of a batch of events: each event counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    /// Newly stored.
    pub accepted: u64,
    /// Already stored (earlier, or earlier in the same batch).
    pub duplicates: u64,
    /// Refused, in index order.
    pub rejected: Vec<Rejection>,
}

/// One refused event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Its index in the request.
    pub index: usize,
    /// Why ([`FailureKind::InvalidField`] or [`FailureKind::NotAllowed`]).
    pub kind: FailureKind,
    /// For a human.
    pub message: String,
}

/// A call that has not ended, and who is in it or ringing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The call's record.
    pub record: Record,
    /// The start's chat group, `""` if none.
    pub chat_group_id: String,
    /// The users in the call or ringing, in callee-list order (caller first).
    pub users: Vec<(String, UserStatus)>,
}

/// Where a user of a running call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// In the call.
    Calling,
    /// Ringing.
    Waiting,
}

/// One generation's mapping: its error numbers, its JSON in and out.
pub trait Wire: Send + Sync + 'static {
    /// Which generation.
    fn generation(&self) -> Generation;

    /// The error number of a failure of this kind at this endpoint (`None`: no endpoint matched).
    fn code(&self, kind: FailureKind, endpoint: Option<&'static Endpoint>) -> u32;

    /// Reads a request body (a JSON object) into a [`Request`]; field problems are
    /// [`FailureKind::BadBody`] (wrong JSON type) or [`FailureKind::InvalidField`].
    fn parse(
        &self,
        endpoint: &'static Endpoint,
        body: &Map<String, Value>,
    ) -> Result<Request, Failure>;

    /// The whole answer body of a success.
    fn success(&self, endpoint: &'static Endpoint, outcome: &Outcome, request_id: &str) -> String;

    /// The whole answer body of a failure with error number `code`.
    fn failure(&self, code: u32, message: &str, request_id: &str) -> String;
}
