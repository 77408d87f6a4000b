//! A bounded in-memory cache of ended records for `get_record`.
//!
//! The common lookup is of a call that ended moments ago (an app fetches the record after its
//! end callback). An ended record changes only when the writer refolds its call (a late event)
//! or retention deletes it, and both happen on the writer thread, so the cache can be exact:
//!
//! - the writer calls [`RecordCache::invalidate`] for every call a transaction refolded or
//!   deleted, after the commit and before any of that transaction's writes is acknowledged;
//! - a reader that missed takes a [`Ticket`] *before* its database read and offers what it read
//!   with it; the offer is dropped if any call of the same guard was invalidated meanwhile, so a
//!   record read from a snapshot older than a commit can never be put in after that commit's
//!   invalidation.
//!
//! Ongoing records are never cached (every event changes them). The cache holds at most
//! [`CAPACITY`] records (quick_cache's S3-FIFO eviction: a scan of old calls does not push out
//! the recent ones).

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use callrec_domain::Record;
use quick_cache::Equivalent;
use quick_cache::sync::Cache;

/// Records kept. Measured under the P1+P2 soak (BENCHMARKS.md), 50 000 records added
/// ~10–12 MB of RSS; 20 000 keep the server under its 150 MB budget with room to spare and still
/// hold every call that ended in the last minutes of a busy app.
pub(crate) const CAPACITY: usize = 20_000;

/// Invalidation guards; a call's guard is picked by its key's hash.
const GUARDS: usize = 64;

/// A cached call: app and callId.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    app: i64,
    call_id: Box<str>,
}

/// A lookup key borrowing the callId (no allocation on a hit). Hashes as [`Key`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyRef<'a> {
    app: i64,
    call_id: &'a str,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            app: self.app,
            call_id: &self.call_id,
        }
        .hash(state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.app.hash(state);
        self.call_id.hash(state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.app == key.app && self.call_id == &*key.call_id
    }
}

/// What a reader took before its database read (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    guard: usize,
    seen: u64,
}

/// The cache: records, and per guard the number of invalidations so far.
pub(crate) struct RecordCache {
    records: Cache<Key, Record>,
    guards: Vec<Mutex<u64>>,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("len", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl RecordCache {
    pub(crate) fn new(capacity: usize) -> RecordCache {
        RecordCache {
            records: Cache::new(capacity.max(1)),
            guards: (0..GUARDS).map(|_| Mutex::new(0)).collect(),
        }
    }

    fn guard_of(&self, key: &KeyRef<'_>) -> usize {
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % GUARDS as u64) as usize
    }

    fn guard(&self, i: usize) -> std::sync::MutexGuard<'_, u64> {
        self.guards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached record of the call, if any.
    pub(crate) fn get(&self, app: i64, call_id: &str) -> Option<Record> {
        self.records.get(&KeyRef { app, call_id })
    }

    /// Taken before reading the call from the database.
    pub(crate) fn ticket(&self, app: i64, call_id: &str) -> Ticket {
        let guard = self.guard_of(&KeyRef { app, call_id });
        Ticket {
            guard,
            seen: *self.guard(guard),
        }
    }

    /// Keeps `record` (read after `ticket` was taken) if it is ended and nothing of its guard
    /// was invalidated since.
    pub(crate) fn offer(&self, ticket: Ticket, app: i64, record: &Record) {
        if record.end_ms.is_none() {
            return;
        }
        let guard = self.guard(ticket.guard);
        if *guard == ticket.seen {
            self.records.insert(
                Key {
                    app,
                    call_id: record.call_id.as_str().into(),
                },
                record.clone(),
            );
        }
    }

    /// Forgets the call; its next read goes to the database. Called by the writer after the
    /// commit that changed or deleted it.
    pub(crate) fn invalidate(&self, app: i64, call_id: &str) {
        let key = KeyRef { app, call_id };
        let mut guard = self.guard(self.guard_of(&key));
        *guard += 1;
        self.records.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_domain::{CallResult, CallType, MediaType};

    fn record(call_id: &str, end_ms: Option<i64>) -> Record {
        Record {
            call_id: call_id.into(),
            sdkappid: 7,
            media_type: MediaType::Audio,
            room_id: String::new(),
            start_ms: 1_000,
            accept_ms: None,
            end_ms,
            caller: "a".into(),
            call_type: CallType::Single,
            result: if end_ms.is_some() {
                CallResult::Reject
            } else {
                CallResult::Ongoing
            },
            callees: vec!["b".into()],
            room_id_type: None,
        }
    }

    #[test]
    fn keeps_ended_records_only() {
        let cache = RecordCache::new(16);
        let t = cache.ticket(7, "ended");
        cache.offer(t, 7, &record("ended", Some(2_000)));
        let t = cache.ticket(7, "ongoing");
        cache.offer(t, 7, &record("ongoing", None));
        assert_eq!(cache.get(7, "ended"), Some(record("ended", Some(2_000))));
        assert_eq!(cache.get(7, "ongoing"), None);
        assert_eq!(cache.get(8, "ended"), None, "another app's call of that id");
    }

    #[test]
    fn an_offer_read_before_an_invalidation_is_dropped() {
        let cache = RecordCache::new(16);
        // A reader takes its ticket and reads the old record; the writer commits a change and
        // invalidates; then the reader offers what it read.
        let t = cache.ticket(7, "c");
        cache.invalidate(7, "c");
        cache.offer(t, 7, &record("c", Some(2_000)));
        assert_eq!(cache.get(7, "c"), None);
        // Read after the invalidation: kept.
        let t = cache.ticket(7, "c");
        cache.offer(t, 7, &record("c", Some(3_000)));
        assert_eq!(cache.get(7, "c").and_then(|r| r.end_ms), Some(3_000));
        // Invalidation removes what is cached.
        cache.invalidate(7, "c");
        assert_eq!(cache.get(7, "c"), None);
    }
}
