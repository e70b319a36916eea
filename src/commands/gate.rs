//! What `run`, `compare` and `demo` print of the gate: the verdict table
//! and where the report went.

use std::path::Path;

use crate::gate::input::RunStats;
use crate::gate::rules::Rules;
use crate::gate::{judge, Verdict};
use crate::publish::verdict_text;
use crate::results::write_atomically;

/// Judges and prints the verdict table; returns the verdict.
pub fn judge_and_print(current: &RunStats, baseline: Option<&RunStats>, rules: &Rules) -> Verdict {
    let verdict = judge(current, baseline, rules);
    if baseline.is_some() || !rules.thresholds.is_empty() || !verdict.passed {
        out!("\n{}", verdict_text::render(&verdict));
    }
    verdict
}

pub fn write_report(path: &Path, input: &crate::report::ReportInput) -> anyhow::Result<()> {
    write_atomically(path, crate::report::render(input)?.as_bytes())?;
    outln!("report: {}", path.display());
    Ok(())
}
