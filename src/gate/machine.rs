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

/// How much slower CPU work ran during a run, by its own measures.
fn run_slowdown(machine: &MachineWatch) -> f64 {
    1.0 / (1.0 - (machine.cpu_pressure + machine.steal).clamp(0.0, 0.9))
}

/// `None` when the two machines were alike, or nothing is known of the
/// current one's background. A baseline without a record (a Locust CSV, an
/// older file) counts as a quiet machine: it cannot make a busy run fail.
///
/// Two measures, for two questions. Was the machine busy with other work?
/// Only the background (busy threads before the first request) says, since
/// a service on the same host that burns CPU per request raises every
/// measure taken under the load, and its slowdown must fail. How much did
/// that slow the run? The run's own pressure and timer lag say, since a
/// mostly sleeping service loses far less to other work than a busy thread
/// does; the background bounds what they may excuse.
pub fn allowance(
    baseline: Option<&MachineWatch>,
    current: Option<&MachineWatch>,
) -> Option<Allowance> {
    let current = current?;
    let current_background = current.background?;
    let recorded = baseline.and_then(|b| Some((b, b.background?)));
    let known = recorded.is_some();
    let background_ratio = current_background.slowdown()
        / recorded.map_or(1.0, |(_, background)| background.slowdown());
    if (1.0 / ALIKE..=ALIKE).contains(&background_ratio) {
        return None;
    }
    let busier_now = background_ratio > 1.0;
    let (run_ratio, lag_shift_ms) = match recorded {
        Some((baseline, _)) => (
            run_slowdown(current) / run_slowdown(baseline),
            (
                current.timer_lag_p50_ms - baseline.timer_lag_p50_ms,
                current.timer_lag_p99_ms - baseline.timer_lag_p99_ms,
            ),
        ),
        // Nothing is known of the baseline's timers, so they do not count.
        None => (run_slowdown(current), (0.0, 0.0)),
    };
    // Only a change in the direction the background went is explained.
    let (slowdown, lag_shift_ms) = if busier_now {
        (
            run_ratio.clamp(1.0, background_ratio),
            (lag_shift_ms.0.max(0.0), lag_shift_ms.1.max(0.0)),
        )
    } else {
        (
            run_ratio.clamp(background_ratio, 1.0),
            (lag_shift_ms.0.min(0.0), lag_shift_ms.1.min(0.0)),
        )
    };
    if (1.0 / ALIKE..=ALIKE).contains(&slowdown)
        && lag_shift_ms.0.abs() < LAG_NOISE_MS
        && lag_shift_ms.1.abs() < LAG_NOISE_MS
    {
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
        "before the load a busy thread got {} of a CPU{}; during the run CPU pressure {}{}",
        percent(current_background.cpu_share),
        of_baseline(percent(
            recorded.map_or(1.0, |(_, background)| background.cpu_share)
        )),
        percent(current.cpu_pressure + current.steal),
        of_baseline(percent(
            recorded.map_or(0.0, |(baseline, _)| baseline.cpu_pressure + baseline.steal)
        )),
    );
    if lag_shift_ms.1.abs() >= LAG_NOISE_MS {
        evidence.push_str(&format!(
            ", generator timer lag p99 {:.1} ms{}",
            current.timer_lag_p99_ms,
            of_baseline(format!(
                "{:.1} ms",
                recorded.map_or(0.0, |(baseline, _)| baseline.timer_lag_p99_ms)
            ))
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
    use crate::metrics::watch::Background;

    /// A machine whose busy threads got `share` of a CPU before the run,
    /// with `pressure` and timer lag p99 `lag_p99_ms` during it.
    fn machine(share: f64, pressure: f64, lag_p99_ms: f64) -> MachineWatch {
        MachineWatch {
            timer_lag_p50_ms: 0.1,
            timer_lag_p99_ms: lag_p99_ms,
            cpu_pressure: pressure,
            pressure_measured: true,
            cores: 2,
            background: Some(Background { cpu_share: share }),
            ..MachineWatch::default()
        }
    }

    #[test]
    fn alike_machines_explain_nothing() {
        let quiet = machine(1.0, 0.05, 0.3);
        assert!(allowance(Some(&quiet), Some(&machine(0.98, 0.07, 0.4))).is_none());
        assert!(allowance(Some(&quiet), None).is_none());
    }

    #[test]
    fn a_busy_run_against_a_quiet_baseline_is_explained_by_what_the_run_saw() {
        let allowance = allowance(
            Some(&machine(1.0, 0.02, 0.3)),
            Some(&machine(0.5, 0.6, 4.0)),
        )
        .unwrap();
        // The run's pressure says ×2.45, the background allows up to ×2.
        assert!((allowance.slowdown - 2.0).abs() < 1e-9);
        assert!(allowance.busier_now());
        // p99 of 2 ms may become 2 × 2 + 3.7 ms.
        let factor = allowance.latency_factor(0.99, 2.0);
        assert!((factor - (2.0 * 2.0 + 3.7) / 2.0).abs() < 0.01, "{factor}");
        for expected in [
            "a busy thread got 50% of a CPU vs 100%",
            "CPU pressure 60% vs 2%",
            "timer lag p99 4.0 ms vs 0.3 ms",
        ] {
            assert!(
                allowance.evidence.contains(expected),
                "{}",
                allowance.evidence
            );
        }
    }

    #[test]
    fn a_busy_run_against_an_unrecorded_baseline_counts_the_baseline_quiet() {
        assert!(allowance(None, Some(&machine(1.0, 0.5, 3.0))).is_none());
        let allowance = allowance(None, Some(&machine(0.5, 0.5, 0.2))).unwrap();
        assert!((allowance.slowdown - 2.0).abs() < 1e-9);
        assert!(allowance.evidence.contains("no record"));
    }

    #[test]
    fn a_machine_busy_only_under_the_load_explains_nothing() {
        // The service on the same host burning CPU per request: pressure
        // and lag rise during the run, but the machine was quiet before it.
        let hungry = machine(1.0, 0.7, 9.0);
        assert!(allowance(Some(&machine(1.0, 0.02, 0.3)), Some(&hungry)).is_none());
        // A run with no background record cannot be excused at all.
        let unwatched = MachineWatch {
            background: None,
            ..machine(0.3, 0.8, 9.0)
        };
        assert!(allowance(Some(&machine(1.0, 0.02, 0.3)), Some(&unwatched)).is_none());
    }

    #[test]
    fn a_busier_baseline_explains_an_improvement_only() {
        let allowance = allowance(
            Some(&machine(0.5, 0.3, 3.0)),
            Some(&machine(1.0, 0.02, 0.3)),
        )
        .unwrap();
        assert!(!allowance.busier_now());
        assert!(allowance.slowdown < 1.0 && allowance.slowdown >= 0.5);
        assert!(allowance.lag_shift_ms.1 <= 0.0);
    }
}
