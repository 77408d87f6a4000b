//! Who is calling: the UserSig check and the admin check.
//!
//! Guarantees: UserSigs are verified with the app's own key against the [`Clock`]'s time through
//! the shared [`VerifyCache`]; neither the UserSig nor the key ever reaches a message or a log.
//!
//! [`Clock`]: callrec_domain::Clock
//! [`VerifyCache`]: callrec_usersig::VerifyCache

use secrecy::ExposeSecret;

use callrec_usersig::UserSigError;

use crate::config::App;
use crate::failure::{Failure, FailureKind};
use crate::query::ApiQuery;
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
    /// The client's address (the TCP peer), when known; callbacks of the events it reports
    /// carry it.
    pub client_ip: Option<std::net::IpAddr>,
}

/// Checks the query's UserSig with the app's key: an unknown app, a UserSig that does not
/// decode, was issued for another identifier or app, or has a wrong signature, or one that has
/// expired, each fail with their own [`FailureKind`].
pub fn authenticate<'a>(state: &'a AppState, q: &ApiQuery) -> Result<(&'a App, Caller), Failure> {
    let Some(app) = state.config.app(q.sdkappid) else {
        return Err(Failure::new(
            FailureKind::UnknownApp,
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
            let kind = match &e {
                UserSigError::Expired { .. } => FailureKind::SigExpired,
                UserSigError::Malformed(_) => FailureKind::SigMalformed,
                UserSigError::BadSignature => FailureKind::SigBadSignature,
                UserSigError::Mismatch => mismatch_kind(&q.usersig, &q.identifier),
            };
            let what = if kind == FailureKind::SigExpired {
                "UserSig expired"
            } else {
                "UserSig verification failed"
            };
            Failure::new(kind, format!("{what}: {e}"))
        })?;
    let skew = state.config.auth.max_future_skew_secs;
    if skew > 0 {
        // Verified above, so it decodes; TRTC's verifiers never look at a future `TLS.time`,
        // so a far-future token with a short expiry would otherwise never expire.
        if let Ok(token) = callrec_usersig::decode(&q.usersig)
            && token.time > now.saturating_add(skew)
        {
            return Err(Failure::new(
                FailureKind::SigMalformed,
                format!(
                    "UserSig verification failed: issued {} s in the future; [auth] max_future_skew_secs allows {skew}",
                    token.time - now
                ),
            ));
        }
    }
    let caller = Caller {
        sdkappid: q.sdkappid,
        identifier: q.identifier.clone(),
        is_admin: app.admins.contains(&q.identifier),
        client_ip: None,
    };
    Ok((app, caller))
}

/// Which field of a UserSig issued for someone else differs: the identifier (checked first), or
/// else the app.
fn mismatch_kind(usersig: &str, identifier: &str) -> FailureKind {
    match callrec_usersig::decode(usersig) {
        Ok(token) if token.identifier == identifier => FailureKind::SigOtherApp,
        _ => FailureKind::SigOtherIdentifier,
    }
}

/// [`FailureKind::NotAdmin`] unless the caller is one of the app's admins.
pub fn require_admin(caller: &Caller) -> Result<(), Failure> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(Failure::new(
            FailureKind::NotAdmin,
            format!(
                "identifier {:?} is not an admin of app {}; this API needs an admin",
                caller.identifier, caller.sdkappid
            ),
        ))
    }
}
