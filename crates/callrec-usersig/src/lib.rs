//! Tencent TLSSigAPIv2 `UserSig` generation and strict verification.
//!
//! # Format
//!
//! A UserSig authenticates an `identifier` for an application (`sdkappid`)
//! under the application's secret key. It is built as follows:
//!
//! 1. The *content to sign* is the text
//!    `TLS.identifier:<id>\nTLS.sdkappid:<decimal>\nTLS.time:<decimal>\nTLS.expire:<decimal>\n`
//!    followed, only when a userbuf is present (even an empty one), by
//!    `TLS.userbuf:<standard base64 text>\n` (see [`content_to_sign`]).
//! 2. `TLS.sig` is the standard (padded) base64 of
//!    `HMAC-SHA256(key = UTF-8 bytes of the secret key text, content)`.
//! 3. A JSON object
//!    `{"TLS.ver":"2.0","TLS.identifier":..,"TLS.sdkappid":..,"TLS.expire":..,"TLS.time":..,["TLS.userbuf":..,]"TLS.sig":..}`
//!    is zlib-compressed (any level), encoded as standard base64 with
//!    padding, and then `+`, `/`, `=` are written as `*`, `-`, `_`.
//!
//! # Verification guarantees
//!
//! [`verify`] / [`verify_with_userbuf`] run, in this order:
//!
//! 1. **Decode** ([`decode`]): strict base64 (standard alphabet, canonical
//!    padding, nothing after the padding), a *complete* zlib stream with a
//!    valid Adler-32 checksum and no trailing bytes, inflated size capped at
//!    [`MAX_INFLATED_LEN`], UTF-8, a JSON object. The JSON may use any key
//!    order, spacing, escaped or raw non-ASCII; unknown fields (including
//!    `TLS.ver`) are ignored. Required: `TLS.identifier` (JSON string),
//!    `TLS.sdkappid` / `TLS.time` / `TLS.expire` (non-negative JSON
//!    integers — numbers written as JSON strings are rejected), `TLS.sig`
//!    (JSON string); `TLS.userbuf` is optional but must be a string when
//!    present. Failures are [`UserSigError::Malformed`].
//! 2. **Field check**: `sdkappid`, `identifier` (exact, case-sensitive) and,
//!    when asked for, the userbuf text must equal the expected values,
//!    otherwise [`UserSigError::Mismatch`].
//! 3. **MAC**: the recomputed base64 signature text is compared with
//!    `TLS.sig` in constant time ([`subtle::ConstantTimeEq`]); a difference
//!    is [`UserSigError::BadSignature`] — even if the token is also expired.
//! 4. **Expiry**: the token is expired only when `now > time + expire`
//!    (`now == time + expire` is still valid), computed without overflow
//!    (saturating 64-bit arithmetic, so 100-year expiries past 2^32 work).
//!    An authentic but expired token is [`UserSigError::Expired`].
//!
//! Error messages never contain the secret key or the UserSig. The `Debug`
//! output of a decoded [`Token`] redacts its signature.
//!
//! [`VerifyCache`] memoizes successful verifications so that repeated
//! requests carrying the same UserSig skip inflate + HMAC.

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Maximum number of bytes a UserSig may inflate to. Larger payloads are
/// rejected as [`UserSigError::Malformed`] (zip-bomb protection).
pub const MAX_INFLATED_LEN: usize = 64 * 1024;

/// Maximum length, in bytes, of the UserSig text accepted for decoding.
pub const MAX_USERSIG_LEN: usize = 128 * 1024;

/// Why a UserSig was rejected.
///
/// Messages describe the defect only; they never include the secret key or
/// the UserSig itself. A server typically maps [`UserSigError::Expired`] to
/// error code 70003 and every other variant to 70002 (see
/// [`UserSigError::is_expired`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    /// The token cannot be decoded: bad base64, bad or truncated zlib stream
    /// (including a wrong Adler-32 checksum), not UTF-8, not a JSON object,
    /// or a required field is missing or has the wrong JSON type.
    #[error("malformed usersig: {0}")]
    Malformed(&'static str),
    /// The token is well-formed but was issued for a different sdkappid or
    /// identifier, or its userbuf differs from the expected one.
    #[error("usersig was issued for a different sdkappid, identifier or userbuf")]
    Mismatch,
    /// `TLS.sig` is not the HMAC of the token's content under the given key.
    #[error("usersig signature does not match")]
    BadSignature,
    /// The token is authentic but `now > time + expire`.
    #[error("usersig expired at unix time {expired_at}")]
    Expired {
        /// `TLS.time + TLS.expire` (saturating), in unix seconds.
        expired_at: u64,
    },
}

impl UserSigError {
    /// `true` only for [`UserSigError::Expired`].
    #[must_use]
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired { .. })
    }
}

/// The fields of a decoded (not yet authenticated) UserSig.
///
/// Produced by [`decode`]. Nothing in it is trustworthy until [`verify`] has
/// succeeded. `Debug` redacts [`Token::sig`], since the fields alone are
/// enough to re-assemble an equivalent, valid UserSig.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// `TLS.identifier`: the user id the token was issued for.
    pub identifier: String,
    /// `TLS.sdkappid`: the application id.
    pub sdkappid: u64,
    /// `TLS.time`: issue time, unix seconds.
    pub time: u64,
    /// `TLS.expire`: lifetime in seconds, counted from [`Token::time`].
    pub expire: u64,
    /// `TLS.userbuf`: the userbuf as the standard base64 text found in the
    /// token (`Some("")` for a present-but-empty userbuf).
    pub userbuf: Option<String>,
    /// `TLS.sig`: base64 text of the HMAC-SHA256 signature.
    pub sig: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("identifier", &self.identifier)
            .field("sdkappid", &self.sdkappid)
            .field("time", &self.time)
            .field("expire", &self.expire)
            .field("userbuf", &self.userbuf)
            .field("sig", &"<redacted>")
            .finish()
    }
}

impl Token {
    /// `time + expire`, saturating at `u64::MAX`: the last unix second at
    /// which the token is still valid.
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }

    /// The text whose HMAC is `TLS.sig` (see [`content_to_sign`]).
    #[must_use]
    pub fn content_to_sign(&self) -> String {
        content_to_sign(
            &self.identifier,
            self.sdkappid,
            self.time,
            self.expire,
            self.userbuf.as_deref(),
        )
    }

    /// The userbuf decoded from base64, `None` when the token has no userbuf.
    ///
    /// # Errors
    /// [`UserSigError::Malformed`] when the userbuf text is not valid
    /// standard base64.
    pub fn userbuf_bytes(&self) -> Option<Result<Vec<u8>, UserSigError>> {
        self.userbuf.as_deref().map(|b64| {
            STANDARD
                .decode(b64)
                .map_err(|_| UserSigError::Malformed("TLS.userbuf is not valid base64"))
        })
    }
}

/// Result of a successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verified {
    /// `TLS.time + TLS.expire` (saturating): the last unix second at which
    /// the token is valid.
    pub expires_at: u64,
}

/// The text that is signed: `TLS.identifier:<id>\nTLS.sdkappid:<n>\n`
/// `TLS.time:<n>\nTLS.expire:<n>\n`, plus `TLS.userbuf:<b64>\n` only when
/// `userbuf_b64` is `Some` (even `Some("")`).
#[must_use]
pub fn content_to_sign(
    identifier: &str,
    sdkappid: u64,
    time: u64,
    expire: u64,
    userbuf_b64: Option<&str>,
) -> String {
    let mut s = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(ub) = userbuf_b64 {
        s.push_str("TLS.userbuf:");
        s.push_str(ub);
        s.push('\n');
    }
    s
}

/// Standard base64 (with padding) of `HMAC-SHA256(key = UTF-8 bytes of key, content)`.
#[must_use]
pub fn compute_sig(key: &str, content: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Generates a plain UserSig (no userbuf) for `identifier`, issued at
/// `now_unix` and valid for `expire_secs` seconds.
#[must_use]
pub fn generate(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire_secs: u64,
    now_unix: u64,
) -> String {
    generate_inner(sdkappid, key, identifier, expire_secs, now_unix, None)
}

/// Generates a UserSig carrying `userbuf` (e.g. a PrivateMapKey payload).
/// The userbuf is stored and signed as its standard base64 text; an empty
/// slice still yields a `TLS.userbuf` field (`""`).
#[must_use]
pub fn generate_with_userbuf(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire_secs: u64,
    now_unix: u64,
    userbuf: &[u8],
) -> String {
    let ub = STANDARD.encode(userbuf);
    generate_inner(sdkappid, key, identifier, expire_secs, now_unix, Some(&ub))
}

fn generate_inner(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire: u64,
    time: u64,
    userbuf_b64: Option<&str>,
) -> String {
    use std::io::Write as _;

    let sig = compute_sig(
        key,
        &content_to_sign(identifier, sdkappid, time, expire, userbuf_b64),
    );
    // Built by hand to keep the field order of the official libraries;
    // `Value`'s Display does the JSON string escaping.
    let mut json = format!(
        "{{\"TLS.ver\":\"2.0\",\"TLS.identifier\":{},\"TLS.sdkappid\":{sdkappid},\"TLS.expire\":{expire},\"TLS.time\":{time},",
        Value::String(identifier.to_owned())
    );
    if let Some(ub) = userbuf_b64 {
        json.push_str("\"TLS.userbuf\":");
        json.push_str(&Value::String(ub.to_owned()).to_string());
        json.push(',');
    }
    json.push_str("\"TLS.sig\":");
    json.push_str(&Value::String(sig).to_string());
    json.push('}');

    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(json.as_bytes())
        .expect("writing to a Vec cannot fail");
    let compressed = enc.finish().expect("writing to a Vec cannot fail");
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// Decodes a UserSig into its raw JSON payload bytes (base64 + inflate),
/// with the same strictness as [`decode`] but without parsing the JSON.
///
/// # Errors
/// [`UserSigError::Malformed`] on any base64 or zlib defect, or when the
/// payload exceeds [`MAX_INFLATED_LEN`].
pub fn decode_payload(usersig: &str) -> Result<Vec<u8>, UserSigError> {
    if usersig.is_empty() {
        return Err(UserSigError::Malformed("empty usersig"));
    }
    if usersig.len() > MAX_USERSIG_LEN {
        return Err(UserSigError::Malformed("usersig too long"));
    }
    // Undo the URL-safe substitution. Raw `+ / =` are tolerated, as the
    // official verifiers (which only substitute) tolerate them too.
    let b64: Vec<u8> = usersig
        .bytes()
        .map(|b| match b {
            b'*' => b'+',
            b'-' => b'/',
            b'_' => b'=',
            b => b,
        })
        .collect();
    // STANDARD requires canonical padding, rejects data after padding and
    // non-zero trailing bits.
    let compressed = STANDARD
        .decode(&b64)
        .map_err(|_| UserSigError::Malformed("invalid base64"))?;
    inflate(&compressed)
}

/// Inflates a complete zlib stream (header, deflate data, Adler-32 trailer),
/// refusing truncated streams, trailing bytes and oversized output.
fn inflate(data: &[u8]) -> Result<Vec<u8>, UserSigError> {
    let mut z = Decompress::new(true);
    let mut out: Vec<u8> = Vec::with_capacity(1024.min(MAX_INFLATED_LEN + 1));
    loop {
        if out.len() == out.capacity() {
            if out.len() > MAX_INFLATED_LEN {
                return Err(UserSigError::Malformed("inflated payload too large"));
            }
            let grow = out.capacity().clamp(1, MAX_INFLATED_LEN + 1 - out.len());
            out.reserve_exact(grow);
        }
        let consumed = usize::try_from(z.total_in())
            .map_err(|_| UserSigError::Malformed("invalid zlib stream"))?;
        let before = (z.total_in(), z.total_out());
        let status = z
            .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
            .map_err(|_| UserSigError::Malformed("invalid zlib stream"))?;
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {
                // Output space was available, yet nothing moved: the input
                // ran out before the end of the stream.
                if (z.total_in(), z.total_out()) == before {
                    return Err(UserSigError::Malformed("truncated zlib stream"));
                }
            }
        }
    }
    if out.len() > MAX_INFLATED_LEN {
        return Err(UserSigError::Malformed("inflated payload too large"));
    }
    if usize::try_from(z.total_in()).ok() != Some(data.len()) {
        return Err(UserSigError::Malformed("trailing data after zlib stream"));
    }
    Ok(out)
}

/// Field-specific messages for a missing field and for a wrong JSON type.
type FieldMsgs = (&'static str, &'static str);

macro_rules! field_msgs {
    ($name:literal, $kind:literal) => {
        (
            concat!("required field ", $name, " is missing"),
            concat!($name, " is not ", $kind),
        )
    };
}

fn get_u64(obj: &Map<String, Value>, name: &str, msgs: FieldMsgs) -> Result<u64, UserSigError> {
    match obj.get(name) {
        None => Err(UserSigError::Malformed(msgs.0)),
        // `as_u64` is `Some` only for non-negative integers that fit in u64:
        // floats, negatives, strings and out-of-range numbers are rejected.
        Some(v) => v.as_u64().ok_or(UserSigError::Malformed(msgs.1)),
    }
}

fn get_string(
    obj: &mut Map<String, Value>,
    name: &str,
    msgs: FieldMsgs,
) -> Result<String, UserSigError> {
    match obj.remove(name) {
        None => Err(UserSigError::Malformed(msgs.0)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(UserSigError::Malformed(msgs.1)),
    }
}

/// Decodes a UserSig into its fields **without** checking the signature.
///
/// # Errors
/// [`UserSigError::Malformed`] when the token is not decodable or a required
/// field is missing or of the wrong JSON type (see the module docs).
pub fn decode(usersig: &str) -> Result<Token, UserSigError> {
    let payload = decode_payload(usersig)?;
    let text = std::str::from_utf8(&payload)
        .map_err(|_| UserSigError::Malformed("payload is not UTF-8"))?;
    let value: Value =
        serde_json::from_str(text).map_err(|_| UserSigError::Malformed("payload is not JSON"))?;
    let Value::Object(mut obj) = value else {
        return Err(UserSigError::Malformed("payload is not a JSON object"));
    };
    let identifier = get_string(
        &mut obj,
        "TLS.identifier",
        field_msgs!("TLS.identifier", "a JSON string"),
    )?;
    let sdkappid = get_u64(
        &obj,
        "TLS.sdkappid",
        field_msgs!("TLS.sdkappid", "a non-negative JSON integer"),
    )?;
    let time = get_u64(
        &obj,
        "TLS.time",
        field_msgs!("TLS.time", "a non-negative JSON integer"),
    )?;
    let expire = get_u64(
        &obj,
        "TLS.expire",
        field_msgs!("TLS.expire", "a non-negative JSON integer"),
    )?;
    let sig = get_string(&mut obj, "TLS.sig", field_msgs!("TLS.sig", "a JSON string"))?;
    let userbuf = match obj.remove("TLS.userbuf") {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(UserSigError::Malformed("TLS.userbuf is not a JSON string")),
    };
    Ok(Token {
        identifier,
        sdkappid,
        time,
        expire,
        userbuf,
        sig,
    })
}

/// Verifies that `usersig` authenticates `identifier` for `sdkappid` under
/// `key` at unix time `now_unix`. Any userbuf in the token is accepted (it
/// is still covered by the MAC).
///
/// # Errors
/// See [`verify_with_userbuf`].
pub fn verify(
    usersig: &str,
    sdkappid: u64,
    identifier: &str,
    key: &str,
    now_unix: u64,
) -> Result<Verified, UserSigError> {
    verify_with_userbuf(usersig, sdkappid, identifier, key, now_unix, None)
}

/// Like [`verify`], and when `expected_userbuf_b64` is `Some`, the token's
/// `TLS.userbuf` must be present and equal that standard base64 text
/// exactly.
///
/// # Errors
/// In check order: [`UserSigError::Malformed`] (not decodable),
/// [`UserSigError::Mismatch`] (sdkappid / identifier / userbuf differ),
/// [`UserSigError::BadSignature`] (MAC wrong, even if also expired),
/// [`UserSigError::Expired`] (authentic, but `now_unix > time + expire`).
pub fn verify_with_userbuf(
    usersig: &str,
    sdkappid: u64,
    identifier: &str,
    key: &str,
    now_unix: u64,
    expected_userbuf_b64: Option<&str>,
) -> Result<Verified, UserSigError> {
    let token = decode(usersig)?;
    if token.sdkappid != sdkappid || token.identifier != identifier {
        return Err(UserSigError::Mismatch);
    }
    if let Some(expected) = expected_userbuf_b64
        && token.userbuf.as_deref() != Some(expected)
    {
        return Err(UserSigError::Mismatch);
    }
    let computed = compute_sig(key, &token.content_to_sign());
    if !bool::from(computed.as_bytes().ct_eq(token.sig.as_bytes())) {
        return Err(UserSigError::BadSignature);
    }
    check_expiry(token.expires_at(), now_unix)
}

fn check_expiry(expires_at: u64, now_unix: u64) -> Result<Verified, UserSigError> {
    if now_unix > expires_at {
        Err(UserSigError::Expired {
            expired_at: expires_at,
        })
    } else {
        Ok(Verified { expires_at })
    }
}

/// Default total capacity of [`VerifyCache::default`].
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

const CACHE_SHARDS: usize = 16;

type CacheKey = [u8; 32];

#[derive(Default)]
struct Shard {
    map: HashMap<CacheKey, u64>,
    /// Insertion order; always holds exactly the keys of `map`.
    order: VecDeque<CacheKey>,
}

/// A bounded, thread-safe (`Send + Sync`) memo of successful verifications.
///
/// Entries map a SHA-256 digest of *(secret key, sdkappid, identifier,
/// expected userbuf, usersig)* to the token's `expires_at`. Because the
/// secret key is part of the digest, a lookup with a different key (another
/// app, or a rotated secret) can never hit an entry created under the old
/// one; it falls through to a full [`verify_with_userbuf`]. The key is not
/// stored, only the digest.
///
/// Only successful verifications are cached. A hit still checks expiry
/// against the caller's `now`, so a cached token turns
/// [`UserSigError::Expired`] exactly when [`verify`] would say so.
///
/// The cache is split into 16 mutex-protected shards; each evicts its oldest
/// entry (FIFO) when full. A capacity of 0 disables caching.
pub struct VerifyCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl Default for VerifyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCache")
            .field("len", &self.len())
            .field("capacity", &(self.per_shard * self.shards.len()))
            .finish()
    }
}

impl VerifyCache {
    /// Creates a cache holding at most about `capacity` entries (rounded up
    /// to a multiple of the shard count). `0` disables caching.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let n = CACHE_SHARDS.min(capacity.max(1));
        let shards = (0..n).map(|_| Mutex::new(Shard::default())).collect();
        Self {
            shards,
            per_shard: capacity.div_ceil(n),
        }
    }

    /// Number of cached entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    /// `true` when nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (e.g. after a key rotation, to free memory early).
    pub fn clear(&self) {
        for s in &self.shards {
            let mut g = s.lock().unwrap_or_else(PoisonError::into_inner);
            g.map.clear();
            g.order.clear();
        }
    }

    /// [`verify`] with memoization; see the type docs.
    ///
    /// # Errors
    /// As [`verify`].
    pub fn verify_cached(
        &self,
        usersig: &str,
        sdkappid: u64,
        identifier: &str,
        key: &str,
        now_unix: u64,
    ) -> Result<Verified, UserSigError> {
        self.verify_cached_with_userbuf(usersig, sdkappid, identifier, key, now_unix, None)
    }

    /// [`verify_with_userbuf`] with memoization; see the type docs.
    ///
    /// # Errors
    /// As [`verify_with_userbuf`].
    pub fn verify_cached_with_userbuf(
        &self,
        usersig: &str,
        sdkappid: u64,
        identifier: &str,
        key: &str,
        now_unix: u64,
        expected_userbuf_b64: Option<&str>,
    ) -> Result<Verified, UserSigError> {
        let ck = cache_key(usersig, sdkappid, identifier, key, expected_userbuf_b64);
        let shard = &self.shards[usize::from(ck[0]) % self.shards.len()];
        let hit = shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&ck)
            .copied();
        if let Some(expires_at) = hit {
            return check_expiry(expires_at, now_unix);
        }
        let verified = verify_with_userbuf(
            usersig,
            sdkappid,
            identifier,
            key,
            now_unix,
            expected_userbuf_b64,
        )?;
        if self.per_shard > 0 {
            let mut g = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if !g.map.contains_key(&ck) {
                while g.map.len() >= self.per_shard {
                    match g.order.pop_front() {
                        Some(old) => {
                            g.map.remove(&old);
                        }
                        None => break,
                    }
                }
                g.map.insert(ck, verified.expires_at);
                g.order.push_back(ck);
            }
        }
        Ok(verified)
    }
}

fn cache_key(
    usersig: &str,
    sdkappid: u64,
    identifier: &str,
    key: &str,
    expected_userbuf_b64: Option<&str>,
) -> CacheKey {
    fn field(h: &mut Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut h = Sha256::new();
    h.update(b"callrec-usersig/verify-cache/v1\0");
    field(&mut h, key.as_bytes());
    h.update(sdkappid.to_le_bytes());
    field(&mut h, identifier.as_bytes());
    match expected_userbuf_b64 {
        None => h.update([0u8]),
        Some(ub) => {
            h.update([1u8]);
            field(&mut h, ub.as_bytes());
        }
    }
    field(&mut h, usersig.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const KEY: &str = "769903bf3c75a2b02089f14b0197c8b603474640b8ad333ba8e5c8f2db8f520a";
    const APP: u64 = 1_400_522_713;

    fn encode_outer(bytes: &[u8]) -> String {
        STANDARD
            .encode(bytes)
            .replace('+', "*")
            .replace('/', "-")
            .replace('=', "_")
    }

    fn zlib(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn roundtrip_and_decode() {
        let sig = generate(APP, KEY, "alice", 3600, 1_710_000_000);
        let t = decode(&sig).unwrap();
        assert_eq!(t.identifier, "alice");
        assert_eq!(t.sdkappid, APP);
        assert_eq!(t.time, 1_710_000_000);
        assert_eq!(t.expire, 3600);
        assert_eq!(t.userbuf, None);
        assert!(!format!("{t:?}").contains(&t.sig));
        assert_eq!(
            verify(&sig, APP, "alice", KEY, 1_710_003_600),
            Ok(Verified {
                expires_at: 1_710_003_600
            })
        );
        assert_eq!(
            verify(&sig, APP, "alice", KEY, 1_710_003_601),
            Err(UserSigError::Expired {
                expired_at: 1_710_003_600
            })
        );
        assert_eq!(
            verify(&sig, APP, "bob", KEY, 1_710_000_000),
            Err(UserSigError::Mismatch)
        );
        assert_eq!(
            verify(&sig, APP, "alice", "other", 1_710_000_000),
            Err(UserSigError::BadSignature)
        );
        // Forged and expired: BadSignature wins.
        assert_eq!(
            verify(&sig, APP, "alice", "other", 1_800_000_000),
            Err(UserSigError::BadSignature)
        );
    }

    #[test]
    fn userbuf_roundtrip_and_mismatch() {
        let sig = generate_with_userbuf(APP, KEY, "alice", 60, 100, b"abc");
        assert_eq!(decode(&sig).unwrap().userbuf.as_deref(), Some("YWJj"));
        assert!(verify_with_userbuf(&sig, APP, "alice", KEY, 100, Some("YWJj")).is_ok());
        assert_eq!(
            verify_with_userbuf(&sig, APP, "alice", KEY, 100, Some("YWJk")),
            Err(UserSigError::Mismatch)
        );
        let plain = generate(APP, KEY, "alice", 60, 100);
        assert_eq!(
            verify_with_userbuf(&plain, APP, "alice", KEY, 100, Some("")),
            Err(UserSigError::Mismatch)
        );
        let empty = generate_with_userbuf(APP, KEY, "alice", 60, 100, b"");
        assert_eq!(decode(&empty).unwrap().userbuf.as_deref(), Some(""));
        assert!(verify_with_userbuf(&empty, APP, "alice", KEY, 100, Some("")).is_ok());
    }

    #[test]
    fn huge_expiry_saturates() {
        let sig = generate(APP, KEY, "alice", u64::MAX, 1_710_000_000);
        assert_eq!(
            verify(&sig, APP, "alice", KEY, u64::MAX),
            Ok(Verified {
                expires_at: u64::MAX
            })
        );
    }

    #[test]
    fn truncated_zlib_rejected() {
        let sig = generate(APP, KEY, "alice", 3600, 1_710_000_000);
        let compressed = STANDARD
            .decode(sig.replace('*', "+").replace('-', "/").replace('_', "="))
            .unwrap();
        // Every proper prefix must be rejected, including one that only
        // lacks (part of) the Adler-32 trailer.
        for cut in 0..compressed.len() {
            let t = encode_outer(&compressed[..cut]);
            assert!(
                matches!(decode(&t), Err(UserSigError::Malformed(_))),
                "prefix of {cut} bytes accepted"
            );
        }
        // Trailing bytes after the stream are rejected too.
        let mut extra = compressed.clone();
        extra.push(0);
        assert!(matches!(
            decode(&encode_outer(&extra)),
            Err(UserSigError::Malformed(_))
        ));
        // Corrupted Adler-32.
        let mut bad = compressed;
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(
            decode(&encode_outer(&bad)),
            Err(UserSigError::Malformed("invalid zlib stream"))
        );
    }

    #[test]
    fn zip_bomb_capped() {
        // A valid JSON object padded with whitespace just past the cap.
        let mut json = b"{\"TLS.identifier\":\"a\",\"TLS.sdkappid\":1,\"TLS.time\":1,\"TLS.expire\":1,\"TLS.sig\":\"x\"}".to_vec();
        let at_cap = {
            let mut j = json.clone();
            j.resize(MAX_INFLATED_LEN, b' ');
            j
        };
        assert!(decode(&encode_outer(&zlib(&at_cap, 9))).is_ok());
        json.resize(MAX_INFLATED_LEN + 1, b' ');
        assert_eq!(
            decode(&encode_outer(&zlib(&json, 9))),
            Err(UserSigError::Malformed("inflated payload too large"))
        );
        // A real bomb: 16 MiB of zeros compresses to ~16 KiB.
        let bomb = zlib(&vec![0u8; 16 * 1024 * 1024], 9);
        assert_eq!(
            decode(&encode_outer(&bomb)),
            Err(UserSigError::Malformed("inflated payload too large"))
        );
    }

    #[test]
    fn strict_base64() {
        let sig = generate(APP, KEY, "alice", 3600, 1_710_000_000);
        assert!(decode(&format!("{sig}A")).is_err());
        assert!(decode(&format!("{sig}____")).is_err());
        assert!(decode(&format!(" {sig}")).is_err());
        assert!(decode("").is_err());
    }

    #[test]
    fn json_types_strict() {
        let make = |json: &str| encode_outer(&zlib(json.as_bytes(), 6));
        let ok = r#"{"TLS.sig":"x","TLS.expire":1,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a","extra":[1]}"#;
        assert!(decode(&make(ok)).is_ok());
        for bad in [
            r#"{"TLS.sig":"x","TLS.expire":"1","TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a"}"#,
            r#"{"TLS.sig":"x","TLS.expire":-1,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a"}"#,
            r#"{"TLS.sig":"x","TLS.expire":1.0,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a"}"#,
            r#"{"TLS.sig":"x","TLS.expire":1,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":7}"#,
            r#"{"TLS.sig":null,"TLS.expire":1,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a"}"#,
            r#"{"TLS.sig":"x","TLS.expire":1,"TLS.time":2,"TLS.sdkappid":3,"TLS.identifier":"a","TLS.userbuf":1}"#,
            r#"{"TLS.sig":"x","TLS.expire":1,"TLS.time":2,"TLS.sdkappid":99999999999999999999,"TLS.identifier":"a"}"#,
            r#"["TLS.sig"]"#,
        ] {
            assert!(
                matches!(decode(&make(bad)), Err(UserSigError::Malformed(_))),
                "{bad}"
            );
        }
        let non_utf8 = encode_outer(&zlib(b"{\"TLS.identifier\":\"\xff\"}", 6));
        assert_eq!(
            decode(&non_utf8),
            Err(UserSigError::Malformed("payload is not UTF-8"))
        );
    }

    #[test]
    fn constant_time_compare_is_used() {
        // Structural check: the MAC is compared via `subtle`, and a token
        // whose sig differs only in its last character is rejected.
        let src = include_str!("lib.rs");
        assert!(src.contains(concat!(
            "computed.as_bytes().",
            "ct_eq(token.sig.as_bytes())"
        )));
        let mut t = decode(&generate(APP, KEY, "alice", 60, 100)).unwrap();
        let last = t.sig.pop().unwrap();
        assert_eq!(last, '=');
        let almost = compute_sig(KEY, &t.content_to_sign());
        assert_ne!(almost.as_bytes().ct_eq(t.sig.as_bytes()).unwrap_u8(), 1);
    }

    #[test]
    fn errors_do_not_leak() {
        let sig = generate(APP, KEY, "alice", 60, 100);
        for e in [
            verify(&sig, APP, "alice", KEY, 1000).unwrap_err(),
            verify(&sig, APP, "bob", KEY, 100).unwrap_err(),
            verify(&sig, APP, "alice", "k2", 100).unwrap_err(),
            verify(&sig[..10], APP, "alice", KEY, 100).unwrap_err(),
        ] {
            let msg = format!("{e} {e:?}");
            assert!(!msg.contains(KEY) && !msg.contains(&sig[..10]), "{msg}");
        }
        assert!(
            verify(&sig, APP, "alice", KEY, 1000)
                .unwrap_err()
                .is_expired()
        );
        assert!(!UserSigError::BadSignature.is_expired());
    }

    #[test]
    fn cache_hit_still_expires() {
        let cache = VerifyCache::new(8);
        let sig = generate(APP, KEY, "alice", 60, 1000);
        assert_eq!(
            cache.verify_cached(&sig, APP, "alice", KEY, 1000),
            Ok(Verified { expires_at: 1060 })
        );
        assert_eq!(cache.len(), 1);
        // Hit at the boundary is still valid; one second later it expires.
        assert!(cache.verify_cached(&sig, APP, "alice", KEY, 1060).is_ok());
        assert_eq!(
            cache.verify_cached(&sig, APP, "alice", KEY, 1061),
            Err(UserSigError::Expired { expired_at: 1060 })
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_does_not_accept_other_key_or_identity() {
        let cache = VerifyCache::default();
        let sig = generate(APP, KEY, "alice", 60, 1000);
        assert!(cache.verify_cached(&sig, APP, "alice", KEY, 1000).is_ok());
        assert_eq!(
            cache.verify_cached(&sig, APP, "alice", "another-key", 1000),
            Err(UserSigError::BadSignature)
        );
        assert_eq!(
            cache.verify_cached(&sig, APP, "bob", KEY, 1000),
            Err(UserSigError::Mismatch)
        );
        assert_eq!(
            cache.verify_cached(&sig, APP + 1, "alice", KEY, 1000),
            Err(UserSigError::Mismatch)
        );
        assert_eq!(
            cache.verify_cached_with_userbuf(&sig, APP, "alice", KEY, 1000, Some("")),
            Err(UserSigError::Mismatch)
        );
        // Failures are not cached.
        assert_eq!(cache.len(), 1);
        // Forged tokens are never cached either.
        let forged = generate(APP, "another-key", "alice", 60, 1000);
        assert!(
            cache
                .verify_cached(&forged, APP, "alice", KEY, 1000)
                .is_err()
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_is_bounded_and_expired_not_cached() {
        let cache = VerifyCache::new(32);
        for i in 0..1000u64 {
            let sig = generate(APP, KEY, "alice", 60, 1000 + i);
            assert!(
                cache
                    .verify_cached(&sig, APP, "alice", KEY, 1000 + i)
                    .is_ok()
            );
        }
        assert!(cache.len() <= 32, "len {}", cache.len());
        assert!(!cache.is_empty());
        cache.clear();
        let old = generate(APP, KEY, "alice", 1, 0);
        assert!(
            cache
                .verify_cached(&old, APP, "alice", KEY, 5)
                .unwrap_err()
                .is_expired()
        );
        assert!(cache.is_empty());

        let disabled = VerifyCache::new(0);
        let sig = generate(APP, KEY, "alice", 60, 1000);
        assert!(
            disabled
                .verify_cached(&sig, APP, "alice", KEY, 1000)
                .is_ok()
        );
        assert!(disabled.is_empty());
    }

    #[test]
    fn cache_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<VerifyCache>();
        assert_send_sync::<UserSigError>();
        assert_send_sync::<Token>();
    }
}
