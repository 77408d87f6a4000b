//! The shared store conformance suite, run against [`PgStore`] in a fresh schema per check in
//! the database named by `CALLREC_TEST_PG_URL`, producing callbacks with the suite's planner.
//! Without that variable every check prints
//! `skipped: CALLREC_TEST_PG_URL not set (PostgreSQL tests skipped)` and passes.

mod common;

use std::sync::Arc;

use callrec_domain::Timeouts;
use callrec_store_postgres::PgStore;
use callrec_store_tests::planner::planner;
use callrec_store_tests::{Harness, store_conformance_tests};

use common::TestSchema;

struct PgHarness {
    // Dropped after the store field: the schema goes once the test is done with it.
    store: Arc<PgStore>,
    timeouts: Timeouts,
    schema: TestSchema,
}

#[async_trait::async_trait]
impl Harness for PgHarness {
    type Store = PgStore;

    async fn create(timeouts: Timeouts) -> Self {
        let url = common::url().expect("skip_reason is checked first");
        let schema = TestSchema::new(&url).await;
        let store = Arc::new(schema.store_with_planner(timeouts, planner()).await);
        PgHarness {
            store,
            timeouts,
            schema,
        }
    }

    fn store(&self) -> Arc<PgStore> {
        Arc::clone(&self.store)
    }

    async fn reopen(&mut self) {
        self.store = Arc::new(
            self.schema
                .store_with_planner(self.timeouts, planner())
                .await,
        );
    }

    fn skip_reason() -> Option<String> {
        common::url()
            .is_none()
            .then(|| common::SKIP_REASON.to_owned())
    }
}

store_conformance_tests!(PgHarness);

/// Says loudly, in the test list itself, when the PostgreSQL tests did not run.
#[test]
#[allow(non_snake_case, reason = "named after the variable")]
fn postgres_tests_are_skipped_without_CALLREC_TEST_PG_URL() {
    if common::url().is_none() {
        callrec_store_tests::print_skipped(common::SKIP_REASON);
    }
}

/// Without `--nocapture`, as the README's test command runs, a skipped test still says so: this
/// test binary runs the test above again in a child process without the variable and reads what
/// the child printed.
#[test]
fn the_skip_notice_shows_without_nocapture() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "postgres_tests_are_skipped_without_CALLREC_TEST_PG_URL",
            "--exact",
            "--test-threads=1",
        ])
        .env_remove(common::URL_VAR)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("skipped: {}", common::SKIP_REASON)),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}
