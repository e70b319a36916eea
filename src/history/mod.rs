//! The performance history: one CSV row per endpoint per run, appended by
//! every `run --history FILE`, drawn as trends in the report and printed by
//! `swarmgate history`.
//!
//! The file is the team's record, so an append must never lose or half-write
//! it: appends take a lock (so two runs at once both land), re-read and check
//! the file, and replace it atomically with the old rows plus the new ones. A
//! file that does not parse is reported and left exactly as it is.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use crate::endpoint::Endpoint;
use crate::gate::input::RunStats;
use crate::gate::{quantile, significant, Outcome, Verdict};
use crate::results::locust::{read_text_cell, text_cell};
use crate::results::write_atomically;
use crate::InvalidInput;

mod noise;
pub use noise::{found_changes, label_kind, spread_between_runs, RunFilter};

pub const HEADER: [&str; 14] = [
    "time",
    "commit",
    "branch",
    "label",
    "method",
    "name",
    "requests",
    "failures",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "requests_per_second",
    "verdict",
    "scenario",
];

/// The header before runs recorded their scenario; such a file is read as
/// it is and rewritten with the new header, every row kept, on its next
/// append.
const HEADER_WITHOUT_SCENARIO: &[&str] = HEADER.split_at(13).0;

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// UTC, `%Y-%m-%dT%H:%M:%SZ`: when the run started.
    pub time: String,
    pub commit: String,
    pub branch: String,
    pub label: String,
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub requests_per_second: f64,
    /// The row's worst outcome: regressed, inconclusive, improved, unchanged,
    /// new; or `none` without a baseline.
    pub verdict: String,
    /// The scenario file's fingerprint ([`scenario_fingerprint`]); empty in
    /// rows from before it was recorded.
    pub scenario: String,
}

impl HistoryRow {
    pub fn run_id(&self) -> (String, String, String) {
        (self.time.clone(), self.commit.clone(), self.label.clone())
    }

    pub fn endpoint(&self) -> String {
        Endpoint {
            method: self.method.clone(),
            name: self.name.clone(),
        }
        .to_string()
    }

    fn cells(&self) -> Vec<String> {
        let number = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        let text = |v: &str| text_cell(v).into_owned();
        vec![
            self.time.clone(),
            text(&self.commit),
            text(&self.branch),
            text(&self.label),
            self.method.clone(),
            text(&self.name),
            self.requests.to_string(),
            self.failures.to_string(),
            number(self.p50_ms),
            number(self.p95_ms),
            number(self.p99_ms),
            format!("{:.3}", self.requests_per_second),
            self.verdict.clone(),
            self.scenario.clone(),
        ]
    }
}

/// A scenario file's fingerprint: the first 12 hex digits of the SHA-256
/// of its bytes, so that runs of an edited scenario are told apart from
/// the runs before the edit.
pub fn scenario_fingerprint(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a run came from, for its history rows.
pub struct RunLabel {
    pub time: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub label: String,
    /// The scenario's fingerprint; empty where the run had no scenario file.
    pub scenario: String,
}

/// One row per endpoint (and Aggregated) of a run.
pub fn rows_of(current: &RunStats, verdict: &Verdict, label: &RunLabel) -> Vec<HistoryRow> {
    current
        .rows
        .iter()
        .map(|(key, row)| {
            let outcomes: Vec<Outcome> = verdict
                .comparisons
                .iter()
                .filter(|c| c.endpoint == *key)
                .map(|c| c.outcome)
                .collect();
            let worst = [
                Outcome::Regressed,
                Outcome::Inconclusive,
                Outcome::Unjudged,
                Outcome::Improved,
                Outcome::Unchanged,
                Outcome::New,
            ]
            .into_iter()
            .find(|o| outcomes.contains(o))
            .map(Outcome::as_str)
            .unwrap_or("none");
            HistoryRow {
                time: label.time.clone(),
                commit: label.commit.clone().unwrap_or_default(),
                branch: label.branch.clone().unwrap_or_default(),
                label: label.label.clone(),
                method: key.method.clone(),
                name: key.name.clone(),
                requests: row.requests,
                failures: row.failures,
                p50_ms: quantile(&row.latency, 0.5, row.timed),
                p95_ms: quantile(&row.latency, 0.95, row.timed),
                p99_ms: quantile(&row.latency, 0.99, row.timed),
                requests_per_second: row.requests_per_second,
                verdict: worst.into(),
                scenario: label.scenario.clone(),
            }
        })
        .collect()
}

/// Reads a history that must already exist: for the commands that only read
/// one, where a missing file is a typo, not a history yet to start.
pub fn read_existing(path: &Path, what: &str) -> Result<Vec<HistoryRow>, InvalidInput> {
    if !path.is_file() {
        return Err(InvalidInput(format!(
            "{what} {}: no such file; `run --history {}` starts a history",
            path.display(),
            path.display()
        )));
    }
    read(path)
}

/// Reads a history file; a missing file is an empty history.
pub fn read(path: &Path) -> Result<Vec<HistoryRow>, InvalidInput> {
    match crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE) {
        Ok(bytes) => parse(&bytes, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(InvalidInput(format!(
            "cannot read history {}: {e}",
            path.display()
        ))),
    }
}

pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<HistoryRow>, InvalidInput> {
    let file = path.display();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (mut reader, header) = crate::results::locust::csv_reader(bytes, path, "a history CSV")?;
    if header != HEADER && header != HEADER_WITHOUT_SCENARIO {
        return Err(InvalidInput(format!(
            "{file}: not a swarmgate history file: the header should be `{}`",
            HEADER.join(",")
        )));
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| InvalidInput(format!("{file}:{line}: {e}")))?;
        let bad = |column: &str| {
            InvalidInput(format!(
                "{file}:{line}: column `{column}` does not hold a number: `{}`",
                &record[HEADER.iter().position(|h| *h == column).unwrap_or(0)]
            ))
        };
        let count = |i: usize| {
            record[i]
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= crate::bounds::MAX_COUNT)
                .ok_or_else(|| bad(HEADER[i]))
        };
        // NaN or infinity could only come from a corrupt file, and would be
        // drawn as `NaN` in the report's charts.
        let number = |i: usize| {
            record[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad(HEADER[i]))
        };
        let optional = |i: usize| {
            if record[i].is_empty() {
                Ok(None)
            } else {
                number(i).map(Some)
            }
        };
        let row = HistoryRow {
            time: record[0].to_owned(),
            commit: read_text_cell(&record[1]).to_owned(),
            branch: read_text_cell(&record[2]).to_owned(),
            label: read_text_cell(&record[3]).to_owned(),
            method: record[4].to_owned(),
            name: read_text_cell(&record[5]).to_owned(),
            requests: count(6)?,
            failures: count(7)?,
            p50_ms: optional(8)?,
            p95_ms: optional(9)?,
            p99_ms: optional(10)?,
            requests_per_second: number(11)?,
            verdict: record[12].to_owned(),
            scenario: record.get(13).unwrap_or_default().to_owned(),
        };
        let nonsense = |what: &str| InvalidInput(format!("{file}:{line}: {what}"));
        if row.failures > row.requests {
            return Err(nonsense("more failures than requests"));
        }
        let percentiles: Vec<f64> = [row.p50_ms, row.p95_ms, row.p99_ms]
            .into_iter()
            .flatten()
            .collect();
        if percentiles.windows(2).any(|w| w[0] > w[1]) {
            return Err(nonsense(
                "percentiles that decrease (p50 > p95 or p95 > p99)",
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Appends rows: under a lock, after checking what is there, by atomic
/// replacement. On any error the file is as it was. Returns the whole
/// history, the new rows last.
pub fn append(path: &Path, new_rows: &[HistoryRow]) -> anyhow::Result<Vec<HistoryRow>> {
    // The lock is on the directory, not on a file beside the history: the
    // history itself is replaced by a rename, and a lock file would be left
    // next to it for a team to commit by mistake.
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let lock = File::open(dir).map_err(|e| {
        InvalidInput(format!(
            "--history {}: cannot open its directory {} to lock it: {e}",
            path.display(),
            dir.display()
        ))
    })?;
    lock.lock()?;
    let existing = match crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(InvalidInput(format!("cannot read history {}: {e}", path.display())).into())
        }
    };
    let mut history = parse(&existing, path)?;
    let mut writer = crate::results::locust::csv_writer(Vec::new());
    // A file from before the scenario column is written anew, every row
    // kept, with the column empty in the old ones.
    let upgrade = without_scenario_column(&existing);
    if existing.is_empty() || upgrade {
        writer.write_record(HEADER)?;
    }
    let old_rows = if upgrade { history.as_slice() } else { &[] };
    for row in old_rows.iter().chain(new_rows) {
        writer.write_record(row.cells())?;
    }
    let mut bytes = if upgrade { Vec::new() } else { existing };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(&writer.into_inner()?);
    write_atomically(path, &bytes)?;
    lock.unlock()?;
    history.extend_from_slice(new_rows);
    Ok(history)
}

/// Whether a history file's header is the one from before runs recorded
/// their scenario.
fn without_scenario_column(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line == HEADER_WITHOUT_SCENARIO.join(",").as_bytes()
}

/// The last `runs` runs, oldest first, each as its rows.
pub fn last_runs(rows: &[HistoryRow], runs: usize) -> Vec<Vec<&HistoryRow>> {
    let mut grouped: Vec<Vec<&HistoryRow>> = Vec::new();
    for row in rows {
        match grouped.last_mut() {
            Some(run) if run[0].run_id() == row.run_id() => run.push(row),
            _ => grouped.push(vec![row]),
        }
    }
    let skip = grouped.len().saturating_sub(runs);
    grouped.into_iter().skip(skip).collect()
}

/// `swarmgate history FILE`: the last runs, one block per endpoint, and
/// the change points among them.
pub fn table(rows: &[HistoryRow], runs: usize) -> String {
    let recent = last_runs(rows, runs);
    let mut endpoints: Vec<String> = Vec::new();
    for row in recent.iter().flatten() {
        if !endpoints.contains(&row.endpoint()) {
            endpoints.push(row.endpoint());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{} runs", recent.len());
    let shifts: String = found_changes(rows, runs)
        .iter()
        .map(|c| format!("  {}\n", c.text))
        .collect();
    for endpoint in endpoints {
        let _ = writeln!(out, "\n{endpoint}");
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<16} {:<12} {:>9} {:>8} {:>10} {:>10} {:>10} {:>9}  verdict",
            "time",
            "commit",
            "branch",
            "label",
            "requests",
            "failures",
            "p50",
            "p95",
            "p99",
            "req/s"
        );
        for row in recent.iter().flatten().filter(|r| r.endpoint() == endpoint) {
            let ms = |v: Option<f64>| {
                v.map(|v| format!("{} ms", significant(v)))
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "  {:<20} {:<10} {:<16} {:<12} {:>9} {:>8} {:>10} {:>10} {:>10} {:>9}  {}",
                row.time,
                row.commit.chars().take(10).collect::<String>(),
                row.branch.chars().take(16).collect::<String>(),
                row.label.chars().take(12).collect::<String>(),
                row.requests,
                row.failures,
                ms(row.p50_ms),
                ms(row.p95_ms),
                ms(row.p99_ms),
                significant(row.requests_per_second),
                row.verdict
            );
        }
    }
    if !shifts.is_empty() {
        let _ = write!(
            out,
            "\nChange points (a level that moved and stayed):\n{shifts}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(time: &str, commit: &str) -> RunLabel {
        RunLabel {
            time: time.into(),
            commit: Some(commit.into()),
            branch: Some("main".into()),
            label: "=SUM(1)".into(),
            scenario: "0123456789ab".into(),
        }
    }

    #[test]
    fn runs_append_read_back_exactly_and_group_by_run() {
        let verdict = crate::publish::sample_verdict();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/locust/slow_stats.csv");
        let current =
            crate::results::parse_stats_csv(&std::fs::read(&path).unwrap(), &path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.csv");
        let first = rows_of(&current, &verdict, &label("2026-12-01T10:00:00Z", "aaa"));
        assert_eq!(first.len(), current.rows.len());
        let aggregated = first.iter().find(|r| r.name == "Aggregated").unwrap();
        assert_eq!(aggregated.verdict, "regressed");
        assert_eq!(append(&file, &first).unwrap().len(), first.len());
        let second = rows_of(&current, &verdict, &label("2026-12-02T10:00:00Z", "bbb"));
        let all = append(&file, &second).unwrap();
        // What append returns is what the file holds, a formula label included.
        let read_back = read(&file).unwrap();
        assert_eq!(read_back.len(), all.len());
        assert_eq!(read_back[0].label, "=SUM(1)");
        assert_eq!(read_back[0].requests, all[0].requests);
        let runs = last_runs(&read_back, 30);
        assert_eq!(runs.len(), 2);
        assert_eq!(last_runs(&read_back, 1)[0][0].commit, "bbb");
        let table = table(&read_back, 5);
        assert!(table.starts_with("2 runs"), "{table}");
    }

    #[test]
    fn a_history_that_does_not_parse_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.csv");
        std::fs::write(&file, "not,a,history\n1,2,3\n").unwrap();
        assert!(append(&file, &[]).is_err());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "not,a,history\n1,2,3\n"
        );
        assert!(read(&dir.path().join("missing.csv")).unwrap().is_empty());
    }

    /// A file from before runs recorded their scenario is read, and on the
    /// next append rewritten with the column, every old row kept.
    #[test]
    fn an_old_history_gains_the_scenario_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.csv");
        let old = "time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict\r\n\
                   2026-01-01T00:00:00Z,c1,main,,GET,/a,10,0,1.000,2.000,3.000,5.000,unchanged\r\n";
        std::fs::write(&file, old).unwrap();
        let rows = read(&file).unwrap();
        assert_eq!(rows[0].scenario, "");
        let mut new = rows[0].clone();
        new.time = "2026-01-02T00:00:00Z".into();
        new.scenario = "0123456789ab".into();
        let all = append(&file, &[new]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict,scenario\r\n\
             2026-01-01T00:00:00Z,c1,main,,GET,/a,10,0,1.000,2.000,3.000,5.000,unchanged,\r\n\
             2026-01-02T00:00:00Z,c1,main,,GET,/a,10,0,1.000,2.000,3.000,5.000,unchanged,0123456789ab\r\n"
        );
        assert_eq!(read(&file).unwrap(), all);
    }
}
