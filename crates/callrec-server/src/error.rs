//! The API's error codes: the one place that knows each TRTC `errorCode`, its meaning and its
//! default message, and how an [`ApiError`] becomes a v1 envelope.
//!
//! Guarantees: every failure a `/v1/` request can meet maps to exactly one [`ErrorCode`];
//! messages never contain a UserSig or a secret key.

use std::fmt;

/// A TRTC `errorCode` this server answers (docs/api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: success.
    Success,
    /// 50001: the app has no group call package (record APIs disabled).
    NoGroupCallPackage,
    /// 70001: unknown API, bad query parameter, or an invalid body field.
    InvalidRequest,
    /// 70002: unknown sdkappid or a UserSig that does not authenticate the identifier.
    BadUserSig,
    /// 70003: UserSig expired.
    UserSigExpired,
    /// 70004: not allowed (not an admin, or an event about someone else).
    NotAllowed,
    /// 70005: rate limit exceeded.
    RateLimited,
    /// 70009: body empty, not a JSON object, wrong JSON types or too large.
    BadBody,
    /// 101050: call record not found (the v4 code for the same condition).
    NotFound,
    /// 101001: internal error or the 3-second deadline passed.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Success,
        ErrorCode::NoGroupCallPackage,
        ErrorCode::InvalidRequest,
        ErrorCode::BadUserSig,
        ErrorCode::UserSigExpired,
        ErrorCode::NotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::BadBody,
        ErrorCode::NotFound,
        ErrorCode::Internal,
    ];

    /// The numeric code on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            ErrorCode::Success => 0,
            ErrorCode::NoGroupCallPackage => 50001,
            ErrorCode::InvalidRequest => 70001,
            ErrorCode::BadUserSig => 70002,
            ErrorCode::UserSigExpired => 70003,
            ErrorCode::NotAllowed => 70004,
            ErrorCode::RateLimited => 70005,
            ErrorCode::BadBody => 70009,
            ErrorCode::NotFound => 101050,
            ErrorCode::Internal => 101001,
        }
    }

    /// The message used when nothing more specific is known.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::Success => "Success",
            ErrorCode::NoGroupCallPackage => {
                "the group call package is not enabled for this app; record APIs are unavailable"
            }
            ErrorCode::InvalidRequest => "invalid request",
            ErrorCode::BadUserSig => "UserSig verification failed",
            ErrorCode::UserSigExpired => "UserSig expired",
            ErrorCode::NotAllowed => "not allowed",
            ErrorCode::RateLimited => "request rate limit exceeded; retry later",
            ErrorCode::BadBody => "request body is not a valid JSON object",
            ErrorCode::NotFound => "call record not found",
            ErrorCode::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u32())
    }
}

/// A failed `/v1/` request: its code and a useful message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The TRTC error code.
    pub code: ErrorCode,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An error with the code's default message.
    pub fn code(code: ErrorCode) -> Self {
        Self::new(code, code.default_message())
    }

    /// 70001 with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 70009 with a message.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadBody, message)
    }

    /// 101001 for a store failure. The store's message is logged, not answered: it may name
    /// files or hosts.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed with an internal error");
        Self::code(ErrorCode::Internal)
    }

    /// The v1 envelope for this error (no `data` key).
    pub fn to_envelope(&self, request_id: &str) -> String {
        crate::wire::envelope::<()>(self.code, &self.message, request_id, None)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_its_documented_number() {
        let numbers: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.as_u32()).collect();
        assert_eq!(
            numbers,
            [
                0, 50001, 70001, 70002, 70003, 70004, 70005, 70009, 101050, 101001
            ]
        );
        assert_eq!(ErrorCode::Success.default_message(), "Success");
    }

    #[test]
    fn error_envelope_has_no_data_key() {
        let e = ApiError::invalid("bad thing");
        assert_eq!(
            e.to_envelope("00112233445566778899aabbccddeeff"),
            r#"{"errorCode":70001,"errorMessage":"bad thing","requestId":"00112233445566778899aabbccddeeff"}"#
        );
    }
}
