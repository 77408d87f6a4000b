//! The whole route table in one place.
//!
//! - `GET /healthz`: 200 `ok` while the process runs.
//! - `GET /readyz`: 200 when the store answers a ping, else 503.
//! - `GET /metrics`: Prometheus text.
//! - `GET /console/…`: the web console's embedded files ([`crate::console`]).
//! - `/v1/…` and `/v4/…` with any method: the API pipeline with that generation's mapping (it
//!   answers unknown paths and methods itself, in the generation's envelope).
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
use crate::console;
use crate::state::AppState;
use crate::v1::V1;
use crate::v4::V4;

/// The application's router.
pub fn app(state: AppState) -> Router {
    let api = |wire: Arc<dyn Wire>| {
        move |State(state): State<AppState>, req: http::Request<Body>| {
            let wire = Arc::clone(&wire);
            async move { crate::pipeline::handle(state, wire, req).await }
        }
    };
    let v1 = api(Arc::new(V1));
    let v4 = api(Arc::new(V4::default()));
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/readyz", get(get_readyz))
        .route("/metrics", get(get_metrics))
        .route("/console", get(console::get_console_root))
        .route("/console/", get(console::get_console_index))
        .route("/console/{file}", get(console::get_console_file))
        .route("/v1", any(v1.clone()))
        .route("/v1/", any(v1.clone()))
        .route("/v1/{*path}", any(v1))
        .route("/v4", any(v4.clone()))
        .route("/v4/", any(v4.clone()))
        .route("/v4/{*path}", any(v4))
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
