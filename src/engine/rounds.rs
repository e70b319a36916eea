//! A run in rounds: the order two deployments take turns in, and the
//! rounds of one side pooled into one run.

use std::time::Duration;

use super::RunResult;
use crate::metrics::watch::{Background, MachineWatch};
use crate::metrics::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Baseline,
    Candidate,
}

/// `pairs` pairs of rounds as A B B A A B B A …: each pair has both sides,
/// and a drift that is linear over two pairs falls on both sides alike.
pub fn abba(pairs: usize) -> Vec<Side> {
    (0..pairs)
        .flat_map(|pair| {
            if pair % 2 == 0 {
                [Side::Baseline, Side::Candidate]
            } else {
                [Side::Candidate, Side::Baseline]
            }
        })
        .collect()
}

impl RunResult {
    /// One side's rounds as one run: statistics added, times summed, from
    /// the first round's start. `None` for no rounds.
    pub fn pool(rounds: Vec<RunResult>) -> Option<RunResult> {
        let first = rounds.first()?.clone();
        let sum = |f: fn(&RunResult) -> Duration| rounds.iter().map(f).sum::<Duration>();
        let schedule = rounds
            .iter()
            .filter_map(|r| r.schedule.clone())
            .reduce(|a, b| super::schedule::ScheduleReport {
                peak_rate: a.peak_rate.max(b.peak_rate),
                started: a.started + b.started,
                late: a.late + b.late,
                max_lag: a.max_lag.max(b.max_lag),
                dropped: a.dropped + b.dropped,
            });
        let machine = pooled_machine(
            &rounds
                .iter()
                .filter_map(|r| Some((r.machine.clone()?, r.measured.as_secs_f64())))
                .collect::<Vec<_>>(),
        );
        let mut over_row_limit: Vec<String> = rounds
            .iter()
            .flat_map(|r| r.over_row_limit.iter().cloned())
            .collect();
        over_row_limit.sort();
        over_row_limit.dedup();
        Some(RunResult {
            duration: sum(|r| r.duration),
            elapsed: sum(|r| r.elapsed),
            measured: sum(|r| r.measured),
            peak_users: rounds.iter().map(|r| r.peak_users).max().unwrap_or(0),
            // Every round ramps up again inside the pooled blocks: all of
            // them are kept, which errs wide.
            ramp_up: Duration::ZERO,
            interrupted: rounds.iter().any(|r| r.interrupted),
            schedule,
            cut_off: rounds.iter().map(|r| r.cut_off).sum(),
            faults: rounds.iter().flat_map(|r| r.faults.clone()).collect(),
            over_row_limit,
            machine,
            stats: Snapshot::pool(rounds.into_iter().map(|r| r.stats).collect()),
            ..first
        })
    }
}

/// The machine the pooled requests saw: each measure the mean of the
/// rounds' weighted by how long each measured, the background too (as the
/// mean slowdown of CPU work), so that the run, its lag and its background
/// describe the same time. Taking the worst of each, the lowest background
/// with the highest lag, would make a run look busier than any of its rounds
/// was.
fn pooled_machine(rounds: &[(MachineWatch, f64)]) -> Option<MachineWatch> {
    let (first, _) = rounds.first()?;
    let total: f64 = rounds.iter().map(|(_, secs)| secs).sum();
    let weight = |secs: f64| {
        if total > 0.0 {
            secs / total
        } else {
            1.0 / rounds.len() as f64
        }
    };
    let mean = |measure: fn(&MachineWatch) -> f64| {
        rounds
            .iter()
            .map(|(m, secs)| measure(m) * weight(*secs))
            .sum::<f64>()
    };
    let backgrounds: Vec<(Background, f64)> = rounds
        .iter()
        .filter_map(|(m, secs)| Some((m.background?, *secs)))
        .collect();
    // A background stands for the run only when every round recorded one.
    let background = (backgrounds.len() == rounds.len()).then(|| Background {
        cpu_share: 1.0
            / backgrounds
                .iter()
                .map(|(b, secs)| b.slowdown() * weight(*secs))
                .sum::<f64>(),
    });
    Some(MachineWatch {
        timer_lag_p50_ms: mean(|m| m.timer_lag_p50_ms),
        timer_lag_p99_ms: mean(|m| m.timer_lag_p99_ms),
        timer_lag_max_ms: rounds
            .iter()
            .map(|(m, _)| m.timer_lag_max_ms)
            .fold(0.0, f64::max),
        generator_cores: mean(|m| m.generator_cores),
        cores: first.cores,
        cpu_pressure: mean(|m| m.cpu_pressure),
        pressure_measured: rounds.iter().all(|(m, _)| m.pressure_measured),
        steal: mean(|m| m.steal),
        load_average: rounds
            .iter()
            .map(|(m, _)| m.load_average)
            .fold(0.0, f64::max),
        background,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Baseline as A, Candidate as B};

    /// One busy round of three and one laggy round of three make a run a
    /// third as busy and a third as laggy, not the busiest of each.
    #[test]
    fn a_pooled_machine_is_the_mean_of_its_rounds() {
        let round = |share: f64, lag_p99_ms: f64| MachineWatch {
            timer_lag_p99_ms: lag_p99_ms,
            cores: 2,
            background: Some(Background { cpu_share: share }),
            ..MachineWatch::default()
        };
        let pooled = pooled_machine(&[
            (round(0.5, 1.0), 2.0),
            (round(1.0, 7.0), 2.0),
            (round(1.0, 1.0), 2.0),
        ])
        .unwrap();
        assert!((pooled.timer_lag_p99_ms - 3.0).abs() < 1e-9);
        let slowdown = pooled.background.unwrap().slowdown();
        assert!((slowdown - 4.0 / 3.0).abs() < 1e-9, "{slowdown}");
        // A round without a background leaves the run without one: it
        // cannot be excused on part of its time.
        let unwatched = MachineWatch {
            background: None,
            ..round(1.0, 1.0)
        };
        assert_eq!(
            pooled_machine(&[(round(0.5, 1.0), 1.0), (unwatched, 1.0)])
                .unwrap()
                .background,
            None
        );
    }

    #[test]
    fn rounds_alternate_in_pairs() {
        assert_eq!(abba(1), vec![A, B]);
        assert_eq!(abba(4), vec![A, B, B, A, A, B, B, A]);
        // With an even number of pairs both sides sit at the same mean
        // time, so a linear drift falls on both alike.
        let mean_position = |order: &[Side], side| {
            let at: Vec<usize> = (0..order.len()).filter(|&i| order[i] == side).collect();
            at.iter().sum::<usize>() as f64 / at.len() as f64
        };
        let even = abba(6);
        assert_eq!(mean_position(&even, A), mean_position(&even, B));
        let odd = abba(5);
        assert_eq!(odd.iter().filter(|s| **s == A).count(), 5);
        assert!((mean_position(&odd, B) - mean_position(&odd, A) - 0.2).abs() < 1e-9);
    }
}
