//! Time arguments of `records filter`: Unix seconds, RFC 3339, `now`, or relative to now
//! (`-30s`, `-15m`, `-1h`, `-7d`, `-2w`), and the UTC rendering used in tables.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses a time argument into Unix seconds, relative ones against `now` (Unix seconds).
pub fn parse(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Ok(secs) = t.parse::<i64>() {
        return Ok(secs);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
        let (n, unit) = rel.split_at(split);
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad(text)),
        };
        let n: i64 = n.parse().map_err(|_| bad(text))?;
        return n
            .checked_mul(unit_secs)
            .and_then(|d| now.checked_sub(d))
            .ok_or_else(|| bad(text));
    }
    OffsetDateTime::parse(t, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| bad(text))
}

fn bad(text: &str) -> String {
    format!(
        "cannot read time {text:?}: use Unix seconds, RFC 3339 (2024-05-01T12:00:00Z), now, or -30s/-15m/-1h/-7d/-2w"
    )
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_utc(unix_secs: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(unix_secs) else {
        return unix_secs.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A duration as `45s`, `3m07s` or `1h02m03s`.
pub fn format_duration(secs: i64) -> String {
    let s = secs.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn unix_seconds_rfc3339_now_and_relative_times_parse() {
        assert_eq!(parse("1600000000", NOW), Ok(1_600_000_000));
        assert_eq!(parse("now", NOW), Ok(NOW));
        assert_eq!(parse("-1h", NOW), Ok(NOW - 3600));
        assert_eq!(parse("-7d", NOW), Ok(NOW - 7 * 86_400));
        assert_eq!(parse("-2w", NOW), Ok(NOW - 14 * 86_400));
        assert_eq!(parse("-30s", NOW), Ok(NOW - 30));
        assert_eq!(parse("-15m", NOW), Ok(NOW - 900));
        assert_eq!(parse("2023-11-14T22:13:20Z", NOW), Ok(NOW));
        assert_eq!(parse("2023-11-15T06:13:20+08:00", NOW), Ok(NOW));
    }

    #[test]
    fn malformed_times_are_refused_with_the_accepted_forms() {
        for t in ["", "-", "-1y", "-h", "yesterday", "2023-11-14"] {
            let err = parse(t, NOW).unwrap_err();
            assert!(err.contains("RFC 3339"), "{t}: {err}");
        }
    }

    #[test]
    fn times_and_durations_render_readably() {
        assert_eq!(format_utc(NOW), "2023-11-14 22:13:20");
        assert_eq!(format_duration(45), "45s");
        assert_eq!(format_duration(187), "3m07s");
        assert_eq!(format_duration(3723), "1h02m03s");
    }
}
