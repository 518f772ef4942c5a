//! RFC 3339 timestamps as Prometheus and Alertmanager write them (`…Z` or `…+01:00`,
//! nanoseconds), and the ones the fire drill sends.

use std::time::{Duration, SystemTime};

/// Parses an RFC 3339 timestamp with a `Z` or `±hh:mm` offset. Go's zero time
/// (`0001-01-01T00:00:00Z`, "never") and anything before the Unix epoch give `None`.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (base, offset_secs) = split_offset(s)?;
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).ok()?;
    let secs = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 {
        utc.checked_sub(secs)
    } else {
        utc.checked_add(secs)
    }
}

/// Splits `2026-01-01T10:00:00.5+01:00` into the local part and the offset in seconds.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(base) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((base, 0));
    }
    let at = s.len().checked_sub(6)?;
    let (base, off) = s.split_at(at);
    let sign = match off.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = off[1..].split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    Some((base, sign * (h * 3600 + m * 60)))
}

/// `t` as RFC 3339 in UTC with milliseconds (what the Alertmanager API takes).
pub fn format_rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_nanoseconds_are_understood() {
        let z = parse_rfc3339("2026-12-02T22:40:13.026522731Z").unwrap();
        let plus = parse_rfc3339("2026-12-02T23:40:13.026522731+01:00").unwrap();
        let minus = parse_rfc3339("2026-12-02T20:10:13.026522731-02:30").unwrap();
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            None,
            "Go's zero time is never"
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
    }
}
