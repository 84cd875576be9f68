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
        "2 signature(s)",
        "withheld  intel.indicators[2]              [role:agency]",
        "asked KR-KNPA (hosting country KR) to take streamz.example down",
        "RH-SPORTSNET (partner, GB) logged it",
        "5 nodes, every outbox empty, 8 deliveries verified from the logs, 2 bad inputs refused",
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

fn isop(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "isop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An authority onboards two orgs: keys, CSRs, certificates, roster
/// versions; the configs written start real nodes.
#[test]
fn onboarding_a_federation_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).display().to_string();
    isop(&[
        "ca",
        "init",
        "--dir",
        &p("authority"),
        "--federation",
        "isop-test",
    ]);
    let mut ports = Vec::new();
    for (org, role, country) in [("KR-KNPA", "agency", "KR"), ("RH-FILMCO", "partner", "US")] {
        isop(&["keys", "gen", "--org", org, "--dir", &p(org)]);
        let cert = isop(&[
            "ca",
            "issue",
            "--authority",
            &p("authority"),
            "--org",
            org,
            "--csr",
            &p(&format!("{org}/tls.csr")),
        ]);
        std::fs::write(dir.path().join(org).join("tls.crt"), cert).unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let endpoint = socket.local_addr().unwrap().to_string();
        ports.push(socket);
        isop(&[
            "roster",
            "add",
            "--authority",
            &p("authority"),
            "--org",
            org,
            "--name",
            org,
            "--role",
            role,
            "--country",
            country,
            "--public-key",
            &p(&format!("{org}/signing.pub")),
            "--tls-cert",
            &p(&format!("{org}/tls.crt")),
            "--endpoint",
            &endpoint,
        ]);
        isop(&[
            "node",
            "init",
            "--org",
            org,
            "--dir",
            &p(org),
            "--authority",
            &p("authority"),
            "--listen",
            &endpoint,
            "--api",
            "127.0.0.1:0",
        ]);
    }
    // Nodes were initialised from roster v1; sign v2 with both members and hand it to them.
    assert!(isop(&["roster", "sign", "--authority", &p("authority")]).contains("roster v2"));
    let shown: serde_json::Value = serde_json::from_str(&isop(&[
        "roster",
        "show",
        "--authority",
        &p("authority"),
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["members"].as_array().unwrap().len(), 2);
    for org in ["KR-KNPA", "RH-FILMCO"] {
        std::fs::copy(
            dir.path().join("authority/roster.bin"),
            dir.path().join(org).join("roster.bin"),
        )
        .unwrap();
    }

    // The configs start real nodes: keys, certificate, pins and roster agree.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kr = isop_node::NodeConfig::load(&dir.path().join("KR-KNPA/node.toml")).unwrap();
        let node = isop_node::Node::bind_socket(kr, ports.remove(0))
            .await
            .unwrap();
        assert_eq!(node.roster().version(), 2);
        node.shutdown().await.unwrap();
    });

    // Revocations go into the next version.
    isop(&[
        "roster",
        "revoke-key",
        "--authority",
        &p("authority"),
        "--org",
        "KR-KNPA",
    ]);
    isop(&[
        "roster",
        "remove",
        "--authority",
        &p("authority"),
        "--org",
        "RH-FILMCO",
    ]);
    isop(&["roster", "sign", "--authority", &p("authority")]);
    let text = isop(&["roster", "show", "--authority", &p("authority")]);
    assert!(
        text.contains("roster v3") && text.contains("k1(revoked)") && text.contains("REVOKED"),
        "{text}"
    );
    // A CSR for one org cannot be issued to another.
    let out = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args([
            "ca",
            "issue",
            "--authority",
            &p("authority"),
            "--org",
            "GB-PIPCU",
            "--csr",
            &p("KR-KNPA/tls.csr"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not name urn:isop:org:GB-PIPCU"));
}
