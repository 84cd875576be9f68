//! The `isop` binary, run as a user runs it.

use std::process::Command;

#[test]
fn demo_runs_the_scenario_and_refuses_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "roster v1 of \"isop-demo\"",
        "withheld  referral.evidence[0].location      [role:agency&country:KR]",
        "sees      referral.evidence[0].location",
        "withheld  status.suspect",
        "logged by KR-KNPA at #0; its signed receipt logged by RH-FILMCO",
        "RH-FILMCO: log size 5, outbox empty, checkpoint signature verified",
        "entry 0 is included under that root",
        "who referred streamz.example: entries #0",
        "5 deliveries verified and logged, 5 receipts, 4 logs checkpointed and proven, 5 bad inputs refused",
    ] {
        assert!(
            stdout.contains(needle),
            "demo output lacks {needle:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("ACCEPTED (unexpected)"), "{stdout}");
}

#[test]
fn unknown_subcommands_fail_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}
