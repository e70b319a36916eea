//! Bad input gets a clear message naming where the problem is, exit code 2
//! (3 for a target that cannot be reached), and never a panic.

mod common;

use common::{assert_no_panic, stderr_of, swarmgate, write_scenario};

const VALID: &str = r#"host = "http://127.0.0.1:9"

[load]
users = 5
duration = "10s"

[[user]]
wait = "between(0, 1)"
  [[user.task]]
    [[user.task.step]]
    get = "/api/v1/products/"
"#;

/// Runs `validate` and `run` on a scenario and returns validate's stderr,
/// after checking that both exit 2 without a panic.
fn rejected(source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "bad.toml", source);
    let validate = swarmgate().arg("validate").arg(&path).output().unwrap();
    assert_no_panic(&validate);
    assert_eq!(validate.status.code(), Some(2), "{}", stderr_of(&validate));
    let run = swarmgate()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_no_panic(&run);
    assert_eq!(run.status.code(), Some(2), "{}", stderr_of(&run));
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for a scenario that does not load"
    );
    let message = stderr_of(&validate);
    assert!(message.contains("bad.toml:"), "names the file: {message}");
    message
}

#[test]
fn the_valid_base_scenario_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "ok.toml", VALID);
    let output = swarmgate().arg("validate").arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn malformed_toml() {
    let message = rejected(&VALID.replace("[[user]]", "[[user]"));
    assert!(message.contains("bad.toml:7:"), "{message}");
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let message = rejected(&VALID.replace("users = 5", "usres = 5"));
    assert!(message.contains("bad.toml:4:1"), "{message}");
    assert!(message.contains("did you mean `users`?"), "{message}");
}

#[test]
fn bad_duration() {
    let message = rejected(&VALID.replace("\"10s\"", "\"ten seconds\""));
    assert!(message.contains("bad.toml:5:"), "{message}");
    assert!(message.contains("expected a time such as 30s"), "{message}");
}

#[test]
fn zero_or_negative_users() {
    for users in ["0", "-3"] {
        let message = rejected(&VALID.replace("users = 5", &format!("users = {users}")));
        assert!(
            message.contains("users must be a whole number from 1 to"),
            "{message}"
        );
    }
}

#[test]
fn invalid_host_url() {
    let message = rejected(&VALID.replace("http://127.0.0.1:9", "127.0.0.1:9"));
    assert!(message.contains("bad.toml:1:"), "{message}");
    assert!(message.contains("http://"), "{message}");
}

#[test]
fn undefined_variable() {
    let message =
        rejected(&VALID.replace("/api/v1/products/", "/api/v1/products/{{ product_id }}/"));
    assert!(message.contains("bad.toml:11:"), "{message}");
    assert!(
        message.contains("undefined variable `product_id`"),
        "{message}"
    );
}

#[test]
fn invalid_wait_lists_the_accepted_forms() {
    let message = rejected(&VALID.replace("between(0, 1)", "between(1)"));
    assert!(message.contains("constant_pacing(seconds)"), "{message}");
}

#[test]
fn missing_scenario_file() {
    let output = swarmgate()
        .args(["validate", "no/such/scenario.toml"])
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("no/such/scenario.toml"));
}

#[test]
fn bad_flags_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "ok.toml", VALID);
    for (flags, expected) in [
        (vec!["--users", "0"], "--users"),
        (vec!["--duration", "soon"], "--duration"),
        (vec!["--host", "localhost"], "--host"),
        (vec!["--spawn-rate", "0"], "--spawn-rate"),
    ] {
        let output = swarmgate()
            .arg("run")
            .arg(&path)
            .args(&flags)
            .output()
            .unwrap();
        assert_no_panic(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flags:?}: {}",
            stderr_of(&output)
        );
        assert!(
            stderr_of(&output).contains(expected),
            "{flags:?}: {}",
            stderr_of(&output)
        );
    }
}

#[test]
fn unreachable_host_exits_3_naming_it() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "ok.toml", VALID);
    let host = format!("http://127.0.0.1:{port}");
    let output = swarmgate()
        .arg("run")
        .arg(&path)
        .args(["--host", &host, "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains(&host), "{}", stderr_of(&output));
}

#[test]
fn remote_hosts_are_refused_without_permission() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "ok.toml", VALID);
    let output = swarmgate()
        .arg("run")
        .arg(&path)
        .args(["--host", "http://192.0.2.1:80"])
        .output()
        .unwrap();
    assert_no_panic(&output);
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("--allow-remote"));
}
