//! The largest and smallest numbers swarmgate accepts, checked where each
//! number enters (scenario, flags, files, servers), so that no later sum,
//! cast or `Instant +` can overflow or allocate without bound.

use std::time::Duration;

/// The longest duration anywhere (runs, waits, timeouts, stages, floors):
/// 30 days is past any load test, and far from `Instant`'s or `Duration`'s
/// overflow when added to now.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Users in one run: each holds a socket and a few KiB, and 1,000,000 is
/// already past what one machine's open-file limit allows.
pub const MAX_USERS: u64 = 1_000_000;

/// Users started, or iterations due, per second: slower than one in
/// `MAX_DURATION` would never happen within a run.
pub const MAX_RATE: f64 = 1_000_000.0;
pub const MIN_RATE: f64 = 1.0 / (MAX_DURATION.as_secs() as f64);

/// Values one `for_each` loop may run over.
pub const MAX_LOOP_VALUES: u64 = 1_000_000;

/// A duration from seconds, refused past [`MAX_DURATION`] instead of
/// panicking in `Duration::from_secs_f64`.
pub fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0 && value <= MAX_DURATION.as_secs_f64())
        .then(|| Duration::from_secs_f64(value))
}

/// A rate checked against [`MIN_RATE`]..=[`MAX_RATE`]; `what` names it in the error.
pub fn rate(value: f64, what: &str) -> Result<f64, String> {
    if value.is_finite() && (MIN_RATE..=MAX_RATE).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{what} must be between {MIN_RATE:.1e} (one in 30 days) and {MAX_RATE:.0} per second, got {value}"
        ))
    }
}

/// What the error says about a too-long duration.
pub fn too_long(text: &str) -> String {
    format!("duration `{text}` is longer than the limit of 30 days")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuse_what_would_overflow() {
        assert_eq!(seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seconds(1e20), None);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(MAX_DURATION.as_secs_f64()), Some(MAX_DURATION));
    }

    #[test]
    fn rates_are_kept_in_range() {
        assert!(rate(10.0, "spawn_rate").is_ok());
        assert!(rate(1e-300, "spawn_rate")
            .unwrap_err()
            .contains("spawn_rate"));
        assert!(rate(1e19, "arrival_rate").is_err());
        assert!(rate(f64::INFINITY, "x").is_err());
    }
}
