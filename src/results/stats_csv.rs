//! `stats.csv`: Locust's request statistics, one row per endpoint and the
//! `Aggregated` total last; written for a run, read back (ours or Locust's)
//! as a side of a comparison.

use std::collections::BTreeMap;
use std::path::Path;

use super::locust::{csv_writer, py_float, text_cell, LocustRow, PERCENTILE_HEADERS};
use super::ResultFile;
use crate::endpoint::Endpoint;
use crate::engine::RunResult;
use crate::gate::input::{Latency, RowStats, RunStats};
use crate::metrics::EndpointStats;
use crate::InvalidInput;

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

/// Locust's columns before the percentiles, which every stats CSV has.
const REQUIRED: [&str; 11] = HEADER;

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
    let (mut reader, header) = super::locust::csv_reader(bytes, path, "a CSV file")?;
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
        let key = Endpoint {
            method: record[0].to_owned(),
            name: super::locust::read_text_cell(&record[1]).to_owned(),
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
                blocks: Vec::new(),
            },
        );
    }
    if !rows.contains_key(&Endpoint::aggregated()) {
        return Err(InvalidInput(format!(
            "{file}: no `Aggregated` row; is the file complete?"
        )));
    }
    Ok(RunStats {
        source: file.to_string(),
        rows,
        ladder: Some(ladder),
        ..RunStats::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;

    fn parse(text: &str) -> Result<RunStats, InvalidInput> {
        parse_stats_csv(text.as_bytes(), Path::new("stats.csv"))
    }

    const ROW: &str = "GET,/a,10,1,5,5.5,1.0,20.0,100,2.0,0.2,5,6,7,8,9,10,12,15,20,20,20";
    const AGGREGATED: &str =
        ",Aggregated,10,1,5,5.5,1.0,20.0,100,2.0,0.2,5,6,7,8,9,10,12,15,20,20,20";

    fn csv(rows: &[&str], line_end: &str) -> String {
        let header = HEADER
            .iter()
            .chain(&PERCENTILE_HEADERS)
            .copied()
            .collect::<Vec<_>>()
            .join(",");
        std::iter::once(header.as_str())
            .chain(rows.iter().copied())
            .collect::<Vec<_>>()
            .join(line_end)
    }

    #[test]
    fn locust_files_read_with_any_line_end_and_a_byte_order_mark() {
        for text in [
            csv(&[ROW, AGGREGATED], "\n"),
            csv(&[ROW, AGGREGATED], "\r\n"),
            format!("\u{feff}{}", csv(&[ROW, AGGREGATED], "\r\n")),
        ] {
            let stats = parse(&text).unwrap();
            let row = &stats.rows[&Endpoint {
                method: "GET".into(),
                name: "/a".into(),
            }];
            assert_eq!((row.requests, row.failures), (10, 1));
            assert_eq!(row.average_ms, 5.5);
            assert!(stats.rows.contains_key(&Endpoint::aggregated()));
            assert_eq!(
                stats.ladder.as_ref().unwrap().len(),
                PERCENTILE_HEADERS.len()
            );
        }
    }

    #[test]
    fn a_row_without_requests_may_have_na_percentiles() {
        let empty = "GET,/b,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A";
        let stats = parse(&csv(&[empty, AGGREGATED], "\n")).unwrap();
        assert_eq!(
            stats.rows[&Endpoint {
                method: "GET".into(),
                name: "/b".into()
            }]
                .requests,
            0
        );
    }

    #[test]
    fn what_no_run_could_write_is_refused_by_line() {
        let fewer = ROW.replacen(",10,1,", ",10,11,", 1);
        let error = parse(&csv(&[&fewer], "\n")).unwrap_err().to_string();
        assert!(error.starts_with("stats.csv:2:"), "{error}");
        assert!(parse("Type,Name\n")
            .unwrap_err()
            .to_string()
            .contains("header"));
    }
}
