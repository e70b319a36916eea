use super::users::parse_range;
use super::*;

fn compile_str(source: &str) -> Result<Scenario, ScenarioError> {
    compile(Path::new("test.toml"), source, &|name| {
        (name == "TOKEN").then(|| "secret".to_owned())
    })
}

const MINIMAL: &str = r#"
host = "http://127.0.0.1:8089"
[[user]]
  [[user.task]]
[[user.task.step]]
get = "/"
"#;

fn first_message(source: &str) -> String {
    let error = compile_str(source).unwrap_err();
    error.diagnostics[0].message.clone()
}

#[test]
fn minimal_scenario_gets_defaults() {
    let scenario = compile_str(MINIMAL).unwrap();
    assert_eq!(scenario.load.users, 1);
    assert_eq!(scenario.load.duration, Duration::from_secs(30));
    assert_eq!(scenario.users[0].wait, Wait::default());
    assert_eq!(scenario.users[0].tasks[0].steps[0].method, Method::GET);
    assert_eq!(scenario.load.describe(), "1 user (1/s) for 30s");
}

#[test]
fn unknown_key_names_line_and_nearest_key() {
    let source = MINIMAL.replace("get = \"/\"", "get = \"/\"\n    wieght = 2");
    let error = compile_str(&source).unwrap_err();
    let d = &error.diagnostics[0];
    assert_eq!(d.line, 7);
    assert!(d.message.contains("wieght"), "{}", d.message);
    let source = MINIMAL.replace("[[user.task]]", "[[user.task]]\n  wieght = 2");
    assert!(first_message(&source).contains("did you mean `weight`?"));
}

#[test]
fn undefined_variable_is_found_before_running() {
    let source = MINIMAL.replace("get = \"/\"", "get = \"/items/{{ itme }}/\"");
    let message = first_message(&source);
    assert!(message.contains("undefined variable `itme`"), "{message}");
}

#[test]
fn captured_loop_and_env_variables_are_defined() {
    let source = r#"
host = "http://127.0.0.1:8089"
vars = { email = "a@b.c" }
[[user]]
headers = { Authorization = "Bearer {{ token }}", X-Key = "{{ env.TOKEN }}" }
  [[user.on_start]]
  post = "/login"
  json = { email = "{{ email }}" }
  capture = { token = "$.access" }
  [[user.task]]
[[user.task.step]]
get = "/items/{{ id }}/"
for_each = { id = "1..=3" }
"#;
    let scenario = compile_str(source).unwrap();
    let step = &scenario.users[0].tasks[0].steps[0];
    assert_eq!(step.for_each.as_ref().unwrap().values.len(), 3);
    assert!(matches!(
        scenario.users[0].on_start[0].body,
        Body::Json(JsonTemplate::Dynamic(_))
    ));
}

#[test]
fn body_limits_are_sizes() {
    let limit = |value: &str| {
        compile_str(&format!("{MINIMAL}\n[load]\nbody_limit = {value}\n"))
            .map(|s| s.load.body_limit)
    };
    assert_eq!(compile_str(MINIMAL).unwrap().load.body_limit, 8 << 20);
    assert_eq!(limit("\"512KiB\"").unwrap(), 512 << 10);
    assert_eq!(limit("1000").unwrap(), 1000);
    for bad in ["0", "\"2GiB\"", "\"lots\"", "-1", "true"] {
        let error = limit(bad).unwrap_err();
        assert!(
            error.diagnostics[0]
                .message
                .contains("body_limit must be a size"),
            "{bad}"
        );
    }
}

#[test]
fn loops_that_send_nothing_or_never_end_are_refused() {
    let with_loop = |each: &str| {
        MINIMAL.replace(
            "get = \"/\"",
            &format!("get = \"/{{{{ id }}}}\"\n    for_each = {{ id = {each} }}"),
        )
    };
    assert!(first_message(&with_loop("[]")).contains("empty list"));
    let full = with_loop("\"-9223372036854775808..=9223372036854775807\"");
    assert!(first_message(&full).contains("more than 1000000 values"));
    assert!(compile_str(&with_loop("\"1..=1000000\"")).is_ok());
}

#[test]
fn missing_environment_variable_is_reported() {
    let source = MINIMAL.replace("get = \"/\"", "get = \"/{{ env.NOT_SET_ANYWHERE }}\"");
    assert!(first_message(&source).contains("environment variable NOT_SET_ANYWHERE is not set"));
}

#[test]
fn load_values_are_checked() {
    let zero = format!("{MINIMAL}\n[load]\nusers = 0\n");
    assert!(first_message(&zero).contains("users must be a whole number from 1 to 1000000"));
    let negative = format!("{MINIMAL}\n[load]\nusers = -5\n");
    assert!(first_message(&negative).contains("from 1 to"));
    let bad_duration = format!("{MINIMAL}\n[load]\nduration = \"forever\"\n");
    assert!(first_message(&bad_duration).contains("invalid duration `forever`"));
    // Absurd numbers are refused where they are written, not at run time.
    for (line, expected) in [
        ("users = 1000000000000", "from 1 to 1000000"),
        ("duration = \"1e19\"", "30 days"),
        ("request_timeout = \"1e19\"", "30 days"),
        ("request_timeout = \"0s\"", "every request would time out"),
        ("spawn_rate = 1e-300", "spawn_rate"),
        ("arrival_rate = 1e19", "arrival_rate"),
        ("arrival_rate = 1e-300", "arrival_rate"),
    ] {
        let source = format!("{MINIMAL}\n[load]\n{line}\n");
        assert!(
            first_message(&source).contains(expected),
            "{line}: {}",
            first_message(&source)
        );
    }
    let long_stages = format!("{MINIMAL}\n[load]\n[[load.stage]]\nduration = \"29days\"\nusers = 1\n[[load.stage]]\nduration = \"29days\"\nusers = 1\n");
    assert!(first_message(&long_stages).contains("longer than the limit of 30 days"));
}

#[test]
fn stages_set_users_or_rates_over_time() {
    let users = format!(
        "{MINIMAL}\n[[load.stage]]\nduration = \"10s\"\nusers = 50\n[[load.stage]]\nduration = \"1m\"\nusers = 20\n"
    );
    let load = compile_str(&users).unwrap().load;
    assert_eq!(load.users, 50, "the peak of the stages");
    assert_eq!(load.duration, Duration::from_secs(70));
    assert_eq!(
        load.stages,
        Some(Stages::Users(vec![
            (Duration::from_secs(10), 50),
            (Duration::from_secs(60), 20)
        ]))
    );

    let rates = format!(
        "{MINIMAL}\n[load]\nusers = 30\nreset_stats = true\n[[load.stage]]\nduration = \"0s\"\nrate = 5\n[[load.stage]]\nduration = \"30s\"\nrate = 12.5\n"
    );
    let load = compile_str(&rates).unwrap().load;
    assert_eq!((load.users, load.reset_stats), (30, true));
    assert_eq!(
        load.stages,
        Some(Stages::Rates(vec![
            (Duration::ZERO, 5.0),
            (Duration::from_secs(30), 12.5)
        ]))
    );
}

#[test]
fn stages_are_checked_where_they_are_written() {
    let stage = |body: &str| format!("{MINIMAL}\n[load]\n[[load.stage]]\n{body}\n");
    let error = compile_str(&stage("duration = \"5s\"\nusers = 3\nrate = 2")).unwrap_err();
    assert_eq!(error.diagnostics[0].line, 9);
    assert!(error.diagnostics[0].message.contains("either users"));
    assert!(first_message(&stage("users = 3")).contains("needs a duration"));
    assert!(first_message(&stage("duration = \"5s\"\nusers = -1")).contains("from 0 to"));
    assert!(first_message(&stage("duration = \"5s\"\nusers = 0")).contains("no load would be sent"));
    assert!(first_message(&stage("duration = \"5s\"\nuser = 3")).contains("did you mean `users`?"));
    let mixed = stage("duration = \"5s\"\nusers = 3\n[[load.stage]]\nduration = \"5s\"\nrate = 3");
    let error = compile_str(&mixed).unwrap_err();
    assert_eq!(error.diagnostics[0].line, 12);
    assert!(error.diagnostics[0]
        .message
        .contains("all stages set users or all set rate"));
    let conflicts = format!(
        "{MINIMAL}\n[load]\nduration = \"1m\"\narrival_rate = 3\n[[load.stage]]\nduration = \"5s\"\nrate = 3\n"
    );
    let messages: Vec<String> = compile_str(&conflicts)
        .unwrap_err()
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    assert!(
        messages[0].contains("duration conflicts with [[load.stage]]"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("arrival_rate conflicts"),
        "{messages:?}"
    );
}

#[test]
fn reset_stats_must_leave_something_to_measure() {
    let source = format!(
        "{MINIMAL}\n[load]\nusers = 10\nspawn_rate = 1\nduration = \"5s\"\nreset_stats = true\n"
    );
    assert!(first_message(&source).contains("reset_stats leaves nothing to measure"));
}

#[test]
fn bad_wait_lists_accepted_forms() {
    let source = MINIMAL.replace("[[user]]", "[[user]]\nwait = \"sometimes(1)\"");
    assert!(first_message(&source).contains(super::super::wait::ACCEPTED_FORMS));
}

#[test]
fn invalid_host_is_reported() {
    let source = MINIMAL.replace("http://127.0.0.1:8089", "127.0.0.1:8089");
    assert!(first_message(&source).contains("invalid host"));
}

#[test]
fn static_mistakes_that_would_fail_every_request_are_reported() {
    let cases = [
        (
            "get = \"/\"",
            "get = \"/{{ 1 | nosuchfilter }}\"",
            "unknown filter `nosuchfilter`",
        ),
        ("get = \"/\"", "get = \"/a b\"", "contains a space"),
        ("get = \"/\"", "get = \"/a/{{ 1 }} x\"", "contains a space"),
        (
            "get = \"/\"",
            "get = \"/\"\n    headers = { X-A = \"a\\r\\nX-B: b\" }",
            "control character '\\r'",
        ),
        (
            "http://127.0.0.1:8089",
            "http://127.0.0.1:8089/api",
            "has a path",
        ),
    ];
    for (from, to, expected) in cases {
        let message = first_message(&MINIMAL.replace(from, to));
        assert!(message.contains(expected), "{to}: {message}");
    }
    // A template's own spaces are fine.
    assert!(compile_str(&MINIMAL.replace("get = \"/\"", "get = \"/{{ 1 + 2 }}\"")).is_ok());
}

#[test]
fn host_credentials_become_basic_auth_and_secrets() {
    let scenario = compile_str(&MINIMAL.replace("http://", "http://admin:hunter22@")).unwrap();
    assert_eq!(scenario.host.as_str(), "http://127.0.0.1:8089/");
    assert_eq!(scenario.credentials.as_deref(), Some("admin:hunter22"));
    assert_eq!(scenario.secrets.redact("pw hunter22"), "pw ***");
    let message = first_message(
        &MINIMAL
            .replace("http://", "http://admin:hunter22@")
            .replace("8089", "8089/x"),
    );
    assert!(!message.contains("hunter22"), "{message}");
}

#[test]
fn malformed_toml_is_located() {
    let error = compile_str("host = \"http://x\"\n[[user]\n").unwrap_err();
    assert_eq!(error.diagnostics[0].line, 2);
}

#[test]
fn a_step_makes_exactly_one_request() {
    assert!(
        first_message(&MINIMAL.replace("get = \"/\"", "name = \"x\"")).contains("needs a request")
    );
    assert!(
        first_message(&MINIMAL.replace("get = \"/\"", "get = \"/\"\n    post = \"/\""))
            .contains("only one")
    );
}

#[test]
fn ranges_are_half_open_unless_inclusive() {
    assert!(matches!(parse_range("1..50"), Ok(LoopValues::Range(1, 50))));
    assert!(matches!(
        parse_range("1..=50"),
        Ok(LoopValues::Range(1, 51))
    ));
    assert!(parse_range("5..5").unwrap_err().contains("empty"));
    assert!(parse_range("a..b").unwrap_err().contains("start..end"));
}

#[test]
fn a_seed_is_a_whole_number() {
    let seeded = |seed: &str| {
        compile_str(&format!(
            "host = \"http://127.0.0.1:1\"\n[load]\nseed = {seed}\n[[user]]\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/\"\n"
        ))
    };
    assert_eq!(seeded("42").unwrap().load.seed, Some(42));
    assert!(seeded("-1")
        .unwrap_err()
        .to_string()
        .contains("seed must be a whole number"));
    assert!(seeded("\"x\"").is_err());
}
