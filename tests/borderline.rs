//! The gate at the margin, each side a server process of its own: +20% at
//! the default 10% tolerance fails, +5% does not, and the same server in
//! a second process passes. And what is no noise: a queue building inside
//! a run is said to be one.

mod common;

use common::{
    health_scenario, run_with_baseline, stderr_of, stdout_of, write_scenario, DemoProcess,
};

#[test]
fn twenty_percent_fails_five_percent_and_the_same_server_pass() {
    // 40 ms, so that +5% (2 ms) is beyond the 1 ms floor: what passes it
    // is the tolerance, not the floor.
    let base = DemoProcess::with_latency("40ms");
    let dir = tempfile::tempdir().unwrap();
    let scenario = health_scenario(dir.path(), "3s");
    let (out, baseline) = (dir.path().join("out"), dir.path().join("baseline"));
    let recorded = run_with_baseline(
        &scenario,
        &base.url,
        &out,
        &baseline,
        &["--update-baseline"],
    );
    assert_eq!(recorded.status.code(), Some(0), "{}", stderr_of(&recorded));
    drop(base);
    for (latency, expected) in [("48ms", 1), ("42ms", 0), ("40ms", 0)] {
        let server = DemoProcess::with_latency(latency);
        let judged = run_with_baseline(&scenario, &server.url, &out, &baseline, &[]);
        let text = stdout_of(&judged);
        assert_eq!(
            judged.status.code(),
            Some(expected),
            "{latency} against 40ms:\n{text}{}",
            stderr_of(&judged)
        );
        if expected == 1 {
            assert!(text.contains("✗ GET /health p50 "), "{text}");
        }
    }
}

/// An open model above what one worker serves: the backlog, and with it
/// the latency, grows through the run. That is reported as a trend (in
/// the terminal and in summary.json), not counted as noise.
#[test]
fn a_queue_building_inside_a_run_is_reported_as_a_trend() {
    let server = DemoProcess::with_flags(&["--inject-latency", "10ms", "--workers", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        "queue.toml",
        "host = \"http://127.0.0.1:1\"\n[load]\nusers = 50\narrival_rate = 150\nduration = \"6s\"\n[[user]]\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n",
    );
    let out = dir.path().join("out");
    let output = common::swarmgate()
        .arg("run")
        .arg(&scenario)
        .args(["--host", &server.url, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    common::assert_no_panic(&output);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("warning: latency of Aggregated grew ")
            && stderr.contains("a queue building or a leak"),
        "{stderr}"
    );
    let summary = common::assert_valid_summary(&out.join("summary.json"));
    let trends = summary["verdict"]["trends"].as_array().unwrap();
    assert!(
        trends.iter().any(|t| t
            .as_str()
            .unwrap()
            .starts_with("latency of GET /health grew ")),
        "{trends:?}"
    );
}
