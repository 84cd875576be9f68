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

#[test]
fn certs_example_writes_a_runnable_federation_marked_not_for_production() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fed");
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["certs", "example"])
        .arg(&target)
        .args(["--quic-port", "17401", "--api-port", "17481"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT FOR PRODUCTION"));
    assert!(
        std::fs::read_to_string(target.join("README.md"))
            .unwrap()
            .contains("NOT FOR PRODUCTION")
    );
    for org in [
        "INTERPOL-GS",
        "KR-KNPA",
        "GB-PIPCU",
        "RH-FILMCO",
        "RH-SPORTSNET",
        "EU-AUDIT",
    ] {
        let home = target.join(org);
        let config = isop_node::NodeConfig::load(&home.join("node.toml")).unwrap();
        assert_eq!(config.org, org);
        assert_eq!(
            config.data_dir,
            home.join("data"),
            "paths are relative to the config file"
        );
        config.signer().unwrap();
        for key in ["signing.key", "tls.key"] {
            assert_eq!(
                std::fs::metadata(home.join(key))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600,
                "{org}/{key}"
            );
        }
    }
    assert_eq!(
        std::fs::metadata(target.join("roster.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // It refuses to overwrite.
    let again = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["certs", "example"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
}

#[test]
fn the_example_referral_file_is_a_valid_notice() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/referral.toml");
    let notice: isop_node::submit::SubmitNotice =
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let draft = notice
        .into_draft(isop_core::UnixMillis(1_795_000_000_000))
        .unwrap();
    let signer = isop_core::Signer::new(
        "RH-FILMCO/k1".parse().unwrap(),
        isop_core::SecretKey::from_seed(&[1; 32]),
    );
    let sealed = draft
        .seal(
            &signer,
            isop_core::UnixMillis(1_795_000_000_000),
            &mut rand_core::OsRng,
        )
        .unwrap();
    assert_eq!(sealed.notice().commitments().len(), 2);
}

#[test]
fn errors_name_the_problem_without_a_backtrace() {
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["status", "--node", "/nonexistent/node.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: config /nonexistent/node.toml:"),
        "{stderr}"
    );
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");
}
