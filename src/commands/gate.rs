//! The gate's part of `run`, `compare` and `demo`: rules from their sources,
//! baselines loaded before any load is sent and replaced atomically, the
//! verdict printed and written.

use std::path::Path;

use crate::cli::GateArgs;
use crate::engine::RunResult;
use crate::gate::input::RunStats;
use crate::gate::rules::Rules;
use crate::gate::{format_percentile, judge, Verdict};
use crate::publish::verdict_text;
use crate::results::{histograms, write_atomically, ResultFile};
use crate::InvalidInput;

/// Flags win over the scenario's `[gate]` table or the rules file.
pub fn apply_flags(mut rules: Rules, flags: &GateArgs) -> Rules {
    if let Some(percentiles) = &flags.percentiles {
        rules.percentiles = percentiles.clone();
    }
    if let Some(v) = flags.latency_tolerance {
        rules.latency.allowed = v;
    }
    if let Some(v) = flags.latency_floor {
        rules.latency.floor_ms = v;
    }
    if let Some(v) = flags.fail_rate_tolerance {
        rules.fail_rate.allowed = v;
    }
    if let Some(v) = flags.throughput_tolerance {
        rules.throughput.allowed = v;
    }
    if let Some(v) = flags.min_samples {
        rules.min_samples = v;
    }
    if let Some(v) = flags.missing {
        rules.missing = v;
    }
    if let Some(v) = flags.max_fail_rate {
        rules.max_fail_rate = v.0;
    }
    rules
}

/// Reads a baseline and checks that it has every percentile the rules compare.
pub fn load_baseline(path: &Path, rules: &Rules) -> anyhow::Result<RunStats> {
    let baseline = crate::results::load_stats(path)?;
    check_percentiles(&baseline, rules)?;
    Ok(baseline)
}

/// A CSV only knows its percentile columns; comparing another percentile
/// would compare different things.
pub fn check_percentiles(stats: &RunStats, rules: &Rules) -> Result<(), InvalidInput> {
    let Some(ladder) = &stats.ladder else {
        return Ok(());
    };
    for percent in &rules.percentiles {
        if !ladder.iter().any(|q| (q * 100.0 - percent).abs() < 1e-9) {
            let columns: Vec<String> = ladder
                .iter()
                .map(|q| format!("{}%", format_percentile(q * 100.0)))
                .collect();
            return Err(InvalidInput(format!(
                "{}: has no {}% column to compare (its percentile columns are {}); choose --percentiles among them",
                stats.source,
                format_percentile(*percent),
                columns.join(", ")
            )));
        }
    }
    Ok(())
}

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

/// Writes the run as the new baseline: into a directory (stats.csv and
/// histograms.json) unless the path names a .csv file. Each file is replaced
/// atomically, so a reader never sees half a baseline.
pub fn update_baseline(path: &Path, run: &RunResult, force: bool) -> anyhow::Result<()> {
    if run.interrupted && !force {
        return Err(crate::CouldNotRun(format!(
            "the run was interrupted, so the baseline {} was left as it was; pass --force with --update-baseline to accept a partial run",
            path.display()
        ))
        .into());
    }

    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        write_atomically(path, &crate::results::StatsCsv.render(run)?)?;
    } else {
        let files = [
            ("stats.csv", crate::results::StatsCsv.render(run)?),
            (
                histograms::FILE_NAME,
                histograms::HistogramsJson.render(run)?,
            ),
        ];
        crate::results::replace_dir_atomically(path, &files).map_err(|e| {
            InvalidInput(format!(
                "--update-baseline {}: {e:#}; the old baseline is as it was",
                path.display()
            ))
        })?;
    }
    outln!(
        "baseline {} updated from this run ({} rows)",
        path.display(),
        run.stats.endpoints.len() + 1
    );
    Ok(())
}
