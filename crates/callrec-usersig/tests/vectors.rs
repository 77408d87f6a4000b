//! Shared UserSig test vectors (`shared/testdata/usersig_vectors.json`).

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use callrec_usersig::{
    UserSigError, compute_sig, content_to_sign, decode, decode_payload, generate,
    generate_with_userbuf, verify_with_userbuf,
};
use serde::Deserialize;
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/usersig_vectors.json"
);

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    category: String,
    usersig: String,
    check: Check,
    expected: String,
    inputs: Option<Inputs>,
    decoded_json: Option<String>,
    content_to_sign: Option<String>,
    sig: Option<String>,
    userbuf_hex: Option<String>,
}

#[derive(Deserialize)]
struct Check {
    sdkappid: u64,
    key: String,
    identifier: String,
    now: u64,
    userbuf_b64: Option<String>,
}

#[derive(Deserialize)]
struct Inputs {
    sdkappid: u64,
    key: String,
    identifier: String,
    expire: u64,
    time: u64,
    method: String,
    userbuf_b64: Option<String>,
}

fn load() -> Vec<Vector> {
    let text =
        std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
    let file: File = serde_json::from_str(&text).expect("vector file parses");
    assert!(
        file.vectors.len() > 60,
        "only {} vectors loaded",
        file.vectors.len()
    );
    file.vectors
}

fn verdict(r: &Result<callrec_usersig::Verified, UserSigError>) -> &'static str {
    match r {
        Ok(_) => "valid",
        Err(e) if e.is_expired() => "expired",
        Err(_) => "invalid",
    }
}

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

#[test]
fn every_vector_verdict_matches() {
    let vectors = load();
    let mut failures = Vec::new();
    for v in &vectors {
        let c = &v.check;
        let r = verify_with_userbuf(
            &v.usersig,
            c.sdkappid,
            &c.identifier,
            &c.key,
            c.now,
            c.userbuf_b64.as_deref(),
        );
        let got = verdict(&r);
        if got != v.expected {
            failures.push(format!(
                "{} ({}): expected {}, got {got} ({r:?})",
                v.id, v.category, v.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors disagree:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn official_vectors_generate_field_by_field() {
    let vectors = load();
    let mut failures = Vec::new();
    let mut checked = 0;
    for v in &vectors {
        let Some(inp) = &v.inputs else { continue };
        checked += 1;
        let userbuf: Option<Vec<u8>> = match (&v.userbuf_hex, &inp.userbuf_b64) {
            // PrivateMapKey methods: the userbuf bytes are given as hex.
            (Some(h), _) => Some(hex(h)),
            (None, Some(b)) => Some(STANDARD.decode(b).expect("inputs.userbuf_b64")),
            (None, None) => None,
        };
        let token = match &userbuf {
            Some(ub) => generate_with_userbuf(
                inp.sdkappid,
                &inp.key,
                &inp.identifier,
                inp.expire,
                inp.time,
                ub,
            ),
            None => generate(
                inp.sdkappid,
                &inp.key,
                &inp.identifier,
                inp.expire,
                inp.time,
            ),
        };
        let fail = |what: String| format!("{} ({}): {what}", v.id, inp.method);

        // Field-by-field comparison of our JSON with the library's JSON.
        let ours: Value =
            serde_json::from_slice(&decode_payload(&token).expect("own token inflates")).unwrap();
        let theirs: Value =
            serde_json::from_str(v.decoded_json.as_deref().expect("decoded_json")).unwrap();
        let (Value::Object(ours), Value::Object(theirs)) = (ours, theirs) else {
            failures.push(fail("payload is not an object".into()));
            continue;
        };
        let keys: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
        for k in keys {
            if ours.get(k) != theirs.get(k) {
                failures.push(fail(format!(
                    "field {k}: ours {:?}, theirs {:?}",
                    ours.get(k),
                    theirs.get(k)
                )));
            }
        }

        let tok = decode(&token).expect("own token decodes");
        let expected_sig = v.sig.as_deref().expect("sig");
        if tok.sig != expected_sig {
            failures.push(fail(format!("sig {} != {expected_sig}", tok.sig)));
        }
        let expected_content = v.content_to_sign.as_deref().expect("content_to_sign");
        let content = content_to_sign(
            &inp.identifier,
            inp.sdkappid,
            inp.time,
            inp.expire,
            userbuf.as_ref().map(|b| STANDARD.encode(b)).as_deref(),
        );
        if content != expected_content {
            failures.push(fail(format!("content {content:?} != {expected_content:?}")));
        }
        if tok.content_to_sign() != expected_content {
            failures.push(fail("decoded token content differs".into()));
        }
        if compute_sig(&inp.key, expected_content) != expected_sig {
            failures.push(fail("compute_sig(content) differs".into()));
        }

        // Our token round-trips through verify, at issue time and at the
        // last valid second, and expires one second later.
        let ub_b64 = tok.userbuf.clone();
        let end = inp.time + inp.expire;
        for (now, want) in [(inp.time, "valid"), (end, "valid"), (end + 1, "expired")] {
            let r = verify_with_userbuf(
                &token,
                inp.sdkappid,
                &inp.identifier,
                &inp.key,
                now,
                ub_b64.as_deref(),
            );
            if verdict(&r) != want {
                failures.push(fail(format!("own token at {now}: {r:?}, want {want}")));
            }
        }
        // The vector's own token decodes to the same signature.
        match decode(&v.usersig) {
            Ok(t) if t.sig == expected_sig => {}
            other => failures.push(fail(format!("vector usersig decodes to {other:?}"))),
        }
    }
    assert!(checked >= 28, "only {checked} official vectors with inputs");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
