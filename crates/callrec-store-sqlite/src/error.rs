//! Mapping SQLite failures onto [`StoreError`] by meaning, so no rusqlite type leaves the crate.

use callrec_domain::StoreError;
use rusqlite::ErrorCode;

/// Classifies a rusqlite error: contention and I/O trouble are `Unavailable` (retrying may
/// work), a damaged or foreign file is `Corrupt`, everything else `Internal`.
#[expect(
    clippy::needless_pass_by_value,
    reason = "by value so it can be passed as `.map_err(map_err)`"
)]
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::OutOfMemory
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed => StoreError::Unavailable(e.to_string()),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// A `Corrupt` error with a message.
pub(crate) fn corrupt(msg: impl Into<String>) -> StoreError {
    StoreError::Corrupt(msg.into())
}

/// The error every request gets once the store is closed.
pub(crate) fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}
