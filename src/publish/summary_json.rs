//! `summary.json`: the run and the verdict for machines, described by the
//! JSON Schema in docs/summary.schema.json.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::RunResult;
use crate::gate::Verdict;
use crate::metrics::unix_seconds;
use crate::results::utc_timestamp;

pub const FILE_NAME: &str = crate::results::SUMMARY_JSON;
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Summary<'a> {
    schema_version: u32,
    swarmgate_version: &'static str,
    run: Option<&'a RunSummary>,
    verdict: &'a Verdict,
    exit_code: u8,
    distributions: Distributions<'a>,
}

/// The Aggregated latency curves, (quantile, ms): what the report draws.
#[derive(Serialize)]
pub struct Distributions<'a> {
    pub current: &'a [(f64, f64)],
    pub baseline: Option<&'a [(f64, f64)]>,
}

/// The run, as summary.json has it and as `report DIR` reads it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub scenario: String,
    pub host: String,
    pub users: u64,
    pub spawn_rate: f64,
    pub duration_secs: f64,
    pub started_at: String,
    pub ended_at: String,
    pub elapsed_secs: f64,
    /// What the statistics cover: less than `elapsed_secs` with reset_stats.
    #[serde(default)]
    pub measured_secs: f64,
    pub commit: Option<String>,
    pub interrupted: bool,
    pub requests: u64,
    pub failures: u64,
    /// Requests still waiting for a response when the run ended.
    #[serde(default)]
    pub cut_off: u64,
    /// Panics inside swarmgate's own tasks; a run with any exits 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// How well the open model kept its schedule; absent in the closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSummary>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// How the generator and its machine fared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::metrics::watch::MachineWatch>,
    /// Bytes and timings on the wire: connect and time to first byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire: Option<crate::metrics::wire::WireSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleSummary {
    pub peak_rate: f64,
    pub started: u64,
    pub late: u64,
    pub dropped: u64,
    pub max_lag_ms: f64,
}

impl RunSummary {
    /// Whether these numbers could have come from a run; what reads a
    /// summary.json back calls this before using any of them.
    pub fn check(&self) -> Result<(), String> {
        let max = crate::bounds::MAX_DURATION.as_secs_f64();
        for (what, value) in [
            ("duration_secs", self.duration_secs),
            ("elapsed_secs", self.elapsed_secs),
            ("measured_secs", self.measured_secs),
        ] {
            if !(value.is_finite() && (0.0..=max).contains(&value)) {
                return Err(format!(
                    "run.{what} is {value}: expected seconds between 0 and 30 days"
                ));
            }
        }
        if !(self.spawn_rate.is_finite() && self.spawn_rate >= 0.0) {
            return Err(format!(
                "run.spawn_rate is {}: expected users per second",
                self.spawn_rate
            ));
        }
        if self.users > crate::bounds::MAX_USERS {
            return Err(format!(
                "run.users is {}: over the limit of {}",
                self.users,
                crate::bounds::MAX_USERS
            ));
        }
        if self.requests > crate::bounds::MAX_COUNT || self.failures > self.requests {
            return Err(format!(
                "run.failures is {} of {} requests",
                self.failures, self.requests
            ));
        }
        if let Some(machine) = &self.machine {
            machine.check().map_err(|e| format!("run.{e}"))?;
        }
        Ok(())
    }

    pub fn of(run: &RunResult, commit: Option<String>) -> Self {
        Self {
            scenario: run.scenario.clone(),
            host: run.host.clone(),
            users: run.users,
            spawn_rate: run.spawn_rate,
            duration_secs: run.duration.as_secs_f64(),
            started_at: utc_timestamp(unix_seconds(run.started_at)),
            ended_at: utc_timestamp(unix_seconds(run.started_at + run.elapsed)),
            elapsed_secs: run.elapsed.as_secs_f64(),
            measured_secs: run.measured.as_secs_f64(),
            commit,
            interrupted: run.interrupted,
            requests: run.stats.total.requests,
            failures: run.stats.total.failures,
            cut_off: run.cut_off,
            faults: run.faults.clone(),
            schedule: run.schedule.as_ref().map(|s| ScheduleSummary {
                peak_rate: s.peak_rate,
                started: s.started,
                late: s.late,
                dropped: s.dropped,
                max_lag_ms: s.max_lag.as_secs_f64() * 1000.0,
            }),
            warnings: run.warnings(),
            machine: run.machine.clone(),
            wire: run.stats.wire.summary(),
        }
    }
}

pub fn render(
    run: Option<&RunSummary>,
    verdict: &Verdict,
    exit_code: u8,
    distributions: Distributions,
) -> anyhow::Result<Vec<u8>> {
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        swarmgate_version: env!("CARGO_PKG_VERSION"),
        run,
        verdict,
        exit_code,
        distributions,
    };
    let mut bytes = serde_json::to_vec_pretty(&summary)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes summary.json: the run (when there is one), the verdict, the exit
/// code and both sides' latency curves.
pub fn write(
    path: &Path,
    run: Option<&RunSummary>,
    verdict: &Verdict,
    exit_code: u8,
    curves: &Curves,
) -> anyhow::Result<()> {
    let distributions = Distributions {
        current: &curves.current,
        baseline: curves.baseline.as_deref(),
    };
    crate::results::write_atomically(path, &render(run, verdict, exit_code, distributions)?)
}

/// The Aggregated latency curves of both sides, for summary.json and the report.
pub struct Curves {
    pub current: Vec<(f64, f64)>,
    pub baseline: Option<Vec<(f64, f64)>>,
}

impl Curves {
    pub fn of(
        current: &crate::gate::input::RunStats,
        baseline: Option<&crate::gate::input::RunStats>,
    ) -> Self {
        Self {
            current: crate::gate::aggregated_curve(current),
            baseline: baseline.map(crate::gate::aggregated_curve),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_json_follows_its_schema() {
        let verdict = crate::publish::sample_verdict();
        let curve = [(0.5, 1.0), (0.99, 3.0)];
        let bytes = render(
            None,
            &verdict,
            1,
            Distributions {
                current: &curve,
                baseline: Some(&curve),
            },
        )
        .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/summary.schema.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&summary)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(summary["exit_code"], 1);
        assert_eq!(summary["verdict"]["passed"], false);
    }
}
