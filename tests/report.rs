//! The HTML report: rendered for a run and for a comparison of genuine Locust
//! files, self-contained, and every name escaped.

mod common;

use common::{assert_no_panic, repo_file, stderr_of, swarm, swarmgate, DemoApi};

/// No resource is fetched from anywhere: no src, href, url() or @import
/// pointing at http(s). The host under test may appear as text.
fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    for needle in [
        "src=\"http",
        "src='http",
        "href=\"http",
        "href='http",
        "url(http",
        "url(\"http",
        "url('http",
        "@import",
        "<link",
    ] {
        assert!(
            !lower.contains(needle),
            "the report references an outside resource: {needle}"
        );
    }
}

const HOSTILE: &str = "<script>alert(1)</script>";

#[test]
fn a_run_report_shows_every_endpoint_and_escapes_hostile_names() {
    let api = DemoApi::with_latency(1);
    let run = swarm(
        &api,
        r#"
vars = { email = "demo@example.com", password = "demo-password" }
[load]
users = 5
duration = "3s"
[gate.thresholds]
"Aggregated" = ["p(95)<5s"]
[[user]]
wait = "constant(0.05)"
headers = { Authorization = "Bearer {{ token }}" }
  [[user.on_start]]
  post = "/api/v1/auth/token/"
  json = { email = "{{ email }}", password = "{{ password }}" }
  capture = { token = "$.access" }
  [[user.task]]
    [[user.task.step]]
    get = "/api/v1/products/{{ id }}/"
    name = "<script>alert(1)</script>"
    for_each = { id = "39..43" }
    [[user.task.step]]
    get = "/api/v1/products/comments/"
"#,
    );
    let html = std::fs::read_to_string(run.path("out/report.html")).unwrap();
    assert_self_contained(&html);
    for endpoint in [
        "/api/v1/auth/token/",
        "/api/v1/products/comments/",
        "Aggregated",
    ] {
        assert!(
            html.contains(endpoint),
            "{endpoint} is missing from the report"
        );
    }
    assert!(
        !html.contains(HOSTILE),
        "a hostile name reached the page unescaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the hostile name is shown, escaped"
    );
    assert!(
        html.contains("HTTP 404 Not Found"),
        "failures grouped by message"
    );
    assert!(
        html.contains("id=\"run-machine\"") && html.contains("generator timer lag p50"),
        "the machine watch is in the report"
    );
    for chart in [
        "chart-users",
        "chart-throughput",
        "chart-latency",
        "chart-distribution",
        "chart-p95",
    ] {
        assert!(html.contains(chart), "{chart} is missing");
    }

    // `swarmgate report DIR` renders the same report from the files alone.
    std::fs::remove_file(run.path("out/report.html")).unwrap();
    let again = swarmgate()
        .arg("report")
        .arg(run.path("out"))
        .output()
        .unwrap();
    assert_no_panic(&again);
    assert!(again.status.success(), "{}", stderr_of(&again));
    let rerendered = std::fs::read_to_string(run.path("out/report.html")).unwrap();
    assert_eq!(rerendered, html);
}

#[test]
fn a_comparison_of_genuine_locust_files_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("compare.html");
    let output = swarmgate()
        .arg("compare")
        .arg(repo_file("fixtures/locust/slow_stats.csv"))
        .arg("--baseline")
        .arg(repo_file("fixtures/locust/base-a_stats.csv"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(1));
    let html = std::fs::read_to_string(&report).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("FAILED"));
    for endpoint in [
        "/api/v1/auth/token/",
        "/api/v1/auth/token/refresh/",
        "/api/v1/products/",
        "/api/v1/products/[id]/",
        "/api/v1/products/comments/",
    ] {
        assert!(html.contains(endpoint), "{endpoint} is missing");
    }
    assert!(html.contains("chart-distribution") && html.contains("chart-p95"));
}

#[test]
fn report_of_a_missing_directory_is_invalid_input() {
    let output = swarmgate()
        .args(["report", "no/such/results"])
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("no/such/results"));
}
