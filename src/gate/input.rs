//! What the gate compares: a run's per-endpoint counts and latency
//! distribution, exact (a run's histograms) or as Locust's percentile
//! columns. `results` reads them from files.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;

use crate::metrics::{EndpointStats, Snapshot};

/// A stats row: `GET /api/v1/products/`, or `Aggregated`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub method: String,
    pub name: String,
}

impl RowKey {
    pub fn aggregated() -> Self {
        Self {
            method: String::new(),
            name: "Aggregated".into(),
        }
    }

    pub fn is_aggregated(&self) -> bool {
        self.method.is_empty() && self.name == "Aggregated"
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.method.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {}", self.method, self.name)
        }
    }
}

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
    pub rows: BTreeMap<RowKey, RowStats>,
    /// Quantiles of the percentile columns, when read from a CSV.
    pub ladder: Option<Vec<f64>>,
}

impl RunStats {
    /// Exact statistics: a run's, or a results directory's histograms.
    /// `seconds` is what they cover, the divisor of requests per second.
    pub fn from_snapshot(snapshot: &Snapshot, seconds: f64, source: &str) -> Self {
        let mut rows: BTreeMap<RowKey, RowStats> = snapshot
            .endpoints
            .iter()
            .map(|(k, s)| {
                (
                    RowKey {
                        method: k.method.to_string(),
                        name: k.name.to_string(),
                    },
                    exact(s, seconds),
                )
            })
            .collect();
        rows.insert(RowKey::aggregated(), exact(&snapshot.total, seconds));
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
