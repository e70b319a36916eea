//! `stats.csv`: Locust's request statistics, one row per endpoint and the
//! `Aggregated` total last.

use super::locust::{csv_writer, py_float, text_cell, LocustRow, PERCENTILE_HEADERS};
use super::ResultFile;
use crate::engine::RunResult;
use crate::metrics::EndpointStats;

pub const HEADER: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
];

pub struct StatsCsv;

impl ResultFile for StatsCsv {
    fn file_name(&self) -> &'static str {
        "stats.csv"
    }

    fn render(&self, run: &RunResult) -> anyhow::Result<Vec<u8>> {
        let mut out = csv_writer(Vec::new());
        out.write_record(HEADER.iter().chain(&PERCENTILE_HEADERS))?;
        let seconds = run.measured.as_secs_f64();
        for (key, stats) in &run.stats.endpoints {
            out.write_record(row(key.method.as_str(), &key.name, stats, seconds))?;
        }
        out.write_record(row("", "Aggregated", &run.stats.total, seconds))?;
        Ok(out.into_inner()?)
    }
}

fn row(method: &str, name: &str, stats: &EndpointStats, seconds: f64) -> Vec<String> {
    let locust = LocustRow::of(stats);
    let per_second = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let mut cells = vec![
        method.to_owned(),
        text_cell(name).into_owned(),
        stats.requests.to_string(),
        stats.failures.to_string(),
        locust.median.to_string(),
        locust.average.to_string(),
        locust.min.to_string(),
        locust.max.to_string(),
        locust.average_content_length.to_string(),
        py_float(per_second(stats.requests)),
        py_float(per_second(stats.failures)),
    ];
    cells.extend(locust.percentile_cells());
    cells
}
