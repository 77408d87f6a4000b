//! The whole route table in one place.
//!
//! - `GET /healthz`: 200 `ok` while the process runs.
//! - `GET /readyz`: 200 when the store answers a ping, else 503.
//! - `GET /metrics`: Prometheus text.
//! - `/v1/…` with any method: the API pipeline with the v1 mapping (it answers unknown paths and
//!   methods itself, in the v1 envelope).
//! - anything else: plain 404.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{any, get};

use crate::api::Wire;
use crate::state::AppState;
use crate::v1::V1;

/// The application's router.
pub fn app(state: AppState) -> Router {
    let v1: Arc<dyn Wire> = Arc::new(V1);
    let api = move |State(state): State<AppState>, req: http::Request<Body>| {
        let wire = Arc::clone(&v1);
        async move { crate::pipeline::handle(state, wire, req).await }
    };
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
        .route("/metrics", get(get_metrics))
        .route("/v1", any(api.clone()))
        .route("/v1/", any(api.clone()))
        .route("/v1/{*path}", any(api))
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
