//! Latency quantiles and their distribution-free intervals, from exact
//! histograms or from Locust's percentile columns.

use super::dependence::{self, Effect};
use super::input::{BlockLatency, Latency, RowStats, RunStats};
use super::stats;
use crate::endpoint::Endpoint;

/// Where a run's latency distribution is drawn (summary.json, the report).
pub const CURVE_QUANTILES: [f64; 14] = [
    0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

/// The Aggregated row's percentile curve, stored in summary.json so that a
/// re-rendered report can draw the baseline's.
pub fn aggregated_curve(stats: &RunStats) -> Vec<(f64, f64)> {
    let Some(row) = stats.rows.get(&Endpoint::aggregated()) else {
        return Vec::new();
    };
    CURVE_QUANTILES
        .iter()
        .filter_map(|&q| quantile(&row.latency, q, row.timed).map(|v| (q, v)))
        .collect()
}

/// The point estimate of the `q` quantile, in ms.
pub fn quantile(latency: &Latency, q: f64, n: u64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    match latency {
        Latency::Exact(_) => Some(order_statistic(
            latency,
            ((q * n as f64).ceil() as u64).clamp(1, n),
            n,
            Side::Upper,
        )),
        Latency::Ladder { points, max_ms, .. } => Some(
            points
                .iter()
                .find(|(p, _)| *p >= q - 1e-12)
                .map(|(_, v)| *v)
                .unwrap_or(*max_ms),
        ),
    }
}

/// The distribution-free interval of the `q` quantile at two-sided level
/// `1 - alpha`, in ms; infinite above when there are too few samples.
/// `effect` is the design effect of the requests ([`super::dependence`]):
/// the ranks are those of `n / effect` independent samples, scaled back to `n`.
pub fn quantile_interval(latency: &Latency, q: f64, n: u64, alpha: f64, effect: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, f64::INFINITY);
    }
    let effective = ((n as f64 / effect.max(1.0)).floor() as u64).max(1);
    let scale = n as f64 / effective as f64;
    let (lower, upper) = stats::quantile_rank_interval(effective, q, alpha);
    let rank = |r: f64| (r as u64).clamp(1, n);
    (
        lower
            .map(|r| order_statistic(latency, rank((r as f64 * scale).floor()), n, Side::Lower))
            .unwrap_or(0.0),
        upper
            .map(|r| order_statistic(latency, rank((r as f64 * scale).ceil()), n, Side::Upper))
            .unwrap_or(f64::INFINITY),
    )
}

/// The design effect of the `q` quantile: how unevenly the requests at or
/// below the run's `q` quantile spread over its time blocks. Blocks that
/// know only their sum of response times (a Locust history) give the
/// effect of the mean instead, which errs wide for a quantile. 1 without
/// blocks.
pub fn latency_effect(row: &RowStats, q: f64) -> Effect {
    if row.blocks.is_empty() || row.timed == 0 {
        return Effect::INDEPENDENT;
    }
    if let Some(sums) = block_sums(row) {
        let spread = latency_spread_ms(row);
        return dependence::mean(&sums, spread * spread).unwrap_or(Effect::INDEPENDENT);
    }
    let Some(estimate_ms) = quantile(&row.latency, q, row.timed) else {
        return Effect::INDEPENDENT;
    };
    let micros = (estimate_ms * 1000.0).round() as u64;
    let per_block: Option<Vec<(f64, f64)>> = row
        .blocks
        .iter()
        .map(|b| Some((b.at_or_below(micros)? as f64, b.timed() as f64)))
        .collect();
    per_block
        .and_then(|blocks| dependence::proportion(&blocks))
        .unwrap_or(Effect::INDEPENDENT)
}

/// The blocks as (sum of response times in ms, timed requests), when that
/// is all they know.
fn block_sums(row: &RowStats) -> Option<Vec<(f64, f64)>> {
    row.blocks
        .iter()
        .map(|b| match b.latency {
            BlockLatency::Sum { timed, total_ms } => Some((total_ms, timed as f64)),
            BlockLatency::AtOrBelow(_) => None,
        })
        .collect()
}

/// The standard deviation of a row's latency, ms.
pub fn latency_spread_ms(row: &RowStats) -> f64 {
    match &row.latency {
        Latency::Exact(histogram) => histogram.stdev() / 1000.0,
        Latency::Ladder {
            points,
            min_ms,
            max_ms,
        } => {
            // The quantile function through the columns, sampled evenly.
            let steps = 2000;
            let values: Vec<f64> = (0..steps)
                .map(|i| {
                    let fraction = (i as f64 + 0.5) / steps as f64;
                    ladder_quantile(points, *min_ms, *max_ms, fraction)
                })
                .collect();
            let mean = values.iter().sum::<f64>() / steps as f64;
            let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / steps as f64;
            variance.sqrt()
        }
    }
}

/// The design effect of the failure rate, and of the request rate. The rate
/// leaves out blocks shorter than the rest: the run's last, which holds the
/// shutdown, when users stop and the rate falls for a reason of our own.
pub fn count_effects(row: &RowStats) -> (Effect, Effect) {
    let full = row.blocks.iter().map(|b| b.secs).fold(0.0, f64::max);
    let failures: Vec<(f64, f64)> = row
        .blocks
        .iter()
        .map(|b| (b.failures as f64, b.requests as f64))
        .collect();
    let requests: Vec<(f64, f64)> = row
        .blocks
        .iter()
        .filter(|b| b.secs >= 0.9 * full)
        .map(|b| (b.requests as f64, b.secs))
        .collect();
    (
        dependence::proportion(&failures).unwrap_or(Effect::INDEPENDENT),
        dependence::counts(&requests).unwrap_or(Effect::INDEPENDENT),
    )
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Side {
    Lower,
    Upper,
}

/// The `rank`-th smallest of `n` response times, in ms. From a percentile
/// ladder only bounds are known, so it errs outward: down for a lower bound,
/// up for an upper one.
pub(crate) fn order_statistic(latency: &Latency, rank: u64, n: u64, side: Side) -> f64 {
    match latency {
        Latency::Exact(histogram) => {
            let mut seen = 0;
            for value in histogram.iter_recorded() {
                seen += value.count_at_value();
                if seen >= rank {
                    return histogram.median_equivalent(value.value_iterated_to()) as f64 / 1000.0;
                }
            }
            histogram.max() as f64 / 1000.0
        }
        Latency::Ladder {
            points,
            min_ms,
            max_ms,
        } => {
            let value = ladder_quantile(points, *min_ms, *max_ms, rank as f64 / n as f64);
            let half_bucket = crate::units::locust_bucket_step(value) / 2.0;
            match side {
                Side::Lower => (value - half_bucket).max(*min_ms),
                Side::Upper => (value + half_bucket).min(*max_ms),
            }
        }
    }
}

/// The quantile function through Locust's columns, linear between them and
/// anchored at the exact minimum and maximum. An approximation: between two
/// columns nothing is known but that the function rises.
pub(crate) fn ladder_quantile(
    points: &[(f64, f64)],
    min_ms: f64,
    max_ms: f64,
    fraction: f64,
) -> f64 {
    let mut previous = (0.0, min_ms);
    for &(q, v) in points.iter().chain([(1.0, max_ms)].iter()) {
        if fraction <= q {
            let span = q - previous.0;
            let t = if span > 0.0 {
                (fraction - previous.0) / span
            } else {
                1.0
            };
            return previous.1 + t.clamp(0.0, 1.0) * (v - previous.1);
        }
        previous = (q, v.max(previous.1));
    }
    max_ms
}
