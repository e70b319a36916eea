//! What a busier machine explains. A run on a machine whose CPUs were
//! contended (other jobs on a shared runner, stolen by the hypervisor) is
//! slower for reasons that are not the service's. Such a change is not a
//! regression: the gate asks whether the change is still beyond the
//! tolerance once the baseline is moved by what the machine explains, and
//! if not calls it inconclusive, saying why.
//!
//! The whole excuse is bounded by what was measured before the load: the
//! share of a CPU a busy thread got. A request's time is time on a CPU (or
//! waiting for one: the service's work, the generator's, a late timer) and
//! time off it (the network, sleeps); other work on the machine stretches
//! only the former, and by at most the ratio of the two runs' shares. What
//! the run measures under its own load (CPU pressure, timer lag) may say
//! how much of that bound a run used, never add beyond it: a service that
//! burns CPU per request raises those measures itself.

use crate::metrics::watch::MachineWatch;

/// Machines closer than this count as alike: the runs' own noise.
const ALIKE: f64 = 1.05;
/// Timer lag differences below this are the timer's granularity (tokio's
/// timers fire on whole milliseconds) and a busy generator's own noise.
const LAG_NOISE_MS: f64 = 1.0;

/// How the current run's machine differed from the baseline's.
#[derive(Debug, Clone)]
pub struct Allowance {
    /// How much slower CPU work ran now than in the baseline, from the
    /// backgrounds alone (below 1 when the baseline's machine was the
    /// busier): no factor of this allowance goes beyond it.
    pub bound: f64,
    /// How much slower CPU work ran during the run by its own measures,
    /// within `bound`.
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
        bound: background_ratio,
        slowdown,
        lag_shift_ms,
        evidence,
    })
}

impl Allowance {
    /// The factor a latency at quantile `q` of `baseline_ms` may have grown
    /// by for the machine's sake: CPU work slower by `slowdown`, plus the
    /// generator's later timers at the nearest probed percentile, and never
    /// beyond what the backgrounds explain.
    pub fn latency_factor(&self, q: f64, baseline_ms: f64) -> f64 {
        let t = ((q - 0.5) / 0.49).clamp(0.0, 1.0);
        let shift = self.lag_shift_ms.0 + t * (self.lag_shift_ms.1 - self.lag_shift_ms.0);
        let measured = if baseline_ms > 0.0 {
            (self.slowdown * baseline_ms + shift).max(0.0) / baseline_ms
        } else {
            self.slowdown
        };
        self.within_bound(measured)
    }

    /// The factor throughput may have shrunk by: a closed loop whose
    /// latencies are slower sends less.
    pub fn throughput_factor(&self) -> f64 {
        1.0 / self.within_bound(self.slowdown)
    }

    /// `factor` moved no further from 1 than the backgrounds allow, and
    /// only in the direction they went.
    fn within_bound(&self, factor: f64) -> f64 {
        if self.bound >= 1.0 {
            factor.clamp(1.0, self.bound)
        } else {
            factor.clamp(self.bound, 1.0)
        }
    }

    pub fn busier_now(&self) -> bool {
        self.bound > 1.0
    }

    /// `this run's machine was busier`, or the baseline's.
    pub fn whose(&self) -> &'static str {
        if self.busier_now() {
            "this run's machine was busier"
        } else {
            "the baseline's machine was busier"
        }
    }

    /// What a comparison at `factor` is told: the factor and its evidence.
    pub fn explains(&self, factor: f64) -> Explained {
        Explained {
            factor,
            whose: self.whose(),
            evidence: self.evidence.clone(),
        }
    }
}

/// How far a comparison's ratio current / baseline is explained by the
/// machines, and why.
#[derive(Debug, Clone)]
pub struct Explained {
    pub factor: f64,
    /// `this run's machine was busier`.
    pub whose: &'static str,
    /// `before the load a busy thread got 48% of a CPU vs 99%; …`.
    pub evidence: String,
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
        // The timer lag would say a p99 of 2 ms became 2 × 2 + 3.7 ms; the
        // background explains ×2 at most.
        assert!((allowance.latency_factor(0.99, 2.0) - 2.0).abs() < 1e-9);
        assert!((allowance.throughput_factor() - 0.5).abs() < 1e-9);
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

    /// The worked example: a background 6% worse, and 5 ms more
    /// timer lag at p99 on a 3 ms p99, once excused ×2.7.
    #[test]
    fn timer_lag_under_the_load_adds_nothing_beyond_the_background() {
        let allowance = allowance(
            Some(&machine(1.0, 0.02, 0.5)),
            Some(&machine(1.0 / 1.06, 0.02, 5.5)),
        )
        .unwrap();
        let factor = allowance.latency_factor(0.99, 3.0);
        assert!((factor - 1.06).abs() < 1e-9, "{factor}");
    }

    /// Over backgrounds, pressures and lags on either side, every factor
    /// stays between 1 and the ratio of the backgrounds, on the side the
    /// backgrounds went.
    #[test]
    fn no_allowance_exceeds_what_the_backgrounds_explain() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(28);
        let machine_at = |rng: &mut rand::rngs::SmallRng| MachineWatch {
            timer_lag_p50_ms: rng.gen_range(0.0..20.0),
            timer_lag_p99_ms: rng.gen_range(0.0..200.0),
            cpu_pressure: rng.gen_range(0.0..1.0),
            steal: rng.gen_range(0.0..0.5),
            background: Some(Background {
                cpu_share: rng.gen_range(0.05..1.0),
            }),
            ..MachineWatch::default()
        };
        let mut excused = 0;
        for _ in 0..20_000 {
            let (b, c) = (machine_at(&mut rng), machine_at(&mut rng));
            let Some(allowance) = allowance(Some(&b), Some(&c)) else {
                continue;
            };
            excused += 1;
            let bound = c.background.unwrap().slowdown() / b.background.unwrap().slowdown();
            let (low, high) = (bound.min(1.0) - 1e-9, bound.max(1.0) + 1e-9);
            for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
                let baseline_ms = rng.gen_range(0.0..50.0);
                let factor = allowance.latency_factor(q, baseline_ms);
                assert!(
                    (low..=high).contains(&factor),
                    "×{factor} beyond ×{bound} for {b:?} → {c:?}"
                );
            }
            let throughput = 1.0 / allowance.throughput_factor();
            assert!((low..=high).contains(&throughput), "{throughput} {bound}");
            assert_eq!(allowance.busier_now(), bound > 1.0);
        }
        assert!(excused > 10_000, "{excused}");
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
