//! TAXII 2.1 against real nodes: a read through TAXII is recorded in the
//! log like any read of revealed fields, a role that may not read what
//! came in is refused (and that is recorded), and a withheld field never
//! leaves as more than its path and label.

use anyhow::{Context, Result};
use isop_core::{LogIndex, Tlp, pb};
use isop_federation_tests::*;
use prost::Message;
use serde_json::Value;

/// Every access `node` recorded, as (user, action, notice id, refused, detail).
fn accesses(node: &isop_node::Node) -> Result<Vec<pb::Access>> {
    let store = node.store();
    let mut out = Vec::new();
    for entry in store.entries(LogIndex(0), LogIndex(store.size())) {
        let (_, bytes) = entry?;
        if let Some(pb::log_entry::Record::Access(a)) = pb::LogEntry::decode(bytes)?.record {
            out.push(a);
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii_reads_are_recorded_and_withheld_fields_stay_withheld() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let sent = filmco.send(referral(&[KR], Tlp::Amber)).await?;
    filmco
        .wait_until("the receipt", STEP, |n| delivered(n, sent.index, KR))
        .await?;
    let token_file = |org: &str| -> Result<std::path::PathBuf> {
        Ok(fed
            .member(org)?
            .config
            .api
            .as_ref()
            .context("api")?
            .token_file
            .clone())
    };
    let admin = api_client(&kr, &token_file(KR)?)?;

    let listed = admin.taxii("/taxii2/isop/collections/", &[]).await?;
    let all = listed["collections"]
        .as_array()
        .context("collections")?
        .iter()
        .find(|c| c["alias"] == "all")
        .context("the all collection")?["id"]
        .as_str()
        .context("id")?
        .to_owned();
    let before = accesses(&kr)?.len();
    let page = admin
        .taxii(&format!("/taxii2/isop/collections/{all}/objects/"), &[])
        .await?;
    let text = page.to_string();
    // FilmCo's internal reference is for FilmCo and the hub: KR holds its
    // digest only, and exports its path and label.
    assert!(!text.contains("FC-1"), "a withheld value left: {text}");
    let report = page["objects"]
        .as_array()
        .context("objects")?
        .iter()
        .find(|o| o["type"] == "report")
        .context("the referral's report")?;
    let ext = &report["extensions"][isop_stix::common::EXTENSION];
    assert_eq!(ext["notice_id"], sent.id.to_string());
    assert_eq!(
        ext["withheld"],
        serde_json::json!([{"path": "referral.internal_ref", "label": "org:RH-FILMCO|role:hub"}])
    );
    let revealed: Vec<&str> = ext["revealed"]
        .as_array()
        .context("revealed")?
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(
        revealed,
        ["referral.contact", "referral.evidence[0].location"]
    );
    // The checkpoint named covers the notice's entry.
    let index = ext["log_index"].as_u64().context("log_index")?;
    assert!(ext["checkpoint"]["size"].as_u64().context("checkpoint")? > index);

    // The read is in the log: who, which notice, which fields.
    let recorded = accesses(&kr)?;
    let read: Vec<&pb::Access> = recorded[before..]
        .iter()
        .filter(|a| a.action == "taxii read")
        .collect();
    assert_eq!(read.len(), 1, "{recorded:?}");
    assert_eq!(read[0].notice_id.as_ref(), sent.id.as_bytes());
    assert_eq!(
        read[0].detail,
        "collection all: referral.contact, referral.evidence[0].location"
    );
    assert!(!read[0].refused);

    // A submitter may not read what came in: refused, and recorded.
    let added = admin
        .add_user(&isop_api::NewUser {
            name: "intake".into(),
            role: "submitter".into(),
        })
        .await?;
    let intake_token = dir.path().join("intake.token");
    std::fs::write(&intake_token, &added.token)?;
    let submitter = api_client(&kr, &intake_token)?;
    let refused = submitter
        .taxii(&format!("/taxii2/isop/collections/{all}/objects/"), &[])
        .await
        .expect_err("a submitter read through TAXII");
    assert!(
        refused
            .to_string()
            .contains("submitter intake may not read"),
        "{refused}"
    );
    assert!(
        accesses(&kr)?
            .iter()
            .any(|a| a.refused && a.user == "intake")
    );

    // Bad queries name what is wrong, in TAXII's error format.
    for (query, says) in [
        (("added_after", "yesterday"), "added_after \"yesterday\""),
        (("next", "x"), "next \"x\""),
        (("match[version]", "newest"), "match[version] \"newest\""),
        (("colour", "red"), "colour"),
    ] {
        let e = admin
            .taxii(
                &format!("/taxii2/isop/collections/{all}/objects/"),
                &[(query.0, query.1.to_owned())],
            )
            .await
            .expect_err("a bad query was taken");
        assert!(e.to_string().contains(says), "{says:?} not in {e}");
    }
    let e = admin
        .taxii("/taxii2/isop/collections/not-one/", &[])
        .await
        .expect_err("an unknown collection");
    assert!(e.to_string().contains("no collection not-one"), "{e}");
    let v: Value = admin.taxii("/taxii2/", &[]).await?;
    assert_eq!(v["api_roots"][0], "/taxii2/isop/");

    // HTTP Basic, for clients that speak nothing else: the user's name
    // and their token as the password; another name is refused.
    let url = format!("http://{}/taxii2/", kr.api_addr().context("api")?);
    let basic = |name: &str, token: &str| {
        isop_api::http_client().map(|c| {
            c.get(&url)
                .basic_auth(name, Some(token))
                .header("accept", "application/taxii+json;version=2.1")
                .send()
        })
    };
    let viewer = admin
        .add_user(&isop_api::NewUser {
            name: "soc".into(),
            role: "viewer".into(),
        })
        .await?;
    assert_eq!(basic("soc", &viewer.token)?.await?.status().as_u16(), 200);
    // Known by Basic, still held to the role.
    assert_eq!(basic("intake", &added.token)?.await?.status().as_u16(), 403);
    // Basic is for TAXII's reads only: the rest of the API takes none.
    let elsewhere = isop_api::http_client()?
        .get(format!(
            "http://{}/v1/status",
            kr.api_addr().context("api")?
        ))
        .basic_auth("soc", Some(&viewer.token))
        .send()
        .await?;
    assert_eq!(elsewhere.status().as_u16(), 401);
    assert_eq!(
        elsewhere.headers()["www-authenticate"],
        "Bearer realm=\"isop\""
    );
    let wrong = basic("admin", &viewer.token)?.await?;
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(
        wrong.headers()["content-type"],
        "application/taxii+json;version=2.1"
    );

    // Paging while the log grows: a retraction logged between two pages
    // moves nothing in a listing that began before it; a new listing has
    // its versions. And date_added ascends, the objects every collection
    // carries first.
    let objects = format!("/taxii2/isop/collections/{all}/objects/");
    let versions = |page: &Value| -> Result<Vec<(String, String)>> {
        Ok(page["objects"]
            .as_array()
            .context("objects")?
            .iter()
            .map(|o| (o["id"].to_string(), o["modified"].to_string()))
            .collect())
    };
    let whole = admin.taxii(&objects, &[]).await?;
    let first = admin.taxii(&objects, &[("limit", "15".into())]).await?;
    assert_eq!(first["more"], true);
    let next = first["next"].as_str().context("next")?.to_owned();
    let retraction = filmco
        .send(
            isop_core::NoticeDraft::new(
                Tlp::Amber,
                isop_core::RetractionBuilder::new(
                    sent.id,
                    pb::RetractionScope::Withdraw,
                    "mistaken",
                )
                .build(),
            )
            .to_org(&org(KR)),
        )
        .await?;
    filmco
        .wait_until("the retraction's receipt", STEP, |n| {
            delivered(n, retraction.index, KR)
        })
        .await?;
    let rest = admin
        .taxii(&objects, &[("next", next), ("limit", "1000".into())])
        .await?;
    let mut paged = versions(&first)?;
    paged.extend(versions(&rest)?);
    assert_eq!(paged, versions(&whole)?);
    let after = admin.taxii(&objects, &[]).await?;
    assert!(
        after["objects"]
            .as_array()
            .context("objects")?
            .iter()
            .any(|o| o["revoked"] == true)
    );
    let manifest = admin
        .taxii(
            &format!("/taxii2/isop/collections/{all}/manifest/"),
            &[("limit", "1000".into())],
        )
        .await?;
    let added: Vec<u64> = manifest["objects"]
        .as_array()
        .context("manifest")?
        .iter()
        .filter_map(|r| isop_core::json::parse_rfc3339(r["date_added"].as_str()?))
        .collect();
    assert!(added.len() > 20 && added.is_sorted(), "{added:?}");
    Ok(())
}
