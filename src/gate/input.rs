//! What the gate compares: a run's per-endpoint counts and latency
//! distribution, exact (a run's histograms) or as Locust's percentile
//! columns. `results` reads them from files.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::endpoint::Endpoint;
use crate::metrics::{EndpointStats, Snapshot};

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
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Where it came from, for messages.
    pub source: String,
    /// Rows in Locust's order; `Aggregated` included.
    pub rows: BTreeMap<Endpoint, RowStats>,
    /// Quantiles of the percentile columns, when read from a CSV.
    pub ladder: Option<Vec<f64>>,
}

impl RunStats {
    /// Exact statistics: a run's, or a results directory's histograms.
    /// `seconds` is what they cover, the divisor of requests per second.
    pub fn from_snapshot(snapshot: &Snapshot, seconds: f64, source: &str) -> Self {
        let mut rows: BTreeMap<Endpoint, RowStats> = snapshot
            .endpoints
            .iter()
            .map(|(k, s)| {
                (
                    Endpoint {
                        method: k.method.to_string(),
                        name: k.name.to_string(),
                    },
                    exact(s, seconds),
                )
            })
            .collect();
        rows.insert(Endpoint::aggregated(), exact(&snapshot.total, seconds));
        Self {
            source: source.into(),
            rows,
            ladder: None,
        }
    }
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
    }
}
