//! The README's examples, run as pasted: its onboarding block, then its
//! daily-work, matching, bulk, STIX and auditing blocks against real `isop node run`
//! processes of an example federation written where the README says
//! (`certs-example/`), with `isop` on the PATH. Only `isop node run`
//! lines are left to the test, which starts the nodes itself, and the
//! `<id>` a reader copies from `isop inbox` is taken from it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Nodes, eventually, free_ports};

/// The text of each `sh` block of `markdown`.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Runs `script` with bash in `cwd`, stopping at the first command that
/// fails, with `isop` first on the PATH; its output.
fn sh(cwd: &Path, script: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_isop"))
        .parent()
        .expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(cwd)
        .env("PATH", path)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's commands failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_readme_examples_run_as_pasted() {
    let readme = include_str!("../../../README.md");
    let blocks = shell_blocks(readme);
    let block = |needle: &str| {
        blocks
            .iter()
            .find(|b| b.contains(needle))
            .unwrap_or_else(|| panic!("no README block holds {needle:?}"))
            .clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();

    // Onboarding one member, from a new authority; the node is not run.
    let onboarding: String = block("isop ca init")
        .lines()
        .filter(|l| !l.trim_start().starts_with("isop node run"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = sh(cwd, &onboarding);
    assert!(out.contains("KR-KNPA"), "{out}");
    // Rotating its key and certificate, in the same directory; the node
    // is not running, so `node reload` is left out.
    let rotation: String = block("isop roster add-key")
        .lines()
        .filter(|l| !l.trim_start().starts_with("isop node reload"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = sh(cwd, &rotation);
    assert!(
        out.contains("KR-KNPA/k2: new key") && out.contains("KR-KNPA: new TLS pin"),
        "{out}"
    );
    let config = std::fs::read_to_string(cwd.join("kr/node.toml")).unwrap();
    assert!(
        config.contains("signing_key = \"2027/signing.key\"")
            && config.contains("tls_key = \"2027/tls.key\""),
        "{config}"
    );
    let shown = sh(cwd, "isop roster show --authority authority");
    assert!(
        shown.contains("key k2") && shown.matches("TLS pin").count() == 1,
        "{shown}"
    );

    // The example federation where the README has it, and its nodes.
    let (quic, api) = free_ports();
    sh(
        cwd,
        &format!("isop certs example certs-example --quic-port {quic} --api-port {api}"),
    );
    std::fs::create_dir(cwd.join("examples")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/referral.toml"),
        cwd.join("examples/referral.toml"),
    )
    .unwrap();
    let cfg = |org: &str| {
        cwd.join("certs-example")
            .join(org)
            .join("node.toml")
            .display()
            .to_string()
    };
    let mut nodes = Nodes(Vec::new());
    for org in ["KR-KNPA", "RH-FILMCO", "INTERPOL-GS", "GB-PIPCU"] {
        nodes.start(&cfg(org), &cwd.join(format!("{org}.log")));
    }
    for org in ["KR-KNPA", "RH-FILMCO", "INTERPOL-GS", "GB-PIPCU"] {
        eventually(&["status", "--node", &cfg(org)], |o| {
            o.contains("roster v1")
        });
    }

    // The daily work: up to the first `<id>`, then with the id of the
    // referral the agency received, as a reader takes it from `inbox`.
    let daily = block("isop submit  --node");
    let at = daily.find("<id>").expect("the block names <id>");
    let split = daily[..at].rfind('\n').map_or(0, |i| i + 1);
    sh(cwd, &daily[..split]);
    let inbox = eventually(
        &[
            "inbox",
            "--node",
            &cfg("KR-KNPA"),
            "--json",
            "--kind",
            "referral",
        ],
        |o| o.contains("NOTICE_KIND_REFERRAL"),
    );
    let inbox: serde_json::Value = serde_json::from_str(&inbox).unwrap();
    let id = inbox["items"][0]["id"].as_str().expect("an id").to_owned();
    let out = sh(cwd, &daily[split..].replace("<id>", &id));
    assert!(out.contains("answered with "), "{out}");

    // A matching, once GB holds the takedown request the daily work sent.
    eventually(&["inbox", "--node", &cfg("GB-PIPCU"), "--json"], |o| {
        o.contains("NOTICE_KIND_TAKEDOWN_REQUEST")
    });
    let out = sh(cwd, &block("isop match"));
    assert!(
        out.contains("2 of 3 asked are held by GB-PIPCU")
            && out.contains("mirror.example  (from takedown request)"),
        "{out}"
    );

    // Bulk, the field's standards, then the auditor's commands over the
    // exports.
    let out = sh(cwd, &block("--bulk rows.csv"));
    assert!(out.contains("rows 2, 3: sent "), "{out}");
    let out = sh(cwd, &block("isop export stix"));
    assert!(out.contains("wrote a MISP feed of "), "{out}");
    // The import shows its plan and asks; with no one to answer, it sends
    // nothing.
    assert!(out.contains("notices? [y/N] nothing was sent"), "{out}");
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cwd.join("kr.json")).unwrap()).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let out = sh(cwd, &block("isop audit verify"));
    assert!(out.contains("verified: no findings"), "{out}");
    assert!(out.contains("consistent: no findings"), "{out}");
    drop(nodes);
}
