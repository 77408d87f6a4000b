//! Shared by the PostgreSQL test files: the database to use, and a fresh schema per test that
//! is dropped afterwards.
//!
//! Tests run against the database named by `CALLREC_TEST_PG_URL` (CI sets it); without it they
//! print why and pass without doing anything.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use callrec_domain::{CallbackPlanner, Timeouts};
use callrec_store_postgres::{PgOptions, PgStore};

/// The variable naming the test database.
pub const URL_VAR: &str = "CALLREC_TEST_PG_URL";

/// What a skipped test prints (after `skipped: `).
pub const SKIP_REASON: &str = "CALLREC_TEST_PG_URL not set (PostgreSQL tests skipped)";

/// The test database's URL, if configured.
pub fn url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// The URL, or `None` after printing the skip notice: `let Some(url) = common::url_or_skip()
/// else { return };`
pub fn url_or_skip() -> Option<String> {
    let url = url();
    if url.is_none() {
        callrec_store_tests::print_skipped(SKIP_REASON);
    }
    url
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A schema of its own for one test, dropped (with everything in it) when this is dropped.
/// Its name carries its creation time so that schemas left by killed test runs are dropped by
/// later runs once they are an hour old.
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    pub async fn new(url: &str) -> TestSchema {
        let name = format!("callrec_t_{}_{:016x}", now_secs(), rand::random::<u64>());
        drop_stale_schemas(url).await;
        TestSchema {
            url: url.to_owned(),
            name,
        }
    }

    pub fn options(&self) -> PgOptions {
        PgOptions {
            schema: Some(self.name.clone()),
            pool_size: 6,
            ..PgOptions::default()
        }
    }

    /// A store (a "node") on this schema.
    pub async fn store(&self, timeouts: Timeouts) -> PgStore {
        PgStore::connect_with(&self.url, timeouts, self.options())
            .await
            .expect("connect to the test database")
    }

    /// A store (a "node") on this schema that produces callbacks with `planner`.
    pub async fn store_with_planner(
        &self,
        timeouts: Timeouts,
        planner: Arc<dyn CallbackPlanner>,
    ) -> PgStore {
        let options = PgOptions {
            planner: Some(planner),
            ..self.options()
        };
        PgStore::connect_with(&self.url, timeouts, options)
            .await
            .expect("connect to the test database")
    }

    /// A plain connection with this schema as search_path.
    pub async fn client(&self) -> tokio_postgres::Client {
        let client = connect(&self.url).await;
        client
            .batch_execute(&format!("SET search_path = {}", self.name))
            .await
            .unwrap();
        client
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.name.clone();
        // Dropped inside or outside a runtime: a thread with its own runtime works in both.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = connect(&url).await;
                if let Err(e) = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                {
                    eprintln!("could not drop test schema {name}: {e}");
                }
            });
        });
        let _ = done.join();
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Drops `callrec_t_<secs>_…` schemas created over an hour ago (left by killed runs).
async fn drop_stale_schemas(url: &str) {
    let client = connect(url).await;
    let Ok(rows) = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'callrec\\_t\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let cutoff = now_secs().saturating_sub(3600);
    for r in rows {
        let name: String = r.get(0);
        let created = name
            .strip_prefix("callrec_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|c| c < cutoff) {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}
