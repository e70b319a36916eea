//! `histograms.json`: the exact per-endpoint HdrHistograms and counts, so that
//! later stages need no rounding and runs can be merged exactly.

use std::io::Cursor;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

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
    /// The run in time blocks (absent from files of before version 0.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<super::blocks::BlockRecord>,
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
    /// The ramp-up the statistics include, seconds from their start; its
    /// blocks are left out of the noise estimate (absent before 0.3: none).
    #[serde(default)]
    pub ramp_up_secs: f64,
    pub interrupted: bool,
    /// How the generator and its machine fared (absent before version 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::metrics::watch::MachineWatch>,
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
                ramp_up_secs: run.ramp_up.as_secs_f64(),
                interrupted: run.interrupted,
                machine: run.machine.clone(),
            },
            endpoints: run
                .stats
                .endpoints
                .iter()
                .map(|(k, s)| record(k.method.as_str(), &k.name, s))
                .collect::<Result<_, _>>()?,
            aggregated: record("", "Aggregated", &run.stats.total)?,
            blocks: super::blocks::encode(&run.stats.blocks)?,
        };
        Ok(serde_json::to_vec_pretty(&file)?)
    }
}

/// A histogram as V2 with deflate, in base64.
pub(super) fn encode<T: hdrhistogram::Counter>(
    histogram: &hdrhistogram::Histogram<T>,
) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(STANDARD.encode(bytes))
}

/// The inverse of [`encode`], bounded before anything is allocated.
pub(super) fn decode<T: hdrhistogram::Counter>(
    encoded: &str,
    name: &str,
) -> anyhow::Result<hdrhistogram::Histogram<T>> {
    anyhow::ensure!(
        encoded.len() <= MAX_ENCODED * 4 / 3 + 4,
        "histogram of {name} is larger than {} KiB",
        MAX_ENCODED >> 10
    );
    let bytes = STANDARD
        .decode(encoded)
        .with_context(|| format!("histogram of {name} is not base64"))?;
    let plain = inflate_checked(&bytes).map_err(|e| anyhow::anyhow!("histogram of {name} {e}"))?;
    let mut histogram: hdrhistogram::Histogram<T> = Deserializer::new()
        .deserialize(&mut Cursor::new(plain))
        .map_err(|e| anyhow::anyhow!("histogram of {name} is corrupt: {e:?}"))?;
    histogram.auto(true);
    Ok(histogram)
}

fn record(method: &str, name: &str, stats: &EndpointStats) -> anyhow::Result<EndpointRecord> {
    Ok(EndpointRecord {
        method: method.into(),
        name: name.into(),
        requests: stats.requests,
        failures: stats.failures,
        content_bytes: stats.content_bytes,
        sum_micros: stats.sum_micros,
        min_micros: stats.min_micros,
        max_micros: stats.max_micros,
        histogram: encode(&stats.histogram)?,
    })
}

/// A histograms file as one side of a comparison; `source` names it.
pub fn run_stats(bytes: &[u8], source: &str) -> anyhow::Result<crate::gate::input::RunStats> {
    let (info, snapshot) =
        read(bytes).map_err(|e| crate::InvalidInput(format!("{source}: {e:#}")))?;
    Ok(crate::gate::input::RunStats {
        machine: info.machine.clone(),
        ..crate::gate::input::RunStats::from_snapshot(
            &snapshot,
            info.elapsed_secs,
            info.ramp_up_secs,
            source,
        )
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
    check_run(&file.run)?;
    anyhow::ensure!(
        file.endpoints.len() <= crate::metrics::MAX_ENDPOINTS + 1,
        "{} endpoints, more than the {} rows a run keeps",
        file.endpoints.len(),
        crate::metrics::MAX_ENDPOINTS + 1
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
        let key = EndpointKey::new(method, Arc::<str>::from(endpoint.name.as_str()));
        anyhow::ensure!(
            !snapshot.endpoints.contains_key(&key),
            "the endpoint {} {} appears twice",
            endpoint.method,
            endpoint.name
        );
        snapshot.endpoints.insert(key, stats(endpoint)?);
    }
    // Throughput divides by it.
    anyhow::ensure!(
        snapshot.total.requests == 0 || file.run.elapsed_secs > 0.0,
        "{} requests in 0 seconds: run.elapsed_secs must be the time they took",
        snapshot.total.requests
    );
    let requests: u64 = snapshot.endpoints.values().map(|s| s.requests).sum();
    anyhow::ensure!(
        file.endpoints.is_empty() || requests == snapshot.total.requests,
        "the endpoints' requests add up to {requests}, but Aggregated says {}",
        snapshot.total.requests
    );
    snapshot.blocks = super::blocks::decode(&file.blocks, &snapshot)?;
    Ok((file.run, snapshot))
}

/// Whether the run's numbers could have come from a run: finite, not
/// negative, and within the limits every run keeps.
fn check_run(run: &RunInfo) -> anyhow::Result<()> {
    let max = crate::bounds::MAX_DURATION.as_secs_f64();
    for (what, value) in [
        ("duration_secs", run.duration_secs),
        ("elapsed_secs", run.elapsed_secs),
    ] {
        anyhow::ensure!(
            value.is_finite() && (0.0..=max).contains(&value),
            "run.{what} is {value}: expected seconds between 0 and 30 days"
        );
    }
    anyhow::ensure!(
        run.elapsed_secs == 0.0 || run.elapsed_secs >= 1e-3,
        "run.elapsed_secs is {}: no run measures less than a millisecond",
        run.elapsed_secs
    );
    anyhow::ensure!(
        run.ramp_up_secs.is_finite() && run.ramp_up_secs >= 0.0,
        "run.ramp_up_secs is {}: expected seconds from the start of the statistics",
        run.ramp_up_secs
    );
    anyhow::ensure!(
        run.started_at_unix.is_finite() && (0.0..=1e11).contains(&run.started_at_unix),
        "run.started_at_unix is {}: expected a Unix time in seconds",
        run.started_at_unix
    );
    anyhow::ensure!(
        run.spawn_rate.is_finite() && run.spawn_rate >= 0.0,
        "run.spawn_rate is {}: expected users per second",
        run.spawn_rate
    );
    anyhow::ensure!(
        run.users <= crate::bounds::MAX_USERS && run.peak_users <= crate::bounds::MAX_USERS,
        "run.users is over the limit of {}",
        crate::bounds::MAX_USERS
    );
    if let Some(machine) = &run.machine {
        machine.check().map_err(|e| anyhow::anyhow!("run.{e}"))?;
    }
    Ok(())
}

/// The most a histogram may hold: what swarmgate writes (3 significant
/// digits, values up to the longest timeout) with room to spare, so that a
/// hostile file cannot make the reader allocate more than a few MiB.
const MAX_ENCODED: usize = 1 << 20;
const MAX_INFLATED: u64 = 4 << 20;
const MAX_TRACKABLE_MICROS: u64 = 4 * 30 * 24 * 3600 * 1_000_000;
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;

/// Inflates a V2+deflate histogram within bounds and checks its header
/// (precision, range, payload length) before HdrHistogram allocates for it.
fn inflate_checked(encoded: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let be32 = |b: &[u8], at: usize| -> Result<u32, String> {
        b.get(at..at + 4)
            .map(|s| u32::from_be_bytes(s.try_into().expect("4 bytes")))
            .ok_or_else(|| "truncated".to_owned())
    };
    let be64 = |b: &[u8], at: usize| -> Result<u64, String> {
        b.get(at..at + 8)
            .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
            .ok_or_else(|| "truncated".to_owned())
    };
    if be32(encoded, 0)? != V2_DEFLATE_COOKIE {
        return Err("not an HdrHistogram V2 deflate encoding".into());
    }
    let compressed = be32(encoded, 4)? as usize;
    if compressed != encoded.len() - 8 {
        return Err(format!(
            "declares {compressed} compressed bytes but holds {}",
            encoded.len() - 8
        ));
    }
    let mut plain = Vec::new();
    flate2::read::ZlibDecoder::new(&encoded[8..])
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("does not inflate: {e}"))?;
    if plain.len() as u64 > MAX_INFLATED {
        return Err(format!("inflates past {} MiB", MAX_INFLATED >> 20));
    }
    if be32(&plain, 0)? != V2_COOKIE {
        return Err("not an HdrHistogram V2 encoding inside".into());
    }
    let payload = be32(&plain, 4)? as usize;
    if payload != plain.len().saturating_sub(40) {
        return Err(format!(
            "declares a payload of {payload} bytes but holds {}",
            plain.len().saturating_sub(40)
        ));
    }
    let digits = be32(&plain, 12)?;
    let lowest = be64(&plain, 16)?;
    let highest = be64(&plain, 24)?;
    if !(1..=3).contains(&digits) || lowest == 0 || lowest > 1000 {
        return Err(format!(
            "has {digits} significant digits and a lowest value of {lowest}: swarmgate writes 3 and 1"
        ));
    }
    if highest < 2 * lowest || highest > MAX_TRACKABLE_MICROS {
        return Err(format!(
            "tracks values up to {highest} µs, past the longest request (30 days)"
        ));
    }
    Ok(plain)
}

fn stats(record: &EndpointRecord) -> anyhow::Result<EndpointStats> {
    let name = &record.name;
    let histogram: hdrhistogram::Histogram<u64> = decode(&record.histogram, name)?;
    let timed = histogram.len();
    let nonsense = |what: String| anyhow::anyhow!("{name}: {what}");
    if record.requests > crate::bounds::MAX_COUNT {
        return Err(nonsense(format!(
            "{} requests is past any run",
            record.requests
        )));
    }
    if record.failures > record.requests {
        return Err(nonsense(format!(
            "{} failures of {} requests",
            record.failures, record.requests
        )));
    }
    if timed > record.requests {
        return Err(nonsense(format!(
            "the histogram holds {timed} requests, but the row counts {}",
            record.requests
        )));
    }
    if timed > 0 {
        let within = |exact: u64, recorded: u64| histogram.equivalent(exact, recorded);
        if record.min_micros > record.max_micros
            || !within(record.min_micros, histogram.min())
            || !within(record.max_micros, histogram.max())
        {
            return Err(nonsense(format!(
                "min {} µs and max {} µs disagree with the histogram ({}..{} µs)",
                record.min_micros,
                record.max_micros,
                histogram.min(),
                histogram.max()
            )));
        }
        let sum = record.sum_micros as u128;
        if sum < record.min_micros as u128 * timed as u128
            || sum > record.max_micros as u128 * timed as u128
        {
            return Err(nonsense(format!(
                "a latency sum of {} µs is outside {timed} requests between min and max",
                record.sum_micros
            )));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, Sample};
    use hyper::Method;
    use std::time::Duration;
    use std::time::SystemTime;

    fn sample_run() -> RunResult {
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
        RunResult {
            scenario: "s".into(),
            host: "http://127.0.0.1:1/".into(),
            users: 3,
            spawn_rate: 1.5,
            duration: Duration::from_secs(10),
            started_at: SystemTime::now(),
            elapsed: Duration::from_millis(10_020),
            measured: Duration::from_millis(10_020),
            peak_users: 3,
            ramp_up: Duration::from_secs(2),
            interrupted: false,
            schedule: None,
            cut_off: 0,
            faults: Vec::new(),
            over_row_limit: Vec::new(),
            stats: recorder.snapshot(),
            machine: None,
        }
    }

    #[test]
    fn histograms_read_back_exactly() {
        let run = sample_run();
        let key = EndpointKey::new(Method::GET, "/products/[id]/");
        let bytes = HistogramsJson.render(&run).unwrap();
        let (info, snapshot) = read(&bytes).unwrap();
        assert_eq!((info.users, info.elapsed_secs), (3, 10.02));
        let original = &run.stats.endpoints[&key];
        let restored = &snapshot.endpoints[&key];
        assert_eq!(restored.histogram, original.histogram);
        assert_eq!(
            (restored.requests, restored.sum_micros, restored.max_micros),
            (4, original.sum_micros, 1_250_000)
        );
        assert_eq!(snapshot.total.histogram, run.stats.total.histogram);
    }

    /// The sample run's file with one change made to its JSON.
    fn mutated(change: impl FnOnce(&mut serde_json::Value)) -> anyhow::Result<(RunInfo, Snapshot)> {
        let bytes = HistogramsJson.render(&sample_run()).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        change(&mut json);
        read(&serde_json::to_vec(&json).unwrap())
    }

    fn encoded(plain: &[u8]) -> String {
        use std::io::Write;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zlib.write_all(plain).unwrap();
        let compressed = zlib.finish().unwrap();
        let mut out = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        out.extend((compressed.len() as u32).to_be_bytes());
        out.extend(compressed);
        STANDARD.encode(out)
    }

    fn v2_header(payload: u32, digits: u32, highest: u64) -> Vec<u8> {
        let mut plain = V2_COOKIE.to_be_bytes().to_vec();
        plain.extend(payload.to_be_bytes());
        plain.extend(0u32.to_be_bytes());
        plain.extend(digits.to_be_bytes());
        plain.extend(1u64.to_be_bytes());
        plain.extend(highest.to_be_bytes());
        plain.extend(1.0f64.to_be_bytes());
        plain
    }

    fn refused(change: impl FnOnce(&mut serde_json::Value), expected: &str) {
        let Err(error) = mutated(change) else {
            panic!("accepted; expected `{expected}`")
        };
        let error = format!("{error:#}");
        assert!(
            error.contains(expected),
            "expected `{expected}` in: {error}"
        );
    }

    #[test]
    fn hostile_histograms_are_refused_before_they_allocate() {
        // A 4 GiB payload declared in a few bytes.
        let header = v2_header(u32::MAX, 3, 1 << 20);
        refused(
            |j| j["aggregated"]["histogram"] = encoded(&header).into(),
            "declares a payload",
        );
        // A deflate bomb: 16 MiB of zeros in a few KiB.
        let mut bomb = v2_header(16 << 20, 3, 1 << 20);
        bomb.resize(40 + (16 << 20), 0);
        refused(
            |j| j["aggregated"]["histogram"] = encoded(&bomb).into(),
            "inflates past",
        );
        // As wide as a u64 can track, or as precise as 5 digits.
        let wide = v2_header(0, 3, u64::MAX / 2);
        refused(
            |j| j["aggregated"]["histogram"] = encoded(&wide).into(),
            "tracks values up to",
        );
        let precise = v2_header(0, 5, 1 << 20);
        refused(
            |j| j["aggregated"]["histogram"] = encoded(&precise).into(),
            "significant digits",
        );
        refused(
            |j| j["aggregated"]["histogram"] = "AAAA".into(),
            "truncated",
        );
        // Thousands of endpoints.
        refused(
            |j| {
                let one = j["endpoints"][0].clone();
                j["endpoints"] = serde_json::Value::Array(vec![one; 1500]);
            },
            "more than the 1001 rows",
        );
    }

    #[test]
    fn numbers_no_run_could_have_made_are_refused() {
        refused(
            |j| j["run"]["elapsed_secs"] = 0.0.into(),
            "requests in 0 seconds",
        );
        refused(
            |j| j["run"]["elapsed_secs"] = (-1.0).into(),
            "elapsed_secs is -1",
        );
        refused(
            |j| j["run"]["elapsed_secs"] = 1e-320.into(),
            "less than a millisecond",
        );
        refused(
            |j| j["run"]["duration_secs"] = 1e300.into(),
            "duration_secs",
        );
        refused(
            |j| j["endpoints"][0]["failures"] = 99.into(),
            "99 failures of 4 requests",
        );
        refused(
            |j| j["endpoints"][0]["min_micros"] = 5_000_000.into(),
            "disagree with the histogram",
        );
        refused(
            |j| j["endpoints"][0]["requests"] = 3.into(),
            "the histogram holds 4",
        );
        refused(
            |j| j["endpoints"][0]["sum_micros"] = 1.into(),
            "latency sum",
        );
        refused(|j| j["aggregated"]["requests"] = 40.into(), "add up to 4");
        refused(
            |j| {
                let one = j["endpoints"][0].clone();
                j["endpoints"].as_array_mut().unwrap().push(one);
            },
            "appears twice",
        );
    }

    #[test]
    fn foreign_json_is_rejected() {
        assert!(read(b"{}").is_err());
        assert!(read(b"not json").is_err());
    }
}
