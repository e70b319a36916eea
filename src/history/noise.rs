//! What a history teaches: the noise between runs like this one (same
//! scenario, branch and kind of label), and where the levels moved.

use super::{last_runs, HistoryRow};
use crate::endpoint::Endpoint;

/// Which earlier runs teach the gate the noise between runs: runs like
/// this one, of the same scenario, branch and kind of label.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// The scenario's fingerprint; rows without one (older files) match.
    pub scenario: Option<String>,
    /// The branch whose runs count; `None` for every branch.
    pub branch: Option<String>,
    /// The label's kind ([`label_kind`]); `None` for every label.
    pub label_kind: Option<String>,
}

impl RunFilter {
    /// Every run: what `compare --history` and `--history-branch '*'` ask.
    pub fn every_run() -> Self {
        Self::default()
    }

    fn admits(&self, row: &HistoryRow) -> bool {
        let scenario = match &self.scenario {
            Some(scenario) => row.scenario.is_empty() || row.scenario == *scenario,
            None => true,
        };
        scenario
            && self.branch.as_ref().is_none_or(|b| row.branch == *b)
            && self
                .label_kind
                .as_ref()
                .is_none_or(|kind| label_kind(&row.label) == *kind)
    }

    /// In words, for a note: `of scenario 3f2a…, branch main and label kind nightly`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(scenario) = &self.scenario {
            parts.push(format!("scenario {scenario}"));
        }
        if let Some(branch) = &self.branch {
            parts.push(format!("branch {branch}"));
        }
        if let Some(kind) = &self.label_kind {
            parts.push(if kind.is_empty() {
                "no label".to_owned()
            } else {
                format!("label kind {kind}")
            });
        }
        parts.join(", ")
    }
}

/// A label's kind: the label without a trailing number, so that `pr-123`
/// and `pr-124` are one kind and `nightly` another.
pub fn label_kind(label: &str) -> String {
    label
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned()
}

/// How far back the history teaches the gate: enough runs for change
/// points to be found and for a t interval after the last of them.
const MAX_EARLIER_RUNS: usize = 60;

/// The noise between runs that a history shows, from its last runs that
/// `filter` admits; `None` with too few of them.
pub fn spread_between_runs(
    rows: &[HistoryRow],
    filter: &RunFilter,
) -> Option<crate::gate::spread::Spread> {
    let admitted: Vec<HistoryRow> = rows.iter().filter(|r| filter.admits(r)).cloned().collect();
    let earlier = earlier_runs(&admitted, MAX_EARLIER_RUNS);
    (earlier.len() >= crate::gate::spread::MIN_EARLIER_RUNS)
        .then(|| crate::gate::spread::Spread::of_earlier_runs(&earlier))
}

/// The last `runs` runs, oldest first, as the values from which the gate
/// learns the noise between runs. Runs that regressed count too: a
/// regression that landed is a change point, found as one, and a one-off
/// is an outlier, left out as one; dropping them would hide both.
pub fn earlier_runs(rows: &[HistoryRow], runs: usize) -> Vec<crate::gate::spread::EarlierRun> {
    use crate::gate::Metric;
    last_runs(rows, runs)
        .into_iter()
        .map(|run| {
            let mut values = Vec::new();
            for row in &run {
                let key = Endpoint {
                    method: row.method.clone(),
                    name: row.name.clone(),
                };
                for (percent, value) in [(50.0, row.p50_ms), (95.0, row.p95_ms), (99.0, row.p99_ms)]
                {
                    if let Some(value) = value {
                        values.push((key.clone(), Metric::Percentile(percent), value));
                    }
                }
                if row.requests > 0 {
                    let rate = row.failures as f64 / row.requests as f64;
                    values.push((key.clone(), Metric::FailRate, rate));
                }
                values.push((key, Metric::Throughput, row.requests_per_second));
            }
            crate::gate::spread::EarlierRun {
                commit: run[0].commit.clone(),
                values,
            }
        })
        .collect()
}

/// A change point among a history's last runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundChange {
    /// The index, among the last runs, of the first run at the new level.
    pub run: usize,
    pub shift: crate::gate::spread::Shift,
    /// `p95 of GET /x fell 48% at a1b2c3d (run 21 of branch main)`.
    pub text: String,
}

/// The change points of the last `runs` runs, found apart in each
/// branch's runs of each label kind, in the order of the runs.
pub fn found_changes(rows: &[HistoryRow], runs: usize) -> Vec<FoundChange> {
    let recent = last_runs(rows, runs);
    let mut kinds: Vec<(String, String)> = Vec::new();
    for run in &recent {
        let kind = (run[0].branch.clone(), label_kind(&run[0].label));
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let mut found = Vec::new();
    for (branch, kind) in kinds {
        let filter = RunFilter {
            scenario: None,
            branch: Some(branch.clone()),
            label_kind: Some(kind.clone()),
        };
        let positions: Vec<usize> = (0..recent.len())
            .filter(|&i| filter.admits(recent[i][0]))
            .collect();
        let admitted: Vec<HistoryRow> = positions
            .iter()
            .flat_map(|&i| recent[i].iter().map(|r| (*r).clone()))
            .collect();
        let earlier = earlier_runs(&admitted, usize::MAX);
        for shift in crate::gate::spread::shifts(&earlier) {
            let commit = &earlier[shift.run].commit;
            let at = if commit.is_empty() {
                String::new()
            } else {
                format!(" at {}", commit.get(..7).unwrap_or(commit))
            };
            let mut of = format!("run {}", shift.run + 1);
            if !branch.is_empty() {
                of.push_str(&format!(" of branch {branch}"));
            }
            if !kind.is_empty() {
                of.push_str(&format!(", label kind {kind}"));
            }
            found.push(FoundChange {
                run: positions[shift.run],
                text: format!("{}{at} ({of})", shift.describe()),
                shift,
            });
        }
    }
    found.sort_by_key(|c| c.run);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_learns_only_from_runs_like_this_one() {
        let row = |branch: &str, label: &str, scenario: &str| HistoryRow {
            time: String::new(),
            commit: String::new(),
            branch: branch.into(),
            label: label.into(),
            method: String::new(),
            name: "Aggregated".into(),
            requests: 1,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            requests_per_second: 1.0,
            verdict: String::new(),
            scenario: scenario.into(),
        };
        let filter = RunFilter {
            scenario: Some("aaa".into()),
            branch: Some("main".into()),
            label_kind: Some(label_kind("pr-12")),
        };
        assert!(filter.admits(&row("main", "pr-7", "aaa")));
        // Rows from before the scenario was recorded count.
        assert!(filter.admits(&row("main", "pr-7", "")));
        assert!(!filter.admits(&row("main", "pr-7", "bbb")));
        assert!(!filter.admits(&row("feature", "pr-7", "aaa")));
        assert!(!filter.admits(&row("main", "nightly", "aaa")));
        assert!(RunFilter::every_run().admits(&row("x", "y", "z")));
        assert_eq!(
            filter.describe(),
            "scenario aaa, branch main, label kind pr-"
        );
        assert_eq!(super::super::scenario_fingerprint(b"x").len(), 12);
    }
}
