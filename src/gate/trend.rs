//! A trend inside a run's steady state: latency that grows block after
//! block (a queue building, a leak) or falls (a cache warming). Successive
//! differences keep such a drift out of the noise estimate
//! (`dependence.rs`), so it is reported here as what it is rather than
//! widening the intervals.
//!
//! Each block's level is its median (a run's own blocks) or its mean (a
//! Locust history knows only sums). The trend is the least-squares line
//! through the logs of the levels against time, reported when it is
//! significant (t on k − 2 degrees of freedom at [`LEVEL`]) and moves the
//! level by more than [`SMALLEST`] from the first block to the last.

use super::dependence::MIN_BLOCKS;
use super::input::{BlockCounts, BlockLatency, RowStats, RunStats};
use super::stats;
use crate::endpoint::Endpoint;

/// Two-sided level of the slope's test: a report, not a verdict, so one
/// strict level for every row rather than the gate's split.
pub const LEVEL: f64 = 0.001;
/// The smallest change over the steady state worth a word.
pub const SMALLEST: f64 = 0.10;
/// Rows named at most, largest trend first.
const MOST: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub endpoint: Endpoint,
    /// The fitted level at the last block over the first, minus 1.
    pub change: f64,
    /// Seconds from the first block's middle to the last's.
    pub secs: f64,
}

/// The rows of `run` whose latency trends over its blocks, largest first.
pub fn trends(run: &RunStats) -> Vec<Trend> {
    let mut found: Vec<Trend> = run
        .rows
        .iter()
        .filter_map(|(endpoint, row)| {
            let (change, secs) = latency_trend(row)?;
            Some(Trend {
                endpoint: endpoint.clone(),
                change,
                secs,
            })
        })
        .collect();
    found.sort_by(|a, b| b.change.abs().total_cmp(&a.change.abs()));
    found.truncate(MOST);
    found
}

/// `(change, seconds)` of a row's latency trend, when there is one.
pub fn latency_trend(row: &RowStats) -> Option<(f64, f64)> {
    let mut at = 0.0;
    let points: Vec<(f64, f64)> = row
        .blocks
        .iter()
        .filter_map(|block| {
            let middle = at + block.secs / 2.0;
            at += block.secs;
            let level = level_ms(block)?;
            (level > 0.0).then(|| (middle, level.ln()))
        })
        .collect();
    if points.len() < MIN_BLOCKS {
        return None;
    }
    let k = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / k;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = points
        .iter()
        .map(|p| (p.0 - mean_t) * (p.1 - mean_y))
        .sum::<f64>()
        / sxx;
    let residual: f64 = points
        .iter()
        .map(|p| (p.1 - mean_y - slope * (p.0 - mean_t)).powi(2))
        .sum::<f64>()
        / (k - 2.0);
    let standard_error = (residual / sxx).sqrt();
    let critical = stats::student_quantile(1.0 - LEVEL / 2.0, points.len() as u32 - 2);
    let span = points[points.len() - 1].0 - points[0].0;
    let change = (slope * span).exp() - 1.0;
    let significant = standard_error == 0.0 || slope.abs() > critical * standard_error;
    (significant && slope != 0.0 && change.abs() > SMALLEST).then_some((change, span))
}

/// A block's typical latency, ms: its median, or its mean where only the
/// sum is known; `None` for a block without timed requests.
fn level_ms(block: &BlockCounts) -> Option<f64> {
    match &block.latency {
        BlockLatency::Sum { timed, total_ms } => (*timed > 0).then(|| total_ms / *timed as f64),
        BlockLatency::AtOrBelow(counts) => {
            let timed = counts.last()?.1;
            let half = timed.div_ceil(2);
            counts
                .iter()
                .find(|&&(_, seen)| seen >= half)
                .map(|&(micros, _)| micros as f64 / 1000.0)
        }
    }
}

/// A trend in words: `latency of GET /a grew 30% over this run's steady
/// state (25 s): a queue building, not noise`.
pub fn describe(trend: &Trend, whose: &str) -> String {
    let (moved, reading) = if trend.change > 0.0 {
        ("grew", "a queue building or a leak")
    } else {
        ("fell", "a cache warming or a backlog draining")
    };
    // `grew 30%`, `fell 25%`, and past doubling `grew ×4.63`.
    let by = if trend.change >= 1.0 {
        super::format::ratio_text(1.0 + trend.change)
    } else {
        format!("{:.0}%", trend.change.abs() * 100.0)
    };
    format!(
        "latency of {} {moved} {by} over {whose} steady state ({}): {reading}, reported as a trend rather than counted as noise",
        trend.endpoint,
        super::format::seconds_text(trend.secs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A row of 20 one-second blocks whose means follow `level(i)`, times
    /// noise of `jitter` (relative).
    fn row_of(level: impl Fn(f64) -> f64, jitter: f64, seed: u64) -> RowStats {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let blocks = (0..20)
            .map(|i| {
                let ms = level(i as f64) * (1.0 + jitter * (rng.gen::<f64>() - 0.5));
                BlockCounts {
                    secs: 1.0,
                    requests: 100,
                    failures: 0,
                    latency: BlockLatency::Sum {
                        timed: 100,
                        total_ms: 100.0 * ms,
                    },
                }
            })
            .collect();
        RowStats {
            requests: 2000,
            failures: 0,
            timed: 2000,
            requests_per_second: 100.0,
            average_ms: 10.0,
            latency: super::super::input::Latency::Ladder {
                points: vec![(0.5, 10.0)],
                min_ms: 1.0,
                max_ms: 20.0,
            },
            blocks,
        }
    }

    #[test]
    fn a_queue_building_is_a_trend_and_steady_noise_is_not() {
        // 10 ms growing 2% a second: ×1.46 from the first block to the last.
        let (change, secs) = latency_trend(&row_of(|i| 10.0 * 1.02f64.powf(i), 0.1, 1)).unwrap();
        assert!((change - 1.02f64.powi(19) + 1.0).abs() < 0.1, "{change}");
        assert_eq!(secs, 19.0);
        let falling = latency_trend(&row_of(|i| 20.0 * 0.98f64.powf(i), 0.1, 2)).unwrap();
        assert!(falling.0 < -0.2, "{falling:?}");
        // Noise of ±25% a block around a flat level: no trend, in any of
        // many seeds (the level is strict).
        let flagged = (0..200)
            .filter(|&seed| latency_trend(&row_of(|_| 10.0, 0.5, seed)).is_some())
            .count();
        assert!(flagged <= 1, "{flagged} of 200 flat rows had a trend");
        // Significant but small: 0.2% a second is under the 10% worth a word.
        assert!(latency_trend(&row_of(|i| 10.0 * 1.002f64.powf(i), 0.0, 3)).is_none());
    }

    #[test]
    fn a_trend_says_which_way_and_what_it_may_be() {
        let trend = Trend {
            endpoint: Endpoint::aggregated(),
            change: 0.3,
            secs: 25.0,
        };
        let text = describe(&trend, "this run's");
        assert!(
            text.starts_with("latency of Aggregated grew 30% over this run's steady state (25 s): a queue building"),
            "{text}"
        );
        let queue = describe(
            &Trend {
                change: 3.63,
                ..trend.clone()
            },
            "this run's",
        );
        assert!(queue.contains("grew ×4.63 over"), "{queue}");
    }
}
