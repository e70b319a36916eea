//! Noise between runs, which no run's own requests can show: another job
//! on the runner, the CPU's frequency, a cache, a different runner. Two
//! sources measure it.
//!
//! - **Paired rounds** (`run --against`): baseline and candidate take turns
//!   in rounds on one machine (A B B A …), and each pair of rounds gives one
//!   difference per metric. Whatever changes between rounds falls on both
//!   of a pair, so a drift that moves both sides cancels, and the spread of
//!   the differences is the noise the change must clear.
//! - **Earlier runs** (`run --history`): the metric in each healthy run of
//!   the history. Its spread from run to run (from successive differences,
//!   so that a slow trend is not taken for noise) applies to the baseline
//!   and to this run alike: each is one run.
//!
//! A run's own interval knows only the sampling noise within it; the
//! verdict takes the wider of the two.

use std::collections::HashMap;

use super::input::RowStats;
use super::quantiles::quantile;
use super::rules::Rules;
use super::stats::student_quantile;
use super::{Endpoint, Metric, RunStats};

/// Fewer pairs than this give no spread worth the name.
pub const MIN_PAIRS: usize = 3;
/// Fewer earlier runs than this give no spread worth the name.
pub const MIN_EARLIER_RUNS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Pairs,
    EarlierRuns,
    Rounds,
}

/// Each row's and metric's values from run to run: log values (latency,
/// throughput) or fractions (failure rate).
#[derive(Debug, Clone)]
pub struct Spread {
    source: Source,
    /// Pairs of rounds, or earlier runs.
    runs: usize,
    /// Per pair: the difference; per earlier run: the value.
    values: HashMap<(Endpoint, String), Vec<f64>>,
}

/// One earlier run's values: a percentile's or throughput's value (not its
/// log), a failure rate as a fraction.
pub type EarlierRun = Vec<(Endpoint, Metric, f64)>;

impl Spread {
    /// `rounds` are (baseline, candidate) pairs of rounds.
    pub fn of_pairs(rounds: &[(RunStats, RunStats)], rules: &Rules) -> Self {
        let mut differences: HashMap<(Endpoint, String), Vec<f64>> = HashMap::new();
        for (baseline, candidate) in rounds {
            for (key, c) in &candidate.rows {
                let Some(b) = baseline.rows.get(key) else {
                    continue;
                };
                for (metric, difference) in row_differences(b, c, rules) {
                    differences
                        .entry((key.clone(), metric.to_string()))
                        .or_default()
                        .push(difference);
                }
            }
        }
        Self {
            source: Source::Pairs,
            runs: rounds.len(),
            values: differences,
        }
    }

    /// `runs`, oldest first, are the healthy earlier runs of the scenario.
    pub fn of_earlier_runs(runs: &[EarlierRun]) -> Self {
        let mut values: HashMap<(Endpoint, String), Vec<f64>> = HashMap::new();
        for run in runs {
            for (key, metric, value) in run {
                let value = match metric {
                    Metric::FailRate => *value,
                    _ if *value > 0.0 => value.ln(),
                    _ => continue,
                };
                values
                    .entry((key.clone(), metric.to_string()))
                    .or_default()
                    .push(value);
            }
        }
        Self {
            source: Source::EarlierRuns,
            runs: runs.len(),
            values,
        }
    }

    /// `rounds` are this run's rounds against one deployment, in order.
    pub fn of_rounds(rounds: &[RunStats], rules: &Rules) -> Self {
        let mut values: HashMap<(Endpoint, String), Vec<f64>> = HashMap::new();
        for round in rounds {
            for (key, row) in &round.rows {
                for (metric, value) in row_values(row, rules) {
                    values
                        .entry((key.clone(), metric.to_string()))
                        .or_default()
                        .push(value);
                }
            }
        }
        Self {
            source: Source::Rounds,
            runs: rounds.len(),
            values,
        }
    }

    /// Whether both sides ran on one machine in turns.
    pub fn same_machine(&self) -> bool {
        self.source == Source::Pairs
    }

    /// The noise model in words.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Pairs => format!(
                "interleaved A/B: {} pairs of rounds on one machine, each interval at least as wide as the pairs' spread",
                self.runs
            ),
            Source::EarlierRuns => format!(
                "run to run: the spread of {} earlier runs in the history, each interval at least as wide as it allows",
                self.runs
            ),
            Source::Rounds => format!(
                "round to round: the spread of this run's {} rounds, each interval at least as wide as it allows (the baseline taken to vary as much)",
                self.runs
            ),
        }
    }

    /// The half width of the interval from run-to-run noise at two-sided
    /// level `1 - alpha`, and the note for the reason; `None` with too few
    /// values.
    fn half_width(&self, key: &Endpoint, metric: &Metric, alpha: f64) -> Option<(f64, String)> {
        let values = self.values.get(&(key.clone(), metric.to_string()))?;
        let k = values.len();
        match self.source {
            Source::Pairs if k >= MIN_PAIRS => {
                let mean = values.iter().sum::<f64>() / k as f64;
                let variance =
                    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
                let t = student_quantile(1.0 - alpha / 2.0, (k - 1) as u32);
                Some((
                    t * (variance / k as f64).sqrt(),
                    format!("; from {k} paired rounds"),
                ))
            }
            Source::EarlierRuns if k >= MIN_EARLIER_RUNS => {
                let t = student_quantile(1.0 - alpha / 2.0, (k - 1) as u32);
                // Baseline and current are one run each.
                Some((
                    t * (2.0 * successive_variance(values)).sqrt(),
                    format!("; from the spread of {k} earlier runs"),
                ))
            }
            Source::Rounds if k >= MIN_PAIRS => {
                let t = student_quantile(1.0 - alpha / 2.0, (k - 1) as u32);
                // This run is the mean of k rounds; so, presumably, is the baseline.
                Some((
                    t * (2.0 * successive_variance(values) / k as f64).sqrt(),
                    format!("; from the spread of {k} rounds"),
                ))
            }
            _ => None,
        }
    }

    /// `interval` of `current / baseline - 1`, widened to the run-to-run
    /// interval around the ratio where that is wider; the note for the
    /// reason.
    pub(crate) fn widen_ratio(
        &self,
        key: &Endpoint,
        metric: &Metric,
        (baseline, current): (f64, f64),
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, note)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        if baseline <= 0.0 || current <= 0.0 {
            return (interval, String::new());
        }
        let center = (current / baseline).ln();
        let between = ((center - half).exp() - 1.0, (center + half).exp() - 1.0);
        widened(interval, between, note)
    }

    /// `interval` of a difference, widened to the run-to-run interval
    /// around `change` where that is wider; the note for the reason.
    pub(crate) fn widen_difference(
        &self,
        key: &Endpoint,
        metric: &Metric,
        change: f64,
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, note)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        widened(interval, (change - half, change + half), note)
    }
}

/// Von Neumann's estimate of the variance: half the mean squared
/// successive difference, so that a slow trend is not taken for noise.
fn successive_variance(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| (w[1] - w[0]).powi(2))
        .sum::<f64>()
        / (2.0 * (values.len() - 1) as f64)
}

/// The wider of a run's own interval and the one from run-to-run noise;
/// the note only when the latter made a difference.
fn widened(own: (f64, f64), between: (f64, f64), note: String) -> ((f64, f64), String) {
    let interval = (own.0.min(between.0), own.1.max(between.1));
    let note = if between.1 - between.0 > own.1 - own.0 {
        note
    } else {
        String::new()
    };
    (interval, note)
}

/// One pair of rounds' differences for each metric both can measure.
fn row_differences(b: &RowStats, c: &RowStats, rules: &Rules) -> Vec<(Metric, f64)> {
    let baseline = row_values(b, rules);
    row_values(c, rules)
        .into_iter()
        .filter_map(|(metric, value)| {
            let (_, before) = baseline.iter().find(|(m, _)| *m == metric)?;
            Some((metric, value - before))
        })
        .collect()
}

/// A round's value of each metric it can measure: log values for latency
/// and throughput, the failure rate as a fraction.
fn row_values(s: &RowStats, rules: &Rules) -> Vec<(Metric, f64)> {
    let mut out = Vec::new();
    if s.requests < rules.min_samples.max(1) {
        return out;
    }
    for &percent in &rules.percentiles {
        let q = percent / 100.0;
        // A round must have requests beyond the percentile to place it.
        if (1.0 - q) * (s.timed as f64) < 1.0 {
            continue;
        }
        if let Some(value) = quantile(&s.latency, q, s.timed).filter(|v| *v > 0.0) {
            out.push((Metric::Percentile(percent), value.ln()));
        }
    }
    out.push((Metric::FailRate, s.failures as f64 / s.requests as f64));
    if s.requests_per_second > 0.0 {
        out.push((Metric::Throughput, s.requests_per_second.ln()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::input::Latency;

    fn row(requests: u64, latency_micros: u64, rps: f64) -> RowStats {
        let mut histogram = crate::metrics::new_histogram();
        histogram.record_n(latency_micros, requests).unwrap();
        RowStats {
            requests,
            failures: 0,
            timed: requests,
            requests_per_second: rps,
            average_ms: latency_micros as f64 / 1000.0,
            latency: Latency::Exact(histogram),
            blocks: Vec::new(),
        }
    }

    fn run(row: RowStats) -> RunStats {
        RunStats {
            rows: [(Endpoint::aggregated(), row)].into_iter().collect(),
            ..RunStats::default()
        }
    }

    #[test]
    fn drift_between_pairs_widens_the_interval_and_cancels_in_the_change() {
        // Every pair: the candidate 2% slower than the baseline, while the
        // machine drifts ×1.5 over the rounds.
        let rounds: Vec<_> = (0..6)
            .map(|i| {
                let drift = 1.0 + 0.1 * i as f64;
                let noise = if i % 2 == 0 { 1.01 } else { 0.99 };
                (
                    run(row(500, (5000.0 * drift) as u64, 100.0)),
                    run(row(500, (5100.0 * drift * noise) as u64, 100.0)),
                )
            })
            .collect();
        let pairs = Spread::of_pairs(&rounds, &Rules::default());
        assert_eq!(pairs.runs, 6);
        let p50 = Metric::Percentile(50.0);
        let (interval, note) = pairs.widen_ratio(
            &Endpoint::aggregated(),
            &p50,
            (5000.0, 5100.0),
            (0.019, 0.021),
            0.05,
        );
        assert!(interval.0 < 0.01 && interval.1 > 0.03, "{interval:?}");
        assert!(interval.0 > -0.01, "the drift cancels: {interval:?}");
        assert_eq!(note, "; from 6 paired rounds");
        // Throughput did not vary between pairs: the pooled interval stands.
        let (interval, note) = pairs.widen_ratio(
            &Endpoint::aggregated(),
            &Metric::Throughput,
            (100.0, 100.0),
            (-0.1, 0.1),
            0.05,
        );
        assert_eq!((interval, note.as_str()), ((-0.1, 0.1), ""));
    }

    #[test]
    fn too_few_pairs_leave_the_pooled_interval() {
        let rounds = vec![(run(row(500, 5000, 10.0)), run(row(500, 9000, 10.0))); 2];
        let pairs = Spread::of_pairs(&rounds, &Rules::default());
        let (interval, note) = pairs.widen_ratio(
            &Endpoint::aggregated(),
            &Metric::Percentile(50.0),
            (5.0, 9.0),
            (0.7, 0.9),
            0.05,
        );
        assert_eq!((interval, note.as_str()), ((0.7, 0.9), ""));
    }

    #[test]
    fn earlier_runs_widen_by_their_spread_but_not_by_their_trend() {
        let p50 = Metric::Percentile(50.0);
        let runs = |values: &[f64]| -> Vec<EarlierRun> {
            values
                .iter()
                .map(|&v| vec![(Endpoint::aggregated(), p50, v)])
                .collect()
        };
        // ±10% from run to run.
        let noisy = Spread::of_earlier_runs(&runs(&[10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 9.0, 10.0]));
        let (interval, note) = noisy.widen_ratio(
            &Endpoint::aggregated(),
            &p50,
            (10.0, 10.0),
            (-0.02, 0.02),
            0.05,
        );
        assert!(interval.0 < -0.15 && interval.1 > 0.15, "{interval:?}");
        assert_eq!(note, "; from the spread of 8 earlier runs");
        // A steady climb of 1% per run is a trend, not noise.
        let climbing: Vec<f64> = (0..8).map(|i| 10.0 * 1.01f64.powi(i)).collect();
        let trend = Spread::of_earlier_runs(&runs(&climbing));
        let (interval, _) = trend.widen_ratio(
            &Endpoint::aggregated(),
            &p50,
            (10.0, 10.0),
            (-0.02, 0.02),
            0.05,
        );
        assert!(interval.1 < 0.06, "{interval:?}");
        // Four runs are too few.
        let few = Spread::of_earlier_runs(&runs(&[10.0, 20.0, 10.0, 20.0]));
        let (interval, note) = few.widen_ratio(
            &Endpoint::aggregated(),
            &p50,
            (10.0, 10.0),
            (-0.02, 0.02),
            0.05,
        );
        assert_eq!((interval, note.as_str()), ((-0.02, 0.02), ""));
    }
}
