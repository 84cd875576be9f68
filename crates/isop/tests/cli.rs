//! The `isop` binary, run as a user runs it.

use std::process::Command;

mod common;
use common::*;

#[test]
fn demo_runs_the_scenario_and_refuses_bad_input() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_isop"))
        .arg("demo")
        .arg("--dir")
        .arg(dir.path())
        .arg("--keep-running")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // With --keep-running the nodes serve until Ctrl-C: each console
    // answers, and the CLI reaches each node with the token printed.
    let mut lines = std::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if line.contains("Ctrl-C stops them.") {
            break;
        }
    }
    let kr = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("KR-KNPA") && l.contains("/ui/"))
        .unwrap_or_else(|| panic!("no console address for KR-KNPA:\n{stdout}"));
    let at = kr
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let get = |path: &str, auth: &str| {
        let mut http = std::net::TcpStream::connect(at).unwrap();
        write!(
            http,
            "GET {path} HTTP/1.1\r\nHost: {at}\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        http.read_to_string(&mut answer).unwrap();
        answer
    };
    let page = get("/ui/signin", "");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("Sign in to isop"),
        "{page}"
    );
    let token = std::fs::read_to_string(kr.split("token: ").nth(1).unwrap().trim()).unwrap();
    let status = get(
        "/v1/status",
        &format!("Authorization: Bearer {}\r\n", token.trim()),
    );
    assert!(
        status.starts_with("HTTP/1.1 200") && status.contains("\"org\":\"KR-KNPA\""),
        "{status}"
    );
    let stopped = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    for line in lines {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let mut stderr = String::new();
    demo.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let exit = demo.wait().unwrap();
    assert!(exit.success(), "demo failed:\n{stdout}\n{stderr}");
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
        "KR-KNPA's log: ",
        "verified: no findings",
        "RH-FILMCO ↔ KR-KNPA: 2 notices RH-FILMCO→KR-KNPA, 2 KR-KNPA→RH-FILMCO; 4 found with the same digest, 4 receipts matched",
        "audit: 5 exports verified, 5 cross-checks, 0 findings",
    ] {
        assert!(
            stdout.contains(needle),
            "demo output lacks {needle:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("ACCEPTED (unexpected)"), "{stdout}");
    the_auditor_checks_the_demo_exports(dir.path());
}

/// `isop audit` on the exports the demo left: clean, then tampered with.
fn the_auditor_checks_the_demo_exports(dir: &std::path::Path) {
    let exports = dir.join("exports");
    let key = dir.join("KR-KNPA/node.toml");
    let key = key.to_str().unwrap();
    let kr = exports.join("KR-KNPA.isop");
    let kr = kr.to_str().unwrap();
    let out = run(&["audit", "verify", kr, "--roster-key", key]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: no findings"));

    let out = run(&["audit", "replay", kr, "--roster-key", key, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let story: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(story["origin"], "KR-KNPA");
    assert_eq!(story["referrals"].as_array().unwrap().len(), 3);

    let hub = exports.join("INTERPOL-GS.isop");
    let out = run(&[
        "audit",
        "cross-check",
        hub.to_str().unwrap(),
        kr,
        "--roster-key",
        key,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("consistent: no findings"));
    // The same export twice: said so.
    let out = run(&["audit", "cross-check", kr, kr, "--roster-key", key]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("both exports are the same file"),
        "{out:?}"
    );

    // One flipped byte: findings, exit 3, and a JSON report that names them.
    let mut bytes = std::fs::read(kr).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = dir.join("tampered.isop");
    std::fs::write(&bad, bytes).unwrap();
    let bad = bad.to_str().unwrap();
    let out = run(&["audit", "verify", bad, "--roster-key", key, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["findings_total"].as_u64().unwrap() > 0, "{report}");
    assert!(report["findings"][0]["kind"].is_string(), "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("finding(s)"));
    // For people: one line says where the log first parts from what was
    // signed.
    let out = run(&["audit", "verify", bad, "--roster-key", key]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("first divergence: entry ").count(),
        1,
        "{text}"
    );

    // Another federation's roster key: said once, not once per entry.
    let other = dir.join("other-authority");
    run(&[
        "ca",
        "init",
        "--dir",
        other.to_str().unwrap(),
        "--federation",
        "other",
    ]);
    let other_key = other.join("roster.pub");
    let out = run(&[
        "audit",
        "verify",
        kr,
        "--roster-key",
        other_key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("is it this federation's roster key?").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("1 finding(s)"),
        "the key, and nothing that follows from it: {text}"
    );

    // No such file, and a file that is no export: exit 1, named.
    let out = run(&["audit", "verify", "/nonexistent.isop", "--roster-key", key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open the export"));
    let out = run(&["audit", "verify", key, "--roster-key", key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an isop export"));
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
    let notice: isop_api::SubmitNotice =
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let draft = isop_node::submit::draft(notice).unwrap();
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
    // Role and country in any case.
    for (org, role, country) in [("KR-KNPA", "Agency", "KR"), ("RH-FILMCO", "partner", "us")] {
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
        // KR-KNPA names its listen address; RH-FILMCO's is taken from the
        // endpoint the authority's roster lists for it.
        let (home, authority) = (p(org), p("authority"));
        let mut init = vec![
            "node",
            "init",
            "--org",
            org,
            "--dir",
            &home,
            "--authority",
            &authority,
            "--api",
            "127.0.0.1:0",
        ];
        if org == "KR-KNPA" {
            init.extend(["--listen", &endpoint]);
        }
        isop(&init);
        let config = std::fs::read_to_string(dir.path().join(org).join("node.toml")).unwrap();
        assert!(
            config.contains(&format!("listen = \"{endpoint}\"")),
            "{config}"
        );
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
    // With nothing pending, signing refuses.
    let out = run(&["roster", "sign", "--authority", &p("authority")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is pending"));
    // Groups: made, filled, named when wrong, listed.
    let a = p("authority");
    let group = |args: &[&str]| {
        let mut all = vec!["roster", "group"];
        all.extend_from_slice(args);
        run(&all)
    };
    let out = group(&[
        "add",
        "--authority",
        &a,
        "op:sop-2026",
        "--description",
        "Operation SOP 2026",
        "--member",
        "KR-KNPA",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = group(&[
        "add",
        "--authority",
        &a,
        "op:sop-2026",
        "--member",
        "XX-NOBODY",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("XX-NOBODY, who is not a member"),
        "{out:?}"
    );
    let out = group(&["remove", "--authority", &a, "op:sop-2025"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("there is no group \"op:sop-2025\" (groups: op:sop-2026)"),
        "{out:?}"
    );
    let members =
        String::from_utf8(group(&["members", "--authority", &a, "op:sop-2026"]).stdout).unwrap();
    assert!(
        members.contains("op:sop-2026 — Operation SOP 2026") && members.contains("  KR-KNPA"),
        "{members}"
    );
    assert!(isop(&["roster", "sign", "--authority", &a]).contains("roster v3"));
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
        assert_eq!(node.roster().version(), 3);
        assert!(
            node.roster()
                .in_group("op:sop-2026", &"KR-KNPA".parse().unwrap())
        );
        node.shutdown().await.unwrap();
    });

    // KR's next key goes in beside k1; `roster show` shows what is
    // pending, and a key name or key already there is refused by name.
    isop(&[
        "keys",
        "gen",
        "--org",
        "KR-KNPA",
        "--dir",
        &p("KR-KNPA/2027"),
    ]);
    let add_key = |name: &str| {
        run(&[
            "roster",
            "add-key",
            "--authority",
            &p("authority"),
            "--org",
            "KR-KNPA",
            "--key-name",
            name,
            "--public-key",
            &p("KR-KNPA/2027/signing.pub"),
        ])
    };
    assert!(add_key("k2").status.success());
    let out = add_key("k1");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KR-KNPA has a key named k1 already"),
        "{out:?}"
    );
    let out = add_key("k3");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("that public key is KR-KNPA/k2 already"),
        "{out:?}"
    );
    let shown = isop(&["roster", "show", "--authority", &p("authority")]);
    assert!(
        shown.contains("clearance  country:KR op:sop-2026 org:KR-KNPA role:agency")
            && shown.contains("pending, not yet signed")
            && shown.contains("KR-KNPA/k2: new key"),
        "{shown}"
    );
    // k1 may retire now, since k2 is valid from an hour ago; retiring k2
    // as well would leave KR no key to sign with.
    let retire = |name: &str| {
        run(&[
            "roster",
            "retire-key",
            "--authority",
            &p("authority"),
            "--org",
            "KR-KNPA",
            "--key-name",
            name,
        ])
    };
    assert!(retire("k1").status.success());
    let out = retire("k2");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("would leave KR-KNPA no key to sign with"),
        "{out:?}"
    );

    // Revocations go into the next version, with the reason.
    let out = run(&[
        "roster",
        "revoke-key",
        "--authority",
        &p("authority"),
        "--org",
        "KR-KNPA",
        "--key-name",
        "k9",
        "--reason",
        "lost",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("KR-KNPA has no key named k9 (its keys: k1, k2)"),
        "{out:?}"
    );
    isop(&[
        "roster",
        "revoke-key",
        "--authority",
        &p("authority"),
        "--org",
        "KR-KNPA",
        "--key-name",
        "k1",
        "--reason",
        "laptop stolen",
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
        text.contains("roster v4")
            && text.contains("REVOKED from")
            && text.contains("(laptop stolen)")
            && text.contains("REMOVED from")
            && !text.contains("pending"),
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

/// Each workflow, against real `isop node run` processes from an example federation.
#[test]
fn workflows_against_running_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let fed = example_federation(dir.path());
    let (mut nodes, configs) = start_nodes(&fed, dir.path(), &["KR-KNPA", "GB-PIPCU", "RH-FILMCO"]);
    let [kr, gb, filmco] = [&configs[0], &configs[1], &configs[2]].map(String::clone);

    // A partner submits the example referral; the agency reads, answers, and queries.
    // With the usual proxy variables set, the CLI still talks to its node
    // directly: the token and the notice never reach the proxy.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/referral.toml");
    let proxy = PosingProxy::start();
    let behind_proxy = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_isop"))
            .args(args)
            .envs(proxy.vars())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "isop {args:?} behind a proxy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(behind_proxy(&["submit", "--node", &filmco, example]).starts_with("sent "));
    assert!(behind_proxy(&["status", "--node", &kr]).contains("roster v1"));
    assert_eq!(proxy.seen(), 0, "the proxy got connections");
    let inbox = eventually(&["inbox", "--node", &kr, "--json"], |o| {
        o.contains("\"NOTICE_KIND_REFERRAL\"")
    });
    let inbox: serde_json::Value = serde_json::from_str(&inbox).unwrap();
    let id = inbox["items"][0]["id"].as_str().unwrap().to_owned();
    let shown = isop(&["show", "--node", &kr, &id]);
    assert!(
        shown.contains("sees      referral.evidence[0].location"),
        "{shown}"
    );
    // The body as an outline for people: field names as words, hashes in
    // hex, times in RFC 3339, no Rust debug text.
    for line in [
        "\n  referral:\n",
        "\n    target:\n",
        "hosting country: ",
        "requested action: ",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    assert!(!shown.contains("Some("), "{shown}");
    // Escape sequences and a bidi override are refused in every text
    // field, by name, before anything is signed.
    // `text` is a TOML string literal.
    let with_contact = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            std::fs::read_to_string(example)
                .unwrap()
                .replace("SOP-2026-0042", "HOSTILE-1")
                .replace(
                    r#"text = "Anti-piracy desk, desk@filmco.example, +1 555 0100""#,
                    &format!("text = {text}"),
                ),
        )
        .unwrap();
        path
    };
    let escapes = with_contact(
        "escapes.toml",
        r#""desk\u001b[31m\u001b]0;pwned\u0007\u202eevil""#,
    );
    let out = run(&["submit", "--node", &filmco, escapes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("referral.contact holds U+001B at character 4"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Free text may hold line breaks: shown, a newline cannot forge a line
    // on the analyst's terminal.
    let hostile = with_contact(
        "hostile.toml",
        r#""desk\n  withheld  referral.evidence[0].location [role:agency]""#,
    );
    assert!(isop(&["submit", "--node", &filmco, hostile.to_str().unwrap()]).starts_with("sent "));
    let inbox = eventually(&["inbox", "--node", &kr, "--json"], |o| {
        o.contains("HOSTILE-1")
    });
    let inbox: serde_json::Value = serde_json::from_str(&inbox).unwrap();
    let hostile_id = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["case_ref"] == "HOSTILE-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = isop(&["show", "--node", &kr, &hostile_id]);
    assert!(
        !shown.lines().any(|l| l.starts_with("  withheld")),
        "a forged line: {shown}"
    );
    assert!(shown.contains(r"desk\n  withheld"), "{shown}");
    // --json stays exact.
    let json: serde_json::Value =
        serde_json::from_str(&isop(&["show", "--node", &kr, &hostile_id, "--json"])).unwrap();
    assert!(json.to_string().contains(r"desk\n  withheld"), "{json}");

    assert!(
        isop(&["respond", "--node", &kr, &id, "--status", "accepted"])
            .starts_with("answered with ")
    );
    assert!(
        isop(&["query", "--node", &kr, "--domain", "streamz.example"])
            .contains("referred by: RH-FILMCO")
    );
    eventually(&["inbox", "--node", &filmco], |o| {
        o.contains("status update")
    });
    // The partner follows what it sent: newest first with each referral's
    // latest status, each recipient's delivery and what came back.
    let sent = isop(&["sent", "--node", &filmco]);
    assert!(
        sent.contains("streamz.example") && sent.contains("accepted"),
        "{sent}"
    );
    let track = isop(&["track", "--node", &filmco, &id]);
    assert!(
        track.contains("KR-KNPA") && track.contains("delivered"),
        "{track}"
    );
    assert!(
        track.contains("what came back:") && track.contains("status update"),
        "{track}"
    );
    // Showing a notice marks it read, unless asked not to; `read` marks it.
    let answer: serde_json::Value =
        serde_json::from_str(&isop(&["inbox", "--node", &filmco, "--unread", "--json"])).unwrap();
    let answer_id = answer["items"][0]["id"].as_str().unwrap().to_owned();
    let shown = isop(&["show", "--node", &filmco, &answer_id, "--keep-unread"]);
    assert!(
        shown.contains(&format!("in reply to {id} (referral of streamz.example)")),
        "{shown}"
    );
    let unread = |org: &str| -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&isop(&["inbox", "--node", org, "--unread", "--json"])).unwrap();
        v["items"].as_array().unwrap().len()
    };
    assert_eq!(unread(&filmco), 1);
    assert!(isop(&["read", "--node", &filmco, &answer_id]).ends_with(" read\n"));
    assert_eq!(unread(&filmco), 0);
    // The agency showed the referral above: it is read.
    assert!(!isop(&["inbox", "--node", &kr, "--unread", "--json"]).contains(&id));
    let unknown = run(&["inbox", "--node", &filmco, "--kind", "referal"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("is not one of referral, status_update"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // The same kind of referral from flags, without a file.
    let sent = isop(&[
        "send",
        "--node",
        &filmco,
        "--to",
        "KR-KNPA",
        "referral",
        "--domain",
        "mirror.streamz.example",
        "--hosting-country",
        "KR",
        "--category",
        "live_sport",
        "--work",
        "Cup Final=SportsNet Rights",
        "--evidence",
        "9f2c1d0b8a7e6f5d4c3b2a19080706050403020100f0e0d0c0b0a09080706050,screenshot,front page",
        "--jurisdiction",
        "KR",
        "--contact",
        "desk@filmco.example",
        "--affirm",
    ]);
    assert!(sent.starts_with("sent "), "{sent}");
    eventually(
        &["query", "--node", &kr, "--domain", "mirror.streamz.example"],
        |o| o.contains("referred by: RH-FILMCO"),
    );
    // A site's search finds its subdomains; filters narrow it.
    let site = isop(&[
        "query",
        "--node",
        &kr,
        "--domain",
        "streamz.example",
        "--json",
    ]);
    assert!(site.contains("mirror.streamz.example"), "{site}");
    let narrowed = isop(&[
        "query",
        "--node",
        &kr,
        "--domain",
        "streamz.example",
        "--status",
        "accepted",
        "--json",
    ]);
    assert!(!narrowed.contains("mirror.streamz.example"), "{narrowed}");
    assert!(narrowed.contains("REFERRAL_STATUS_ACCEPTED"), "{narrowed}");
    let unknown = run(&["query", "--node", &kr, "--category", "cartoons"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("category: \"cartoons\" is not one of film"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // Evidence from a file: hashed, sized and typed here.
    let capture = dir.path().join("capture.png");
    std::fs::write(&capture, b"not really a png").unwrap();
    let sent = isop(&[
        "send",
        "--node",
        &filmco,
        "--to",
        "KR-KNPA",
        "--json",
        "referral",
        "--domain",
        "files.streamz.example",
        "--category",
        "film",
        "--work",
        "A Film",
        "--evidence-file",
        &format!("{},screenshot,front page", capture.display()),
        "--jurisdiction",
        "KR",
        "--affirm",
    ]);
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&isop(&[
        "show",
        "--node",
        &filmco,
        sent["id"].as_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let evidence = &shown["body"]["referral"]["evidence"][0];
    assert_eq!(evidence["media_type"], "image/png", "{evidence}");
    assert_eq!(evidence["size_bytes"], "16", "{evidence}");
    assert_eq!(
        evidence["sha256"],
        sha256_hex(b"not really a png"),
        "{evidence}"
    );

    // Bulk: every row checked first; a bad row is named and nothing sent.
    let sent_before = |node: &str| -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&isop(&["sent", "--node", node, "--json", "--limit", "500"]))
                .unwrap();
        v["items"].as_array().unwrap().len()
    };
    let before = sent_before(&filmco);
    let header = "to,group,domain,url,category,work,rights_owner,evidence_sha256,evidence_method,jurisdiction,affirm";
    let sha = "ab".repeat(32);
    let good = format!(
        "KR-KNPA,s1,bulk.example,https://bulk.example/1,live_sport,Cup Final,SportsNet,{sha},stream_recording,KR,yes"
    );
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        format!(
            "{header}\n{good}\nKR-KNPA,,other.example,,cartoons,A Film,,{sha},screenshot,KR,yes\nKR-KNPA,,third.example,,film,A Film,,{sha},screenshot,KR,no\n"
        ),
    )
    .unwrap();
    let out = run(&["submit", "--node", &filmco, "--bulk", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("row 3: --category: \"cartoons\" is not one of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 4: ") && stderr.contains("good_faith_statement"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 of 3 failed the checks; nothing was sent"),
        "{stderr}"
    );
    assert!(!stderr.contains("row 2:"), "{stderr}");
    assert_eq!(sent_before(&filmco), before, "a bad file sent something");
    // Rows 2 and 3 share a group: one referral with both works.
    std::fs::write(
        &csv,
        format!(
            "{header}\n{good}\nKR-KNPA,s1,bulk.example,https://bulk.example/2,live_sport,Cup Semi-Final,SportsNet,{sha},screenshot,KR,yes\nKR-KNPA,,third.example,,film,A Film,,{sha},screenshot,KR,yes\n"
        ),
    )
    .unwrap();
    let out = isop(&["submit", "--node", &filmco, "--bulk", csv.to_str().unwrap()]);
    assert!(out.contains("rows 2, 3: sent "), "{out}");
    assert!(out.contains("row 4: sent "), "{out}");
    assert_eq!(sent_before(&filmco), before + 2);
    // Answers in bulk, from JSON Lines.
    let inbox: serde_json::Value = serde_json::from_str(&eventually(
        &["inbox", "--node", &kr, "--json", "--kind", "referral"],
        |o| o.contains("third.example") && o.contains("bulk.example"),
    ))
    .unwrap();
    let lines: String = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["subject"] == "third.example" || i["subject"] == "bulk.example")
        .map(|i| format!("{{\"id\": {}, \"status\": \"triaged\"}}\n", i["id"]))
        .collect();
    let answers = dir.path().join("answers.jsonl");
    std::fs::write(
        &answers,
        format!("{lines}{{\"id\": \"{id}\", \"status\": \"bogus\"}}\n"),
    )
    .unwrap();
    let out = run(&[
        "respond",
        "--node",
        &kr,
        "--bulk",
        answers.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("row 3: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&answers, lines).unwrap();
    let out = isop(&[
        "respond",
        "--node",
        &kr,
        "--bulk",
        answers.to_str().unwrap(),
    ]);
    assert_eq!(out.matches(": sent ").count(), 2, "{out}");

    // Agencies send intelligence, a takedown request and a case message.
    let sent = isop(&[
        "send",
        "--node",
        &gb,
        "--to",
        "KR-KNPA",
        "intel",
        "--title",
        "The network",
        "--grade",
        "B2",
        "--indicator",
        "domain=streamz.example",
        "--indicator",
        "domain=streamz.xn--exmple-4nf",
        "--indicator",
        "url=https://streamz.example/watch?v=1&t=2#live",
        "--personal",
        "person=J. Doe",
        "--narrative",
        "runs the site",
    ]);
    assert!(sent.starts_with("sent "), "{sent}");
    let inbox = eventually(
        &["inbox", "--node", &kr, "--kind", "intel_report", "--json"],
        |o| o.contains("NOTICE_KIND_INTEL_REPORT"),
    );
    let inbox: serde_json::Value = serde_json::from_str(&inbox).unwrap();
    let intel_id = inbox["items"][0]["id"].as_str().unwrap();
    // A look-alike domain is shown with its Unicode form beside it.
    let shown = isop(&["show", "--node", &kr, intel_id]);
    assert!(
        shown.contains("idna      streamz.xn--exmple-4nf is streamz.exаmple"),
        "{shown}"
    );
    // Indicators are checked by kind: each refusal names the field and,
    // where the value only needs rewriting, the form to write.
    for (indicator, why) in [
        (
            "domain=streamz.exаmple",
            r#"intel.indicators[0].value "streamz.exаmple" is not written as lower-case IDNA A-labels: write it as "streamz.xn--exmple-4nf""#,
        ),
        (
            "ip=not-an-ip а",
            r#"intel.indicators[0].value "not-an-ip а" is not an IPv4 or IPv6 address"#,
        ),
        (
            "url=https://streamz.example/live\u{202e}4pm.exe",
            "intel.indicators[0].value",
        ),
    ] {
        let out = run(&[
            "send",
            "--node",
            &gb,
            "--to",
            "KR-KNPA",
            "intel",
            "--title",
            "x",
            "--grade",
            "B2",
            "--indicator",
            indicator,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{indicator}: {stderr}");
        assert!(stderr.contains(why), "{indicator}: {stderr}");
    }
    // The correlation query takes the Unicode form and finds the notice
    // under its A-labels.
    assert!(
        isop(&["query", "--node", &kr, "--indicator", "streamz.exаmple"]).contains(intel_id),
        "the query by Unicode form found nothing"
    );
    assert!(
        isop(&[
            "query",
            "--node",
            &kr,
            "--indicator",
            "https://streamz.example/watch?v=1&t=2#live"
        ])
        .contains(intel_id),
        "the query by a URL with a query and a fragment found nothing"
    );
    assert!(
        isop(&[
            "send",
            "--node",
            &kr,
            "--to",
            "GB-PIPCU",
            "takedown",
            "--domain",
            "mirror.example",
            "--hosting-country",
            "GB",
            "--legal-basis",
            "CDPA 1988 s.97A"
        ])
        .starts_with("sent ")
    );
    assert!(
        isop(&[
            "send",
            "--node",
            &kr,
            "--to",
            "GB-PIPCU",
            "--case",
            "SOP-1",
            "case",
            "--action",
            "open",
            "--subject",
            "streamz",
            "--participant",
            "GB-PIPCU"
        ])
        .starts_with("sent ")
    );
    eventually(&["inbox", "--node", &gb], |o| {
        o.contains("takedown request") && o.contains("case message")
    });
    assert!(isop(&["status", "--node", &kr]).contains("KR-KNPA — roster v1"));
    let export = dir.path().join("kr.export");
    assert!(
        isop(&[
            "log",
            "export",
            "--node",
            &kr,
            "--out",
            export.to_str().unwrap()
        ])
        .starts_with("wrote ")
    );
    assert!(std::fs::metadata(&export).unwrap().len() > 100);
    // The node's own export verifies, offline, against the roster key in its config.
    let audited = isop(&[
        "audit",
        "verify",
        export.to_str().unwrap(),
        "--roster-key",
        &kr,
    ]);
    assert!(audited.contains("verified: no findings"), "{audited}");

    // People, not one token: the admin adds a viewer, who reads and may
    // not answer; the access record in KR's log shows both.
    let viewer = dir.path().join("vic.token");
    let viewer = viewer.to_str().unwrap();
    let added = isop(&[
        "user",
        "add",
        "--node",
        &kr,
        "vic",
        "--role",
        "viewer",
        "--token-out",
        viewer,
    ]);
    assert!(added.contains("added vic as viewer"), "{added}");
    assert!(isop(&["user", "list", "--node", &kr]).contains("vic"));
    assert!(isop(&["show", "--node", &kr, "--token-file", viewer, &id]).contains("referral"));
    let out = run(&[
        "respond",
        "--node",
        &kr,
        "--token-file",
        viewer,
        &id,
        "--status",
        "accepted",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("viewer vic may not send notices"),
        "{out:?}"
    );
    let export = dir.path().join("kr-access.export");
    isop(&[
        "log",
        "export",
        "--node",
        &kr,
        "--out",
        export.to_str().unwrap(),
    ]);
    let access = isop(&[
        "audit",
        "replay",
        "--access",
        export.to_str().unwrap(),
        "--roster-key",
        &kr,
    ]);
    assert!(
        access.contains("vic") && access.contains("REFUSED") && access.contains("user add"),
        "{access}"
    );

    // Bad input: a partner's intel, a malformed file, an unknown org, a missing file.
    let refused = run(&[
        "send",
        "--node",
        &filmco,
        "--to",
        "KR-KNPA",
        "intel",
        "--title",
        "x",
        "--grade",
        "B2",
        "--indicator",
        "domain=a.example",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("policy forbids"));
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"tlp\": \"amber\", \"body\": {\"kind\": \"referral\"}}",
    )
    .unwrap();
    let out = run(&["submit", "--node", &filmco, bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "body: \"kind\" is not a kind of notice: give one key of referral, status_update"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "send",
        "--node",
        &kr,
        "--to",
        "XX-NOBODY",
        "case",
        "--action",
        "message",
        "--text",
        "hi",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["submit", "--node", &filmco, "/nonexistent.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent.toml"));

    // A value that is not one of an enum's is named with the values it
    // takes, by the CLI before anything is sent, and by the node's answer
    // once: no doubled prefix.
    let out = run(&[
        "send",
        "--node",
        &filmco,
        "--to",
        "KR-KNPA",
        "referral",
        "--domain",
        "a.example",
        "--category",
        "cartoons",
        "--work",
        "A Film",
        "--evidence",
        &format!("{},screenshot", "ab".repeat(32)),
        "--jurisdiction",
        "KR",
        "--affirm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--category: \"cartoons\" is not one of film, tv, live_sport"),
        "{stderr}"
    );
    let out = run(&["respond", "--node", &kr, &id, "--status", "Done"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the node answered 400: status: \"Done\" is not one of received, triaged")
            && !stderr.contains("invalid request"),
        "{stderr}"
    );

    // FilmCo rotates its signing key without a restart: the authority
    // adds k2 beside k1, the new roster goes to FilmCo's node (which
    // passes it on), and SIGHUP has the node take up the key its config
    // now names.
    let filmco_dir = fed.join("RH-FILMCO");
    let new_dir = filmco_dir.join("2027");
    isop(&[
        "keys",
        "gen",
        "--org",
        "RH-FILMCO",
        "--dir",
        new_dir.to_str().unwrap(),
    ]);
    let authority = fed.to_str().unwrap();
    isop(&[
        "roster",
        "add-key",
        "--authority",
        authority,
        "--org",
        "RH-FILMCO",
        "--key-name",
        "k2",
        "--public-key",
        new_dir.join("signing.pub").to_str().unwrap(),
    ]);
    let diff = isop(&["roster", "diff", "--authority", authority]);
    assert!(diff.contains("RH-FILMCO/k2: new key"), "{diff}");
    assert!(isop(&["roster", "sign", "--authority", authority]).contains("roster v2"));
    let push = [
        "roster",
        "push",
        "--authority",
        authority,
        "--node",
        &filmco,
    ];
    assert!(isop(&push).contains("now holds roster v2"));
    assert!(isop(&push).contains("has roster v2 already; nothing changed"));
    let config = filmco_dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = text
        .replace(
            "signing_key = \"signing.key\"",
            "signing_key = \"2027/signing.key\"",
        )
        .replace("signing_key_name = \"k1\"", "signing_key_name = \"k2\"");
    assert_ne!(text, moved, "{text}");
    std::fs::write(&config, moved).unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&nodes.0[2]),
        rustix::process::Signal::HUP,
    )
    .unwrap();
    eventually(&["status", "--node", &filmco], |o| {
        o.contains("signs with RH-FILMCO/k2")
    });
    // What it signs now reaches KR, once KR holds v2 (FilmCo passed it on).
    eventually(&["status", "--node", &kr], |o| {
        o.contains("KR-KNPA — roster v2")
    });
    let sent = isop(&["submit", "--node", &filmco, example]);
    let new_id = sent.split_whitespace().nth(1).unwrap().to_owned();
    eventually(&["inbox", "--node", &kr, "--json", "--limit", "500"], |o| {
        o.contains(&new_id)
    });
    // `isop node reload` does the same through the API.
    let reloaded = isop(&["node", "reload", "--node", &filmco]);
    assert!(reloaded.contains("signs with RH-FILMCO/k2"), "{reloaded}");

    // The authority lets partners ask agencies to match (the standard
    // policy does not); FilmCo asks KR whether it holds the site FilmCo
    // referred: it does, from that referral (sources stay hidden).
    let policy = isop(&[
        "roster",
        "policy",
        "--authority",
        authority,
        "--allow-match",
        "partner:agency",
        "--max-query-items",
        "50",
        "--runs-per-day",
        "2",
    ]);
    assert!(
        policy.contains("the matching policy's rules change"),
        "{policy}"
    );
    assert!(isop(&["roster", "sign", "--authority", authority]).contains("roster v3"));
    isop(&push);
    eventually(&["status", "--node", &kr], |o| {
        o.contains("KR-KNPA — roster v3")
    });
    let asked = dir.path().join("asked.txt");
    std::fs::write(&asked, "# two sites\nstreamz.example\nnowhere.example\n").unwrap();
    let asked = asked.to_str().unwrap();
    let out = isop(&[
        "match",
        "--node",
        &filmco,
        "--with",
        "KR-KNPA",
        "--indicators",
        asked,
    ]);
    assert!(
        out.contains("1 of 2 asked are held by KR-KNPA")
            && out.contains("domain   streamz.example\n"),
        "{out}"
    );
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "streamz.example\nnot an indicator\n").unwrap();
    let out = run(&[
        "match",
        "--node",
        &filmco,
        "--with",
        "KR-KNPA",
        "--indicators",
        bad.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1)
            && stderr.contains("bad.txt line 2")
            && stderr.contains("\"not\" is not a kind"),
        "{stderr}"
    );

    // A reader that goes away: the command ends quietly, never a panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["status", "--node", &kr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "{:?}: {stderr}",
        out.status
    );

    // SIGTERM stops a node gracefully, saying so; with `--log-format
    // json` each log line is one JSON object.
    let gb_log = dir.path().join("GB-PIPCU.log");
    let stop = |mut node: std::process::Child| {
        let pid = rustix::process::Pid::from_child(&node);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = node.wait().unwrap();
        assert!(status.success(), "{status:?}");
    };
    stop(nodes.0.remove(1));
    let log = std::fs::read_to_string(&gb_log).unwrap();
    assert!(
        log.contains("shutting down") && log.contains("SIGTERM") && log.contains("stopped"),
        "{log}"
    );
    let json_log = dir.path().join("GB-PIPCU.json.log");
    let gb_node = Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["--log-format", "json", "node", "run", "--config", &gb])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&json_log).unwrap())
        .spawn()
        .unwrap();
    eventually(&["status", "--node", &gb], |o| {
        o.contains("GB-PIPCU — roster v")
    });
    stop(gb_node);
    let log = std::fs::read_to_string(&json_log).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["signal"] == "SIGTERM" && l["level"] == "INFO"),
        "{log}"
    );

    // A node that is not running.
    drop(nodes);
    let out = run(&["status", "--node", &kr]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the node's API") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

/// SHA-256 of `data`, hex.
fn sha256_hex(data: &[u8]) -> String {
    hex::encode(isop_core::sha256(data))
}
