//! UserSig decoding and verification (`callrec-usersig`): every API request's query carries one,
//! and it is checked before anything else of the request is read. The input is a UserSig text
//! (invalid UTF-8 replaced):
//! - `decode` fails only as `Malformed`, and `verify` then fails the same way;
//! - a decodable token verifies under the shared test vectors' key exactly when its `TLS.sig` is
//!   that key's MAC of its content (never panics, never `Mismatch` for its own fields); an
//!   authentic one is still valid at `time + expire` and expired one second later; another
//!   identifier, app or userbuf is a `Mismatch`;
//! - the verify cache answers what `verify` would, from a miss and from a hit.
//!
//! Generating UserSigs is not fuzzed: no client input reaches it, and AFL++ spent most of its
//! time in the zlib compressor when this target also generated tokens from its input (the round
//! trip is tested by `callrec-usersig`'s own tests and `tests/vectors.rs`). Each decode inflates
//! with a fresh zlib state; the checks decode at most three times per input.

use callrec_usersig::{
    UserSigError, VerifyCache, compute_sig, decode, verify, verify_with_userbuf,
};

/// The key of most of the shared test vectors (`shared/testdata/usersig_vectors.json`), so the
/// valid vectors in the corpus verify.
pub const KEY: &str = "769903bf3c75a2b02089f14b0197c8b603474640b8ad333ba8e5c8f2db8f520a";

/// One input (see the module docs).
pub fn run(data: &[u8]) {
    check_text(&String::from_utf8_lossy(data));
}

fn check_text(sig: &str) {
    let token = match decode(sig) {
        Ok(token) => token,
        Err(e) => {
            assert!(matches!(e, UserSigError::Malformed(_)), "decode: {e:?}");
            let v = verify(sig, 1_400_000_001, "administrator", KEY, 0);
            assert_eq!(v, Err(e), "verify of an undecodable token");
            return;
        }
    };
    let _ = token.userbuf_bytes();
    let authentic = compute_sig(KEY, &token.content_to_sign()) == token.sig;
    let (app, id, now) = (token.sdkappid, token.identifier.as_str(), token.time);
    let expires_at = token.expires_at();
    let cache = VerifyCache::new(4);
    let got = cache.verify_cached(sig, app, id, KEY, now);
    if authentic {
        assert_eq!(got.map(|v| v.expires_at), Ok(expires_at));
        // From the cache now: the same answers as `verify`.
        assert!(cache.verify_cached(sig, app, id, KEY, expires_at).is_ok());
        if let Some(later) = expires_at.checked_add(1) {
            assert_eq!(
                cache.verify_cached(sig, app, id, KEY, later),
                Err(UserSigError::Expired {
                    expired_at: expires_at
                })
            );
        }
    } else {
        assert_eq!(got, Err(UserSigError::BadSignature));
    }
    // One of the three mismatches, picked by the input.
    let mismatch = match sig.len() % 3 {
        0 => verify(sig, app, &format!("{id}x"), KEY, now),
        1 => verify(sig, app ^ 1, id, KEY, now),
        _ => {
            let wrong = format!("{}A", token.userbuf.as_deref().unwrap_or(""));
            verify_with_userbuf(sig, app, id, KEY, now, Some(&wrong))
        }
    };
    assert_eq!(mismatch, Err(UserSigError::Mismatch));
}
