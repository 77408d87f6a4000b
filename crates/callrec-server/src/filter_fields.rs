//! The record extensions' filter fields (docs/api.md), read from a request body under a
//! generation's names: one reader, two tables of names, so both generations judge the fields
//! alike.

use callrec_domain::{MAX_CALL_IDS, MAX_ID_LEN, MediaType, Order, RecordFilter};
use serde_json::{Map, Value};

use crate::failure::Failure;
use crate::json::{opt_int, opt_str, opt_str_array};

/// A generation's names of the filter fields and of the media types.
#[derive(Debug)]
pub struct Names {
    /// The caller or a callee.
    pub user: &'static str,
    /// The caller.
    pub caller: &'static str,
    /// A callee.
    pub callee: &'static str,
    /// The media type, and its values for audio and video.
    pub media: (&'static str, &'static str, &'static str),
    /// The room.
    pub room: &'static str,
    /// Least and most connected seconds.
    pub duration: (&'static str, &'static str),
    /// The list of call ids.
    pub call_ids: &'static str,
    /// `asc` / `desc`.
    pub order: &'static str,
}

/// v1's names.
pub const V1: Names = Names {
    user: "userId",
    caller: "caller",
    callee: "callee",
    media: ("mediaType", "audio", "video"),
    room: "roomId",
    duration: ("minDurationSecs", "maxDurationSecs"),
    call_ids: "callIds",
    order: "order",
};

/// v4's names.
pub const V4: Names = Names {
    user: "UserId",
    caller: "Caller_Account",
    callee: "Callee_Account",
    media: ("MediaType", "Audio", "Video"),
    room: "RoomId",
    duration: ("MinDuration", "MaxDuration"),
    call_ids: "CallIdList",
    order: "Order",
};

/// An identifier field: a non-empty string of at most [`MAX_ID_LEN`] characters.
fn id(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    let Some(v) = opt_str(body, name)? else {
        return Ok(None);
    };
    if v.is_empty() {
        return Err(Failure::invalid(format!("{name} must not be empty")));
    }
    if v.chars().count() > MAX_ID_LEN {
        return Err(Failure::invalid(format!(
            "{name} is longer than {MAX_ID_LEN} characters"
        )));
    }
    Ok(Some(v.to_owned()))
}

/// Reads the filter fields and the order. Types are checked first (a wrong JSON type is a bad
/// body), then values.
pub fn parse(body: &Map<String, Value>, n: &Names) -> Result<(RecordFilter, Order), Failure> {
    let media = opt_str(body, n.media.0)?;
    let min = opt_int(body, n.duration.0)?;
    let max = opt_int(body, n.duration.1)?;
    let ids = opt_str_array(body, n.call_ids)?;
    let order = opt_str(body, n.order)?;
    let user = id(body, n.user)?;
    let caller = id(body, n.caller)?;
    let callee = id(body, n.callee)?;
    let room_id = id(body, n.room)?;
    let media_type = media
        .map(|m| match m {
            m if m == n.media.1 => Ok(MediaType::Audio),
            m if m == n.media.2 => Ok(MediaType::Video),
            other => Err(Failure::invalid(format!(
                "{} {other:?} is not {} or {}",
                n.media.0, n.media.1, n.media.2
            ))),
        })
        .transpose()?;
    for (name, v) in [(n.duration.0, min), (n.duration.1, max)] {
        if let Some(v) = v
            && v < 0
        {
            return Err(Failure::invalid(format!(
                "{name} must be 0 or more, got {v}"
            )));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(Failure::invalid(format!(
            "{} {lo} is more than {} {hi}",
            n.duration.0, n.duration.1
        )));
    }
    if let Some(ids) = &ids {
        if ids.is_empty() || ids.len() > MAX_CALL_IDS {
            return Err(Failure::invalid(format!(
                "{} must list 1-{MAX_CALL_IDS} call ids, got {}",
                n.call_ids,
                ids.len()
            )));
        }
        if let Some(i) = ids
            .iter()
            .position(|c| c.is_empty() || c.chars().count() > MAX_ID_LEN)
        {
            return Err(Failure::invalid(format!(
                "{}[{i}] must be 1-{MAX_ID_LEN} characters",
                n.call_ids
            )));
        }
    }
    let order = match order {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(other) => {
            return Err(Failure::invalid(format!(
                "{} {other:?} is not asc or desc",
                n.order
            )));
        }
    };
    Ok((
        RecordFilter {
            user,
            caller,
            callee,
            media_type,
            room_id,
            min_talk_secs: min,
            max_talk_secs: max,
            call_ids: ids,
        },
        order,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureKind;

    fn parse_json(text: &str, n: &Names) -> Result<(RecordFilter, Order), FailureKind> {
        let Value::Object(body) = serde_json::from_str(text).unwrap() else {
            panic!("an object")
        };
        parse(&body, n).map_err(|f| f.kind)
    }

    #[test]
    fn both_generations_read_every_field_under_their_names() {
        let (f, o) = parse_json(
            r#"{"userId":"a","caller":"b","callee":"c","mediaType":"video","roomId":"r",
                "minDurationSecs":1,"maxDurationSecs":9,"callIds":["x"],"order":"asc"}"#,
            &V1,
        )
        .unwrap();
        let want = RecordFilter {
            user: Some("a".into()),
            caller: Some("b".into()),
            callee: Some("c".into()),
            media_type: Some(MediaType::Video),
            room_id: Some("r".into()),
            min_talk_secs: Some(1),
            max_talk_secs: Some(9),
            call_ids: Some(vec!["x".into()]),
        };
        assert_eq!((f, o), (want.clone(), Order::Asc));
        let (f4, o4) = parse_json(
            r#"{"UserId":"a","Caller_Account":"b","Callee_Account":"c","MediaType":"Video",
                "RoomId":"r","MinDuration":1,"MaxDuration":9,"CallIdList":["x"],"Order":"asc"}"#,
            &V4,
        )
        .unwrap();
        assert_eq!((f4, o4), (want, Order::Asc));
        assert_eq!(
            parse_json("{}", &V1).unwrap(),
            (RecordFilter::default(), Order::Desc)
        );
        // v1 names mean nothing to v4 and the other way round.
        assert_eq!(
            parse_json(r#"{"mediaType":"nonsense"}"#, &V4).unwrap().0,
            RecordFilter::default()
        );
    }

    #[test]
    fn bad_values_are_invalid_and_wrong_types_are_bad_bodies() {
        for (body, kind) in [
            (r#"{"userId":""}"#, FailureKind::InvalidField),
            (r#"{"mediaType":"Video"}"#, FailureKind::InvalidField),
            (r#"{"minDurationSecs":-1}"#, FailureKind::InvalidField),
            (
                r#"{"minDurationSecs":5,"maxDurationSecs":4}"#,
                FailureKind::InvalidField,
            ),
            (r#"{"callIds":[]}"#, FailureKind::InvalidField),
            (r#"{"callIds":[""]}"#, FailureKind::InvalidField),
            (r#"{"order":"up"}"#, FailureKind::InvalidField),
            (r#"{"userId":5}"#, FailureKind::BadBody),
            (r#"{"callIds":"x"}"#, FailureKind::BadBody),
            (r#"{"minDurationSecs":1.5}"#, FailureKind::BadBody),
        ] {
            assert_eq!(parse_json(body, &V1).unwrap_err(), kind, "{body}");
        }
        let many: Vec<String> = (0..=MAX_CALL_IDS).map(|i| format!("c{i}")).collect();
        let body = serde_json::json!({ "callIds": many }).to_string();
        assert_eq!(
            parse_json(&body, &V1).unwrap_err(),
            FailureKind::InvalidField
        );
        let body = serde_json::json!({ "CallIdList": many[..MAX_CALL_IDS] }).to_string();
        assert!(parse_json(&body, &V4).is_ok());
    }
}
