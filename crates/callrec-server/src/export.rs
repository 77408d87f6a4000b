//! Streaming `export` answers: the records of a filter read in keyset pages of
//! [`EXPORT_CHUNK`](crate::records::EXPORT_CHUNK) and written as NDJSON or CSV, gzip-compressed
//! when the client accepts it. Memory stays flat whatever the size: at most a few chunks are in
//! flight between the store reader and the connection.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use callrec_domain::{RecordKey, RecordQuery};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use std::io::Write as _;

use crate::api::ExportFormat;
use crate::state::AppState;
use crate::v1::{CSV_HEADER, WireRecord};

/// Chunks buffered between the reader and the connection.
const IN_FLIGHT: usize = 4;

/// Whether `Accept-Encoding` allows gzip.
pub fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.trim().split(';');
            let name = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

/// The streamed answer.
pub fn response(
    state: &AppState,
    query: Option<RecordQuery>,
    format: ExportFormat,
    gzip: bool,
    request_id: &str,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(IN_FLIGHT);
    let store = std::sync::Arc::clone(&state.store);
    let request_id_log = request_id.to_owned();
    tokio::spawn(async move {
        let mut gz =
            gzip.then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut send = async |text: String, last: bool| -> bool {
            let bytes = match gz.as_mut() {
                None => Bytes::from(text),
                Some(enc) => {
                    let _ = enc.write_all(text.as_bytes());
                    if last {
                        let _ = enc.try_finish();
                    } else {
                        let _ = enc.flush();
                    }
                    Bytes::from(std::mem::take(enc.get_mut()))
                }
            };
            bytes.is_empty() || tx.send(Ok(bytes)).await.is_ok()
        };
        if format == ExportFormat::Csv && !send(CSV_HEADER.to_owned(), query.is_none()).await {
            return;
        }
        let Some(mut q) = query else {
            if format != ExportFormat::Csv {
                let _ = send(String::new(), true).await;
            }
            return;
        };
        loop {
            let page = match store.filter_records(&q).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(request_id = %request_id_log, error = %e, "export stopped: store error");
                    let _ = tx.send(Err(std::io::Error::other("store error"))).await;
                    return;
                }
            };
            let last = page.records.len() < q.limit as usize;
            let mut text = String::with_capacity(page.records.len() * 300);
            for r in &page.records {
                let w = WireRecord::from(r);
                match format {
                    ExportFormat::Ndjson => {
                        w.write_json(&mut text);
                        text.push('\n');
                    }
                    ExportFormat::Csv => w.write_csv(&mut text),
                }
            }
            q.after = page.records.last().map(|r| RecordKey {
                start_secs: r.start_secs(),
                call_id: r.call_id.clone(),
            });
            if !send(text, last).await || last {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match format {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }),
    );
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    resp
}
