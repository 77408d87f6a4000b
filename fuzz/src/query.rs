//! The query string parser (`callrec_server::query::parse_query`), the first thing read of every
//! API request, checked against a model: the whole string through `form_urlencoded`, each of the
//! five parameters exactly once, checked in their documented order. The parser borrows the
//! pairs that need no decoding instead of decoding everything; the two must agree on every
//! input: the same parameters, or the same kind of failure naming the same parameter.

use callrec_server::FailureKind;
use callrec_server::query::{ApiQuery, parse_query};

/// One input: the raw query string (invalid UTF-8 replaced).
pub fn run(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    match (parse_query(Some(&raw)), model(&raw)) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{raw:?}"),
        (Err(got), Err((kind, name))) => {
            assert_eq!(got.kind, kind, "{raw:?}: {}", got.message);
            assert!(got.message.contains(name), "{raw:?}: {}", got.message);
        }
        (got, want) => panic!("{raw:?}: parser {got:?}, model {want:?}"),
    }
}

/// What `parse_query` must answer: the query, or the failure kind and the parameter it names.
fn model(raw: &str) -> Result<ApiQuery, (FailureKind, &'static str)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    let once = |name: &'static str, kind: FailureKind| {
        let mut values = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(v.clone()),
            _ => Err((kind, name)),
        }
    };
    let decimal = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let app = FailureKind::BadAppIdParam;
    let bad = FailureKind::BadQuery;
    let sdkappid = once("sdkappid", app)?;
    let sdkappid = decimal(&sdkappid)
        .then(|| sdkappid.parse::<u64>().ok())
        .flatten()
        .ok_or((app, "sdkappid"))?;
    let identifier = once("identifier", bad)?;
    if identifier.is_empty() {
        return Err((bad, "identifier"));
    }
    let usersig = once("usersig", bad)?;
    if usersig.is_empty() {
        return Err((bad, "usersig"));
    }
    let random = once("random", bad)?;
    let random = decimal(&random)
        .then(|| random.parse::<u32>().ok())
        .flatten()
        .ok_or((bad, "random"))?;
    if once("contenttype", bad)? != "json" {
        return Err((bad, "contenttype"));
    }
    Ok(ApiQuery {
        sdkappid,
        identifier,
        usersig,
        random,
    })
}
