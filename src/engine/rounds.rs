//! A run in rounds: the order two deployments take turns in, and the
//! rounds of one side pooled into one run.

use std::time::Duration;

use super::RunResult;
use crate::metrics::watch::MachineWatch;
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
        let machine = rounds
            .iter()
            .filter_map(|r| r.machine.clone())
            .reduce(busier);
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

/// The worse of two rounds' machines, measure by measure.
fn busier(a: MachineWatch, b: MachineWatch) -> MachineWatch {
    MachineWatch {
        timer_lag_p50_ms: a.timer_lag_p50_ms.max(b.timer_lag_p50_ms),
        timer_lag_p99_ms: a.timer_lag_p99_ms.max(b.timer_lag_p99_ms),
        timer_lag_max_ms: a.timer_lag_max_ms.max(b.timer_lag_max_ms),
        generator_cores: a.generator_cores.max(b.generator_cores),
        cores: a.cores.max(b.cores),
        cpu_pressure: a.cpu_pressure.max(b.cpu_pressure),
        pressure_measured: a.pressure_measured && b.pressure_measured,
        steal: a.steal.max(b.steal),
        load_average: a.load_average.max(b.load_average),
        background: match (a.background, b.background) {
            (Some(x), Some(y)) if y.cpu_share < x.cpu_share => Some(y),
            (x, y) => x.or(y),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Baseline as A, Candidate as B};

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
