//! The store interface: the one seam between the service and its persistence.
//!
//! Every backend (embedded SQLite, PostgreSQL) implements [`Store`] and passes the same conformance
//! suite (`callrec-store-tests`). Guarantees every implementation gives:
//! - `ingest` returns only after the accepted events are durable (committed and synced); concurrent
//!   calls may share one transaction (group commit).
//! - Events are deduplicated per call by [`Event::dedupe_key`](crate::Event::dedupe_key): the first
//!   stored copy wins.
//! - After every write, a call's record is exactly [`fold`](crate::fold()) of its stored events.
//! - The callbacks an event causes are stored in the transaction that stores the event (an
//!   outbox), as the store's [`CallbackPlanner`](crate::CallbackPlanner) plans them from
//!   [`changes_of_storing`](crate::changes_of_storing); a duplicate produces nothing.
//! - Queries never scan outside the asked time range.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::callback::{
    AttemptResult, CallbackConfig, Delivery, DeliveryQuery, Generation, OutboxStats, Redeliver,
};
use crate::event::{CallType, Event};
use crate::filter::{BucketStats, Order, RecordFilter, StatsBucket};
use crate::record::{CallResult, Record};

/// A store failure, by meaning. No driver type crosses this boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is shutting down; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The data on disk is not what this version expects.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// Anything else.
    #[error("store error: {0}")]
    Internal(String),
}

/// One event to store, with the app it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestItem {
    /// The app.
    pub sdkappid: u64,
    /// A validated event.
    pub event: Event,
    /// The address of the client that reported it (`None` for the server's own events); its
    /// callbacks carry it.
    pub client_ip: Option<std::net::IpAddr>,
}

impl IngestItem {
    /// An item the server itself produced (time-outs, the engine): no client address.
    pub fn internal(sdkappid: u64, event: Event) -> IngestItem {
        IngestItem {
            sdkappid,
            event,
            client_ip: None,
        }
    }
}

/// What `ingest` did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Newly stored.
    Accepted,
    /// Already stored (earlier, or earlier in the same batch).
    Duplicate,
}

/// Which results a filter query matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFilter {
    /// Every ended call (the default: ongoing calls are excluded).
    Ended,
    /// Exactly this result (`Ongoing` selects ongoing calls).
    Is(CallResult),
}

/// A `get_records_by_filter` query, already validated and clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// The app; records of other apps are never returned.
    pub sdkappid: u64,
    /// Inclusive lower bound on `startCallTs`, seconds.
    pub from_secs: i64,
    /// Inclusive upper bound on `startCallTs`, seconds.
    pub to_secs: i64,
    /// Result filter.
    pub result: ResultFilter,
    /// Call type filter.
    pub call_type: Option<CallType>,
    /// The extensions' filter fields.
    pub filter: RecordFilter,
    /// The page order.
    pub order: Order,
    /// Records to skip (`(page − 1) × per_page`).
    pub offset: u64,
    /// Page size.
    pub limit: u32,
    /// Cursor paging: only records after this one in the page order (then `offset` is 0).
    pub after: Option<RecordKey>,
    /// Count every match (`RecordPage::total`); `false` skips the count.
    pub with_total: bool,
}

/// A record's place in the page order ([`Order`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// `startCallTs`, seconds.
    pub start_secs: i64,
    /// The call.
    pub call_id: String,
}

/// One page of records, in the query's [`Order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    /// Number of records matching the query, on all pages (`None` unless asked for).
    pub total: Option<u64>,
    /// This page.
    pub records: Vec<Record>,
}

/// Who takes part in a call, as far as the stored events say (for authorizing user reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participants {
    /// The caller of the counting `start`.
    pub caller: String,
    /// The record's callees.
    pub callees: Vec<String>,
    /// The call's type.
    pub call_type: CallType,
}

impl Participants {
    /// True if `user` is the caller or a callee.
    pub fn includes(&self, user: &str) -> bool {
        self.caller == user || self.callees.iter().any(|c| c == user)
    }
}

/// A call with a time-out due (see [`CallState::next_due_ms`](crate::CallState::next_due_ms)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCall {
    /// The app.
    pub sdkappid: u64,
    /// The call.
    pub call_id: String,
    /// When its next time-out is due, Unix ms.
    pub due_ms: i64,
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Calls removed.
    pub calls: u64,
    /// Events removed.
    pub events: u64,
}

/// Persistence for events and the records folded from them.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the items, deduplicating each against what is stored and against earlier items of
    /// the same batch, and refolds every touched call. Returns one outcome per item, in order,
    /// only once the accepted items are durable.
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, StoreError>;

    /// The record of a call whose `start` has been stored, or `None`.
    async fn get_record(&self, sdkappid: u64, call_id: &str) -> Result<Option<Record>, StoreError>;

    /// One page of records matching `query`, with the total count.
    async fn filter_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError>;

    /// The statistics of the ended calls `query` matches (its paging, order and cursor are
    /// ignored; `query.result` never selects ongoing calls), per bucket: only buckets with calls
    /// need be returned, each at most once (see [`fill_buckets`](crate::fill_buckets)).
    async fn record_stats(
        &self,
        query: &RecordQuery,
        bucket: StatsBucket,
    ) -> Result<Vec<BucketStats>, StoreError>;

    /// The participants of each of `call_ids` whose `start` has been stored.
    async fn participants(
        &self,
        sdkappid: u64,
        call_ids: &[String],
    ) -> Result<HashMap<String, Participants>, StoreError>;

    /// Up to `limit` ongoing calls whose next time-out is due at or before `now_ms`, earliest first.
    async fn due_calls(&self, now_ms: i64, limit: usize) -> Result<Vec<DueCall>, StoreError>;

    /// Every stored event of a call, in no particular order.
    async fn call_events(&self, sdkappid: u64, call_id: &str) -> Result<Vec<Event>, StoreError>;

    /// Deletes calls (and their events) that started before `cutoff_ms`; calls whose `start` never
    /// arrived are judged by their earliest event.
    async fn purge_before(&self, cutoff_ms: i64) -> Result<PurgeStats, StoreError>;

    /// The app's callback configuration for `generation`, if any.
    async fn callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<Option<CallbackConfig>, StoreError>;

    /// Makes `config` the app's configuration for its generation (replacing any). With
    /// `must_exist`, only replaces an existing one. Answers whether it was stored.
    async fn put_callback_config(
        &self,
        sdkappid: u64,
        config: CallbackConfig,
        must_exist: bool,
    ) -> Result<bool, StoreError>;

    /// Removes the app's configuration for `generation`; answers whether there was one.
    async fn delete_callback_config(
        &self,
        sdkappid: u64,
        generation: Generation,
    ) -> Result<bool, StoreError>;

    /// Leases to `owner` until `now_ms + lease_ms` up to `limit` pending callbacks that are due at
    /// `now_ms`, not leased by anyone else, and first in line: no earlier-produced callback of the
    /// same call to the same URL is still pending. Earliest due first.
    async fn claim_callbacks(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records attempts on callbacks `owner` leased, releasing their leases. A result for a
    /// callback no longer leased by `owner` (the lease ran out and another node took it) is
    /// ignored.
    async fn finish_callbacks(
        &self,
        owner: &str,
        results: Vec<AttemptResult>,
    ) -> Result<(), StoreError>;

    /// Extends `owner`'s leases on `seqs` to `until_ms`; releases them instead when `until_ms`
    /// is `None` (shutdown: another node or the next start may take them at once).
    async fn renew_leases(
        &self,
        owner: &str,
        seqs: &[i64],
        until_ms: Option<i64>,
    ) -> Result<(), StoreError>;

    /// The app's callbacks matching `query`, newest first.
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;

    /// Makes the chosen callbacks of the app pending again, due at `now_ms`, with a fresh
    /// schedule (no attempts) and their ids. Answers how many.
    async fn redeliver(
        &self,
        sdkappid: u64,
        which: &Redeliver,
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// How many callbacks are pending, and since when.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Succeeds when the store can serve requests **and take writes** right now: a store that
    /// can only be read (a read-only or full disk, a database down or in recovery) fails. May
    /// perform a small durable write (or vouch by a recent successful one).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Finishes pending writes and refuses new ones; called once on shutdown.
    async fn close(&self) -> Result<(), StoreError>;
}
