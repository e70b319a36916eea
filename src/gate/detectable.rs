//! What a pair of runs could have seen. An `unchanged` verdict means little
//! unless the reader knows how large a change these runs would have caught:
//! the smallest change that would have cleared the tolerance with the noise
//! they had, and how long both runs would have to be to catch a change of
//! twice the tolerance (an interval narrows as one over the square root of
//! the run's length, for independent and block-correlated requests alike).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detectable {
    /// The smallest change in the bad direction these runs would have
    /// called a regression: relative for latency and throughput (0.14 is
    /// +14%, -0.12 is -12%), a difference of fractions for the failure rate.
    pub change: f64,
    /// How long each run would need to be, in seconds, to catch a change
    /// of twice the tolerance; `None` when these runs already could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_secs_for_twice_tolerance: Option<f64>,
    /// The noise between runs (a history, rounds, paired rounds) set the
    /// interval, which longer runs would not narrow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub set_by_noise_between_runs: bool,
    /// With that noise, how many rounds (`--rounds N`) would catch a change
    /// of twice the tolerance; absent where rounds would not, or no number
    /// up to 50 would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds_for_twice_tolerance: Option<usize>,
}

impl Detectable {
    /// The same, the interval set by the noise between runs: no run length
    /// would do, `rounds` might.
    pub fn set_by_runs(self, rounds: Option<usize>) -> Self {
        Detectable {
            run_secs_for_twice_tolerance: None,
            set_by_noise_between_runs: true,
            rounds_for_twice_tolerance: rounds,
            ..self
        }
    }
}

/// For a relative change with `interval` (both of `current / baseline -
/// 1`); `worse` is 1 when a rise is bad, -1 when a fall is. `None` when the
/// interval is unbounded on the bad side: no change could have shown.
pub fn relative(
    change: f64,
    interval: (f64, f64),
    allowed: f64,
    worse: f64,
    seconds: f64,
) -> Option<Detectable> {
    let log = |x: f64| (1.0 + x).ln();
    let spread = if worse > 0.0 {
        log(change) - log(interval.0)
    } else {
        log(interval.1) - log(change)
    };
    if !spread.is_finite() || spread < 0.0 {
        return None;
    }
    let (detectable, target) = if worse > 0.0 {
        (
            (log(allowed) + spread).exp() - 1.0,
            log(2.0 * allowed) - log(allowed),
        )
    } else {
        (
            (log(-allowed) - spread).exp() - 1.0,
            log(-allowed) - log(-2.0 * allowed),
        )
    };
    Some(Detectable {
        change: detectable,
        run_secs_for_twice_tolerance: longer_run(spread, target, seconds),
        set_by_noise_between_runs: false,
        rounds_for_twice_tolerance: None,
    })
}

/// For a difference (the failure rate), where a rise is bad.
pub fn difference(
    change: f64,
    interval: (f64, f64),
    allowed: f64,
    seconds: f64,
) -> Option<Detectable> {
    let spread = change - interval.0;
    if !spread.is_finite() || spread < 0.0 {
        return None;
    }
    Some(Detectable {
        change: allowed + spread,
        run_secs_for_twice_tolerance: longer_run(spread, allowed, seconds),
        set_by_noise_between_runs: false,
        rounds_for_twice_tolerance: None,
    })
}

/// The half width, in the units the gate judges a metric in (log ratio,
/// or fractions for a failure rate), at which a change of twice the
/// tolerance `allowed` would just clear it.
pub fn twice_tolerance_half_width(allowed: f64, ratio: bool) -> f64 {
    if ratio {
        (1.0 + 2.0 * allowed).ln() - (1.0 + allowed).ln()
    } else {
        allowed
    }
}

/// The run length at which an interval of half width `spread` narrows to
/// `target`, if these runs are too short.
fn longer_run(spread: f64, target: f64, seconds: f64) -> Option<f64> {
    if !(target.is_finite() && target > 0.0 && seconds > 0.0) || spread <= target {
        return None;
    }
    Some(seconds * (spread / target).powi(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_interval_detects_only_large_changes_and_asks_for_a_longer_run() {
        // +0% with a lower bound of -20%, tolerance 10%: a true +37.5%
        // would have put the lower bound at +10%.
        let seen = relative(0.0, (-0.2, 0.25), 0.1, 1.0, 8.0).unwrap();
        assert!((seen.change - (1.1 / 0.8 - 1.0)).abs() < 1e-9, "{seen:?}");
        // The log spread 0.223 must shrink to ln(1.2/1.1) = 0.087: (2.56)²
        // times as long.
        let secs = seen.run_secs_for_twice_tolerance.unwrap();
        let expected = 8.0 * ((1.0f64 / 0.8).ln() / (1.2f64 / 1.1).ln()).powi(2);
        assert!((secs - expected).abs() < 1e-6, "{secs}");
        // A narrow interval needs no longer run.
        let narrow = relative(0.0, (-0.02, 0.02), 0.1, 1.0, 8.0).unwrap();
        assert!(narrow.change < 0.13 && narrow.run_secs_for_twice_tolerance.is_none());
        // Unbounded on the bad side: nothing could have shown.
        assert_eq!(relative(0.5, (-1.0, 9.0), 0.1, 1.0, 8.0), None);
    }

    #[test]
    fn a_fall_is_bad_for_throughput() {
        let seen = relative(0.0, (-0.1, 0.1), 0.1, -1.0, 8.0).unwrap();
        assert!((seen.change - (0.9 / 1.1 - 1.0)).abs() < 1e-9, "{seen:?}");
        assert_eq!(relative(0.0, (-0.5, f64::INFINITY), 0.1, -1.0, 8.0), None);
    }

    #[test]
    fn failure_rates_detect_by_points() {
        let seen = difference(0.0, (-0.005, 0.03), 0.01, 10.0).unwrap();
        assert!((seen.change - 0.015).abs() < 1e-12);
        assert_eq!(seen.run_secs_for_twice_tolerance, None);
        let wide = difference(0.0, (-0.02, 0.03), 0.01, 10.0).unwrap();
        assert!((wide.run_secs_for_twice_tolerance.unwrap() - 40.0).abs() < 1e-9);
    }
}
