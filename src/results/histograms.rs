//! `histograms.json`: the exact per-endpoint HdrHistograms and counts, so that
//! later stages need no rounding and runs can be merged exactly.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::ResultFile;
use crate::engine::RunResult;
use crate::metrics::{EndpointKey, EndpointStats, Snapshot};

pub const FILE_NAME: &str = "histograms.json";
const FORMAT: &str = "swarmgate-histograms";

#[derive(Debug, Serialize, Deserialize)]
pub struct HistogramsFile {
    pub format: String,
    pub version: u32,
    pub unit: String,
    pub run: RunInfo,
    pub endpoints: Vec<EndpointRecord>,
    pub aggregated: EndpointRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    pub scenario: String,
    pub host: String,
    pub users: u64,
    pub spawn_rate: f64,
    pub duration_secs: f64,
    pub started_at_unix: f64,
    pub elapsed_secs: f64,
    pub peak_users: u64,
    pub interrupted: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub content_bytes: u64,
    pub sum_micros: u64,
    pub min_micros: u64,
    pub max_micros: u64,
    /// HdrHistogram V2 with deflate, base64: readable by every HdrHistogram port.
    pub histogram: String,
}

pub struct HistogramsJson;

impl ResultFile for HistogramsJson {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn render(&self, run: &RunResult) -> anyhow::Result<Vec<u8>> {
        let file = HistogramsFile {
            format: FORMAT.into(),
            version: 1,
            unit: "microseconds".into(),
            run: RunInfo {
                scenario: run.scenario.clone(),
                host: run.host.clone(),
                users: run.users,
                spawn_rate: run.spawn_rate,
                duration_secs: run.duration.as_secs_f64(),
                started_at_unix: run
                    .started_at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64(),
                // What the statistics cover: the divisor of their throughput.
                elapsed_secs: run.measured.as_secs_f64(),
                peak_users: run.peak_users,
                interrupted: run.interrupted,
            },
            endpoints: run
                .stats
                .endpoints
                .iter()
                .map(|(k, s)| record(k.method.as_str(), &k.name, s))
                .collect::<Result<_, _>>()?,
            aggregated: record("", "Aggregated", &run.stats.total)?,
        };
        Ok(serde_json::to_vec_pretty(&file)?)
    }
}

fn record(method: &str, name: &str, stats: &EndpointStats) -> anyhow::Result<EndpointRecord> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(&stats.histogram, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(EndpointRecord {
        method: method.into(),
        name: name.into(),
        requests: stats.requests,
        failures: stats.failures,
        content_bytes: stats.content_bytes,
        sum_micros: stats.sum_micros,
        min_micros: stats.min_micros,
        max_micros: stats.max_micros,
        histogram: STANDARD.encode(bytes),
    })
}

/// Reads a histograms file back into exact statistics (errors are not in it).
pub fn read(bytes: &[u8]) -> anyhow::Result<(RunInfo, Snapshot)> {
    let file: HistogramsFile =
        serde_json::from_slice(bytes).context("not a swarmgate histograms.json")?;
    anyhow::ensure!(
        file.format == FORMAT && file.version == 1,
        "unsupported histograms format {} v{}",
        file.format,
        file.version
    );
    let mut snapshot = Snapshot {
        total: stats(&file.aggregated)?,
        ..Snapshot::default()
    };
    for endpoint in &file.endpoints {
        let method = endpoint
            .method
            .parse()
            .with_context(|| format!("invalid method `{}`", endpoint.method))?;
        snapshot.endpoints.insert(
            EndpointKey::new(method, Arc::<str>::from(endpoint.name.as_str())),
            stats(endpoint)?,
        );
    }
    Ok((file.run, snapshot))
}

fn stats(record: &EndpointRecord) -> anyhow::Result<EndpointStats> {
    let bytes = STANDARD
        .decode(&record.histogram)
        .with_context(|| format!("histogram of {} is not base64", record.name))?;
    let mut histogram: hdrhistogram::Histogram<u64> = Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(|e| anyhow::anyhow!("histogram of {} is corrupt: {e:?}", record.name))?;
    histogram.auto(true);
    Ok(EndpointStats {
        histogram,
        requests: record.requests,
        failures: record.failures,
        content_bytes: record.content_bytes,
        sum_micros: record.sum_micros,
        min_micros: record.min_micros,
        max_micros: record.max_micros,
    })
}

impl RunInfo {
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.elapsed_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, Sample};
    use hyper::Method;
    use std::time::SystemTime;

    #[test]
    fn histograms_read_back_exactly() {
        let recorder = Recorder::new(2);
        let key = EndpointKey::new(Method::GET, "/products/[id]/");
        for micros in [150, 2_500, 17_000, 1_250_000] {
            let sample = Sample {
                latency: Some(Duration::from_micros(micros)),
                content_length: 70,
                failure: None,
            };
            recorder.record(micros as usize, &key, sample);
        }
        let run = RunResult {
            scenario: "s".into(),
            host: "http://127.0.0.1:1/".into(),
            users: 3,
            spawn_rate: 1.5,
            duration: Duration::from_secs(10),
            started_at: SystemTime::now(),
            elapsed: Duration::from_millis(10_020),
            measured: Duration::from_millis(10_020),
            peak_users: 3,
            interrupted: false,
            schedule: None,
            cut_off: 0,
            faults: Vec::new(),
            over_row_limit: Vec::new(),
            stats: recorder.snapshot(),
        };
        let bytes = HistogramsJson.render(&run).unwrap();
        let (info, snapshot) = read(&bytes).unwrap();
        assert_eq!(
            (info.users, info.elapsed()),
            (3, Duration::from_millis(10_020))
        );
        let original = &run.stats.endpoints[&key];
        let restored = &snapshot.endpoints[&key];
        assert_eq!(restored.histogram, original.histogram);
        assert_eq!(
            (restored.requests, restored.sum_micros, restored.max_micros),
            (4, original.sum_micros, 1_250_000)
        );
        assert_eq!(snapshot.total.histogram, run.stats.total.histogram);
    }

    #[test]
    fn foreign_json_is_rejected() {
        assert!(read(b"{}").is_err());
        assert!(read(b"not json").is_err());
    }
}
