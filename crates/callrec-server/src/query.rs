//! The query string every API request of both generations carries:
//! `sdkappid`, `identifier`, `usersig`, `random`, `contenttype=json`.

use std::borrow::Cow;

use crate::failure::{Failure, FailureKind};

/// The common query parameters of every API request, parsed and range-checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiQuery {
    /// The app.
    pub sdkappid: u64,
    /// The calling user.
    pub identifier: String,
    /// Its UserSig (never log this).
    pub usersig: String,
    /// The client's random number (unused beyond validation).
    pub random: u32,
}

impl std::fmt::Debug for ApiQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiQuery")
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("usersig", &"[redacted]")
            .field("random", &self.random)
            .finish()
    }
}

/// Decimal digits only (no sign, no spaces), as TRTC sends them.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses the raw query string. Each of `sdkappid` (decimal u64), `identifier` (non-empty),
/// `usersig` (non-empty), `random` (decimal u32) and `contenttype` (= `json`) must appear exactly
/// once; other parameters are ignored. Failures name the parameter and are checked in that order:
/// `sdkappid` problems are [`FailureKind::BadAppIdParam`], the others [`FailureKind::BadQuery`].
pub fn parse_query(raw: Option<&str>) -> Result<ApiQuery, Failure> {
    const NAMES: [&str; 5] = ["sdkappid", "identifier", "usersig", "random", "contenttype"];
    let mut values: [Option<Cow<'_, str>>; 5] = Default::default();
    let mut repeated = [false; 5];
    // Split exactly as `form_urlencoded::parse` does (on `&`, skipping empty pairs, name and
    // value at the first `=`); a pair without `%` or `+` decodes to itself, so it is borrowed as
    // is, and only the others go through the decoder.
    for pair in raw.unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = if pair.bytes().any(|b| b == b'%' || b == b'+') {
            match form_urlencoded::parse(pair.as_bytes()).next() {
                Some(decoded) => decoded,
                None => continue,
            }
        } else {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (Cow::Borrowed(n), Cow::Borrowed(v))
        };
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            repeated[i] |= values[i].is_some();
            values[i] = Some(value);
        }
    }
    let mut take = |i: usize| {
        let kind = if i == 0 {
            FailureKind::BadAppIdParam
        } else {
            FailureKind::BadQuery
        };
        if repeated[i] {
            return Err(Failure::new(
                kind,
                format!("query parameter {} appears more than once", NAMES[i]),
            ));
        }
        values[i]
            .take()
            .ok_or_else(|| Failure::new(kind, format!("query parameter {} is missing", NAMES[i])))
    };
    let sdkappid_text = take(0)?;
    let sdkappid = parse_decimal::<u64>(&sdkappid_text).ok_or_else(|| {
        Failure::new(
            FailureKind::BadAppIdParam,
            "query parameter sdkappid must be a decimal unsigned 64-bit integer",
        )
    })?;
    let bad = |m: &str| Failure::new(FailureKind::BadQuery, m);
    let identifier = take(1)?.into_owned();
    if identifier.is_empty() {
        return Err(bad("query parameter identifier is empty"));
    }
    let usersig = take(2)?.into_owned();
    if usersig.is_empty() {
        return Err(bad("query parameter usersig is empty"));
    }
    let random_text = take(3)?;
    let random = parse_decimal::<u32>(&random_text)
        .ok_or_else(|| bad("query parameter random must be a decimal integer in 0..=4294967295"))?;
    if take(4)? != "json" {
        return Err(bad("query parameter contenttype must be json"));
    }
    Ok(ApiQuery {
        sdkappid,
        identifier,
        usersig,
        random,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "sdkappid=1400000001&identifier=administrator&usersig=abc&random=99&contenttype=json";

    fn code_of(q: &str) -> (FailureKind, String) {
        let e = parse_query(Some(q)).unwrap_err();
        (e.kind, e.message)
    }

    #[test]
    fn good_query_parses_and_ignores_extra_parameters() {
        let q = parse_query(Some(&format!("{GOOD}&extra=1"))).unwrap();
        assert_eq!(q.sdkappid, 1_400_000_001);
        assert_eq!(q.identifier, "administrator");
        assert_eq!(q.usersig, "abc");
        assert_eq!(q.random, 99);
        let max = GOOD.replace("random=99", "random=4294967295");
        assert_eq!(parse_query(Some(&max)).unwrap().random, u32::MAX);
    }

    #[test]
    fn each_missing_parameter_is_70001_naming_it() {
        for name in ["sdkappid", "identifier", "usersig", "random", "contenttype"] {
            let q: Vec<&str> = GOOD
                .split('&')
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect();
            let (code, msg) = code_of(&q.join("&"));
            assert!(matches!(
                code,
                FailureKind::BadQuery | FailureKind::BadAppIdParam
            ));
            assert!(msg.contains(name), "{msg}");
        }
        assert_eq!(
            parse_query(None).unwrap_err().kind,
            FailureKind::BadAppIdParam
        );
    }

    #[test]
    fn each_malformed_or_repeated_parameter_is_70001_naming_it() {
        for (from, to, name) in [
            ("sdkappid=1400000001", "sdkappid=abc", "sdkappid"),
            ("sdkappid=1400000001", "sdkappid=-1", "sdkappid"),
            (
                "sdkappid=1400000001",
                "sdkappid=18446744073709551616",
                "sdkappid",
            ),
            ("sdkappid=1400000001", "sdkappid=", "sdkappid"),
            ("identifier=administrator", "identifier=", "identifier"),
            ("usersig=abc", "usersig=", "usersig"),
            ("random=99", "random=4294967296", "random"),
            ("random=99", "random=-1", "random"),
            ("random=99", "random=1.5", "random"),
            ("contenttype=json", "contenttype=JSON", "contenttype"),
            ("contenttype=json", "contenttype=xml", "contenttype"),
            ("random=99", "random=99&random=98", "random"),
            ("usersig=abc", "usersig=abc&usersig=abc", "usersig"),
        ] {
            let (code, msg) = code_of(&GOOD.replace(from, to));
            assert_eq!(
                code == FailureKind::BadAppIdParam,
                name == "sdkappid",
                "{to}"
            );
            assert!(msg.contains(name), "{to}: {msg}");
        }
    }

    #[test]
    fn encoded_pairs_decode_like_form_urlencoded() {
        for q in [
            "sdkappid=1400000001&identifier=a%2Bb+c&usersig=x%3D%3D&random=99&contenttype=json",
            "%73dkappid=1400000001&identifier=adm&&usersig=abc&random=99&contenttype=json&",
            "sdkappid=1400000001&identifier=x=y&usersig=abc&random=99&contenttype=json&flag",
            "sdkappid=1400000001&identifier=%FF%FE&usersig=a+b&random=99&contenttype=js%6Fn",
        ] {
            let got = parse_query(Some(q)).unwrap();
            let want: std::collections::HashMap<String, String> =
                form_urlencoded::parse(q.as_bytes())
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect();
            assert_eq!(want["identifier"], got.identifier, "{q}");
            assert_eq!(want["usersig"], got.usersig, "{q}");
        }
        let q = parse_query(Some(
            "sdkappid=1400000001&identifier=a%2Bb+c&usersig=x%3D%3D&random=99&contenttype=json",
        ))
        .unwrap();
        assert_eq!(q.identifier, "a+b c");
        assert_eq!(q.usersig, "x==");
        let q = parse_query(Some(
            "sdkappid=1400000001&identifier=x=y&usersig=%FF&random=99&contenttype=json",
        ))
        .unwrap();
        assert_eq!(q.identifier, "x=y");
        assert_eq!(q.usersig, "\u{fffd}");
        let (code, msg) = code_of(&format!("{GOOD}&%73dkappid=1"));
        assert!(matches!(
            code,
            FailureKind::BadQuery | FailureKind::BadAppIdParam
        ));
        assert!(msg.contains("sdkappid"), "{msg}");
        let (code, msg) = code_of(&GOOD.replace("usersig=abc", "usersig="));
        assert!(matches!(
            code,
            FailureKind::BadQuery | FailureKind::BadAppIdParam
        ));
        assert!(msg.contains("usersig"), "{msg}");
        let (code, _) = code_of(&GOOD.replace("usersig=abc", "usersig"));
        assert!(matches!(
            code,
            FailureKind::BadQuery | FailureKind::BadAppIdParam
        ));
    }

    #[test]
    fn parameter_names_are_case_sensitive() {
        let (code, msg) = code_of(&GOOD.replace("sdkappid=", "SdkAppId="));
        assert!(matches!(
            code,
            FailureKind::BadQuery | FailureKind::BadAppIdParam
        ));
        assert!(msg.contains("sdkappid"));
    }

    #[test]
    fn sdkappid_is_checked_before_the_other_parameters() {
        let (kind, msg) = code_of("random=1&random=2&identifier=a");
        assert_eq!(kind, FailureKind::BadAppIdParam, "{msg}");
        let (kind, msg) = code_of("sdkappid=1&sdkappid=1&random=x");
        assert_eq!(kind, FailureKind::BadAppIdParam, "{msg}");
        let (kind, _) = code_of("sdkappid=1&random=x");
        assert_eq!(kind, FailureKind::BadQuery);
    }
}
