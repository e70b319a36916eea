//! `failures.csv`: failures grouped by endpoint and message, as Locust writes them.

use std::path::Path;

use super::locust::{csv_writer, read_text_cell, text_cell};
use super::ResultFile;
use crate::engine::RunResult;
use crate::InvalidInput;

pub const HEADER: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];

pub struct FailuresCsv;

impl ResultFile for FailuresCsv {
    fn file_name(&self) -> &'static str {
        "failures.csv"
    }

    fn render(&self, run: &RunResult) -> anyhow::Result<Vec<u8>> {
        let mut out = csv_writer(Vec::new());
        out.write_record(HEADER)?;
        for error in &run.stats.errors {
            out.write_record([
                error.method.as_str(),
                &text_cell(&error.name),
                &text_cell(&error.message),
                &error.occurrences.to_string(),
                &utc_timestamp(error.first_seen),
                &utc_timestamp(error.last_seen),
            ])?;
        }
        Ok(out.into_inner()?)
    }
}

/// `%Y-%m-%dT%H:%M:%SZ` from Unix seconds, as Locust writes them (up to the
/// year 9999, the format's last).
pub fn utc_timestamp(unix_seconds: u64) -> String {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let at = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(unix_seconds.min(LAST_SECOND_OF_9999));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A failures.csv row as the report shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureRow {
    pub method: String,
    pub name: String,
    pub message: String,
    pub occurrences: u64,
}

/// Reads `failures.csv` back.
pub fn read(path: &Path) -> anyhow::Result<Vec<FailureRow>> {
    let bytes = crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE)
        .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(FailureRow {
            method: record.get(0).unwrap_or_default().into(),
            name: read_text_cell(record.get(1).unwrap_or_default()).into(),
            message: read_text_cell(record.get(2).unwrap_or_default()).into(),
            occurrences: record.get(3).and_then(|v| v.parse().ok()).unwrap_or(0),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_796_086_861), "2026-12-01T01:01:01Z");
    }
}
