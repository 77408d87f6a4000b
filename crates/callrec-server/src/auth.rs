//! Who is calling: the UserSig check (70002 / 70003) and the admin check (70004).
//!
//! Guarantees: UserSigs are verified with the app's own key against the [`Clock`]'s time through
//! the shared [`VerifyCache`]; neither the UserSig nor the key ever reaches a message or a log.
//!
//! [`Clock`]: callrec_domain::Clock
//! [`VerifyCache`]: callrec_usersig::VerifyCache

use secrecy::ExposeSecret;

use crate::config::App;
use crate::error::{ApiError, ErrorCode};
use crate::pipeline::ApiQuery;
use crate::state::AppState;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The app.
    pub sdkappid: u64,
    /// The identifier the UserSig authenticates.
    pub identifier: String,
    /// True when the identifier is one of the app's admins.
    pub is_admin: bool,
}

/// Checks the query's UserSig: unknown app or a UserSig that does not authenticate the
/// identifier for the app → 70002; authentic but expired → 70003.
pub fn authenticate<'a>(state: &'a AppState, q: &ApiQuery) -> Result<(&'a App, Caller), ApiError> {
    let Some(app) = state.config.app(q.sdkappid) else {
        return Err(ApiError::new(
            ErrorCode::BadUserSig,
            format!("sdkappid {} is not known to this server", q.sdkappid),
        ));
    };
    let now = u64::try_from(state.clock.now_secs()).unwrap_or(0);
    state
        .usersig_cache
        .verify_cached(
            &q.usersig,
            q.sdkappid,
            &q.identifier,
            app.secret_key.expose_secret(),
            now,
        )
        .map_err(|e| {
            if e.is_expired() {
                ApiError::new(ErrorCode::UserSigExpired, format!("UserSig expired: {e}"))
            } else {
                ApiError::new(
                    ErrorCode::BadUserSig,
                    format!("UserSig verification failed: {e}"),
                )
            }
        })?;
    let caller = Caller {
        sdkappid: q.sdkappid,
        identifier: q.identifier.clone(),
        is_admin: app.admins.contains(&q.identifier),
    };
    Ok((app, caller))
}

/// 70004 unless the caller is one of the app's admins.
pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::NotAllowed,
            format!(
                "identifier {:?} is not an admin of app {}; this API needs an admin",
                caller.identifier, caller.sdkappid
            ),
        ))
    }
}
