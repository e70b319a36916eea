//! A stats history read back as time blocks, for the stats CSV beside it:
//! Locust's `PREFIX_stats_history.csv` (or ours) writes its cumulative
//! Total columns once a second, for every row with `--csv-full-history`,
//! for Aggregated alone without. The differences between two writes are
//! one block: its requests, failures and the sum of their response times.
//! Per-block percentiles are not there (the history's percentile columns
//! cover a sliding window of ten seconds), so the gate takes a Locust
//! row's latency dependence from its mean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::endpoint::Endpoint;
use crate::gate::input::{BlockCounts, BlockLatency, RunStats};
use crate::metrics::blocks::MAX_BLOCKS;
use crate::InvalidInput;

/// `PREFIX_stats.csv` → `PREFIX_stats_history.csv`, `stats.csv` →
/// `stats_history.csv`; `None` for any other name.
pub fn path_beside(stats_csv: &Path) -> Option<PathBuf> {
    let name = stats_csv.file_name()?.to_str()?;
    let prefix = name.strip_suffix("stats.csv")?;
    if !(prefix.is_empty() || prefix.ends_with('_')) {
        return None;
    }
    Some(stats_csv.with_file_name(format!("{prefix}stats_history.csv")))
}

/// Gives the rows of `stats` their blocks from the history at `path`,
/// refusing a history that does not belong to them.
pub fn attach(stats: &mut RunStats, bytes: &[u8], path: &Path) -> Result<(), InvalidInput> {
    let file = path.display();
    let blocks = read(bytes, path)?;
    for (endpoint, row_blocks) in blocks {
        let Some(row) = stats.rows.get_mut(&endpoint) else {
            return Err(InvalidInput(format!(
                "{file}: the row {endpoint} is not in {}; is the history from another run?",
                stats.source
            )));
        };
        let requests: u64 = row_blocks.iter().map(|b| b.requests).sum();
        let failures: u64 = row_blocks.iter().map(|b| b.failures).sum();
        if requests > row.requests || failures > row.failures {
            return Err(InvalidInput(format!(
                "{file}: {endpoint} has {requests} requests and {failures} failures over time, but {} has {} and {}; is the history from another run?",
                stats.source, row.requests, row.failures
            )));
        }
        row.blocks = row_blocks;
    }
    Ok(())
}

/// One write of the history: a cumulative (requests, failures, total ms)
/// per row.
#[derive(Default)]
struct Write {
    timestamp: u64,
    totals: BTreeMap<Endpoint, (u64, u64, f64)>,
    /// Where each row is in the file, for messages.
    lines: BTreeMap<Endpoint, usize>,
}

/// The rows' blocks, oldest first, merged in neighbouring pairs until at
/// most [`MAX_BLOCKS`] are left. Empty with fewer than two whole writes.
pub fn read(
    bytes: &[u8],
    path: &Path,
) -> Result<BTreeMap<Endpoint, Vec<BlockCounts>>, InvalidInput> {
    let writes = writes(bytes, path)?;
    let (Some(first), Some(last)) = (writes.first(), writes.last()) else {
        return Ok(BTreeMap::new());
    };
    if writes.len() < 2 {
        return Ok(BTreeMap::new());
    }
    if last.timestamp == first.timestamp {
        return Err(InvalidInput(format!(
            "{}: {} writes all at timestamp {}; a history is written once a second",
            path.display(),
            writes.len(),
            first.timestamp
        )));
    }
    // The writes are a second apart plus the time a write takes, and their
    // timestamps are whole seconds: one block is the average gap, not the
    // gap of two rounded stamps (1 or 2 s).
    let secs = (last.timestamp - first.timestamp) as f64 / (writes.len() - 1) as f64;
    let empty = || BlockCounts {
        secs,
        ..BlockCounts::default()
    };
    let mut blocks: BTreeMap<Endpoint, Vec<BlockCounts>> = BTreeMap::new();
    for (index, pair) in writes.windows(2).enumerate() {
        for (endpoint, &(requests, failures, total_ms)) in &pair[1].totals {
            let (r0, f0, ms0) = pair[0].totals.get(endpoint).copied().unwrap_or_default();
            let row = blocks.entry(endpoint.clone()).or_default();
            // A row first listed now had no requests in the blocks before.
            row.resize_with(index, empty);
            row.push(BlockCounts {
                secs,
                requests: requests - r0,
                failures: failures - f0,
                latency: BlockLatency::Sum {
                    timed: requests - r0,
                    total_ms: (total_ms - ms0).max(0.0),
                },
            });
        }
    }
    for row in blocks.values_mut() {
        row.resize_with(writes.len() - 1, empty);
        while row.len() > MAX_BLOCKS {
            *row = row.chunks(2).map(merged).collect();
        }
    }
    Ok(blocks)
}

fn merged(pair: &[BlockCounts]) -> BlockCounts {
    let mut block = pair[0].clone();
    for other in &pair[1..] {
        block.secs += other.secs;
        block.requests += other.requests;
        block.failures += other.failures;
        if let (
            BlockLatency::Sum { timed, total_ms },
            BlockLatency::Sum {
                timed: more,
                total_ms: more_ms,
            },
        ) = (&mut block.latency, &other.latency)
        {
            *timed += more;
            *total_ms += more_ms;
        }
    }
    block
}

/// The history's whole writes since the last reset of the statistics
/// (Locust's `--reset-stats` starts the counts over once users are spawned).
/// Each write ends with its Aggregated row; a last write cut short by the
/// run's end is left out.
fn writes(bytes: &[u8], path: &Path) -> Result<Vec<Write>, InvalidInput> {
    let file = path.display();
    let (mut reader, header) = super::locust::csv_reader(bytes, path, "a CSV file")?;
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            InvalidInput(format!(
                "{file}: no column `{name}`; a stats history (Locust's or swarmgate's) has Timestamp, Type, Name and the Total columns"
            ))
        })
    };
    let [timestamp, method, name, requests, failures, average] = [
        "Timestamp",
        "Type",
        "Name",
        "Total Request Count",
        "Total Failure Count",
        "Total Average Response Time",
    ]
    .map(column);
    let (timestamp, method, name) = (timestamp?, method?, name?);
    let (requests, failures, average) = (requests?, failures?, average?);

    let longest_ms = crate::bounds::MAX_DURATION.as_secs_f64() * 1000.0;
    let mut writes: Vec<Write> = Vec::new();
    let mut pending = Write::default();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| InvalidInput(format!("{file}:{line}: {e}")))?;
        let endpoint = Endpoint {
            method: record[method].to_owned(),
            name: super::locust::read_text_cell(&record[name]).to_owned(),
        };
        let number = |column: usize, limit: f64| -> Result<f64, InvalidInput> {
            record[column]
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && (0.0..=limit).contains(v))
                .ok_or_else(|| {
                    InvalidInput(format!(
                        "{file}:{line}: column `{}` of {endpoint} should be a number from 0 to {limit}, but it is `{}`",
                        header[column], &record[column]
                    ))
                })
        };
        let max_count = crate::bounds::MAX_COUNT as f64;
        let stamp = number(timestamp, super::timeline::MAX_UNIX_TIMESTAMP)?;
        let count = number(requests, max_count)?;
        let failed = number(failures, max_count)?;
        let mean_ms = number(average, longest_ms)?;
        if stamp.fract() != 0.0 || count.fract() != 0.0 || failed.fract() != 0.0 || failed > count {
            return Err(InvalidInput(format!(
                "{file}:{line}: {endpoint} has {failed} failures of {count} requests at {stamp}; expected whole numbers, failures at most requests"
            )));
        }
        pending.timestamp = stamp as u64;
        let total_ms = mean_ms * count;
        if pending
            .totals
            .insert(endpoint.clone(), (count as u64, failed as u64, total_ms))
            .is_some()
        {
            return Err(InvalidInput(format!(
                "{file}:{line}: {endpoint} twice in one write; each second lists a row once"
            )));
        }
        pending.lines.insert(endpoint.clone(), line);
        if endpoint != Endpoint::aggregated() {
            continue;
        }
        let write = std::mem::take(&mut pending);
        if let Some(before) = writes.last() {
            if write.timestamp < before.timestamp {
                return Err(InvalidInput(format!(
                    "{file}:{line}: timestamp {} comes after {}; a history's timestamps never go back",
                    write.timestamp, before.timestamp
                )));
            }
            let total = |w: &Write| w.totals[&Endpoint::aggregated()].0;
            if total(&write) < total(before) {
                writes.clear();
            } else if let Some((endpoint, was, is)) = fallen(before, &write) {
                let line = write.lines.get(&endpoint).unwrap_or(&line);
                return Err(InvalidInput(format!(
                    "{file}:{line}: the Total Request Count or Total Failure Count of {endpoint} fell from {was} to {is}; a history's counts only grow"
                )));
            }
        }
        writes.push(write);
    }
    Ok(writes)
}

/// A row whose cumulative counts went down from one write to the next.
fn fallen(before: &Write, after: &Write) -> Option<(Endpoint, u64, u64)> {
    before.totals.iter().find_map(|(endpoint, &(r0, f0, _))| {
        let (r1, f1) = after
            .totals
            .get(endpoint)
            .map_or((0, 0), |&(r, f, _)| (r, f));
        if r1 < r0 {
            Some((endpoint.clone(), r0, r1))
        } else if f1 < f0 {
            Some((endpoint.clone(), f0, f1))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

    /// A history line: the columns this reader uses, the rest as Locust
    /// fills them.
    fn line(at: u64, method: &str, name: &str, requests: u64, failures: u64, mean: f64) -> String {
        format!("{at},20,{method},{name},0.000000,0.000000,N/A,N/A,{requests},{failures},0,{mean},0,0,0")
    }

    fn history(lines: &[String]) -> Vec<u8> {
        std::iter::once(HEADER.to_owned())
            .chain(lines.iter().cloned())
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes()
    }

    fn get(name: &str) -> Endpoint {
        Endpoint {
            method: "GET".into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_history_of_a_locust_prefix_or_of_stats_csv_sits_beside_it() {
        let beside = |p: &str| path_beside(Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(
            beside("base/run_stats.csv").as_deref(),
            Some("base/run_stats_history.csv")
        );
        assert_eq!(beside("stats.csv").as_deref(), Some("stats_history.csv"));
        assert_eq!(beside("base/mystats.csv"), None);
        assert_eq!(beside("base/run_failures.csv"), None);
    }

    #[test]
    fn writes_become_blocks_of_their_differences() {
        let lines = [
            line(100, "", "Aggregated", 0, 0, 0.0),
            line(101, "GET", "/a", 10, 1, 5.0),
            line(101, "", "Aggregated", 10, 1, 5.0),
            line(102, "GET", "/a", 30, 1, 6.0),
            line(102, "GET", "/b", 5, 5, 2.0),
            line(102, "", "Aggregated", 35, 6, 5.428571428571429),
            line(104, "GET", "/a", 40, 3, 6.5),
            line(104, "GET", "/b", 5, 5, 2.0),
            line(104, "", "Aggregated", 45, 8, 6.0),
            // A write cut short by the end of the run is left out.
            line(105, "GET", "/a", 99, 3, 6.5),
        ];
        let blocks = read(&history(&lines), Path::new("h.csv")).unwrap();
        let a = &blocks[&get("/a")];
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|b| (b.secs - 4.0 / 3.0).abs() < 1e-12));
        let counts: Vec<(u64, u64)> = a.iter().map(|b| (b.requests, b.failures)).collect();
        assert_eq!(counts, [(10, 1), (20, 0), (10, 2)]);
        let BlockLatency::Sum { timed, total_ms } = a[1].latency else {
            panic!("a history's blocks know sums");
        };
        assert_eq!(timed, 20);
        assert!((total_ms - (180.0 - 50.0)).abs() < 1e-9, "{total_ms}");
        let b: Vec<u64> = blocks[&get("/b")].iter().map(|b| b.requests).collect();
        assert_eq!(b, [0, 5, 0], "a row listed late had nothing before");
        assert_eq!(blocks[&Endpoint::aggregated()].len(), 3);
    }

    #[test]
    fn a_reset_starts_the_blocks_over_and_a_long_history_is_merged() {
        let mut lines = vec![
            line(1, "", "Aggregated", 500, 0, 1.0),
            line(2, "", "Aggregated", 900, 0, 1.0),
        ];
        for i in 0..100u64 {
            lines.push(line(3 + i, "", "Aggregated", 7 * i, 0, 1.0));
        }
        let blocks = read(&history(&lines), Path::new("h.csv")).unwrap();
        let total = &blocks[&Endpoint::aggregated()];
        assert!(total.len() <= MAX_BLOCKS && total.len() > MAX_BLOCKS / 2);
        assert_eq!(total.iter().map(|b| b.requests).sum::<u64>(), 7 * 99);
        assert!((total.iter().map(|b| b.secs).sum::<f64>() - 99.0).abs() < 1e-9);
    }

    #[test]
    fn a_history_that_no_run_wrote_is_refused_by_line() {
        let refused = |lines: &[String]| {
            read(&history(lines), Path::new("h.csv"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let fell = refused(&[
            line(1, "GET", "/a", 10, 0, 1.0),
            line(1, "", "Aggregated", 10, 0, 1.0),
            line(2, "GET", "/a", 5, 0, 1.0),
            line(2, "GET", "/b", 9, 0, 1.0),
            line(2, "", "Aggregated", 14, 0, 1.0),
        ]);
        assert!(
            fell.starts_with("h.csv:4:") && fell.contains("fell from 10 to 5"),
            "{fell}"
        );
        let back = refused(&[
            line(5, "", "Aggregated", 1, 0, 1.0),
            line(4, "", "Aggregated", 2, 0, 1.0),
        ]);
        assert!(
            back.starts_with("h.csv:3:") && back.contains("never go back"),
            "{back}"
        );
        let nan = refused(&[line(5, "GET", "/a", 1, 0, f64::NAN)]);
        assert!(
            nan.contains("`Total Average Response Time` of GET /a"),
            "{nan}"
        );
        let more = refused(&[line(5, "GET", "/a", 1, 2, 1.0)]);
        assert!(more.contains("2 failures of 1 requests"), "{more}");
        let stuck = refused(&[
            line(5, "", "Aggregated", 1, 0, 1.0),
            line(5, "", "Aggregated", 2, 0, 1.0),
        ]);
        assert!(stuck.contains("all at timestamp 5"), "{stuck}");
        let columns = read(b"Timestamp,Name\n1,Aggregated\n", Path::new("h.csv"))
            .err()
            .unwrap()
            .to_string();
        assert!(columns.contains("no column `Type`"), "{columns}");
    }
}
