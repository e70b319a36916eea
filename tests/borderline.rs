//! The gate at the margin, each side a server process of its own: +20% at
//! the default 10% tolerance fails, +5% does not, and the same server in
//! a second process passes.

mod common;

use common::{health_scenario, run_with_baseline, stderr_of, stdout_of, DemoProcess};

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
