//! The wall clock, as the store reads it: the one place that turns
//! `SystemTime` into unix time, so every part of the store (and the daemon,
//! which calls these too) agrees on what "now" is and on what it is when
//! the clock is set before 1970: zero, never a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the unix epoch; zero if the clock is before it.
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Unix milliseconds now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    since_epoch().as_millis() as u64
}

/// Unix seconds now, rounded down (0 if the clock is before 1970).
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// Unix seconds now, with the fraction: event timestamps carry one, and
/// the checks against them (how far ahead an event is) keep it.
pub(crate) fn now_secs_f64() -> f64 {
    since_epoch().as_secs_f64()
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_readings_agree() {
        let secs = now_secs();
        let ms = now_ms();
        let f = now_secs_f64();
        assert!(secs > 1_600_000_000, "{secs}");
        assert!(ms / 1000 >= secs && ms / 1000 <= secs + 1, "{ms} {secs}");
        assert!(f >= secs as f64 && f < secs as f64 + 2.0, "{f} {secs}");
    }
}
