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

/// `%Y-%m-%dT%H:%M:%SZ` from Unix seconds, without a calendar crate
/// (days-to-civil from Howard Hinnant's date algorithms).
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
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
