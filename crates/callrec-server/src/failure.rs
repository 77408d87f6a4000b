//! Why a request failed, as a kind and a message: what went wrong, never a number. Each
//! generation numbers the kinds with its own code table (`v1::code`, `v4::code`).
//!
//! Guarantees: messages never contain a UserSig or a secret key; store errors are logged, not
//! answered (they may name files or hosts).

use std::fmt;

/// The kinds of failure, in the order of the pipeline's checks where they come from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No endpoint at this path.
    UnknownApi,
    /// A method other than POST.
    MethodNotAllowed,
    /// The `sdkappid` query parameter is missing, repeated or not a decimal u64.
    BadAppIdParam,
    /// Another query parameter is missing, repeated, empty or malformed.
    BadQuery,
    /// The sdkappid is not configured.
    UnknownApp,
    /// The UserSig does not decode (alphabet, base64, zlib, JSON, missing fields).
    SigMalformed,
    /// The UserSig was issued for another identifier.
    SigOtherIdentifier,
    /// The UserSig was issued for another app.
    SigOtherApp,
    /// The UserSig's signature is wrong.
    SigBadSignature,
    /// The UserSig is authentic but expired.
    SigExpired,
    /// An admin API called by someone not among the app's admins.
    NotAdmin,
    /// A record API of an app without the group call package.
    NoPackage,
    /// The app's rate for this API is exceeded.
    RateLimited,
    /// The body is empty, not a JSON object, has wrong JSON types or is too large.
    BadBody,
    /// A field is missing or its value is invalid.
    InvalidField,
    /// A reported event the caller may not report (about someone else, or a call it has no
    /// part in).
    NotAllowed,
    /// The call record does not exist (or is older than the retention).
    NotFound,
    /// The call does not exist, is outside the retention, or has ended (call engine APIs).
    CallNotActive,
    /// The app has no callback configuration of this generation (get, update).
    NoCallbackConfig,
    /// An internal error or the 3-second deadline.
    Internal,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 20] = [
        FailureKind::UnknownApi,
        FailureKind::MethodNotAllowed,
        FailureKind::BadAppIdParam,
        FailureKind::BadQuery,
        FailureKind::UnknownApp,
        FailureKind::SigMalformed,
        FailureKind::SigOtherIdentifier,
        FailureKind::SigOtherApp,
        FailureKind::SigBadSignature,
        FailureKind::SigExpired,
        FailureKind::NotAdmin,
        FailureKind::NoPackage,
        FailureKind::RateLimited,
        FailureKind::BadBody,
        FailureKind::InvalidField,
        FailureKind::NotAllowed,
        FailureKind::NotFound,
        FailureKind::CallNotActive,
        FailureKind::NoCallbackConfig,
        FailureKind::Internal,
    ];

    /// Its position in [`FailureKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A failed request: what kind of failure, and a message for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure with a message.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// [`FailureKind::InvalidField`] with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(FailureKind::InvalidField, message)
    }

    /// [`FailureKind::BadBody`] with a message.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(FailureKind::BadBody, message)
    }

    /// [`FailureKind::Internal`] for a store failure: the cause is logged, the answer says only
    /// "internal error".
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed with an internal error");
        Self::new(FailureKind::Internal, "internal error")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Failure {}
