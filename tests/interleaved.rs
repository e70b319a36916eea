//! `run --against`: the baseline deployment and the candidate in turns on
//! one machine, judged by their paired rounds.

mod common;

use common::{
    assert_no_panic, comparison, health_scenario, run_with_baseline, stderr_of, swarmgate, DemoApi,
};

fn scenario(dir: &std::path::Path) -> std::path::PathBuf {
    health_scenario(dir, "3s")
}

fn interleave(
    candidate: &DemoApi,
    baseline: &DemoApi,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let dir = out.parent().unwrap();
    let output = swarmgate()
        .arg("run")
        .arg(scenario(dir))
        .args(["-q", "--host", &candidate.url, "--against", &baseline.url])
        .args(["--rounds", "3", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert_no_panic(&output);
    output
}

fn summary(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn the_same_service_in_turns_passes_and_both_sides_are_kept() {
    // Two processes of the same service, as two deployments of one build.
    let (api, twin) = (DemoApi::with_latency(2), DemoApi::with_latency(2));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = interleave(&twin, &api, &out, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        stderr_of(&output)
    );
    let stderr = stderr_of(&output);
    assert!(
        !stderr.contains("round 1/6"),
        "-q keeps rounds quiet: {stderr}"
    );
    let summary = summary(&out);
    assert!(
        summary["verdict"]["noise_model"]
            .as_str()
            .unwrap()
            .starts_with("interleaved A/B: 3 pairs of rounds"),
        "{summary}"
    );
    // Each side ran --duration in all.
    let elapsed = summary["run"]["duration_secs"].as_f64().unwrap();
    assert!((elapsed - 3.0).abs() < 0.01, "{elapsed}");
    for side in [out.clone(), out.join("baseline")] {
        for file in ["stats.csv", "histograms.json", "stats_history.csv"] {
            assert!(side.join(file).exists(), "{}", side.join(file).display());
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("3 pairs of rounds on one machine"),
        "the noise model is in the report"
    );
    // The baseline's side is a results directory like any: compare reads it.
    let again = swarmgate()
        .args(["compare"])
        .arg(&out)
        .arg("--baseline")
        .arg(out.join("baseline"))
        .arg("--report")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_no_panic(&again);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn a_slower_candidate_fails_and_the_reason_names_the_pairs() {
    let baseline = DemoApi::with_latency(2);
    let candidate = DemoApi::with_latency(6);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = interleave(&candidate, &baseline, &out, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let summary = summary(&out);
    let median = comparison(&summary, "/health", "p50");
    assert_eq!(median["outcome"], "regressed", "{median}");
    assert!(
        summary["verdict"]["machine"].is_null(),
        "one machine, no allowance"
    );
}

#[test]
fn bad_interleaving_flags_are_refused_before_any_load() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (extra, expected) in [
        (&["--rounds", "50"][..], "--rounds 50"),
        (&["--rounds", "2"][..], "--rounds"),
        (&["--baseline", "b.csv"][..], "--baseline"),
        (
            &["--until-decided", "--max-duration", "2s"][..],
            "--max-duration 2s is shorter than the first look",
        ),
        (&["--max-duration", "1m"][..], "--until-decided"),
    ] {
        let output = swarmgate()
            .arg("run")
            .arg(scenario(dir.path()))
            .args(["-q", "--host", &api.url, "--against", &api.url, "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        assert!(
            stderr_of(&output).contains(expected),
            "{}",
            stderr_of(&output)
        );
    }
    let output = swarmgate()
        .arg("run")
        .arg(scenario(dir.path()))
        .args(["-q", "--host", &api.url, "--against", "http://10.1.2.3:80"])
        .args(["--rounds", "3"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("--against"),
        "{}",
        stderr_of(&output)
    );
    let output = swarmgate()
        .args(["run", "--against", &api.url, "--rounds", "3"])
        .arg(scenario(dir.path()))
        .arg("--update-baseline")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
}

#[test]
fn rounds_against_a_stored_baseline_judge_with_the_rounds_spread() {
    let api = DemoApi::with_latency(2);
    let dir = tempfile::tempdir().unwrap();
    let (out, baseline) = (dir.path().join("out"), dir.path().join("baseline"));
    let scenario = scenario(dir.path());
    let run = |extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.extend(["--rounds", "3"]);
        run_with_baseline(&scenario, &api.url, &out, &baseline, &extra)
    };
    let first = run(&["--update-baseline"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert!(baseline.join("histograms.json").exists());
    let second = run(&[]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("round to round: the spread of this run's 3 rounds"),
        "{stdout}"
    );
    assert!(!dir.path().join("out").join("baseline").exists());
}

/// A base build that answers nothing but errors would make any candidate
/// look better: no verdict, exit 3, never a pass.
#[test]
fn a_baseline_deployment_that_fails_everything_gives_no_verdict() {
    let healthy = DemoApi::with_latency(2);
    let broken = DemoApi::with_faults(swarmgate::demo::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = interleave(&healthy, &broken, &out, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("no request succeeded"),
        "{}",
        stderr_of(&output)
    );
    assert!(out.join("baseline").join("stats.csv").exists());
}

/// `--until-decided`: a candidate 40% slower fails at the look that
/// decides it; the same service in a second process passes within the
/// budget; the noise line says how many looks and rounds it took and at
/// which confidence each look was judged.
#[test]
fn until_decided_adds_rounds_until_the_verdict_is_decided_within_its_budget() {
    let (base, twin, slower) = (
        DemoApi::with_latency(10),
        DemoApi::with_latency(10),
        DemoApi::with_latency(14),
    );
    let dir = tempfile::tempdir().unwrap();
    let budget = ["--until-decided", "--max-duration", "16s"];
    let noise = |out: &std::path::Path| {
        summary(out)["verdict"]["noise_model"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let out = dir.path().join("slower");
    let started = std::time::Instant::now();
    let output = interleave(&slower, &base, &out, &budget);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let said = noise(&out);
    assert!(said.contains("until decided: "), "{said}");
    assert!(said.contains("of at most 3, "), "{said}");

    let out = dir.path().join("same");
    let output = interleave(&twin, &base, &out, &budget);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(noise(&out).contains("so that the 95.0% asked holds over all"));
    // Both within their budgets and the rounds' shutdowns.
    assert!(started.elapsed().as_secs_f64() < 2.0 * 16.0 + 20.0);
}
