//! The store conformance suite: the behaviour every [`Store`] backend must show, written once
//! and run against each backend (embedded SQLite, PostgreSQL).
//!
//! A backend plugs in by implementing [`Harness`] (how to make a fresh, empty store and how to
//! reopen it) and invoking [`store_conformance_tests!`] in an integration test file, which expands
//! to one `#[test]` per check, named by what it checks:
//!
//! ```ignore
//! struct SqliteHarness { /* tempdir, store */ }
//! #[async_trait::async_trait]
//! impl callrec_store_tests::Harness for SqliteHarness { /* … */ }
//! callrec_store_tests::store_conformance_tests!(SqliteHarness);
//! ```
//!
//! Every check starts from an empty store, so checks are independent and may run in parallel.
//! Expected records are computed with the domain's [`fold`](callrec_domain::fold()), so the
//! suite tests storage, deduplication, queries and time-outs, not the fold's rules.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use callrec_domain::{Store, Timeouts};

pub mod checks;
pub mod filters;
pub mod fixtures;
pub mod planner;

/// How the suite gets stores of one backend.
#[async_trait]
pub trait Harness: Send + Sync + Sized + 'static {
    /// The backend under test.
    type Store: Store;

    /// A fresh store with no data, deciding time-outs by `timeouts`, producing callbacks with
    /// [`planner::planner`] (also after [`Harness::reopen`]). Panics on failure.
    async fn create(timeouts: Timeouts) -> Self;

    /// The store (shared, so checks can drive it from many tasks).
    fn store(&self) -> Arc<Self::Store>;

    /// Opens the same data again as a new store, after the current one was closed with
    /// [`Store::close`]; [`Harness::store`] returns the new one afterwards. Panics on failure.
    async fn reopen(&mut self);

    /// Why this backend's checks cannot run here (say, no database server configured), or
    /// `None` to run them. When `Some`, every generated test prints `skipped: <reason>` (see
    /// [`print_skipped`]) and passes without running its check. The default runs them.
    fn skip_reason() -> Option<String> {
        None
    }
}

/// Prints `skipped: <reason>` for a test that cannot run here and returns without failing.
///
/// The line goes straight to the process's stderr, not through `eprintln!`: the test harness
/// captures what `eprintln!` prints and shows it only for failing tests (or with
/// `--nocapture`), so a skip would look like a pass.
pub fn print_skipped(reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {reason}");
}

/// Runs one check on a fresh multi-threaded runtime (what the generated tests call, so the
/// backend's test crate needs no tokio macros of its own).
pub fn run<F: Future<Output = ()>>(check: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(check);
}

/// Expands to one `#[test]` per conformance check, each running that check against a fresh
/// store from the given [`Harness`] type.
#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:ty) => {
        $crate::__conformance_tests!(
            $harness;
            ingest_returns_one_outcome_per_item_in_order,
            duplicates_by_event_id_are_detected_across_batches_and_the_first_copy_wins,
            duplicates_by_type_user_and_time_are_detected_across_batches,
            duplicates_within_one_batch_are_detected,
            dedupe_keys_are_scoped_per_call_and_per_app,
            record_equals_the_fold_of_the_distinct_events_whatever_the_batching,
            call_events_returns_every_distinct_event_with_every_field,
            event_additions_and_end_are_stored_and_folded,
            time_outs_are_decided_by_event_time_not_by_arrival,
            events_before_the_start_are_kept_and_applied_when_it_arrives,
            get_record_is_scoped_per_app,
            filter_range_is_inclusive_on_start_seconds,
            filter_orders_by_start_seconds_descending_then_call_id_ascending,
            filter_pages_with_offset_and_limit_and_counts_all_matches,
            filter_by_result_defaults_to_ended_calls_and_shows_ongoing_only_on_request,
            filter_by_call_type_alone_and_with_a_result,
            filter_is_scoped_per_app,
            participants_are_returned_only_for_calls_with_a_start,
            due_calls_lists_due_ongoing_calls_earliest_first_within_the_limit,
            ingesting_due_events_ends_calls_and_removes_them_from_due_calls,
            purge_removes_old_calls_with_their_events_and_keeps_newer_ones,
            concurrent_ingest_from_many_tasks_counts_every_event_exactly_once,
            close_refuses_new_ingest_and_reopen_keeps_everything_acknowledged,
            ping_succeeds_on_an_open_store,
            callback_configs_are_kept_per_app_and_generation_across_reopen,
            callbacks_are_produced_with_their_events_once_and_kept,
            claims_hand_out_one_callback_per_call_and_url_at_a_time,
            leases_expire_and_only_their_owner_finishes,
            redeliver_makes_callbacks_pending_again_with_their_ids,
            deliveries_list_newest_first_by_status_and_call_in_pages,
            purge_removes_callbacks_with_their_call,
            keyset_pages_never_repeat_or_skip_a_record_while_records_arrive,
            extension_filters_and_stats_equal_the_model_also_after_changes,
            an_ended_record_once_read_shows_every_later_change,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($harness:ty; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some(reason) = <$harness as $crate::Harness>::skip_reason() {
                    $crate::print_skipped(&reason);
                    return;
                }
                $crate::run($crate::checks::$check::<$harness>());
            }
        )*
    };
}
