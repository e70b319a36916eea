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
    let (blocks, coverage, totals) = read(bytes, path)?;
    stats.ramp_left_out_secs = coverage.ramp_left_out_secs;
    // Without a reset the stats count the ramp too. Where every row has its
    // blocks (a full history), the comparison's counts, average and
    // throughput are the steady state's, summed from them; Locust's
    // percentile columns cover the whole run and stay as they are.
    let steady = coverage.ramp_left_out_secs > 0.0
        && stats
            .rows
            .keys()
            .all(|endpoint| blocks.contains_key(endpoint));
    stats.ramp_out_of_counts = steady;
    for (endpoint, row_blocks) in blocks {
        let (requests, failures) = totals.get(&endpoint).copied().unwrap_or_default();
        let Some(row) = stats.rows.get_mut(&endpoint) else {
            return Err(InvalidInput(format!(
                "{file}: the row {endpoint} is not in {}; is the history from another run?",
                stats.source
            )));
        };
        if requests > row.requests || failures > row.failures {
            return Err(InvalidInput(format!(
                "{file}: {endpoint} has {requests} requests and {failures} failures at its last write, but {} has {} and {}; is the history from another run?",
                stats.source, row.requests, row.failures
            )));
        }
        if steady {
            steady_totals(row, &row_blocks);
        }
        row.blocks = row_blocks;
    }
    Ok(())
}

/// A row's requests, failures, average and throughput over its blocks.
fn steady_totals(row: &mut crate::gate::input::RowStats, blocks: &[BlockCounts]) {
    let requests: u64 = blocks.iter().map(|b| b.requests).sum();
    let secs: f64 = blocks.iter().map(|b| b.secs).sum();
    let total_ms: f64 = blocks
        .iter()
        .map(|b| match b.latency {
            BlockLatency::Sum { total_ms, .. } => total_ms,
            BlockLatency::AtOrBelow(_) => 0.0,
        })
        .sum();
    row.requests = requests;
    row.failures = blocks.iter().map(|b| b.failures).sum();
    row.timed = requests;
    row.average_ms = if requests > 0 {
        total_ms / requests as f64
    } else {
        0.0
    };
    row.requests_per_second = if secs > 0.0 {
        requests as f64 / secs
    } else {
        0.0
    };
}

/// One write of the history: a cumulative (requests, failures, total ms)
/// per row.
#[derive(Default)]
struct Write {
    timestamp: u64,
    /// The User Count column, when the history has one.
    users: Option<u64>,
    totals: BTreeMap<Endpoint, (u64, u64, f64)>,
    /// Where each row is in the file, for messages.
    lines: BTreeMap<Endpoint, usize>,
}

/// What a history's blocks cover.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Coverage {
    /// The statistics were reset once the users were spawned (Locust's
    /// `--reset-stats`): blocks start at the reset, as do the stats.
    pub reset: bool,
    /// Seconds of the ramp (User Count below its peak) left out of the
    /// blocks; the stats beside the history still count them unless reset.
    pub ramp_left_out_secs: f64,
}

/// A row's requests and failures at the history's last write.
pub type Totals = BTreeMap<Endpoint, (u64, u64)>;
/// Each row's blocks, oldest first.
pub type RowBlocks = BTreeMap<Endpoint, Vec<BlockCounts>>;

/// The rows' blocks, oldest first, merged in neighbouring pairs until at
/// most [`MAX_BLOCKS`] are left, and what they cover. Empty with fewer
/// than two whole writes. The blocks come from the steady state: from the
/// reset where there was one, else from the first write at the peak User
/// Count, so that the ramp's rising counts do not pass for noise (unless
/// that would leave fewer than [`crate::gate::dependence::MIN_BLOCKS`]).
pub fn read(bytes: &[u8], path: &Path) -> Result<(RowBlocks, Coverage, Totals), InvalidInput> {
    let (writes, reset) = since_reset(writes(bytes, path)?, path)?;
    let totals: Totals = writes.last().map_or_else(BTreeMap::new, |w| {
        w.totals
            .iter()
            .map(|(endpoint, &(r, f, _))| (endpoint.clone(), (r, f)))
            .collect()
    });
    let mut coverage = Coverage {
        reset,
        ..Coverage::default()
    };
    let peak = writes.iter().filter_map(|w| w.users).max();
    let first_at_peak = writes
        .iter()
        .position(|w| w.users.is_some() && w.users == peak)
        .unwrap_or(0);
    let writes = if writes.len() - first_at_peak > crate::gate::dependence::MIN_BLOCKS {
        if first_at_peak > 0 {
            coverage.ramp_left_out_secs =
                (writes[first_at_peak].timestamp - writes[0].timestamp) as f64;
        }
        &writes[first_at_peak..]
    } else {
        &writes[..]
    };
    let (Some(first), Some(last)) = (writes.first(), writes.last()) else {
        return Ok((BTreeMap::new(), coverage, totals));
    };
    if writes.len() < 2 {
        return Ok((BTreeMap::new(), coverage, totals));
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
    let mut blocks = RowBlocks::new();
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
    Ok((blocks, coverage, totals))
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

/// The history's whole writes. Each write ends with its Aggregated row; a
/// last write cut short by the run's end is left out.
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
    let user_count = header.iter().position(|h| h == "User Count");

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
        if let Some(column) = user_count {
            let users = number(column, crate::bounds::MAX_USERS as f64)?;
            pending.users = Some(users as u64);
        }
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
        }
        writes.push(write);
    }
    Ok(writes)
}

/// The writes since the reset of the statistics, if there was one, and
/// whether there was. A history's counts only grow, so a reset shows where
/// they do not: a row's count or failures fall, or its total response time
/// changes while its count stays. Locust's `--reset-stats` resets once the
/// users are spawned, so a reset is recognised at the first or second
/// write at the peak User Count, whatever the Aggregated total did (with a
/// fast spawn the first write after the reset can be higher than the last
/// before it). Without a User Count, a fall of the Aggregated total is the
/// reset. Anywhere else the history is refused.
fn since_reset(mut writes: Vec<Write>, path: &Path) -> Result<(Vec<Write>, bool), InvalidInput> {
    let peak = writes.iter().filter_map(|w| w.users).max();
    let first_at_peak = writes
        .iter()
        .position(|w| w.users.is_some() && w.users == peak);
    let mut reset = None;
    for i in 1..writes.len() {
        let Some((endpoint, what)) = restarted(&writes[i - 1], &writes[i]) else {
            continue;
        };
        let at_the_spawn_end = match first_at_peak {
            Some(first) => i == first || i == first + 1,
            None => {
                let total = |w: &Write| w.totals[&Endpoint::aggregated()].0;
                total(&writes[i]) < total(&writes[i - 1])
            }
        };
        if reset.is_none() && at_the_spawn_end {
            reset = Some(i);
            continue;
        }
        let line = writes[i].lines.get(&endpoint).copied().unwrap_or_default();
        return Err(InvalidInput(format!(
            "{}:{line}: {what} of {endpoint}; a history's counts only grow, but for one reset of the statistics when the users are spawned",
            path.display()
        )));
    }
    if let Some(i) = reset {
        writes.drain(..i);
    }
    Ok((writes, reset.is_some()))
}

/// A row whose counts show that the statistics started over between two
/// writes, and what they did.
fn restarted(before: &Write, after: &Write) -> Option<(Endpoint, String)> {
    if let Some((endpoint, was, is)) = fallen(before, after) {
        return Some((
            endpoint,
            format!("the Total Request Count or Total Failure Count fell from {was} to {is}"),
        ));
    }
    before.totals.iter().find_map(|(endpoint, &(r0, _, ms0))| {
        let &(r1, _, ms1) = after.totals.get(endpoint)?;
        let changed = (ms1 - ms0).abs() > 1e-6 * ms0.abs().max(1.0);
        (r1 == r0 && changed).then(|| {
            (
                endpoint.clone(),
                format!("the total response time changed from {ms0:.1} to {ms1:.1} ms with the count staying at {r0}"),
            )
        })
    })
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
        line_with_users(at, 20, method, name, requests, failures, mean)
    }

    fn line_with_users(
        at: u64,
        users: u64,
        method: &str,
        name: &str,
        requests: u64,
        failures: u64,
        mean: f64,
    ) -> String {
        format!("{at},{users},{method},{name},0.000000,0.000000,N/A,N/A,{requests},{failures},0,{mean},0,0,0")
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
        let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
        assert_eq!(coverage, Coverage::default());
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
            line_with_users(1, 10, "", "Aggregated", 500, 0, 1.0),
            line_with_users(2, 15, "", "Aggregated", 900, 0, 1.0),
        ];
        for i in 0..100u64 {
            lines.push(line(3 + i, "", "Aggregated", 7 * i, 0, 1.0));
        }
        let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
        assert!(coverage.reset);
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
        // Long after the users were spawned, no reset explains a fall.
        let fell = refused(&[
            line(1, "GET", "/a", 6, 0, 1.0),
            line(1, "", "Aggregated", 6, 0, 1.0),
            line(2, "GET", "/a", 8, 0, 1.0),
            line(2, "", "Aggregated", 8, 0, 1.0),
            line(3, "GET", "/a", 10, 0, 1.0),
            line(3, "", "Aggregated", 10, 0, 1.0),
            line(4, "GET", "/a", 5, 0, 1.0),
            line(4, "GET", "/b", 9, 0, 1.0),
            line(4, "", "Aggregated", 14, 0, 1.0),
        ]);
        assert!(
            fell.starts_with("h.csv:8:") && fell.contains("fell from 10 to 5"),
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
            .map(|_| ())
            .err()
            .unwrap()
            .to_string();
        assert!(columns.contains("no column `Type`"), "{columns}");
    }

    /// Writes once a second: users 10, 20, 30, 40, then 50 for `steady`
    /// seconds; `/login` is hit only while users are spawned, `/a` steadily.
    fn ramp_then_steady(steady: u64, reset_at_peak: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let (mut a, mut logins) = (0, 0);
        for t in 1..=4 + steady {
            let users = (t * 10).min(50);
            a += 100 * users / 50;
            if t <= 5 {
                logins += 10;
            }
            if reset_at_peak && t == 5 {
                // Reset as the last users were spawned: their logins count,
                // and the second that follows the reset only.
                (a, logins) = (60, 7);
            }
            lines.push(line_with_users(t, users, "POST", "/login", logins, 0, 9.0));
            lines.push(line_with_users(t, users, "GET", "/a", a, 0, 4.0));
            lines.push(line_with_users(
                t,
                users,
                "",
                "Aggregated",
                a + logins,
                0,
                5.0,
            ));
        }
        lines
    }

    /// Locust's `--reset-stats` with a fast spawn: the first write after
    /// the reset has more requests in all than the last before it, and only
    /// the login, hit in `on_start`, falls. Recognised as the reset, not
    /// refused, and the blocks start there.
    #[test]
    fn a_reset_is_recognised_by_any_row_at_the_end_of_the_spawn() {
        let lines = ramp_then_steady(12, true);
        let (blocks, coverage, _) = read(&history(&lines), Path::new("h.csv")).unwrap();
        assert!(coverage.reset);
        assert_eq!(coverage.ramp_left_out_secs, 0.0);
        let a: Vec<u64> = blocks[&get("/a")].iter().map(|b| b.requests).collect();
        assert_eq!(a, vec![100; 11]);
        // A login whose count stays while its time changes was reset too.
        let mut same_count = ramp_then_steady(12, false);
        for line in same_count.iter_mut().skip(12).step_by(3).take(1) {
            *line = line_with_users(5, 50, "POST", "/login", 40, 0, 12.0);
        }
        let (_, coverage, _) = read(&history(&same_count), Path::new("h.csv")).unwrap();
        assert!(coverage.reset);
    }

    /// Without a reset, the writes before the peak User Count are left out
    /// of the blocks (the ramp is not noise), unless too few would be left.
    #[test]
    fn the_ramp_is_left_out_of_the_blocks_while_enough_remain() {
        let (blocks, coverage, _) =
            read(&history(&ramp_then_steady(12, false)), Path::new("h.csv")).unwrap();
        assert!(!coverage.reset);
        assert_eq!(coverage.ramp_left_out_secs, 4.0);
        let a: Vec<u64> = blocks[&get("/a")].iter().map(|b| b.requests).collect();
        assert_eq!(a, vec![100; 11]);
        let (short, coverage, _) =
            read(&history(&ramp_then_steady(5, false)), Path::new("h.csv")).unwrap();
        assert_eq!(coverage.ramp_left_out_secs, 0.0);
        assert_eq!(short[&get("/a")].len(), 8);
    }
}
