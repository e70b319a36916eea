//! `report DIR`: a results directory rendered again from its files alone,
//! each checked for sense as it is read.

use super::*;

/// What `report DIR` needs from summary.json.
#[derive(Deserialize)]
pub(crate) struct SavedSummary {
    run: Option<RunSummary>,
    verdict: Verdict,
    #[serde(default)]
    distributions: Option<SavedCurves>,
}

#[derive(Deserialize)]
struct SavedCurves {
    baseline: Option<Vec<(f64, f64)>>,
}

/// A latency curve as summary.json keeps it: quantiles rising within 0..=1,
/// latencies finite, not negative and not falling.
pub(super) fn check_curve(curve: &[(f64, f64)]) -> Option<String> {
    let sane = curve
        .iter()
        .all(|(q, ms)| (0.0..=1.0).contains(q) && ms.is_finite() && *ms >= 0.0 && *ms <= 1e12);
    let rising = curve
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1);
    (!sane || !rising || curve.len() > 100_000)
        .then(|| "distributions.baseline is not a latency curve (quantile, ms) that rises".into())
}

/// A summary.json as `report DIR` reads it back, its numbers checked.
pub(crate) fn parse_saved_summary(bytes: &[u8]) -> Result<SavedSummary, String> {
    let summary: SavedSummary =
        serde_json::from_slice(bytes).map_err(|e| format!("summary.json is not readable: {e}"))?;
    if let Some(run) = &summary.run {
        run.check()?;
    }
    if let Some(problem) = summary
        .distributions
        .as_ref()
        .and_then(|d| d.baseline.as_deref())
        .and_then(check_curve)
    {
        return Err(problem);
    }
    Ok(summary)
}

/// Renders the report of a results directory again, from its files alone.
pub fn render_results_dir(dir: &Path, history: &[HistoryRow]) -> anyhow::Result<String> {
    if !dir.is_dir() {
        return Err(InvalidInput(format!("{}: not a results directory", dir.display())).into());
    }
    let current = crate::results::load_stats(dir)?;
    let summary_path = dir.join(crate::publish::summary_json::FILE_NAME);
    let summary = match crate::bounds::read_file(&summary_path, crate::bounds::MAX_TEXT_FILE) {
        Ok(bytes) => Some(
            parse_saved_summary(&bytes)
                .map_err(|e| InvalidInput(format!("{}: {e}", summary_path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(InvalidInput(format!("cannot read {}: {e}", summary_path.display())).into())
        }
    };
    let stats_history = dir.join("stats_history.csv");
    let timeline = if stats_history.exists() {
        crate::results::timeline::read(&stats_history)?
    } else {
        Vec::new()
    };
    let failures_path = dir.join("failures.csv");
    let failures = if failures_path.exists() {
        crate::results::failures_csv::read(&failures_path)?
    } else {
        Vec::new()
    };
    let run = summary
        .as_ref()
        .and_then(|s| s.run.as_ref())
        .map(RunMeta::from);
    let input = ReportInput {
        title: run
            .as_ref()
            .map(|r| r.scenario.clone())
            .unwrap_or_else(|| dir.display().to_string()),
        run,
        current: &current,
        current_curve: crate::gate::aggregated_curve(&current),
        baseline_curve: summary
            .as_ref()
            .and_then(|s| s.distributions.as_ref())
            .and_then(|d| d.baseline.clone()),
        verdict: summary.as_ref().map(|s| &s.verdict),
        timeline,
        failures,
        history,
    };
    render(&input)
}
