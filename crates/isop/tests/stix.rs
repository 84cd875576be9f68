//! The field's standards against running `isop node run` processes,
//! checked by the ecosystem's own tools: every exported STIX 2.1 bundle by
//! OASIS's `stix2-validator` (strict mode) and `stix2` library, the TAXII
//! 2.1 server by OASIS's `taxii2-client`, the MISP feed by PyMISP
//! (`tests/python/*.py`); a bundle exported at one node, imported at
//! another and exported again keeps its indicators and markings; bad
//! bundles are refused naming the object.
//!
//! The Python tools are `tests/python/requirements.txt`: `.ci/run`
//! installs them in a virtual environment and sets `ISOP_STIX_PYTHON` to
//! its interpreter and `ISOP_REQUIRE_STIX_TOOLS=1`. Without them the
//! checks by those tools are skipped, said so; the rest runs.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{eventually, example_federation, isop, run, start_nodes};
use serde_json::Value;

/// The interpreter with the ecosystem's tools, if there is one: skipped
/// without, unless `ISOP_REQUIRE_STIX_TOOLS` says they must be here.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("ISOP_STIX_PYTHON")
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let here = Command::new(&candidate)
        .args(["-c", "import stix2, stix2validator, taxii2client, pymisp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if here {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("ISOP_REQUIRE_STIX_TOOLS").is_none(),
        "ISOP_REQUIRE_STIX_TOOLS is set but {} cannot import stix2, stix2validator, \
         taxii2client and pymisp (pip install -r crates/isop/tests/python/requirements.txt)",
        candidate.display()
    );
    eprintln!(
        "SKIPPED: the checks by OASIS's and MISP's tools need a Python with \
         crates/isop/tests/python/requirements.txt (set ISOP_STIX_PYTHON; .ci/run does)"
    );
    None
}

/// Runs `script` (of `tests/python`) with `args`; its transcript.
fn tool(python: &Path, script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(python).arg(path).args(args).output().unwrap();
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{transcript}"
    );
    println!("--- {script}\n{transcript}");
    transcript
}

/// Runs `isop` with `args`, which must fail: its stderr.
fn isop_fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "isop {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn objects(bundle: &Value) -> &Vec<Value> {
    bundle["objects"].as_array().unwrap()
}

/// isop's extension on a report or note.
fn ext(o: &Value) -> Option<&Value> {
    o["extensions"]["extension-definition--3c9f1e47-5d0a-4b8e-9f61-2a7c4e8d5b13"]
        .as_object()
        .map(|_| &o["extensions"]["extension-definition--3c9f1e47-5d0a-4b8e-9f61-2a7c4e8d5b13"])
}

/// The primary object (report or note) of the notice `id`.
fn primary<'a>(bundle: &'a Value, id: &str) -> &'a Value {
    objects(bundle)
        .iter()
        .find(|o| ext(o).is_some_and(|e| e["notice_id"] == id))
        .unwrap_or_else(|| panic!("no report or note of notice {id}"))
}

/// The live (not revoked) indicators' patterns and markings, of the
/// notices `keep` picks by their primary object.
fn indicators(bundle: &Value, keep: impl Fn(&Value) -> bool) -> BTreeSet<(String, String)> {
    let refs: BTreeSet<&str> = objects(bundle)
        .iter()
        .filter(|o| ext(o).is_some() && keep(o))
        .flat_map(|o| o["object_refs"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    objects(bundle)
        .iter()
        .filter(|o| o["type"] == "indicator" && o["revoked"] != true)
        .filter(|o| refs.contains(o["id"].as_str().unwrap()))
        .map(|o| {
            (
                o["pattern"].as_str().unwrap().to_owned(),
                o["object_marking_refs"].to_string(),
            )
        })
        .collect()
}

fn sent_id(out: &str) -> String {
    out.strip_prefix("sent ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("not sent: {out}"))
        .to_owned()
}

#[test]
fn stix_taxii_and_misp_with_the_ecosystems_tools() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let fed = example_federation(dir.path());
    let (_nodes, configs) = start_nodes(
        &fed,
        dir.path(),
        &["INTERPOL-GS", "KR-KNPA", "GB-PIPCU", "RH-FILMCO"],
    );
    let [hub, kr, gb, filmco] = [0, 1, 2, 3].map(|i| configs[i].clone());
    let file = |name: &str| dir.path().join(name).display().to_string();

    // A referral with a field KR may not see (FilmCo's internal reference).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/referral.toml");
    let referral = file("referral.toml");
    std::fs::write(
        &referral,
        std::fs::read_to_string(example).unwrap().replacen(
            "[[labelled]]",
            "[[labelled]]\npath = \"referral.internal_ref\"\nlabel = \"org:RH-FILMCO|role:hub\"\nvalue = { text = \"FC-INTERNAL-7\" }\n\n[[labelled]]",
            1,
        ),
    )
    .unwrap();
    let r = sent_id(&isop(&["submit", "--node", &filmco, &referral]));
    eventually(&["inbox", "--node", &kr], |o| o.contains("streamz.example"));
    isop(&["respond", "--node", &kr, &r, "--status", "accepted"]);
    // GB-PIPCU's intelligence to KR-KNPA and the hub, with a wallet and a
    // payment account (labelled); one report narrowed and one withdrawn.
    let gb_sends = |what: &[&str]| {
        let mut args = vec![
            "send",
            "--node",
            &gb,
            "--to",
            "KR-KNPA",
            "--to",
            "INTERPOL-GS",
        ];
        args.extend_from_slice(what);
        sent_id(&isop(&args))
    };
    let i1 = gb_sends(&[
        "intel",
        "--title",
        "Payment network behind streamz.example",
        "--grade",
        "B2",
        "--label",
        "role:agency|role:hub",
        "--case",
        "SOP-2026-0042",
        "--indicator",
        "domain=streamz.example",
        "--indicator",
        "ip=203.0.113.7",
        "--personal",
        "crypto_wallet=bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "--personal",
        "payment_account=DE89370400440532013000",
        "--narrative",
        "Subscriptions are paid in bitcoin.",
    ]);
    let i2 = gb_sends(&[
        "intel",
        "--title",
        "A mirror",
        "--grade",
        "B2",
        "--indicator",
        "domain=mirror.streamz.example",
    ]);
    let retract = |id: &str, extra: &[&str]| {
        let mut what = vec!["retract", "--notice", id, "--reason", "wrong"];
        what.extend_from_slice(extra);
        gb_sends(&what)
    };
    let narrowed = retract(&i1, &["--scope", "narrow", "--path", "intel.indicators[1]"]);
    let withdrawn = retract(&i2, &[]);
    let takedown = sent_id(&isop(&[
        "send",
        "--node",
        &hub,
        "--to",
        "KR-KNPA",
        "--case",
        "SOP-2026-0042",
        "takedown",
        "--domain",
        "streamz.example",
        "--ip",
        "203.0.113.7",
        "--hosting-country",
        "KR",
        "--legal-basis",
        "Copyright Act, art. 104 (KR)",
        "--referral",
        &r,
    ]));
    let opened = sent_id(&isop(&[
        "send",
        "--node",
        &hub,
        "--to",
        "KR-KNPA",
        "--to",
        "GB-PIPCU",
        "--case",
        "SOP-2026-0042",
        "case",
        "--action",
        "open",
        "--subject",
        "streamz.example",
        "--participant",
        "KR-KNPA",
        "--participant",
        "GB-PIPCU",
    ]));
    for id in [&narrowed, &withdrawn, &takedown, &opened] {
        eventually(&["show", "--node", &kr, id], |_| true);
    }

    // Every kind, as STIX.
    let export = |node: &str, extra: &[&str]| -> Value {
        let mut args = vec!["export", "stix", "--node", node];
        args.extend_from_slice(extra);
        serde_json::from_str(&isop(&args)).unwrap()
    };
    let at_kr = export(&kr, &[]);
    let text = at_kr.to_string();
    assert_eq!(at_kr["type"], "bundle");
    for (id, ty, kind) in [
        (&r, "report", "referral"),
        (&i1, "report", "intel_report"),
        (&takedown, "report", "takedown_request"),
        (&opened, "note", "case_message"),
        (&withdrawn, "note", "retraction"),
    ] {
        let p = primary(&at_kr, id);
        assert_eq!(p["type"], ty, "{p}");
        assert_eq!(ext(p).unwrap()["notice_kind"], kind, "{p}");
        assert_eq!(
            p["object_marking_refs"][0], "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            "TLP:AMBER: {p}"
        );
        println!("--- {kind} ({id}) as KR-KNPA exports it:\n{p:#}");
    }
    // A status answer is a note on the referral's report.
    let answer = objects(&at_kr)
        .iter()
        .find(|o| ext(o).is_some_and(|e| e["notice_kind"] == "status_update"))
        .unwrap();
    assert_eq!(
        answer["object_refs"][0],
        primary(&at_kr, &r)["id"],
        "{answer}"
    );
    println!("--- status_update as KR-KNPA exports it:\n{answer:#}");
    // Withheld: its path and label, never its value.
    assert!(
        !text.contains("FC-INTERNAL-7"),
        "a withheld value was exported"
    );
    assert!(
        ext(primary(&at_kr, &r)).unwrap()["withheld"]
            .to_string()
            .contains("referral.internal_ref")
    );
    // The withdrawn report is revoked; the narrowed one lost its IP.
    assert_eq!(primary(&at_kr, &i2)["revoked"], true);
    let i1_report = primary(&at_kr, &i1);
    assert_ne!(i1_report["modified"], i1_report["created"], "{i1_report}");
    let live = indicators(&at_kr, |o| ext(o).unwrap()["notice_id"] == i1.as_str());
    assert!(
        live.iter().any(|(p, _)| p.contains("streamz.example")),
        "{live:?}"
    );
    assert!(
        live.iter()
            .any(|(p, _)| p.contains("cryptocurrency-wallet")),
        "{live:?}"
    );
    assert!(
        !live.iter().any(|(p, _)| p.contains("203.0.113.7")),
        "{live:?}"
    );
    // The same objects again; a kind, a case, a time.
    assert_eq!(export(&kr, &[]), at_kr, "a second export differs");
    let referrals = export(&kr, &["--kind", "referral"]);
    assert!(
        objects(&referrals)
            .iter()
            .all(|o| ext(o).is_none_or(|e| e["notice_kind"] == "referral"))
    );
    let case_intel = export(&kr, &["--case", "SOP-2026-0042", "--kind", "intel_report"]);
    let kinds: BTreeSet<String> = objects(&case_intel)
        .iter()
        .filter_map(|o| ext(o).map(|e| e["notice_kind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(kinds, BTreeSet::from(["intel_report".to_owned()]));
    let none = export(&kr, &["--since", "2999-01-01T00:00:00Z"]);
    assert!(objects(&none).iter().all(|o| ext(o).is_none()));
    // What every bundle carries, also when --since leaves out the rest.
    for ty in ["marking-definition", "extension-definition", "identity"] {
        assert!(objects(&none).iter().any(|o| o["type"] == ty), "{ty}");
    }
    let err = isop_fails(&["export", "stix", "--node", &kr, "--case", "NO-SUCH-CASE"]);
    assert!(err.contains("no notice of case \"NO-SUCH-CASE\""), "{err}");

    let bundles: Vec<String> = [(&hub, "hub"), (&kr, "kr"), (&gb, "gb"), (&filmco, "filmco")]
        .iter()
        .map(|(node, name)| {
            let path = file(&format!("{name}.json"));
            std::fs::write(&path, isop(&["export", "stix", "--node", node])).unwrap();
            path
        })
        .collect();
    let misp = file("misp");
    let wrote = isop(&["export", "misp", "--node", &kr, "--out", &misp]);
    assert!(wrote.contains("wrote a MISP feed of "), "{wrote}");
    let by_case = file("misp-by-case");
    isop(&[
        "export", "misp", "--node", &kr, "--out", &by_case, "--per", "case",
    ]);

    // A round trip: KR's bundle imported at GB as intelligence for the
    // hub, exported again at the hub: the same indicators and markings.
    let plan = isop(&[
        "import",
        "stix",
        "--node",
        &gb,
        &bundles[1],
        "--as",
        "intel",
        "--to",
        "INTERPOL-GS",
        "--yes",
    ]);
    println!("--- import at GB-PIPCU:\n{plan}");
    assert!(plan.contains("left out ("), "{plan}");
    assert!(plan.contains("is revoked"), "{plan}");
    let imported: Vec<String> = plan
        .lines()
        .filter(|l| l.starts_with("sent "))
        .map(sent_id)
        .collect();
    assert!(imported.len() >= 3, "{plan}");
    for id in &imported {
        eventually(&["show", "--node", &hub, id], |_| true);
    }
    let at_hub = export(&hub, &[]);
    let before = indicators(&at_kr, |o| o["revoked"] != true);
    let after = indicators(&at_hub, |o| {
        imported
            .iter()
            .any(|i| ext(o).unwrap()["notice_id"] == i.as_str())
    });
    assert_eq!(
        before, after,
        "the round trip changed indicators or markings"
    );

    // A partner's own bundle back in as referrals: what STIX does not say
    // comes from isop's extension.
    let again = isop(&[
        "import",
        "stix",
        "--node",
        &filmco,
        &bundles[3],
        "--as",
        "referral",
        "--to",
        "GB-PIPCU",
        "--yes",
    ]);
    assert!(again.contains("sent "), "{again}");

    // Bad bundles: refused, naming the object, nothing sent.
    let bad = |name: &str, bundle: &str| {
        let path = file(name);
        std::fs::write(&path, bundle).unwrap();
        isop_fails(&[
            "import",
            "stix",
            "--node",
            &gb,
            &path,
            "--to",
            "INTERPOL-GS",
            "--yes",
        ])
    };
    let err = bad(
        "v20.json",
        &serde_json::json!({"type": "bundle", "id": "bundle--0f3a3a26-8c3e-4d2c-9d55-62a9f5b2f4d1", "spec_version": "2.0", "objects": []}).to_string(),
    );
    assert!(
        err.contains("STIX 2.0") && err.contains("nothing was sent"),
        "{err}"
    );
    let indicator = |pattern: &str| {
        serde_json::json!({"type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})
    };
    let err = bad(
        "pattern.json",
        &serde_json::json!({"type": "bundle", "id": "bundle--0f3a3a26-8c3e-4d2c-9d55-62a9f5b2f4d1",
            "objects": [indicator("[domain-name:value = 'streamz.example'")]})
        .to_string(),
    );
    assert!(
        err.contains("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: its pattern does not parse at character 38"),
        "{err}"
    );
    let err = bad(
        "missing.json",
        &serde_json::json!({"type": "bundle", "id": "bundle--0f3a3a26-8c3e-4d2c-9d55-62a9f5b2f4d1",
            "objects": [{"type": "report", "spec_version": "2.1",
                "id": "report--1d0b3b5e-2f0a-4c5e-8f2e-6f1f4e7a9b10",
                "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
                "name": "r", "object_refs": ["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]}]})
        .to_string(),
    );
    assert!(
        err.contains("report--1d0b3b5e-2f0a-4c5e-8f2e-6f1f4e7a9b10: lacks the required property published of a report"),
        "{err}"
    );
    let err = bad("not-json.json", "<stix/>");
    assert!(err.contains("is not JSON"), "{err}");

    // The ecosystem's own tools.
    let Some(python) = python else { return };
    let mut args: Vec<&str> = bundles.iter().map(String::as_str).collect();
    let round_trip = file("hub-after-import.json");
    std::fs::write(&round_trip, at_hub.to_string()).unwrap();
    args.push(&round_trip);
    let checked = tool(&python, "check_stix.py", &args);
    assert_eq!(
        checked
            .matches("(strict): valid, 0 errors, 0 warnings")
            .count(),
        5
    );
    tool(&python, "check_misp.py", &[&misp]);
    tool(&python, "check_misp.py", &[&by_case]);
    let api = toml::from_str::<toml::Value>(&std::fs::read_to_string(&kr).unwrap()).unwrap()["api"]
        ["listen"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = Path::new(&kr).parent().unwrap().join("api.token");
    let transcript = tool(
        &python,
        "taxii_client.py",
        &[&format!("http://{api}/taxii2/"), token.to_str().unwrap()],
    );
    for line in [
        "discovery: 'isop node KR-KNPA'",
        "revoked ",
        "without a token: 401",
        "Accept application/json: 406",
    ] {
        assert!(transcript.contains(line), "{line:?} not in the transcript");
    }
}
