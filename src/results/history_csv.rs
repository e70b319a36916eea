//! `stats_history.csv`: one `Aggregated` row a second, streamed to disk as
//! the run goes so that memory does not grow with run length.
//!
//! The columns are Locust's. Like Locust's `--csv-full-history`, the
//! percentile columns describe the current window, here the last second (Locust
//! uses ten), so that the report can draw latency over time; the Total columns
//! are cumulative.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::locust::{csv_writer, LocustRow, PERCENTILE_HEADERS};
use super::timeline::{Cells, Timeline, TimelinePoint};
use crate::engine::Tick;
use crate::metrics::unix_seconds;

pub const FILE_NAME: &str = "stats_history.csv";

pub const HEADER_START: [&str; 6] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
];
pub const HEADER_END: [&str; 7] = [
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

/// Streams the rows to disk, and keeps the bounded timeline the report
/// draws from the very cells it wrote.
pub struct HistoryWriter {
    out: csv::Writer<BufWriter<File>>,
    timeline: Timeline,
}

impl HistoryWriter {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .map_err(|e| crate::InvalidInput(format!("cannot write {}: {e}", path.display())))?;
        let mut out = csv_writer(BufWriter::new(file));
        out.write_record(
            HEADER_START
                .iter()
                .chain(&PERCENTILE_HEADERS)
                .chain(&HEADER_END),
        )?;
        out.flush()?;
        Ok(Self {
            out,
            timeline: Timeline::default(),
        })
    }

    /// The timeline of the rows written.
    pub fn into_timeline(self) -> Vec<TimelinePoint> {
        self.timeline.into_points()
    }

    pub fn append(&mut self, tick: &Tick) -> anyhow::Result<()> {
        let total = &tick.interval.total;
        let current = &tick.interval.current;
        let rate = |n: u64| {
            if tick.interval_secs > 0.0 {
                n as f64 / tick.interval_secs
            } else {
                0.0
            }
        };
        let cumulative = LocustRow::of(total);
        let window = LocustRow::of(current);
        let percentiles: Vec<String> = match (cumulative.percentiles, window.percentiles) {
            (None, _) => cumulative.percentile_cells(),
            (Some(_), Some(values)) => values.iter().map(u64::to_string).collect(),
            (Some(_), None) => vec!["0".into(); PERCENTILE_HEADERS.len()],
        };
        let mut row = vec![
            unix_seconds(tick.now).to_string(),
            tick.users.to_string(),
            String::new(),
            "Aggregated".into(),
            format!("{:.6}", rate(current.requests)),
            format!("{:.6}", rate(current.failures)),
        ];
        row.extend(percentiles);
        row.extend([
            total.requests.to_string(),
            total.failures.to_string(),
            cumulative.median.to_string(),
            cumulative.average.to_string(),
            cumulative.min.to_string(),
            cumulative.max.to_string(),
            cumulative.average_content_length.to_string(),
        ]);
        self.out.write_record(&row)?;
        self.out.flush()?;
        let percentile = |name: &str| {
            let at = PERCENTILE_HEADERS.iter().position(|h| *h == name);
            row[HEADER_START.len() + at.expect("a Locust percentile column")].as_str()
        };
        // A wall clock stepped back (NTP) mid-run makes a row the timeline
        // refuses; the chart skips it, the run and the file go on.
        let _ = self.timeline.push(&Cells {
            timestamp: &row[0],
            users: &row[1],
            requests_per_second: &row[4],
            failures_per_second: &row[5],
            p50: percentile("50%"),
            p95: percentile("95%"),
            p99: percentile("99%"),
        });
        Ok(())
    }
}
