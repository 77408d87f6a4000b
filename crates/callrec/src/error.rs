//! The library's one error type: what went wrong, worded for the person at the terminal.
//!
//! Messages never contain a secret key or a UserSig.

use std::path::PathBuf;

use callrec_server::config::ConfigError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server answered with a non-zero errorCode.
    #[error("error {code}: {message}")]
    Api {
        /// The TRTC errorCode.
        code: i64,
        /// The server's errorMessage.
        message: String,
    },
    /// The request did not get an answer (connection, TLS, time-out).
    #[error("request to {url} failed: {source}")]
    Http {
        /// The URL without its query string (which holds the UserSig).
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The server answered something that is not the v1 envelope.
    #[error("unexpected response: {0}")]
    BadResponse(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The command line or the settings it resolved to do not make sense.
    #[error("{0}")]
    Usage(String),
    /// The server failed.
    #[error("server: {0}")]
    Server(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// The line printed to stderr: `error <code>: <message>` for API errors, `error: …` otherwise.
    pub fn report_line(&self) -> String {
        match self {
            Error::Api { .. } => self.to_string(),
            other => format!("error: {other}"),
        }
    }
}
