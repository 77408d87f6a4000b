//! JSON helpers both generations share: request bodies typed by hand from [`serde_json::Value`]
//! (so a wrong JSON type is told apart from a bad value: [`FieldError`]), `null` counting as
//! absent and unknown fields ignored; and the string and number writers of the hand-written
//! answer fast paths.

use serde_json::{Map, Value};

use crate::failure::Failure;

/// Appends `s` as a JSON string exactly as `serde_json` writes it (it escapes only `"`, `\\` and
/// control characters; those rare strings go through `serde_json` itself).
pub fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serializing a string cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

pub fn push_int(out: &mut String, n: impl std::fmt::Display) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = write!(out, "{n}");
}

/// A problem with one body field: a wrong JSON type (70009 at the top level) or a bad value
/// (70001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The field has the wrong JSON type.
    WrongType(String),
    /// The field is missing or its value is invalid.
    Invalid(String),
}

impl FieldError {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            FieldError::WrongType(m) | FieldError::Invalid(m) => m,
        }
    }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::WrongType(m) => Failure::bad_body(m),
            FieldError::Invalid(m) => Failure::invalid(m),
        }
    }
}

/// Most JSON values (array elements, object members, and the body itself) one request body may
/// hold. A parsed value costs about 100 bytes of memory whatever its text's size (`0,` is two
/// bytes), so without this bound an 8 MiB body could take over 200 MB to parse; real requests
/// hold at most a few tens of thousands (a report of 1 000 events: about 12 000).
pub const MAX_VALUES: usize = 100_000;

/// Memory a parsed body may take per value, for the body budget (see [`parse_cost`]).
const BYTES_PER_VALUE: usize = 128;

/// Most nesting the scan follows; the parser itself stops at 128 levels.
const MAX_SCAN_DEPTH: usize = 1024;

/// How many JSON values `body` holds (counted from its text without parsing it, an upper
/// bound for text that is not valid JSON), or a failure past [`MAX_VALUES`].
pub fn count_values(body: &[u8]) -> Result<usize, Failure> {
    // Per open container: whether it is an array, and whether a value has begun in it.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b',' => {
                if stack.last().is_some_and(|&(array, _)| array) {
                    values += 1;
                }
                continue;
            }
            b':' => {
                values += 1;
                continue;
            }
            b']' | b'}' => {
                stack.pop();
                continue;
            }
            _ => {}
        }
        // The first byte of a value (or a key): an array's first element counts here.
        if let Some((true, begun @ false)) = stack.last_mut() {
            *begun = true;
            values += 1;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if stack.len() == MAX_SCAN_DEPTH {
                    return Err(Failure::bad_body("request body is nested too deeply"));
                }
                stack.push((b == b'[', false));
            }
            _ => {}
        }
        if values > MAX_VALUES {
            break;
        }
    }
    if values > MAX_VALUES {
        return Err(Failure::bad_body(format!(
            "request body holds more than {MAX_VALUES} JSON values"
        )));
    }
    Ok(values)
}

/// What parsing `body` may take in memory, in bytes, at most: its values and a copy of its
/// text (strings and keys); a failure if it holds too many values.
pub fn parse_cost(body: &[u8]) -> Result<usize, Failure> {
    Ok(count_values(body)? * BYTES_PER_VALUE + body.len())
}

/// Parses a request body that must be a JSON object (else 70009).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::bad_body("request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::bad_body("request body is not a JSON object")),
        // The parser stopped at the literal and has not judged the rest: the body as a whole
        // comes first, so one that is no JSON object stays a bad body (70009).
        Err(e) if number_out_of_range(&e) => {
            match serde_json::from_slice::<Value>(&cap_huge_integers(body)) {
                Ok(Value::Object(_)) => Err(Failure::invalid(format!(
                    "an integer in the request body is out of range (line {}, column {})",
                    e.line(),
                    e.column()
                ))),
                Ok(_) => Err(Failure::bad_body("request body is not a JSON object")),
                Err(e) => Err(Failure::bad_body(format!(
                    "request body is not valid JSON: {e}"
                ))),
            }
        }
        Err(e) => Err(Failure::bad_body(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// `body` with every integer literal of 309 digits or more outside strings (those too large even
/// for a float; no fraction, no exponent) written as 2^64 with its sign, in one pass.
fn cap_huge_integers(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            out.push(b);
            if b == b'\\' {
                if let Some(&next) = body.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if !(b.is_ascii_digit() || b == b'-') {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        let sign = usize::from(b == b'-');
        let end = i
            + sign
            + body[i + sign..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .count();
        let huge = end - i - sign >= 309
            && !matches!(body.get(end), Some(b'.' | b'e' | b'E'))
            && !matches!(
                i.checked_sub(1).map(|k| body[k]),
                Some(b'.' | b'e' | b'E' | b'+')
            );
        if huge {
            out.extend_from_slice(&b"-18446744073709551616"[1 - sign..]);
        } else {
            out.extend_from_slice(&body[i..end]);
        }
        i = end;
    }
    out
}

/// Whether `e` is the parser giving up on a number too large even for a float: an integer of
/// over about 309 digits (out of range like any integer past 64 bits, 70001, once
/// [`cap_huge_integers`] has written it as 2^64) or a float such as `1e400` (which the cap leaves
/// alone, so the body stays malformed).
fn number_out_of_range(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("number out of range")
}

fn present<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

/// An optional string field.
pub fn opt_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::WrongType(format!("{name} must be a string"))),
    }
}

/// A required string field.
pub fn req_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    opt_str(obj, name)?.ok_or_else(|| FieldError::Invalid(format!("{name} is required")))
}

/// An optional integer field: a JSON integer (`1.5`, `1.0` and `"5"` are wrong types) that fits
/// an `i64` (larger ones are out of range).
pub fn opt_int(obj: &Map<String, Value>, name: &str) -> Result<Option<i64>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            // Integers past 64 bits reach us as floats (2^64, -2^63-1): out of range like 2^63,
            // not a type error. `-0` is the integer zero (the parser hands it over as -0.0).
            const BEYOND: f64 = 9_223_372_036_854_775_808.0; // 2^63
            let float = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0);
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() || float.is_some_and(|f| f.abs() >= BEYOND) {
                Err(FieldError::Invalid(format!("{name} is out of range")))
            } else if float.is_some_and(|f| f == 0.0 && f.is_sign_negative()) {
                Ok(Some(0))
            } else {
                Err(FieldError::WrongType(format!("{name} must be an integer")))
            }
        }
        Some(_) => Err(FieldError::WrongType(format!("{name} must be an integer"))),
    }
}

/// An optional boolean field.
pub fn opt_bool(obj: &Map<String, Value>, name: &str) -> Result<Option<bool>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(FieldError::WrongType(format!(
            "{name} must be true or false"
        ))),
    }
}

/// A required integer field.
pub fn req_int(obj: &Map<String, Value>, name: &str) -> Result<i64, FieldError> {
    opt_int(obj, name)?.ok_or_else(|| FieldError::Invalid(format!("{name} is required")))
}

/// An optional array of strings.
pub fn opt_str_array(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, FieldError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(FieldError::WrongType(format!(
                    "{name}[{i}] must be a string"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(FieldError::WrongType(format!(
            "{name} must be an array of strings"
        ))),
    }
}

/// A call id field (`name` in the generation's spelling): a string of 1–128 characters.
pub fn call_id<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    let id = req_str(obj, name)?;
    let len = id.chars().count();
    if len == 0 || len > callrec_domain::MAX_ID_LEN {
        return Err(FieldError::Invalid(format!(
            "{name} must be 1-{} characters, got {len}",
            callrec_domain::MAX_ID_LEN
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {

    #[test]
    fn values_are_counted_from_the_text() {
        for (text, want) in [
            (&b"{}"[..], 1),
            (b"[]", 1),
            (b"[1]", 2),
            (b"[1,2,3]", 4),
            (br#"{"a":1,"b":[1,2],"c":{"d":"x,y:[z"}}"#, 7),
            (br#"{"a":"\"],:"}"#, 2),
            (b" [ [ ], [ 0 ] ] ", 4),
        ] {
            assert_eq!(
                count_values(text).unwrap(),
                want,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn integers_too_large_for_a_float_are_out_of_range_not_malformed() {
        let nines = "9".repeat(400);
        for (text, kind) in [
            (
                format!(r#"{{"a":{nines}}}"#),
                crate::failure::FailureKind::InvalidField,
            ),
            (
                format!("{{\n\"a\":\n-{nines} }}"),
                crate::failure::FailureKind::InvalidField,
            ),
            (
                format!(r#"{{"a":[1,{nines}]}}"#),
                crate::failure::FailureKind::InvalidField,
            ),
            (
                r#"{"a":1e400}"#.to_owned(),
                crate::failure::FailureKind::BadBody,
            ),
            (
                format!(r#"{{"a":{nines}.5}}"#),
                crate::failure::FailureKind::BadBody,
            ),
            (
                format!(r#"{{"a":{nines}e1}}"#),
                crate::failure::FailureKind::BadBody,
            ),
        ] {
            let err = parse_object(text.as_bytes()).unwrap_err();
            assert_eq!(err.kind, kind, "{text}: {err:?}");
        }
    }

    #[test]
    fn a_body_that_is_no_json_object_is_a_bad_body_even_with_a_huge_integer_in_it() {
        // Found by the `body` fuzz target: the parser stops at the literal, so these answered
        // 70001 "out of range" instead of 70009.
        let nines = "9".repeat(400);
        for text in [
            format!("[{nines}]"),
            nines.clone(),
            format!("-{nines}"),
            format!(r#"{{"a":{nines}"#),
            format!(r#"{{"a":{nines},}}"#),
            format!(r#"{{"a":{nines},"b":{nines}.5}}"#),
        ] {
            let err = parse_object(text.as_bytes()).unwrap_err();
            assert_eq!(err.kind, FailureKind::BadBody, "{text}: {err:?}");
        }
        for text in [
            format!(r#"{{"a":{nines},"b":-{nines},"c":"x\"{nines}"}}"#),
            format!(r#"{{"a":"[{nines}","b":{nines}}}"#),
        ] {
            let err = parse_object(text.as_bytes()).unwrap_err();
            assert_eq!(err.kind, FailureKind::InvalidField, "{text}: {err:?}");
        }
        assert!(parse_object(format!(r#"{{"s":"{nines}"}}"#).as_bytes()).is_ok());
    }

    #[test]
    fn too_many_values_or_too_deep_nesting_is_a_bad_body() {
        let mut many = String::from("[");
        many.push_str(&"0,".repeat(MAX_VALUES));
        many.push('0');
        many.push(']');
        let err = count_values(many.as_bytes()).unwrap_err();
        assert_eq!(err.kind, crate::failure::FailureKind::BadBody);
        let deep = "[".repeat(MAX_SCAN_DEPTH + 1);
        let err = count_values(deep.as_bytes()).unwrap_err();
        assert_eq!(err.kind, crate::failure::FailureKind::BadBody);
        // Right at the bound: accepted.
        let mut ok = String::from("[");
        ok.push_str(&"0,".repeat(MAX_VALUES - 2));
        ok.push_str("0]");
        assert_eq!(count_values(ok.as_bytes()).unwrap(), MAX_VALUES);
    }

    use super::*;
    use crate::failure::FailureKind;

    fn obj(text: &str) -> Map<String, Value> {
        parse_object(text.as_bytes()).unwrap()
    }

    #[test]
    fn body_that_is_empty_not_json_or_not_an_object_is_a_bad_body() {
        for body in ["", "  ", "{", "[]", "\"x\"", "5", "null"] {
            let err = parse_object(body.as_bytes()).unwrap_err();
            assert_eq!(err.kind, FailureKind::BadBody, "{body:?}");
        }
    }

    #[test]
    fn wrong_json_type_is_a_bad_body_and_missing_or_out_of_range_is_invalid() {
        let kind = |r: Result<i64, FieldError>| Failure::from(r.unwrap_err()).kind;
        assert_eq!(
            kind(req_int(&obj(r#"{"n":1.5}"#), "n")),
            FailureKind::BadBody
        );
        assert_eq!(
            kind(req_int(&obj(r#"{"n":1.0}"#), "n")),
            FailureKind::BadBody
        );
        assert_eq!(
            kind(req_int(&obj(r#"{"n":"5"}"#), "n")),
            FailureKind::BadBody
        );
        assert_eq!(kind(req_int(&obj(r#"{}"#), "n")), FailureKind::InvalidField);
        assert_eq!(
            kind(req_int(&obj(r#"{"n":null}"#), "n")),
            FailureKind::InvalidField
        );
        assert_eq!(
            kind(req_int(&obj(r#"{"n":18446744073709551615}"#), "n")),
            FailureKind::InvalidField
        );
        assert_eq!(req_int(&obj(r#"{"n":-7,"x":[1]}"#), "n"), Ok(-7));
        let s = req_str(&obj(r#"{"s":5}"#), "s").unwrap_err();
        assert_eq!(Failure::from(s).kind, FailureKind::BadBody);
        let a = opt_str_array(&obj(r#"{"a":["x",1]}"#), "a").unwrap_err();
        assert_eq!(Failure::from(a).kind, FailureKind::BadBody);
    }
}
