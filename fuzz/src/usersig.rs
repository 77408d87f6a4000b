//! UserSig decoding and verification (`callrec-usersig`): every API request's query carries one,
//! and it is checked before anything else of the request is read.
//!
//! The first byte picks the mode. Even: the rest is a UserSig text (invalid UTF-8 replaced), and
//! - `decode` fails only as `Malformed`, and `verify` then fails the same way;
//! - a decodable token verifies under the shared test vectors' key exactly when its `TLS.sig` is
//!   that key's MAC of its content (never panics, never `Mismatch` for its own fields); an
//!   authentic one is still valid at `time + expire` and expired one second later; another
//!   identifier, app or userbuf is a `Mismatch`;
//! - the verify cache answers what `verify` would, from a miss and from a hit.
//!
//! Odd: the rest describes a token (app, identifier, times, optional userbuf, key), which is
//! generated, and then decodes to exactly those fields and verifies.
//!
//! Each decode inflates (a fresh zlib state): the checks are arranged to decode at most three
//! times per input.

use callrec_usersig::{
    UserSigError, VerifyCache, compute_sig, decode, generate, generate_with_userbuf, verify,
    verify_with_userbuf,
};

use crate::bytes::Bytes;

/// The key of most of the shared test vectors (`shared/testdata/usersig_vectors.json`), so the
/// valid vectors in the corpus verify.
pub const KEY: &str = "769903bf3c75a2b02089f14b0197c8b603474640b8ad333ba8e5c8f2db8f520a";

/// One input (see the module docs).
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_text(&String::from_utf8_lossy(rest));
    } else {
        check_generated(rest);
    }
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

fn check_generated(data: &[u8]) {
    let mut b = Bytes::new(data);
    let flags = b.u8();
    let sdkappid = b.u64();
    let time = b.u64();
    let expire = b.u64();
    let identifier = b.string();
    let key = b.string();
    let userbuf = (flags & 1 == 1).then(|| b.take(64).to_vec());
    let sig = match &userbuf {
        Some(ub) => generate_with_userbuf(sdkappid, &key, &identifier, expire, time, ub),
        None => generate(sdkappid, &key, &identifier, expire, time),
    };
    let token = decode(&sig).expect("a generated token decodes");
    assert_eq!(token.identifier, identifier);
    assert_eq!(
        (token.sdkappid, token.time, token.expire),
        (sdkappid, time, expire)
    );
    assert_eq!(
        token
            .userbuf_bytes()
            .transpose()
            .expect("its userbuf decodes"),
        userbuf
    );
    assert_eq!(token.sig, compute_sig(&key, &token.content_to_sign()));
    let v = verify(&sig, sdkappid, &identifier, &key, time).expect("a generated token verifies");
    assert_eq!(v.expires_at, time.saturating_add(expire));
}
