//! Call records: what the record APIs answer, as the fold computes it.
//!
//! Times are kept in milliseconds here; the v1 wire shows whole seconds (floor).

use std::fmt;
use std::str::FromStr;

use crate::event::{CallType, MediaType};

/// How a call ended, or `Ongoing` while it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallResult {
    Cancel,
    Reject,
    NotAnswer,
    CallBusy,
    NormalEnd,
    Interrupt,
    Ongoing,
}

impl CallResult {
    /// Every result, ended ones first.
    pub const ALL: [CallResult; 7] = [
        CallResult::Cancel,
        CallResult::Reject,
        CallResult::NotAnswer,
        CallResult::CallBusy,
        CallResult::NormalEnd,
        CallResult::Interrupt,
        CallResult::Ongoing,
    ];

    /// The v1 wire name (`not_answer`, `call_busy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Cancel => "cancel",
            CallResult::Reject => "reject",
            CallResult::NotAnswer => "not_answer",
            CallResult::CallBusy => "call_busy",
            CallResult::NormalEnd => "normal_end",
            CallResult::Interrupt => "interrupt",
            CallResult::Ongoing => "ongoing",
        }
    }
}

impl FromStr for CallResult {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        CallResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for CallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call record (docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The call's id.
    pub call_id: String,
    /// The app the call belongs to.
    pub sdkappid: u64,
    /// As the call started.
    pub media_type: MediaType,
    /// `""` when none was reported.
    pub room_id: String,
    /// Time of the counting `start` event, Unix ms.
    pub start_ms: i64,
    /// First time a callee connected, Unix ms; `None` if never.
    pub accept_ms: Option<i64>,
    /// When the call ended, Unix ms; `None` while ongoing.
    pub end_ms: Option<i64>,
    /// The caller's userId.
    pub caller: String,
    /// Fixed by `start`.
    pub call_type: CallType,
    /// `Ongoing` while `end_ms` is `None`.
    pub result: CallResult,
    /// Every invited or joined user except the caller, in order of first appearance.
    pub callees: Vec<String>,
    /// The start's `roomIdType` (1 numeric, 2 string), if it gave one.
    pub room_id_type: Option<u8>,
}

impl Record {
    /// 1 + number of callees.
    pub fn total_user_number(&self) -> u64 {
        1 + self.callees.len() as u64
    }

    /// `startCallTs`: whole seconds.
    pub fn start_secs(&self) -> i64 {
        self.start_ms.div_euclid(1000)
    }

    /// `acceptTs`: whole seconds, 0 if never connected.
    pub fn accept_secs(&self) -> i64 {
        self.accept_ms.map_or(0, |t| t.div_euclid(1000))
    }

    /// Connected time, seconds: `endTs − acceptTs`; 0 for a call never connected or not ended.
    pub fn talk_secs(&self) -> i64 {
        match (self.accept_ms, self.end_ms) {
            (Some(_), Some(_)) => (self.end_secs() - self.accept_secs()).max(0),
            _ => 0,
        }
    }

    /// `endTs`: whole seconds, 0 while ongoing.
    pub fn end_secs(&self) -> i64 {
        self.end_ms.map_or(0, |t| t.div_euclid(1000))
    }
}
