//! End to end: the binary swarms the embedded demo API over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_no_panic, bundled_run, bundled_run_counting_404s, interrupted, stderr_of, swarm,
    DemoApi, Table,
};

#[test]
fn bundled_scenario_logs_in_groups_ids_and_counts_404s() {
    let api = DemoApi::with_latency(2);
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (mut command, _scenario) = bundled_run_counting_404s(&api);
    let output = command
        .args([
            "--users",
            "20",
            "--spawn-rate",
            "20",
            "--duration",
            "6s",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", stderr_of(&output));
    // Duration includes ramp-up; shutdown adds little.
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(9),
        "took {took:?}"
    );

    let stats = Table::read(&out.path().join("stats.csv"));
    let names: Vec<(&str, &str)> = stats
        .rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("POST", "/api/v1/auth/token/"),
            ("POST", "/api/v1/auth/token/refresh/"),
            ("GET", "/api/v1/products/"),
            ("GET", "/api/v1/products/[id]/"),
            ("GET", "/api/v1/products/comments/"),
            ("", "Aggregated"),
        ]
    );
    assert_eq!(
        stats.number("POST", "/api/v1/auth/token/", "Request Count"),
        20.0,
        "one login per user"
    );

    // The captured token is used: nothing is refused, and only unknown ids fail.
    let failures = Table::read(&out.path().join("failures.csv"));
    assert_eq!(failures.rows.len(), 1, "{:?}", failures.rows);
    assert_eq!(
        failures.rows[0][..3],
        ["GET", "/api/v1/products/[id]/", "HTTP 404 Not Found"]
    );
    for name in ["/api/v1/products/", "/api/v1/products/comments/"] {
        assert_eq!(stats.number("GET", name, "Failure Count"), 0.0);
    }
    // Ids 41..49 of 1..49 are 404s; a loop cut off by the end of the run lowers the share.
    let requests = stats.number("GET", "/api/v1/products/[id]/", "Request Count");
    let failed = stats.number("GET", "/api/v1/products/[id]/", "Failure Count");
    let share = failed / requests;
    assert!(
        requests > 500.0 && (0.15..=9.0 / 49.0 + 0.001).contains(&share),
        "{failed}/{requests}"
    );
}

#[test]
fn task_weights_hold() {
    let api = DemoApi::start();
    let run = swarm(
        &api,
        r#"
[load]
users = 4
duration = "2s"
seed = 7
[[user]]
  [[user.task]]
  weight = 1
    [[user.task.step]]
    get = "/health"
    name = "light"
  [[user.task]]
  weight = 3
    [[user.task.step]]
    get = "/health"
    name = "heavy"
"#,
    );
    let stats = run.stats();
    let light = stats.number("GET", "light", "Request Count");
    let heavy = stats.number("GET", "heavy", "Request Count");
    let share = heavy / (light + heavy);
    assert!(
        light + heavy > 2000.0,
        "too few tasks to judge: {light} + {heavy}"
    );
    assert!(
        (0.72..=0.78).contains(&share),
        "weight 3 of 4 got {share:.3} of tasks"
    );
}

#[test]
fn waits_and_spawn_rate_hold() {
    let api = DemoApi::start();
    // Eight users at two a second: the last starts at 3.5 s of 5 s.
    let run = swarm(
        &api,
        r#"
[load]
users = 8
spawn_rate = 2
duration = "5s"
[[user]]
name = "steady"
wait = "constant(0.25)"
  [[user.task]]
    [[user.task.step]]
    get = "/health"
    name = "constant"
[[user]]
name = "random"
wait = "between(0.15, 0.35)"
  [[user.task]]
    [[user.task.step]]
    get = "/health"
    name = "between"
"#,
    );

    // Users start at 0, 0.5, …, 3.5 s and alternate classes; each class's users
    // run for 5+4+3+2 = 14 user-seconds (steady) or 12 (random, started later),
    // one task every 0.25 s on average plus one at the start.
    let stats = run.stats();
    let steady = stats.number("GET", "constant", "Request Count");
    let random = stats.number("GET", "between", "Request Count");
    let expected_steady = (5.0 + 4.0 + 3.0 + 2.0) / 0.25 + 4.0;
    let expected_random = (4.5 + 3.5 + 2.5 + 1.5) / 0.25 + 4.0;
    assert!(
        (steady - expected_steady).abs() <= expected_steady * 0.1,
        "constant(0.25): {steady} vs {expected_steady}"
    );
    assert!(
        (random - expected_random).abs() <= expected_random * 0.2,
        "between(0.15, 0.35): {random} vs {expected_random}"
    );

    // The history shows the ramp: two users a second until all eight run.
    let history = run.history();
    let users: Vec<u64> = history.rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(users[0], 0, "first row is at zero users: {users:?}");
    assert!((2..=3).contains(&users[1]), "after 1 s: {users:?}");
    assert!((6..=7).contains(&users[3]), "after 3 s: {users:?}");
    assert_eq!(users[4], 8, "after 4 s: {users:?}");
}

#[test]
fn failed_captures_are_recorded_not_fatal() {
    let api = DemoApi::start();
    let run = swarm(
        &api,
        r#"
vars = { email = "demo@example.com", password = "demo-password" }
[load]
users = 2
duration = "1s"
[[user]]
wait = "constant(0.1)"
  [[user.task]]
    [[user.task.step]]
    post = "/api/v1/auth/token/"
    json = { email = "{{ email }}", password = "{{ password }}" }
    capture = { token = "$.no_such_field" }
    [[user.task.step]]
    get = "/health"
    capture = { status = "$.status" }
    [[user.task.step]]
    get = "/api/v1/products/1/"
    check = { status = 401 }
"#,
    );
    let failures = run.failures();
    let messages: Vec<&str> = failures.rows.iter().map(|r| r[2].as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("capture token: $.no_such_field matched nothing")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("response is not JSON")),
        "{messages:?}"
    );
    // An expected 401 (no token was sent) is a success.
    let stats = run.stats();
    assert_eq!(
        stats.number("GET", "/api/v1/products/1/", "Failure Count"),
        0.0
    );
}

#[test]
fn ctrl_c_writes_results_and_exits_3() {
    let api = DemoApi::start();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bundled_run(&api);
    command.args(["-q", "--out"]).arg(dir.path());
    let (output, stopping) = interrupted(command);
    assert!(
        stopping < Duration::from_secs(5),
        "stopping took {stopping:?}"
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("interrupted"));
    let stats = Table::read(&dir.path().join("stats.csv"));
    assert!(stats.number("", "Aggregated", "Request Count") > 0.0);
}

#[test]
fn slow_responses_time_out_as_failures() {
    let api = DemoApi::with_latency(1500);
    let started = Instant::now();
    let run = swarm(
        &api,
        r#"
[load]
users = 2
duration = "1s"
request_timeout = "200ms"
[[user]]
  [[user.task]]
    [[user.task.step]]
    get = "/health"
"#,
    );
    assert_eq!(
        run.exit_code, 1,
        "a run where every request timed out never passes"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let stats = run.stats();
    let requests = stats.number("GET", "/health", "Request Count");
    // Two users (the second starts at 0.5 s) each time out every 200 ms; the
    // requests in flight at the end are not counted.
    assert!(
        requests >= 5.0 && requests == stats.number("GET", "/health", "Failure Count"),
        "{requests}"
    );
    // Timed-out requests are timed at the timeout.
    let max = stats.number("GET", "/health", "Max Response Time");
    assert!((200.0..400.0).contains(&max), "max {max} ms");
    let failures = run.failures();
    assert_eq!(failures.rows[0][2], "request timed out");
}

#[test]
fn forms_queries_and_redirects_work_like_a_requests_session() {
    let api = DemoApi::start();
    let run = swarm(
        &api,
        r#"
[load]
users = 1
duration = "1s"
[[user]]
wait = "constant(0.2)"
headers = { Authorization = "Bearer {{ token }}" }
  [[user.on_start]]
  post = "/api/v1/auth/token/"
  form = { email = "demo@example.com", password = "demo-password" }
  capture = { token = "$.access" }
  [[user.task]]
    # Redirected to /api/v1/products/ (301), which is then fetched.
    [[user.task.step]]
    get = "/api/v1/products"
    [[user.task.step]]
    get = "/api/v1/products/"
    query = { page = 2, search = "a b" }
"#,
    );
    let stats = run.stats();
    assert_eq!(
        stats.number("POST", "/api/v1/auth/token/", "Failure Count"),
        0.0,
        "form login"
    );
    let redirected = stats.row("GET", "/api/v1/products");
    assert_eq!(
        redirected[3], "0",
        "followed the redirect with the token: {redirected:?}"
    );
    assert_eq!(
        stats.number("GET", "/api/v1/products", "Average Content Size"),
        3294.0,
        "the list, not the 301 body"
    );
    // Without a name, the row is the path with its query, as Locust names it.
    assert_eq!(
        stats.number(
            "GET",
            "/api/v1/products/?page=2&search=a+b",
            "Failure Count"
        ),
        0.0
    );
}

#[test]
fn the_open_model_starts_iterations_on_schedule() {
    let api = DemoApi::start();
    // Ten users with no wait would make thousands of requests in a closed
    // model; on a schedule of 40 a second they make about 120.
    let run = swarm(
        &api,
        &health_checks(
            r#"
[load]
users = 10
duration = "3s"
arrival_rate = 40
"#,
            "constant(0)",
        ),
    );
    let requests = run.stats().number("GET", "/health", "Request Count");
    assert!((110.0..=125.0).contains(&requests), "{requests} requests");
}

#[test]
fn a_stall_shows_in_the_open_models_latencies() {
    // The server stops answering from 1 s to 2 s after it starts.
    let api = DemoApi::with_faults(swarmgate::demo::Faults {
        stall: Some((Duration::from_secs(1), Duration::from_secs(1))),
        ..Default::default()
    });
    let run = swarm(
        &api,
        &health_checks(
            r#"
[load]
users = 100
duration = "3s"
arrival_rate = 50
"#,
            "constant(0)",
        ),
    );
    let stats = run.stats();
    // A third of the iterations were due during the stall; each waited until
    // it ended, and that wait is their latency, counted from the due time.
    let requests = stats.number("GET", "/health", "Request Count");
    assert!((140.0..=155.0).contains(&requests), "{requests} requests");
    let p90 = stats.number("GET", "/health", "90%");
    let max = stats.number("GET", "/health", "Max Response Time");
    assert!(p90 >= 500.0, "p90 {p90} ms should show the stall");
    assert!(max >= 900.0, "max {max} ms");
}

#[test]
fn user_stages_ramp_hold_and_step_down() {
    let api = DemoApi::start();
    // Up to 4 users over 2 s, 4 for 2 s, then a step down to 1 for 2 s.
    let run = swarm(
        &api,
        &health_checks(
            r#"
[[load.stage]]
duration = "2s"
users = 4
[[load.stage]]
duration = "2s"
users = 4
[[load.stage]]
duration = "0s"
users = 1
[[load.stage]]
duration = "2s"
users = 1
"#,
            "constant(0.1)",
        ),
    );
    let history = run.history();
    let users: Vec<u64> = history
        .rows
        .iter()
        .filter(|r| r[3] == "Aggregated")
        .map(|r| r[1].parse().unwrap())
        .collect();
    assert_eq!(users[0], 0, "{users:?}");
    assert!((1..=2).contains(&users[1]), "after 1 s: {users:?}");
    assert_eq!(users[3], 4, "after 3 s: {users:?}");
    assert_eq!(users[5], 1, "after 5 s: {users:?}");
    // Users 1, 2 and 3 join 0.5 s apart: 3 user-seconds of the ramp, then 8
    // held and 2 at the end, 13 in all; a user waits 0.1 s between requests,
    // so at most about 10 a user-second, fewer when the machine is busy.
    let requests = run.stats().number("GET", "/health", "Request Count");
    assert!(
        (60.0..=13.0 * 10.0 + 15.0).contains(&requests),
        "{requests} requests"
    );
}

#[test]
fn rate_stages_change_the_open_models_schedule() {
    let api = DemoApi::start();
    // 20 iterations a second for 2 s, then 60 a second for 1 s: 100 in all.
    let run = swarm(
        &api,
        &health_checks(
            r#"
[load]
users = 20
[[load.stage]]
duration = "0s"
rate = 20
[[load.stage]]
duration = "2s"
rate = 20
[[load.stage]]
duration = "0s"
rate = 60
[[load.stage]]
duration = "1s"
rate = 60
"#,
            "constant(0)",
        ),
    );
    let requests = run.stats().number("GET", "/health", "Request Count");
    assert!((95.0..=101.0).contains(&requests), "{requests} requests");
}

#[test]
fn reset_stats_leaves_the_ramp_up_out() {
    let api = DemoApi::start();
    // Users start at 0, 0.5, 1 and 1.5 s; the statistics start at 1.5 s, so
    // they hold 4 users × 1.5 s of requests, not the ramp's 3 user-seconds more.
    let run = swarm(
        &api,
        &health_checks(
            r#"
[load]
users = 4
spawn_rate = 2
duration = "3s"
reset_stats = true
"#,
            "constant(0.1)",
        ),
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path("out/summary.json")).unwrap()).unwrap();
    let measured = summary["run"]["measured_secs"].as_f64().unwrap();
    let elapsed = summary["run"]["elapsed_secs"].as_f64().unwrap();
    assert!((1.3..=1.7).contains(&measured), "measured {measured} s");
    assert!(elapsed >= 3.0, "elapsed {elapsed} s");
    // What was measured: 4 users for `measured` seconds at most 10 requests
    // a second each (fewer on a busy machine), and not the ramp's on top.
    let requests = run.stats().number("GET", "/health", "Request Count");
    let most = 4.0 * 10.0 * measured + 4.0;
    assert!(
        (most * 0.5..=most).contains(&requests),
        "{requests} requests in {measured} s"
    );
}

/// One user class requesting /health with `wait` between requests, after the
/// `[load]` (or stages) given.
fn health_checks(load: &str, wait: &str) -> String {
    format!("{load}\n[[user]]\nwait = \"{wait}\"\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/health\"\n")
}

#[test]
fn a_schedule_the_users_cannot_keep_is_reported_in_the_results() {
    // Two users against 200 ms responses manage 10 iterations a second, not 20.
    let api = DemoApi::with_latency(200);
    let run = swarm(
        &api,
        &health_checks(
            r#"
[load]
users = 2
duration = "2s"
arrival_rate = 20
"#,
            "constant(0)",
        ),
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path("out/summary.json")).unwrap()).unwrap();
    let schedule = &summary["run"]["schedule"];
    assert!(schedule["late"].as_u64().unwrap() > 0, "{schedule}");
    assert_eq!(schedule["peak_rate"], 20.0);
    let warning = summary["run"]["warnings"][0].as_str().unwrap();
    assert!(warning.contains("fell behind its schedule"), "{warning}");
    let report = std::fs::read_to_string(run.path("out/report.html")).unwrap();
    assert!(report.contains("fell behind its schedule"));
}
