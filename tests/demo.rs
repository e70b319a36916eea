//! The demo end to end, in a test binary of its own: cargo runs test
//! binaries one after another, so no other test loads the machine while the
//! healthy demo is compared with its baseline.

mod common;

use common::{assert_no_panic, swarmgate};

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_demo_passes_on_a_healthy_machine_and_fails_when_slowed() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = swarmgate()
        .args(["demo", "-q", "--out"])
        .arg(dir.path().join("healthy"))
        .output()
        .unwrap();
    assert_no_panic(&healthy);
    assert_eq!(healthy.status.code(), Some(0), "{}", stdout_of(&healthy));
    let slowed = swarmgate()
        .args(["demo", "-q", "--inject-latency", "5ms", "--out"])
        .arg(dir.path().join("slowed"))
        .output()
        .unwrap();
    assert_eq!(slowed.status.code(), Some(1), "{}", stdout_of(&slowed));
    assert!(stdout_of(&slowed).contains("regressed, above +10%"));
}
