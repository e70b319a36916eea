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
mod tests;
