//! What the gate compares: a run's per-endpoint counts and latency
//! distribution, exact (a run's histograms) or as Locust's percentile
//! columns. `results` reads them from files.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::endpoint::Endpoint;
use crate::metrics::blocks::BlockStats;
use crate::metrics::watch::MachineWatch;
use crate::metrics::{EndpointKey, EndpointStats, Snapshot};

/// How a row's response times are known.
#[derive(Debug, Clone)]
pub enum Latency {
    /// Every response time, in microseconds.
    Exact(Histogram<u64>),
    /// Locust's percentile columns: (quantile, ms), ascending, with the exact
    /// minimum and maximum.
    Ladder {
        points: Vec<(f64, f64)>,
        min_ms: f64,
        max_ms: f64,
    },
}

#[derive(Debug, Clone)]
pub struct RowStats {
    pub requests: u64,
    pub failures: u64,
    /// Requests that have a response time.
    pub timed: u64,
    pub requests_per_second: f64,
    pub average_ms: f64,
    pub latency: Latency,
    /// The row in the run's time blocks, oldest first; empty when the source
    /// has none (a stats CSV, an older histograms.json, a row past the
    /// block row limit).
    pub blocks: Vec<BlockCounts>,
}

/// A row in one time block.
#[derive(Debug, Clone, Default)]
pub struct BlockCounts {
    pub secs: f64,
    pub requests: u64,
    pub failures: u64,
    pub latency: BlockLatency,
}

/// What a block knows of its response times.
#[derive(Debug, Clone)]
pub enum BlockLatency {
    /// As (highest µs of a bucket, requests at or below it), ascending:
    /// cumulative, for counts below a quantile (a run's own blocks).
    AtOrBelow(Vec<(u64, u64)>),
    /// Only how many and their sum, ms (a Locust history's Total columns).
    Sum { timed: u64, total_ms: f64 },
}

impl Default for BlockLatency {
    fn default() -> Self {
        Self::AtOrBelow(Vec::new())
    }
}

impl BlockCounts {
    fn of(secs: f64, stats: Option<&BlockStats>) -> Self {
        let Some(stats) = stats else {
            return Self {
                secs,
                ..Self::default()
            };
        };
        let mut seen = 0;
        let at_or_below = stats
            .histogram
            .iter_recorded()
            .map(|v| {
                seen += u64::from(v.count_at_value());
                (v.value_iterated_to(), seen)
            })
            .collect();
        Self {
            secs,
            requests: stats.requests,
            failures: stats.failures,
            latency: BlockLatency::AtOrBelow(at_or_below),
        }
    }

    pub fn timed(&self) -> u64 {
        match &self.latency {
            BlockLatency::AtOrBelow(counts) => counts.last().map_or(0, |&(_, n)| n),
            BlockLatency::Sum { timed, .. } => *timed,
        }
    }

    /// Timed requests of this block that took at most `micros`; `None` when
    /// the block has only a sum.
    pub fn at_or_below(&self, micros: u64) -> Option<u64> {
        let BlockLatency::AtOrBelow(counts) = &self.latency else {
            return None;
        };
        let i = counts.partition_point(|&(v, _)| v <= micros);
        Some(if i == 0 { 0 } else { counts[i - 1].1 })
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Where it came from, for messages.
    pub source: String,
    /// Rows in Locust's order; `Aggregated` included.
    pub rows: BTreeMap<Endpoint, RowStats>,
    /// Quantiles of the percentile columns, when read from a CSV.
    pub ladder: Option<Vec<f64>>,
    /// How the generator and its machine fared, when known.
    pub machine: Option<MachineWatch>,
    /// Seconds of ramp-up left out of the rows' blocks, so that the users
    /// arriving do not pass for noise; the rows' totals still count them.
    pub ramp_left_out_secs: f64,
    /// That ramp is also out of the rows' counts, average and throughput
    /// (a Locust full history without a reset: its steady state summed).
    pub ramp_out_of_counts: bool,
}

impl RunStats {
    /// Exact statistics: a run's, or a results directory's histograms.
    /// `seconds` is what they cover, the divisor of requests per second;
    /// the blocks mostly within the first `ramp_up_secs` are left out
    /// ([`steady_blocks`]).
    pub fn from_snapshot(
        snapshot: &Snapshot,
        seconds: f64,
        ramp_up_secs: f64,
        source: &str,
    ) -> Self {
        let (first_steady, ramp_left_out_secs) = steady_blocks(snapshot, ramp_up_secs);
        let mut rows: BTreeMap<Endpoint, RowStats> = snapshot
            .endpoints
            .iter()
            .map(|(k, s)| {
                (
                    Endpoint {
                        method: k.method.to_string(),
                        name: k.name.to_string(),
                    },
                    RowStats {
                        blocks: row_blocks(snapshot, Some(k), first_steady),
                        ..exact(s, seconds)
                    },
                )
            })
            .collect();
        rows.insert(
            Endpoint::aggregated(),
            RowStats {
                blocks: row_blocks(snapshot, None, first_steady),
                ..exact(&snapshot.total, seconds)
            },
        );
        Self {
            source: source.into(),
            rows,
            ladder: None,
            machine: None,
            ramp_left_out_secs,
            ramp_out_of_counts: false,
        }
    }
}

/// The first block of the steady state and the seconds before it: blocks
/// whose first half lies within the ramp-up are left out, so that users
/// arriving do not pass for noise, unless fewer than
/// [`super::dependence::MIN_BLOCKS`] would be left (then all are kept,
/// which errs wide).
fn steady_blocks(snapshot: &Snapshot, ramp_up_secs: f64) -> (usize, f64) {
    let mut start = 0.0;
    let mut first = 0;
    for block in &snapshot.blocks {
        if start + block.secs / 2.0 >= ramp_up_secs {
            break;
        }
        start += block.secs;
        first += 1;
    }
    if first == 0 || snapshot.blocks.len() - first < super::dependence::MIN_BLOCKS {
        return (0, 0.0);
    }
    (first, start)
}

/// The row's blocks (`None`: Aggregated); none if no block kept the row.
fn row_blocks(
    snapshot: &Snapshot,
    key: Option<&EndpointKey>,
    first_steady: usize,
) -> Vec<BlockCounts> {
    let tracked = match key {
        Some(key) => snapshot.blocks.iter().any(|b| b.rows.contains_key(key)),
        None => true,
    };
    if !tracked {
        return Vec::new();
    }
    snapshot.blocks[first_steady..]
        .iter()
        .map(|block| {
            let stats = match key {
                Some(key) => block.rows.get(key),
                None => Some(&block.total),
            };
            BlockCounts::of(block.secs, stats)
        })
        .collect()
}

fn exact(stats: &EndpointStats, seconds: f64) -> RowStats {
    RowStats {
        requests: stats.requests,
        failures: stats.failures,
        timed: stats.timed(),
        requests_per_second: if seconds > 0.0 {
            stats.requests as f64 / seconds
        } else {
            0.0
        },
        average_ms: stats.average_ms(),
        latency: Latency::Exact(stats.histogram.clone()),
        blocks: Vec::new(),
    }
}
