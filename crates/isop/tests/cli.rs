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
        "every recipient answered with a signed receipt, logged by RH-FILMCO",
        "withheld  referral.evidence[0].location    [role:agency&country:KR]",
        "sees      referral.evidence[0].location",
        "streamz.example: 2 referrals",
        "by 2 partners: RH-FILMCO, RH-SPORTSNET",
        "withheld  status.suspect",
        "GB-PIPCU: pending after 1 attempt(s)",
        "the backlog was delivered",
        "policy forbids sending intel notices from role partner to role agency",
        "cosigned by INTERPOL-GS",
        "KR-KNPA         6 entries",
        "2 signature(s)",
        "5 nodes, every outbox empty, 5 deliveries verified from the logs, 2 bad inputs refused",
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
