//! Mapping driver failures onto [`StoreError`] by meaning, so no driver type leaves the crate.
//!
//! Messages never include the connection URL (it may carry a password): tokio-postgres's errors
//! do not, and we never format the configuration.

use callrec_domain::StoreError;
use tokio_postgres::error::SqlState;

/// Classifies a tokio-postgres error: lost or refused connections, server shutdown, resource
/// exhaustion, lock time-outs, deadlocks and serialization failures are `Unavailable` (retrying
/// later may work), damaged data is `Corrupt`, everything else `Internal`.
#[expect(
    clippy::needless_pass_by_value,
    reason = "by value so it can be passed as `.map_err(map_err)`"
)]
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No server error: I/O, a closed connection, a protocol or conversion failure.
        if e.is_closed() || e.code().is_none() && is_io(&e) {
            return StoreError::Unavailable(format!("postgres connection: {e}"));
        }
        return StoreError::Internal(format!("postgres: {e}"));
    };
    let msg = format!("postgres: {} ({})", db.message(), db.code().code());
    let code = db.code();
    let class = &code.code()[..2];
    if matches!(class, "08" | "53" | "57" | "58")
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        StoreError::Unavailable(msg)
    } else if matches!(class, "XX") {
        StoreError::Corrupt(msg)
    } else {
        StoreError::Internal(msg)
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// True when a transaction failed in a way that running it again may fix: a row routed to a
/// partition that another node just dropped, a deadlock, a serialization failure.
pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || is_missing_partition(e)
    })
}

/// "no partition of relation … found for row" (SQLSTATE 23514).
pub(crate) fn is_missing_partition(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::CHECK_VIOLATION && db.message().contains("no partition")
    })
}

/// Maps a pool failure: the pool could not hand out a connection in time, or is closed.
pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => map_err(e),
        other => StoreError::Unavailable(format!("postgres pool: {other}")),
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
