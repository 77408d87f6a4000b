//! Callbacks (webhooks) as the stores see them: configurations, the outbox rows a stored event
//! produces, and their delivery state (docs/callbacks.md).
//!
//! A store produces callbacks inside the transaction that stores the causing event: it works out
//! the [`Change`]s ([`crate::changes_of_storing`]) and asks the [`CallbackPlanner`] it was opened
//! with which callbacks each change makes under the app's configurations. The planner belongs to
//! the server, which owns the generations' payload shapes; the store only keeps what it answers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::change::Change;

/// An API generation, whose callbacks a configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Generation {
    /// TRTC's v1 "call status" and "call event" callbacks.
    V1,
    /// TRTC's v4 `Call.CallbackAfter…` callbacks.
    V4,
}

impl Generation {
    /// Both, v1 first.
    pub const ALL: [Generation; 2] = [Generation::V1, Generation::V4];

    /// `v1` / `v4` (also the storage code).
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::V1 => "v1",
            Generation::V4 => "v4",
        }
    }
}

impl FromStr for Generation {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Generation::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One app's callback configuration for one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackConfig {
    /// Whose callbacks.
    pub generation: Generation,
    /// Where they go (absolute http(s) URL, as configured).
    pub url: String,
    /// The command words asked for, in the generation's names, without duplicates.
    pub commands: Vec<String>,
}

/// What caused a change: the stored event's reporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause<'a> {
    /// The address of the client that reported the event (`None` for time-outs and internal
    /// events).
    pub client_ip: Option<IpAddr>,
    /// The reporting client's platform, if it said.
    pub platform: Option<&'a str>,
}

/// A callback to store in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback {
    /// The callback's id (the `webhook-id`), unique.
    pub id: String,
    /// Its generation.
    pub generation: Generation,
    /// Its command word.
    pub command: String,
    /// The call it is about.
    pub call_id: String,
    /// The configured URL.
    pub url: String,
    /// The query string callrec appends to the URL (without signing parameters).
    pub query: String,
    /// The JSON body.
    pub body: String,
    /// When it was produced, Unix ms (its first attempt is due then).
    pub created_ms: i64,
}

/// Turns a change into the callbacks an app's configurations ask for. Pure apart from ids and
/// the clock; called inside the store's write transaction, so it must be quick.
pub trait CallbackPlanner: Send + Sync + 'static {
    /// The callbacks of `change` under `configs` (the app's configurations), in delivery order.
    fn plan(
        &self,
        sdkappid: u64,
        configs: &[CallbackConfig],
        change: &Change,
        cause: Cause<'_>,
    ) -> Vec<NewCallback>;
}

/// Where a callback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for an attempt (or being attempted).
    Pending,
    /// An attempt succeeded.
    Delivered,
    /// Given up; kept and redeliverable.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    /// `pending` / `delivered` / `failed` (the wire name and the storage code).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or(())
    }
}

/// A stored callback with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The store's sequence number: production order, unique.
    pub seq: i64,
    /// The app.
    pub sdkappid: u64,
    /// What was produced.
    pub callback: NewCallback,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the last attempt started, Unix ms.
    pub last_attempt_ms: Option<i64>,
    /// When the next attempt is due (pending only), Unix ms.
    pub next_attempt_ms: Option<i64>,
    /// Why the last attempt failed, short and readable.
    pub last_error: Option<String>,
    /// When its current schedule began (its production, or its last redelivery), Unix ms: the
    /// give-up age counts from here.
    pub schedule_ms: i64,
}

/// What one attempt came to, for [`crate::Store::finish_callbacks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// The callback ([`Delivery::seq`]).
    pub seq: i64,
    /// When the attempt started, Unix ms.
    pub attempted_ms: i64,
    /// What happens next.
    pub next: AfterAttempt,
    /// Why the attempt failed (`None` when delivered).
    pub error: Option<String>,
}

/// A callback's state after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Delivered.
    Delivered,
    /// Failed; try again at this time (Unix ms).
    RetryAt(i64),
    /// Failed for good.
    Failed,
}

/// A page of the deliveries list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// The app.
    pub sdkappid: u64,
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this call.
    pub call_id: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Only callbacks produced before this one ([`Delivery::seq`]): the previous page's last.
    pub before_seq: Option<i64>,
}

/// Which callbacks [`crate::Store::redeliver`] makes pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeliver {
    /// These ids (of the app; unknown ids are ignored).
    Ids(Vec<String>),
    /// Every failed callback of the app produced at or after this time, Unix ms.
    FailedSince(i64),
}

/// The outbox at a glance, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Callbacks pending.
    pub pending: u64,
    /// Production time of the oldest pending callback, Unix ms.
    pub oldest_pending_ms: Option<i64>,
}
