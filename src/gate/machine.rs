//! What a busier machine explains. A run on a machine whose CPUs were
//! contended (other jobs on a shared runner, stolen by the hypervisor) or
//! whose generator fell behind its own timers is slower for reasons that
//! are not the service's. Such a change is not a regression: the gate asks
//! whether the change is still beyond the tolerance once the baseline is
//! moved by what the machine explains, and if not calls it inconclusive,
//! saying why.

use crate::metrics::watch::MachineWatch;

/// Machines closer than this count as alike: the runs' own noise.
const ALIKE: f64 = 1.05;
/// Timer lag differences below this are the timer's granularity (tokio's
/// timers fire on whole milliseconds) and a busy generator's own noise.
const LAG_NOISE_MS: f64 = 1.0;

/// How the current run's machine differed from the baseline's.
#[derive(Debug, Clone)]
pub struct Allowance {
    /// How much slower CPU work ran now than in the baseline; below 1 when
    /// the baseline's machine was the busier.
    pub slowdown: f64,
    /// How much later the generator's timer fired now, ms, at p50 and p99.
    pub lag_shift_ms: (f64, f64),
    /// `CPU pressure 62% vs 3%, timer lag p99 3.1 ms vs 0.2 ms`.
    pub evidence: String,
}

/// `None` when the two machines were alike, or nothing is known of the
/// current one. A baseline without a record (a Locust CSV, an older file)
/// counts as a quiet machine: it cannot make a busy run fail.
pub fn allowance(
    baseline: Option<&MachineWatch>,
    current: Option<&MachineWatch>,
) -> Option<Allowance> {
    let current = current?;
    // Nothing is known of the baseline's timers, so they do not count.
    let quiet = MachineWatch {
        timer_lag_p50_ms: current.timer_lag_p50_ms,
        timer_lag_p99_ms: current.timer_lag_p99_ms,
        ..MachineWatch::default()
    };
    let known = baseline.is_some();
    let baseline = baseline.unwrap_or(&quiet);
    let slowdown = current.slowdown() / baseline.slowdown();
    let lag_shift_ms = (
        current.timer_lag_p50_ms - baseline.timer_lag_p50_ms,
        current.timer_lag_p99_ms - baseline.timer_lag_p99_ms,
    );
    let alike = (1.0 / ALIKE..=ALIKE).contains(&slowdown)
        && lag_shift_ms.0.abs() < LAG_NOISE_MS
        && lag_shift_ms.1.abs() < LAG_NOISE_MS;
    if alike {
        return None;
    }
    let percent = |share: f64| format!("{:.0}%", share * 100.0);
    let of_baseline = |text: String| {
        if known {
            format!(" vs {text}")
        } else {
            String::new()
        }
    };
    let mut evidence = format!(
        "CPU pressure {}{}",
        percent(current.cpu_pressure + current.steal),
        of_baseline(percent(baseline.cpu_pressure + baseline.steal))
    );
    if lag_shift_ms.1.abs() >= LAG_NOISE_MS {
        evidence.push_str(&format!(
            ", generator timer lag p99 {:.1} ms{}",
            current.timer_lag_p99_ms,
            of_baseline(format!("{:.1} ms", baseline.timer_lag_p99_ms))
        ));
    }
    if !known {
        evidence.push_str("; the baseline has no record of its machine");
    }
    Some(Allowance {
        slowdown,
        lag_shift_ms,
        evidence,
    })
}

impl Allowance {
    /// The factor a latency at quantile `q` of `baseline_ms` may have grown
    /// by for the machine's sake: CPU work slower by `slowdown`, plus the
    /// generator's later timers, at the nearest probed percentile.
    pub fn latency_factor(&self, q: f64, baseline_ms: f64) -> f64 {
        let t = ((q - 0.5) / 0.49).clamp(0.0, 1.0);
        let shift = self.lag_shift_ms.0 + t * (self.lag_shift_ms.1 - self.lag_shift_ms.0);
        if baseline_ms <= 0.0 {
            return self.slowdown;
        }
        (self.slowdown * baseline_ms + shift).max(0.0) / baseline_ms
    }

    /// The factor throughput may have shrunk by: a closed loop whose
    /// latencies are slower sends less.
    pub fn throughput_factor(&self) -> f64 {
        1.0 / self.slowdown
    }

    pub fn busier_now(&self) -> bool {
        self.slowdown > 1.0 || self.lag_shift_ms.1 > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(pressure: f64, lag_p99_ms: f64) -> MachineWatch {
        MachineWatch {
            timer_lag_p50_ms: 0.1,
            timer_lag_p99_ms: lag_p99_ms,
            cpu_pressure: pressure,
            pressure_measured: true,
            cores: 2,
            ..MachineWatch::default()
        }
    }

    #[test]
    fn alike_machines_explain_nothing() {
        assert!(allowance(Some(&machine(0.05, 0.3)), Some(&machine(0.07, 0.4))).is_none());
        assert!(allowance(Some(&machine(0.05, 0.3)), None).is_none());
    }

    #[test]
    fn a_busy_run_against_a_quiet_baseline_is_explained() {
        let allowance = allowance(Some(&machine(0.02, 0.3)), Some(&machine(0.6, 4.0))).unwrap();
        assert!((allowance.slowdown - 0.98 / 0.4).abs() < 1e-9);
        assert!(allowance.busier_now());
        // p99 of 2 ms may become 2 × 2.45 + 3.7 ms.
        let factor = allowance.latency_factor(0.99, 2.0);
        assert!((factor - (2.0 * 2.45 + 3.7) / 2.0).abs() < 0.01, "{factor}");
        assert!(
            allowance.evidence.contains("CPU pressure 60% vs 2%"),
            "{}",
            allowance.evidence
        );
        assert!(allowance
            .evidence
            .contains("timer lag p99 4.0 ms vs 0.3 ms"));
    }

    #[test]
    fn a_busy_run_against_an_unrecorded_baseline_counts_the_baseline_quiet() {
        assert!(allowance(None, Some(&machine(0.02, 3.0))).is_none());
        let allowance = allowance(None, Some(&machine(0.5, 0.2))).unwrap();
        assert!((allowance.slowdown - 2.0).abs() < 1e-9);
        assert!(allowance.evidence.contains("no record"));
    }
}
