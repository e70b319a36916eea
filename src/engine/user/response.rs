//! What a response says about its step, decided without a socket: a
//! failure (a status the step does not accept, a check that does not hold,
//! a body that is not the JSON it reads), or the values it captures.

use hyper::StatusCode;
use minijinja::Value;

use crate::scenario::Step;

/// The variables the step captures from this response, or why it failed.
pub(super) fn check(
    step: &Step,
    status: StatusCode,
    body: &[u8],
) -> Result<Vec<(String, Value)>, String> {
    let status_line = || match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    match &step.check.status {
        Some(accepted) if !accepted.contains(&status.as_u16()) => {
            let accepted: Vec<String> = accepted.iter().map(u16::to_string).collect();
            return Err(format!(
                "expected status {}, got {}",
                accepted.join(" or "),
                status_line()
            ));
        }
        None if status.as_u16() >= 400 => return Err(format!("HTTP {}", status_line())),
        _ => {}
    }
    if let Some(needle) = &step.check.body_contains {
        if !needle.is_empty() && memchr::memmem::find(body, needle.as_bytes()).is_none() {
            return Err(format!("body does not contain {needle:?}"));
        }
    }
    if !step.needs_json() {
        return Ok(Vec::new());
    }
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        format!("response is not JSON ({error}), but the step reads JSON from it")
    })?;
    for check in &step.check.json {
        let found = check.path.query(&json).first();
        if found != Some(&check.expected) {
            let got = found
                .map(|v| v.to_string())
                .unwrap_or_else(|| "nothing".into());
            return Err(format!(
                "{}: expected {}, got {got}",
                check.source, check.expected
            ));
        }
    }
    step.captures
        .iter()
        .map(|capture| match capture.path.query(&json).first() {
            Some(value) => Ok((capture.variable.clone(), Value::from_serialize(value))),
            None => Err(format!(
                "capture {}: {} matched nothing",
                capture.variable, capture.source
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one step of a scenario whose step table is `step`.
    fn step(step: &str) -> Step {
        let source = format!(
            "host = \"http://127.0.0.1:1\"\n[[user]]\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/x\"\n{step}"
        );
        let mut config = crate::config::parse(std::path::Path::new("t.toml"), &source).unwrap();
        config
            .scenario
            .users
            .remove(0)
            .tasks
            .remove(0)
            .steps
            .remove(0)
    }

    fn ok() -> StatusCode {
        StatusCode::OK
    }

    #[test]
    fn statuses_of_400_and_more_fail_unless_the_step_accepts_them() {
        let plain = step("");
        assert_eq!(check(&plain, ok(), b""), Ok(Vec::new()));
        assert_eq!(
            check(&plain, StatusCode::NOT_FOUND, b""),
            Err("HTTP 404 Not Found".into())
        );
        let accepting = step("    check = { status = [200, 404] }");
        assert_eq!(
            check(&accepting, StatusCode::NOT_FOUND, b""),
            Ok(Vec::new())
        );
        assert_eq!(
            check(&accepting, StatusCode::CREATED, b""),
            Err("expected status 200 or 404, got 201 Created".into())
        );
    }

    #[test]
    fn bodies_and_json_are_checked() {
        let contains = step("    check = { body_contains = \"ok\" }");
        assert!(check(&contains, ok(), b"all ok").is_ok());
        assert_eq!(
            check(&contains, ok(), b"nope"),
            Err("body does not contain \"ok\"".into())
        );
        let json = step("    check = { json = { \"$.ok\" = true } }");
        assert!(check(&json, ok(), br#"{"ok": true}"#).is_ok());
        assert_eq!(
            check(&json, ok(), br#"{"ok": false}"#),
            Err("$.ok: expected true, got false".into())
        );
        assert_eq!(
            check(&json, ok(), br#"{}"#),
            Err("$.ok: expected true, got nothing".into())
        );
        assert!(check(&json, ok(), b"<html>")
            .unwrap_err()
            .starts_with("response is not JSON"));
    }

    #[test]
    fn captures_take_the_first_match_or_fail() {
        let capturing = step("    capture = { token = \"$.access\", id = \"$.items[*].id\" }");
        let captured = check(
            &capturing,
            ok(),
            br#"{"access": "t0k", "items": [{"id": 7}, {"id": 8}]}"#,
        )
        .unwrap();
        let captured: std::collections::BTreeMap<_, _> = captured.into_iter().collect();
        assert_eq!(captured["token"].as_str(), Some("t0k"));
        assert_eq!(captured["id"], Value::from(7));
        let failure = check(&capturing, ok(), br#"{"access": "t0k", "items": []}"#).unwrap_err();
        assert_eq!(failure, "capture id: $.items[*].id matched nothing");
    }
}
