//! The shared store conformance suite, run against [`SqliteStore`] on a fresh temporary file
//! per check.

use std::path::PathBuf;
use std::sync::Arc;

use callrec_domain::Timeouts;
use callrec_store_sqlite::SqliteStore;
use callrec_store_tests::planner::planner;
use callrec_store_tests::{Harness, store_conformance_tests};
use tempfile::TempDir;

struct SqliteHarness {
    // Held so the directory outlives the store; deleted on drop.
    _dir: TempDir,
    path: PathBuf,
    timeouts: Timeouts,
    store: Arc<SqliteStore>,
}

#[async_trait::async_trait]
impl Harness for SqliteHarness {
    type Store = SqliteStore;

    async fn create(timeouts: Timeouts) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("callrec.db");
        let store = Arc::new(SqliteStore::open_with(&path, timeouts, Some(planner())).unwrap());
        SqliteHarness {
            _dir: dir,
            path,
            timeouts,
            store,
        }
    }

    fn store(&self) -> Arc<SqliteStore> {
        Arc::clone(&self.store)
    }

    async fn reopen(&mut self) {
        self.store =
            Arc::new(SqliteStore::open_with(&self.path, self.timeouts, Some(planner())).unwrap());
    }
}

store_conformance_tests!(SqliteHarness);
