//! callrec's domain: what a call event is, what a call record is, how events fold into a record,
//! and the interface every store implements.
//!
//! This crate depends on no web or database crate: the wire formats (TRTC's v1 JSON) live in the
//! server, the SQL in the store crates. Everything here is plain data and pure functions, except the
//! [`Store`] trait, which is the one seam between the service and its persistence.

pub mod callback;
pub mod change;
pub mod clock;
pub mod detail;
pub mod event;
pub mod filter;
pub mod fold;
pub mod record;
pub mod store;
pub mod stored;

pub use callback::{
    AfterAttempt, AttemptResult, CallbackConfig, CallbackPlanner, Cause, Delivery, DeliveryQuery,
    DeliveryStatus, Generation, NewCallback, OutboxStats, Redeliver,
};
pub use change::{Change, changes, changes_of_storing};
pub use clock::{Clock, ManualClock, SystemClock};
pub use detail::{CallDetail, EventView, Participant, ParticipantOutcome, Role, call_detail};
pub use event::{CallType, Event, EventError, EventType, MAX_ID_LEN, MediaType, validate_event};
pub use filter::{
    BucketStats, MAX_CALL_IDS, Order, RecordFilter, StatsBucket, fill_buckets, stats_of,
};
pub use fold::{CallState, Presence, Step, Timeouts, Trace, fold, fold_timed, fold_traced};
pub use record::{CallResult, Record};
pub use store::{
    DueCall, IngestItem, IngestOutcome, Participants, PurgeStats, RecordKey, RecordPage,
    RecordQuery, ResultFilter, Store, StoreError,
};
