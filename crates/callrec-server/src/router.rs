//! The whole route table in one place.
//!
//! - `GET /healthz`: 200 `ok` while the process runs.
//! - `GET /readyz`: 200 when the store answers a ping, else 503.
//! - `GET /metrics`: Prometheus text.
//! - `/v1/…` with any method: the API pipeline (it answers unknown paths and methods itself, with
//!   the v1 envelope and 70001).
//! - anything else: plain 404.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{any, get};

use crate::pipeline::handle_api;
use crate::state::AppState;

/// The application's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
        .route("/metrics", get(get_metrics))
        .route("/v1", any(handle_api))
        .route("/v1/", any(handle_api))
        .route("/v1/{*path}", any(handle_api))
        .fallback(not_found)
        .with_state(state)
}

async fn get_healthz() -> &'static str {
    "ok"
}

async fn get_readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}
