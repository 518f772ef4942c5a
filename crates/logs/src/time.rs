//! Epoch conversions. StartQuery takes epoch **seconds**; FilterLogEvents, GetLogEvents and
//! the event timestamps they return are epoch **milliseconds** (aws-facts gotcha 23).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch (negative before 1970).
pub(crate) fn epoch_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The instant `ms` milliseconds after the epoch (clamped at the epoch).
pub(crate) fn from_epoch_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// RFC 3339 with milliseconds, UTC (`2024-05-01T12:00:00.123Z`).
pub(crate) fn format_ms(ms: i64) -> String {
    humantime::format_rfc3339_millis(from_epoch_ms(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        assert_eq!(epoch_ms(t), 1_714_564_800_123);
        assert_eq!(from_epoch_ms(1_714_564_800_123), t);
        assert_eq!(format_ms(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
    }

    #[test]
    fn before_epoch_is_negative() {
        let t = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(epoch_ms(t), -5);
        assert_eq!(from_epoch_ms(-5), UNIX_EPOCH);
    }
}
