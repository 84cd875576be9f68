//! `docs/api.openapi.yaml` holds the schemas of the API's types as
//! generated from them, and names no schema that is not generated.
//! `ISOP_BLESS=1 cargo test -p isop-api` rewrites them after a type changes.

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.openapi.yaml");

/// The `schemas:` section as generated: each schema as JSON, which is YAML
/// too, indented under its name.
fn generated() -> String {
    let mut out = String::from("  schemas:\n");
    for (name, schema) in isop_api::schemas() {
        let pretty = serde_json::to_string_pretty(&schema).unwrap();
        let mut lines = pretty.lines();
        out.push_str(&format!(
            "    {name}: {}\n",
            lines.next().unwrap_or_default()
        ));
        for line in lines {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}

#[test]
fn the_openapi_schemas_are_generated_from_the_types() {
    let doc = std::fs::read_to_string(DOC).unwrap();
    let at = doc
        .find("\n  schemas:")
        .expect("docs/api.openapi.yaml has a components.schemas section")
        + 1;
    let (before, current) = doc.split_at(at);
    let want = generated();
    if std::env::var_os("ISOP_BLESS").is_some() {
        std::fs::write(DOC, format!("{before}{want}")).unwrap();
        return;
    }
    assert!(
        current == want,
        "docs/api.openapi.yaml's schemas are not those of isop_api's types; \
         run ISOP_BLESS=1 cargo test -p isop-api and review the change"
    );
}

#[test]
fn every_schema_the_paths_name_is_generated() {
    let doc = std::fs::read_to_string(DOC).unwrap();
    let schemas = isop_api::schemas();
    let named: Vec<&str> = doc
        .match_indices("#/components/schemas/")
        .map(|(i, m)| &doc[i + m.len()..])
        .filter_map(|s| s.split(['"', '\'']).next())
        .collect();
    assert!(named.len() >= 15, "{named:?}");
    for name in named {
        assert!(
            schemas.contains_key(name),
            "{name} is named but not generated"
        );
    }
}
