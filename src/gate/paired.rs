//! Interleaved A/B: baseline and candidate take turns in rounds on one
//! machine (A B B A …), and each pair of rounds gives one difference per
//! metric. Whatever changes between rounds (another job on the runner, CPU
//! frequency, a cache warming) falls on both rounds of a pair, so the
//! spread of the pairs' differences is the noise a verdict must clear, and
//! a drift that moves both sides cancels. A pooled interval knows only the
//! sampling noise within rounds; the verdict takes the wider of the two.

use std::collections::HashMap;

use super::input::RowStats;
use super::quantiles::quantile;
use super::rules::Rules;
use super::stats::student_quantile;
use super::{Endpoint, Metric, RunStats};

/// Fewer pairs than this give no spread worth the name.
pub const MIN_PAIRS: usize = 3;

/// The spread of each row's and metric's paired differences.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    pairs: usize,
    /// Log ratios (latency, throughput) or differences (failure rate).
    differences: HashMap<(Endpoint, String), Vec<f64>>,
}

impl Pairs {
    /// `rounds` are (baseline, candidate) pairs of rounds.
    pub fn of(rounds: &[(RunStats, RunStats)], rules: &Rules) -> Self {
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
            pairs: rounds.len(),
            differences,
        }
    }

    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// The half width of the paired interval at two-sided level
    /// `1 - alpha`, with how many pairs it rests on; `None` with fewer than
    /// [`MIN_PAIRS`].
    fn half_width(&self, key: &Endpoint, metric: &Metric, alpha: f64) -> Option<(f64, usize)> {
        let values = self.differences.get(&(key.clone(), metric.to_string()))?;
        let k = values.len();
        if k < MIN_PAIRS {
            return None;
        }
        let mean = values.iter().sum::<f64>() / k as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
        let t = student_quantile(1.0 - alpha / 2.0, (k - 1) as u32);
        Some((t * (variance / k as f64).sqrt(), k))
    }

    /// `interval` of `current / baseline - 1`, widened to the paired
    /// interval around the pooled ratio where that is wider; the note for
    /// the reason.
    pub(crate) fn widen_ratio(
        &self,
        key: &Endpoint,
        metric: &Metric,
        (baseline, current): (f64, f64),
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, k)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        if baseline <= 0.0 || current <= 0.0 {
            return (interval, String::new());
        }
        let center = (current / baseline).ln();
        let paired = ((center - half).exp() - 1.0, (center + half).exp() - 1.0);
        widened(interval, paired, k)
    }

    /// `interval` of a difference, widened to the paired interval around
    /// `change` where that is wider; the note for the reason.
    pub(crate) fn widen_difference(
        &self,
        key: &Endpoint,
        metric: &Metric,
        change: f64,
        interval: (f64, f64),
        alpha: f64,
    ) -> ((f64, f64), String) {
        let Some((half, k)) = self.half_width(key, metric, alpha) else {
            return (interval, String::new());
        };
        widened(interval, (change - half, change + half), k)
    }
}

fn widened(pooled: (f64, f64), paired: (f64, f64), pairs: usize) -> ((f64, f64), String) {
    let interval = (pooled.0.min(paired.0), pooled.1.max(paired.1));
    let note = if paired.1 - paired.0 > pooled.1 - pooled.0 {
        format!("; from {pairs} paired rounds")
    } else {
        String::new()
    };
    (interval, note)
}

/// One pair of rounds' differences for each metric it can measure.
fn row_differences(b: &RowStats, c: &RowStats, rules: &Rules) -> Vec<(Metric, f64)> {
    let mut out = Vec::new();
    let enough = |s: &RowStats| s.requests >= rules.min_samples.max(1);
    if !(enough(b) && enough(c)) {
        return out;
    }
    for &percent in &rules.percentiles {
        let q = percent / 100.0;
        // A round must have requests beyond the percentile to place it.
        let placed = |s: &RowStats| (1.0 - q) * s.timed as f64 >= 1.0;
        if !(placed(b) && placed(c)) {
            continue;
        }
        if let (Some(bv), Some(cv)) = (
            quantile(&b.latency, q, b.timed),
            quantile(&c.latency, q, c.timed),
        ) {
            if bv > 0.0 && cv > 0.0 {
                out.push((Metric::Percentile(percent), (cv / bv).ln()));
            }
        }
    }
    let rate = |s: &RowStats| s.failures as f64 / s.requests as f64;
    out.push((Metric::FailRate, rate(c) - rate(b)));
    if b.requests_per_second > 0.0 && c.requests_per_second > 0.0 {
        out.push((
            Metric::Throughput,
            (c.requests_per_second / b.requests_per_second).ln(),
        ));
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
        let pairs = Pairs::of(&rounds, &Rules::default());
        assert_eq!(pairs.pair_count(), 6);
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
        let pairs = Pairs::of(&rounds, &Rules::default());
        let (interval, note) = pairs.widen_ratio(
            &Endpoint::aggregated(),
            &Metric::Percentile(50.0),
            (5.0, 9.0),
            (0.7, 0.9),
            0.05,
        );
        assert_eq!((interval, note.as_str()), ((0.7, 0.9), ""));
    }
}
