//! callrec's server: the HTTPS listener, the request pipeline (docs/api.md), the record and
//! event APIs, rate limits, background jobs and operational endpoints.
//!
//! [`Server::bind`] opens the store, prepares TLS and binds the listener; [`Server::run`] serves
//! until its shutdown future resolves, then drains requests, stops the jobs and closes the store.

pub mod api;
pub mod auth;
pub mod broken_http;
pub mod callbacks;
pub mod config;
pub mod console;
pub mod engine;
pub mod export;
pub mod failure;
pub mod filter_fields;
pub mod jobs;
pub mod json;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod query;
pub mod rate_limit;
pub mod records;
pub mod report;
pub mod router;
pub mod serve;
pub mod state;
pub mod tls;
pub mod v1;
pub mod v4;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use callrec_domain::{CallbackPlanner, Clock, Store, StoreError, SystemClock};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use failure::{Failure, FailureKind};
pub use router::app;
pub use state::AppState;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded or generated.
    #[error("TLS: {0}")]
    Tls(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration asks for something this version cannot do.
    #[error("not supported yet: {0}")]
    Unsupported(String),
}

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: AppState,
    /// The store without the metrics wrapper, closed at shutdown.
    store: Arc<dyn Store>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

fn create_dir(path: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(path).map_err(|source| ServerError::Io {
        what: format!("creating {}", path.display()),
        source,
    })
}

async fn open_store(
    config: &Config,
    planner: Arc<dyn CallbackPlanner>,
) -> Result<Arc<dyn Store>, ServerError> {
    match &config.store {
        config::StoreUrl::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                create_dir(dir)?;
            }
            let path: PathBuf = path.clone();
            let timeouts = state::timeouts(config);
            let store = tokio::task::spawn_blocking(move || {
                callrec_store_sqlite::SqliteStore::open_with(&path, timeouts, Some(planner))
            })
            .await
            .map_err(|e| ServerError::Store(StoreError::Internal(e.to_string())))??;
            Ok(Arc::new(store))
        }
        config::StoreUrl::Postgres(url) => {
            // The URL may hold a password: errors from the store never repeat it, and we log
            // only that PostgreSQL is used.
            let options = callrec_store_postgres::PgOptions {
                planner: Some(planner),
                ..callrec_store_postgres::PgOptions::default()
            };
            let store = callrec_store_postgres::PgStore::connect_with(
                url,
                state::timeouts(config),
                options,
            )
            .await?;
            tracing::info!("store: PostgreSQL");
            Ok(Arc::new(store))
        }
    }
}

impl Server {
    /// Opens the store (creating `data_dir`), prepares TLS (generating the self-signed
    /// certificate if needed) and binds the listener.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        Self::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Server::bind`] with a chosen clock (for tests).
    pub async fn bind_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        create_dir(&config.data_dir)?;
        let tls = if config.insecure_http {
            None
        } else {
            let tls_config = tls::server_config(config.tls.as_ref(), &config.data_dir)?;
            Some(TlsAcceptor::from(tls_config))
        };
        let metrics = Arc::new(metrics::Metrics::new());
        let planner: Arc<dyn CallbackPlanner> =
            Arc::new(callbacks::plan::Planner::new(Arc::clone(&metrics)));
        let store = open_store(&config, planner).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Io {
                    what: format!("binding {}", config.listen),
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
        let state = AppState::with_metrics(Arc::clone(&store), Arc::new(config), clock, metrics);
        Ok(Server {
            listener,
            tls,
            state,
            store,
            local_addr,
        })
    }

    /// The address the listener is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (for tests and tools that drive jobs by hand).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then: stops accepting, finishes in-flight requests
    /// (bounded wait), stops the jobs and closes the store (flushing acknowledged writes).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            listener,
            tls,
            state,
            store,
            local_addr,
        } = self;
        tracing::info!(
            addr = %local_addr,
            tls = tls.is_some(),
            "callrec listening"
        );
        let jobs_token = CancellationToken::new();
        let jobs = jobs::spawn(&state, &jobs_token);
        let deliverer = Arc::new(
            callbacks::worker::Deliverer::new(
                Arc::clone(&state.store),
                Arc::clone(&state.config),
                Arc::clone(&state.metrics),
                Arc::clone(&state.deliveries_wake),
            )
            .map_err(|e| ServerError::Store(StoreError::Internal(format!("HTTP client: {e}"))))?,
        );
        let deliveries_token = CancellationToken::new();
        let deliveries = tokio::spawn(deliverer.run(deliveries_token.clone()));
        let limits = state.config.limits;
        serve::serve(listener, tls, router::app(state), limits, shutdown).await;
        jobs_token.cancel();
        deliveries_token.cancel();
        if let Err(e) = deliveries.await {
            tracing::warn!(error = %e, "the callback worker panicked");
        }
        for job in jobs {
            if let Err(e) = job.await {
                tracing::warn!(error = %e, "a background job panicked");
            }
        }
        store.close().await?;
        tracing::info!("callrec stopped");
        Ok(())
    }
}
