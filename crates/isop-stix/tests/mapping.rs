//! The mapping, on notices as a node's API answered them
//! (`tests/fixtures/*.json`: KR-KNPA's view of the demo's referral, whose
//! internal reference it may not see, and of GB-PIPCU's intelligence
//! report): what each becomes, its versions when retracted, and a bundle
//! of them read back as notices.

use isop_api::NoticeView;
use isop_core::pb;
use isop_stix::import::{Target, Template, plan, read_bundle};
use isop_stix::notice::{Context, Covering, objects};
use isop_stix::{Object, Retracted, history};
use serde_json::{Value, json};

fn view(name: &str) -> NoticeView {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn no_kinds(_: &str) -> Option<pb::NoticeKind> {
    None
}

fn cx() -> Context<'static> {
    Context {
        checkpoint: Some(Covering {
            size: 40,
            root: "ab".repeat(32),
        }),
        kind_of: &no_kinds,
    }
}

fn of_type<'a>(objects: &'a [Object], ty: &str) -> Vec<&'a Object> {
    objects.iter().filter(|o| o["type"] == ty).collect()
}

#[test]
fn a_referral_is_a_report_of_its_site_and_never_shows_what_is_withheld() {
    let v = view("referral-view.json");
    let out = objects(&v, &cx(), &[]).unwrap();
    let text = serde_json::to_string(&out).unwrap();
    // KR-KNPA holds the internal reference's digest only.
    assert_eq!(v.withheld[0].path, "referral.internal_ref");
    assert!(text.contains("referral.internal_ref") && text.contains("org:RH-FILMCO|role:hub"));
    assert!(
        !text.contains("\"reason\""),
        "withheld says only path and label"
    );
    let report = &out[0];
    assert_eq!(report["type"], "report");
    assert_eq!(report["name"], "Referral: mirror.streamz.example");
    let patterns: Vec<&str> = of_type(&out, "indicator")
        .iter()
        .map(|o| o["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [
            "[domain-name:value = 'mirror.streamz.example']",
            "[url:value = 'https://mirror.streamz.example/live/cup-final']",
            "[ipv4-addr:value = '203.0.113.7']",
        ]
    );
    assert_eq!(of_type(&out, "infrastructure").len(), 1);
    assert_eq!(of_type(&out, "autonomous-system")[0]["number"], 64500);
    assert_eq!(of_type(&out, "file").len(), 1);
    let relations: Vec<&str> = of_type(&out, "relationship")
        .iter()
        .map(|o| o["relationship_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        relations,
        [
            "consists-of",
            "indicates",
            "consists-of",
            "indicates",
            "consists-of",
            "indicates",
            "resolves-to",
            "belongs-to",
        ]
    );
    // The report holds every object of the notice, and its author.
    let refs = report["object_refs"].as_array().unwrap();
    assert_eq!(refs.len(), out.len());
    // Every id once; derived, so the same again.
    let mut ids: Vec<&str> = out.iter().map(|o| o["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), out.len());
    assert_eq!(objects(&v, &cx(), &[]).unwrap(), out);
    // The extension: the notice's own data, its place in the log.
    let ext = &report["extensions"][isop_stix::common::EXTENSION];
    assert_eq!(ext["notice_id"], v.id);
    assert_eq!(ext["log_index"], v.index);
    assert_eq!(ext["checkpoint"]["size"], 40);
    assert_eq!(
        ext["body"]["referral"]["works"][0]["title"],
        "Cup Final 2026"
    );
}

#[test]
fn a_notice_that_no_longer_verifies_becomes_nothing() {
    let mut v = view("referral-view.json");
    v.verified = false;
    assert!(objects(&v, &cx(), &[]).unwrap().is_empty());
}

#[test]
fn retractions_revoke_what_they_withdraw_and_version_the_rest() {
    let v = view("intel-view.json");
    let at = |n: u64| Retracted {
        index: v.index + n,
        logged_at: v.logged_at.0 + n,
        created_at: v.created_at.0 + n,
        paths: None,
    };
    let narrowed = Retracted {
        paths: Some(vec!["intel.indicators[3]".into()]),
        ..at(5)
    };
    let stages = history(&v, &cx(), &[narrowed.clone(), at(9)]).unwrap();
    assert_eq!(stages.len(), 3);
    let first = &stages[0].objects;
    let wallet = of_type(first, "indicator")
        .into_iter()
        .find(|o| {
            o["pattern"]
                .as_str()
                .unwrap()
                .contains("cryptocurrency-wallet")
        })
        .unwrap();
    // Narrowing the wallet: its indicator revoked, the report without it.
    let second = &stages[1].objects;
    let ids = |objects: &[Object]| -> Vec<String> {
        objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(second),
        [
            first[0]["id"].as_str().unwrap(),
            wallet["id"].as_str().unwrap()
        ]
    );
    assert_eq!(second[1]["revoked"], true);
    let report = &second[0];
    assert!(report.get("revoked").is_none());
    assert!(report["modified"].as_str() > first[0]["modified"].as_str());
    assert!(
        !report["object_refs"]
            .as_array()
            .unwrap()
            .contains(&wallet["id"])
    );
    assert!(!serde_json::to_string(report).unwrap().contains("bc1q"));
    assert_eq!(
        report["extensions"][isop_stix::common::EXTENSION]["narrowed"],
        json!(["intel.indicators[3]"])
    );
    // Withdrawing the rest: every live versioned object revoked once, no
    // observable (STIX does not version them).
    let third = &stages[2].objects;
    assert!(
        third
            .iter()
            .all(|o| o["revoked"] == true && o.contains_key("modified"))
    );
    let live_before = first
        .iter()
        .filter(|o| o.contains_key("modified") && o["id"] != wallet["id"])
        .count();
    assert_eq!(third.len(), live_before);
    // The same history again.
    let again = history(&v, &cx(), &[narrowed, at(9)]).unwrap();
    assert_eq!(
        again.iter().map(|s| &s.objects).collect::<Vec<_>>(),
        stages.iter().map(|s| &s.objects).collect::<Vec<_>>()
    );
}

#[test]
fn narrowing_leaves_no_trace_of_what_it_withdrew() {
    let v = view("referral-view.json");
    let narrowed = Retracted {
        index: v.index + 3,
        logged_at: v.logged_at.0 + 3,
        created_at: v.created_at.0 + 3,
        paths: Some(vec!["referral.target.domain".into()]),
    };
    let stages = history(&v, &cx(), &[narrowed]).unwrap();
    let changed = &stages[1].objects;
    let text = serde_json::to_string(changed).unwrap();
    // The domain's indicator is revoked; every new version of the rest
    // (report, infrastructure, the relations that named the domain) is
    // made from the narrowed body.
    let revoked: Vec<&str> = changed
        .iter()
        .filter(|o| o.get("revoked") == Some(&json!(true)))
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        revoked,
        ["indicator", "relationship", "relationship", "relationship"]
    );
    for o in changed.iter().filter(|o| o.get("revoked").is_none()) {
        let t = serde_json::to_string(o).unwrap();
        assert!(!t.contains("\"domain\""), "{t}");
        assert!(!t.contains("Referral: mirror.streamz.example\""), "{t}");
    }
    assert_eq!(
        changed[0]["name"],
        "Referral: https://mirror.streamz.example/live/cup-final"
    );
    assert!(text.contains("infrastructure--"), "{text}");
}

#[test]
fn a_hostile_extension_is_left_out_not_a_panic() {
    let v = view("intel-view.json");
    let mut objects = objects(&v, &cx(), &[]).unwrap();
    objects[0]["extensions"][isop_stix::common::EXTENSION]["body"] =
        json!({"intel_report": "not an object", "referral": ["x"]});
    let read = read_bundle(&bundle(objects)).unwrap();
    for target in [Target::Intel, Target::Referral] {
        let p = plan(&read, target, &template(Some("role:agency")));
        let _ = p.notices.len();
    }
}

#[test]
fn an_erasure_makes_a_new_version_of_what_named_the_value() {
    let mut v = view("intel-view.json");
    let before = objects(&v, &cx(), &[]).unwrap();
    let erased_at = v.created_at.0 + 100;
    v.erased.push(isop_api::Erased {
        digest: "00".repeat(32),
        path: "intel.indicators[3]".into(),
        reason: "a data subject's request".into(),
        erased_by: "admin".into(),
        erased_at: isop_api::Time(erased_at),
    });
    let stages = history(&v, &cx(), &[]).unwrap();
    let after = &stages[0].objects;
    assert_eq!(after[0]["modified"], isop_stix::timestamp(erased_at));
    assert_eq!(after[0]["created"], before[0]["created"]);
    // The rest keep their versions.
    assert_eq!(after[1..], before[1..]);
}

#[test]
fn import_reads_each_objects_latest_version_in_any_order() {
    let indicator = |modified: &str, revoked: bool| {
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": modified, "revoked": revoked,
         "pattern": "[domain-name:value = 'pirate.example']", "pattern_type": "stix",
         "valid_from": "2026-01-01T00:00:00Z",
         "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]})
    };
    // A report on it; the revoked version first, the older one after it.
    let b = json!({"type": "bundle", "id": "bundle--5d0a1f7e-3b3c-4e1a-9f0e-1c2d3e4f5a6b", "objects": [
        {"type": "report", "spec_version": "2.1", "id": "report--7b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "r",
         "published": "2026-01-01T00:00:00Z",
         "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
         "object_refs": ["indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c"]},
        indicator("2026-02-01T00:00:00Z", true),
        indicator("2026-01-01T00:00:00Z", false),
    ]});
    let p = plan(&read_bundle(&b).unwrap(), Target::Intel, &template(None));
    assert!(p.notices.is_empty(), "{:?}", p.notices);
    assert!(
        p.skipped.iter().any(|s| s.why == "is revoked"),
        "{:?}",
        p.skipped
    );
}

fn bundle(objects: Vec<Object>) -> Value {
    isop_stix::bundle::bundle(objects)
}

fn template(label: Option<&str>) -> Template {
    Template {
        notice: isop_api::SubmitNotice {
            tlp: String::new(),
            to_orgs: vec!["INTERPOL-GS".into()],
            to_groups: Vec::new(),
            case_ref: None,
            in_reply_to: None,
            labelled: Vec::new(),
            body: Value::Null,
        },
        tlp: None,
        label: label.map(str::to_owned),
    }
}

#[test]
fn an_exported_report_reads_back_as_the_same_intelligence() {
    let v = view("intel-view.json");
    let b = bundle(objects(&v, &cx(), &[]).unwrap());
    let read = read_bundle(&b).unwrap();
    let p = plan(&read, Target::Intel, &template(None));
    assert_eq!(p.notices.len(), 1, "{:?}", p.skipped);
    let n = &p.notices[0].notice;
    assert_eq!(n.tlp, "TLP_AMBER");
    let body = &n.body["intel_report"];
    assert_eq!(body["title"], "Payment network behind streamz.example");
    assert_eq!(body["source_reliability"], "SOURCE_RELIABILITY_B");
    assert_eq!(body["indicators"].as_array().unwrap().len(), 2);
    // The wallet keeps its label, from the extension; the person is an
    // identity, and identities are not sent.
    let wallet = n
        .labelled
        .iter()
        .find(|f| f.value.to_string().contains("bc1q"))
        .unwrap();
    assert_eq!(wallet.label, "role:agency|role:hub");
    assert!(
        p.skipped
            .iter()
            .any(|s| s.id.starts_with("identity--") && s.why.contains("not sent"))
    );
}

#[test]
fn bundles_from_elsewhere_say_what_they_leave_out() {
    let b = json!({"type": "bundle", "id": "bundle--5d0a1f7e-3b3c-4e1a-9f0e-1c2d3e4f5a6b", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "C2",
         "pattern": "[ipv4-addr:value = '198.51.100.9'] AND [file:hashes.'SHA-256' = 'aa']",
         "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
         "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--1b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
         "pattern": "[url:value LIKE 'http://%.example/%']", "pattern_type": "stix",
         "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--2b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
         "pattern": "alert tcp any any", "pattern_type": "snort", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c",
         "value": "pirate.example", "object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]},
        {"type": "email-addr", "spec_version": "2.1", "id": "email-addr--4b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c",
         "value": "ops@pirate.example"},
        {"type": "malware", "spec_version": "2.1", "id": "malware--5b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "is_family": false}
    ]});
    let read = read_bundle(&b).unwrap();
    let p = plan(&read, Target::Intel, &template(Some("role:agency")));
    // What no report holds is one report, marked as strictly as its
    // strictest object (TLP:RED).
    assert_eq!(p.notices.len(), 1);
    let n = &p.notices[0].notice;
    assert_eq!(n.tlp, "TLP_RED");
    assert_eq!(
        n.body["intel_report"]["indicators"],
        json!([{"kind": "INDICATOR_KIND_DOMAIN", "value": "pirate.example", "context": ""}])
    );
    assert_eq!(n.labelled[0].label, "role:agency");
    assert_eq!(n.labelled[0].path, "intel.indicators[1]");
    let why = |id: &str| -> String {
        p.skipped
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.why.clone())
            .unwrap_or_else(|| panic!("{id} not named: {:?}", p.skipped))
    };
    assert!(
        why("indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c").contains("file:hashes.'SHA-256'")
    );
    assert!(why("indicator--1b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c").contains("the operator LIKE"));
    assert!(why("indicator--2b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c").contains("snort"));
    assert!(why("malware--5b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c").contains("malware"));
    // Without --label, a bundle from elsewhere cannot say who may read an
    // e-mail address: left out.
    let p = plan(&read, Target::Intel, &template(None));
    assert!(p.notices.is_empty());
    assert!(
        p.skipped
            .iter()
            .any(|s| s.why.contains("give one (--label)")),
        "{:?}",
        p.skipped
    );
    // As referrals, with nothing to say what STIX does not.
    let p = plan(&read, Target::Referral, &template(None));
    assert!(p.notices.is_empty());

    // A report is as strict as anything in it: a RED indicator in a GREEN
    // report makes a RED notice.
    let red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let b = json!({"type": "bundle", "id": "bundle--5d0a1f7e-3b3c-4e1a-9f0e-1c2d3e4f5a6b", "objects": [
        {"type": "report", "spec_version": "2.1", "id": "report--7b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "r",
         "published": "2026-01-01T00:00:00Z", "object_marking_refs": [green],
         "object_refs": ["domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c"]},
        {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c",
         "value": "pirate.example", "granular_markings": [{"marking_ref": red, "selectors": ["value"]}]}
    ]});
    let p = plan(&read_bundle(&b).unwrap(), Target::Intel, &template(None));
    assert_eq!(p.notices[0].notice.tlp, "TLP_RED");
}

#[test]
fn a_bad_bundle_is_refused_whole_naming_each_object() {
    let problems = read_bundle(&json!({"type": "bundle", "id": "bundle--5d0a1f7e-3b3c-4e1a-9f0e-1c2d3e4f5a6b", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
         "pattern": "[ipv4-addr:value = ]", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "report", "spec_version": "2.1", "id": "report--1b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "r"},
        {"type": "url", "id": "domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c", "value": "x"},
        {"type": "identity", "spec_version": "2.0", "id": "identity--4b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "x"},
        {"type": "note", "spec_version": "2.1", "id": "note--5b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c",
         "created": "yesterday", "modified": "2026-01-01T00:00:00Z", "content": "x", "object_refs": []},
        "a string"
    ]}))
    .unwrap_err();
    let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "indicator--0b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c: its pattern does not parse at character 19: expected a value, found ']'",
            "report--1b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c: lacks the required properties published, object_refs of a report",
            "domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c: id \"domain-name--3b6e4c0a-1d2f-5e3a-8b9c-0d1e2f3a4b5c\" is not url--<UUID>",
            "identity--4b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c: is STIX 2.0; isop reads STIX 2.1",
            "note--5b6e4c0a-1d2f-4e3a-8b9c-0d1e2f3a4b5c: created \"yesterday\" is not an RFC 3339 time",
            "objects[5]: is not a JSON object",
        ]
    );
    for (bundle, says) in [
        (json!([]), "is not a JSON object"),
        (json!({"type": "report"}), "not a STIX 2.1 bundle"),
        (
            json!({"type": "bundle", "id": "bundle--x", "objects": []}),
            "not bundle--<UUID>",
        ),
        (
            json!({"type": "bundle", "id": "bundle--5d0a1f7e-3b3c-4e1a-9f0e-1c2d3e4f5a6b"}),
            "has no objects list",
        ),
    ] {
        let p = read_bundle(&bundle).unwrap_err();
        assert!(p[0].why.contains(says), "{says:?}: {p:?}");
    }
}
