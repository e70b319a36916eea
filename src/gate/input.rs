//! What the gate compares: a run's per-endpoint counts and latency
//! distribution, read from a stats CSV (swarmgate's or Locust 2.x's) or from
//! a swarmgate results directory, whose exact histograms are then used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use hdrhistogram::Histogram;

use crate::engine::RunResult;
use crate::metrics::{EndpointStats, Snapshot};
use crate::results::histograms;
use crate::InvalidInput;

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
    pub fn from_run(run: &RunResult, source: &str) -> Self {
        Self::from_snapshot(&run.stats, run.measured.as_secs_f64(), source)
    }

    fn from_snapshot(snapshot: &Snapshot, seconds: f64, source: &str) -> Self {
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

    /// Reads a stats CSV, or a results directory (its histograms.json when
    /// present, else its stats.csv).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        if path.is_dir() {
            let histograms_path = path.join(histograms::FILE_NAME);
            if histograms_path.exists() {
                let bytes =
                    crate::bounds::read_file(&histograms_path, crate::bounds::MAX_DATA_FILE)
                        .map_err(|e| {
                            InvalidInput(format!("cannot read {}: {e}", histograms_path.display()))
                        })?;
                return Self::from_histograms(&bytes, &histograms_path.display().to_string());
            }
            return Self::load(&path.join("stats.csv"));
        }
        let bytes = crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE)
            .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        Ok(parse_stats_csv(&bytes, path)?)
    }

    pub fn from_histograms(bytes: &[u8], source: &str) -> anyhow::Result<Self> {
        let (info, snapshot) =
            histograms::read(bytes).map_err(|e| InvalidInput(format!("{source}: {e:#}")))?;
        Ok(Self::from_snapshot(&snapshot, info.elapsed_secs, source))
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

/// Locust's columns before the percentiles, which every stats CSV has.
const REQUIRED: [&str; 11] = crate::results::STATS_HEADER;

/// A stats CSV as Locust 2.x and swarmgate write it: CRLF or LF, with or
/// without a byte-order mark, `N/A` percentiles on rows without requests.
pub fn parse_stats_csv(bytes: &[u8], path: &Path) -> Result<RunStats, InvalidInput> {
    let file = path.display();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InvalidInput(format!(
            "{file}: the file is empty; expected a stats CSV from swarmgate or Locust"
        )));
    }
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| InvalidInput(format!("{file}: not a CSV file: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.len() < REQUIRED.len() || header[..REQUIRED.len()] != REQUIRED {
        return Err(InvalidInput(format!(
            "{file}: not a stats CSV: the header should start `{}`, but it is `{}`",
            REQUIRED.join(","),
            header.join(",")
        )));
    }
    let mut ladder = Vec::new();
    for column in &header[REQUIRED.len()..] {
        let quantile = column
            .strip_suffix('%')
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p));
        match quantile {
            Some(percent) => ladder.push(percent / 100.0),
            None => return Err(InvalidInput(format!("{file}: unexpected column `{column}`; after Failures/s come percentile columns such as 95%"))),
        }
    }
    if ladder.windows(2).any(|w| w[0] >= w[1]) {
        return Err(InvalidInput(format!(
            "{file}: percentile columns must ascend"
        )));
    }
    let mut rows = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| InvalidInput(format!("{file}: {e}")))?;
        // The header is line 1; Locust never writes a row over two lines.
        let line = index + 2;
        if record.iter().any(|cell| cell.contains('\0')) {
            return Err(InvalidInput(format!(
                "{file}:{line}: a NUL byte; the file is corrupt (no stats CSV holds one)"
            )));
        }
        let key = RowKey {
            method: record[0].to_owned(),
            name: crate::results::locust::read_text_cell(&record[1]).to_owned(),
        };
        let number = |column: usize| -> Result<f64, InvalidInput> {
            record[column]
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    InvalidInput(format!(
                        "{file}:{line}: column `{}` of {key} should be a number, but it is `{}`",
                        header[column], &record[column]
                    ))
                })
        };
        let requests = number(2)?;
        let failures = number(3)?;
        let min_ms = number(6)?;
        let max_ms = number(7)?;
        let average_ms = number(5)?;
        let requests_per_second = number(9)?;
        let mut points = Vec::new();
        for (offset, quantile) in ladder.iter().enumerate() {
            let cell = &record[REQUIRED.len() + offset];
            if cell == "N/A" {
                continue;
            }
            points.push((*quantile, number(REQUIRED.len() + offset)?));
        }
        if requests.fract() != 0.0 || failures.fract() != 0.0 || failures > requests {
            return Err(InvalidInput(format!("{file}:{line}: {key} has {failures} failures of {requests} requests; expected whole counts, failures at most requests")));
        }
        if requests > crate::bounds::MAX_COUNT as f64 {
            return Err(InvalidInput(format!(
                "{file}:{line}: {key} has {requests} requests, more than any run makes (at most {:.0e})",
                crate::bounds::MAX_COUNT as f64
            )));
        }
        let longest_ms = crate::bounds::MAX_DURATION.as_secs_f64() * 1000.0;
        if requests > 0.0 && (min_ms > max_ms || max_ms > longest_ms) {
            return Err(InvalidInput(format!(
                "{file}:{line}: {key} has a min of {min_ms} ms and a max of {max_ms} ms; expected min ≤ max ≤ 30 days"
            )));
        }
        if points.windows(2).any(|w| w[0].1 > w[1].1) || points.iter().any(|p| p.1 > longest_ms) {
            return Err(InvalidInput(format!(
                "{file}:{line}: the percentiles of {key} decrease or pass 30 days; each must be at least the one before it"
            )));
        }
        if let Some(first) = lines.insert(key.clone(), line) {
            return Err(InvalidInput(format!(
                "{file}:{line}: duplicate row {key} (first on line {first})"
            )));
        }
        rows.insert(
            key,
            RowStats {
                requests: requests as u64,
                failures: failures as u64,
                timed: requests as u64,
                requests_per_second,
                average_ms,
                latency: Latency::Ladder {
                    points,
                    min_ms,
                    max_ms,
                },
            },
        );
    }
    if !rows.contains_key(&RowKey::aggregated()) {
        return Err(InvalidInput(format!(
            "{file}: no `Aggregated` row; is the file complete?"
        )));
    }
    Ok(RunStats {
        source: file.to_string(),
        rows,
        ladder: Some(ladder),
    })
}
