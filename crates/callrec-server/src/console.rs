//! The web console's files (docs/console.md), compiled into the binary.
//!
//! The console is plain HTML, CSS and ES modules under `crates/callrec-server/console/`: nothing is
//! built, bundled or fetched from another host, so what is in the repository is what the browser
//! runs. It signs in with a UserSig the user brings (`callrec console` prints a link carrying one
//! in the URL fragment) and calls the same admin APIs every other client calls; this module only
//! serves the files.

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console has. `index.html` answers `/console/`.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("session.js", JS),
    asset!("ui.js", JS),
    asset!("calls.js", JS),
    asset!("call.js", JS),
    asset!("stats.js", JS),
    asset!("callbacks.js", JS),
];

/// Scripts, styles, images and API calls from this origin only; no framing; the URL (whose
/// fragment may carry a UserSig) is never sent as a referrer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /console`: the console lives under the slash (its relative links need it).
pub async fn get_console_root() -> Redirect {
    Redirect::permanent("/console/")
}

/// `GET /console/`.
pub async fn get_console_index() -> Response {
    answer("index.html")
}

/// `GET /console/{file}`.
pub async fn get_console_file(Path(name): Path<String>) -> Response {
    answer(&name)
}

fn answer(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut resp = asset.bytes.into_response();
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // Small files; a browser revalidates them so an upgraded server's console is used at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_pages_name_is_embedded() {
        // Each module or stylesheet one of the files loads must be in the table, or the browser
        // would get a 404 at run time.
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for quote in ['"', '\''] {
                for piece in text.split(quote).skip(1).step_by(2) {
                    if let Some(file) = piece.strip_prefix("./") {
                        assert!(
                            names.contains(&file),
                            "{} refers to {piece}, which is not embedded",
                            asset.name
                        );
                    }
                }
            }
        }
        assert!(names.contains(&"index.html"));
    }
}
