//! The local API over HTTP on loopback, against real nodes.

use anyhow::{Context, Result};
use isop_core::{LogIndex, UnixMillis};
use isop_federation_tests::*;
use isop_store::{Store, StoreConfig};
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(
        fed: &isop_authority::LocalFederation,
        node: &isop_node::Node,
        org_id: &str,
    ) -> Result<Self> {
        let token_file = fed
            .member(org_id)?
            .config
            .api
            .as_ref()
            .context("api")?
            .token_file
            .clone();
        Ok(Self {
            http: reqwest::Client::new(),
            base: format!("http://{}", node.api_addr().context("api address")?),
            token: std::fs::read_to_string(token_file)?.trim().to_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }
}

fn referral_json(to: &str) -> Value {
    json!({
        "tlp": "amber",
        "to_orgs": [to],
        "case_ref": "SOP-9",
        "labelled": [
            { "path": "referral.contact", "label": "role:agency", "value": { "text": "desk@filmco.example" } },
            { "path": "referral.internal_ref", "label": "role:hub", "value": { "text": "FC-9" } }
        ],
        "body": {
            "kind": "referral",
            "target": { "domain": "streamz.example", "url": "https://streamz.example/live" },
            "category": "live_sport",
            "works": [{ "title": "Cup Final", "rights_owner": "FilmCo", "identifiers": [["isan", "0000-0001-8CFA-0000-I-0000-0000-K"]] }],
            "evidence": [{ "sha256": "ab".repeat(32), "captured_at": 1_700_000_000_000u64, "method": "stream_recording", "description": "recording" }],
            "requested_action": "takedown",
            "jurisdiction": "KR",
            "good_faith": true,
            "accuracy": true
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_drives_a_referral_cycle() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let partner = Client::new(&fed, &filmco, FILMCO)?;
    let agency = Client::new(&fed, &kr, KR)?;

    // The token is required, and the file holding it is private.
    let anonymous = reqwest::Client::new()
        .get(format!("{}/v1/status", partner.base))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.text().await?.contains("missing bearer token"));
    let wrong = reqwest::Client::new()
        .get(format!("{}/v1/status", partner.base))
        .bearer_auth("x".repeat(64))
        .send()
        .await?;
    assert_eq!(wrong.status().as_u16(), 401);
    let token_file = fed
        .member(FILMCO)?
        .config
        .api
        .as_ref()
        .context("api")?
        .token_file
        .clone();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(token_file)?.permissions())
            & 0o777,
        0o600
    );

    // Submit a referral.
    let (code, sent) = partner.post("/v1/notices", &referral_json(KR)).await?;
    assert_eq!(code, 200, "{sent}");
    let id = sent["id"].as_str().context("id")?.to_owned();
    let index = LogIndex(sent["index"].as_u64().context("index")?);
    filmco
        .wait_until("the receipt", STEP, |n| {
            n.delivery_status(index).is_ok_and(|v| {
                v.iter()
                    .all(|(_, s)| matches!(s, isop_store::DeliveryStatus::Delivered { .. }))
            })
        })
        .await?;
    let (_, d) = partner.get(&format!("/v1/notices/{id}/delivery")).await?;
    assert_eq!(d["recipients"][0]["state"], "delivered", "{d}");

    // The agency's inbox, the notice with its revealed and withheld fields.
    let (_, inbox) = agency.get("/v1/inbox?unread=true&kind=referral").await?;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1), "{inbox}");
    let (code, e) = agency.get("/v1/inbox?kind=referal").await?;
    assert_eq!(code, 400, "{e}");
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|e| e.contains("\"referal\" is not one of referral, status")),
        "{e}"
    );
    let (code, shown) = agency.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(code, 200, "{shown}");
    assert_eq!(shown["revealed"][0]["path"], "referral.contact");
    assert_eq!(shown["withheld"][0]["path"], "referral.internal_ref");
    assert_eq!(shown["direction"], "DIRECTION_INBOUND");
    // The body as data: the canonical JSON mapping, ids as UUIDs, hashes
    // as hex, times in RFC 3339.
    let body = &shown["body"]["referral"];
    assert_eq!(body["target"]["domain"], "streamz.example", "{shown}");
    assert_eq!(body["requested_action"], "REQUESTED_ACTION_TAKEDOWN");
    let evidence = &body["evidence"][0];
    assert_eq!(
        evidence["sha256"].as_str().map(str::len),
        Some(64),
        "{evidence}"
    );
    assert!(
        evidence["captured_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{evidence}"
    );
    assert_eq!(
        shown["revealed"][0]["value"],
        json!({ "text": "desk@filmco.example" })
    );
    let (_, own) = partner.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(
        own["revealed"].as_array().map(Vec::len),
        Some(2),
        "the author sees all its fields: {own}"
    );
    assert_eq!(
        agency
            .post(&format!("/v1/notices/{id}/read"), &json!({}))
            .await?
            .0,
        200
    );
    assert_eq!(
        agency.get("/v1/inbox?unread=true").await?.1["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // Who referred this? And the agency answers.
    let (_, q) = agency.get("/v1/query?indicator=streamz.example").await?;
    assert_eq!(q["referred_by"], json!(["RH-FILMCO"]), "{q}");
    let (code, answer) = agency
        .post(
            &format!("/v1/notices/{id}/respond"),
            &json!({ "status": "accepted" }),
        )
        .await?;
    assert_eq!(code, 200, "{answer}");
    filmco
        .wait_until("the answer", STEP, |n| {
            n.store().inbox(false).is_ok_and(|i| i.len() == 1)
        })
        .await?;
    let (_, inbox) = partner.get("/v1/inbox").await?;
    assert_eq!(inbox["items"][0]["kind"], "status", "{inbox}");
    // The answer names the referral it answers, as its UUID.
    let answer_id = inbox["items"][0]["id"].as_str().context("answer id")?;
    let (_, shown) = partner.get(&format!("/v1/notices/{answer_id}")).await?;
    assert_eq!(
        shown["body"]["status_update"]["referral_id"],
        json!(id),
        "{shown}"
    );
    assert_eq!(
        shown["body"]["status_update"]["status"],
        "REFERRAL_STATUS_ACCEPTED"
    );

    // Refusals name the problem.
    let intel = json!({ "tlp": "amber", "to_orgs": [KR], "body": { "kind": "intel", "title": "x", "grade": "B2", "indicators": [{ "kind": "domain", "value": "streamz.example" }] } });
    let (code, e) = partner.post("/v1/notices", &intel).await?;
    assert_eq!(code, 403, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or_default()
            .contains("policy forbids"),
        "{e}"
    );
    let mut incomplete = referral_json(KR);
    incomplete["body"]["evidence"] = json!([]);
    let (code, e) = partner.post("/v1/notices", &incomplete).await?;
    assert_eq!(code, 400, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap_or_default()
            .contains("referral.evidence"),
        "{e}"
    );
    let garbage = partner
        .http
        .post(format!("{}/v1/notices", partner.base))
        .bearer_auth(&partner.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert!(garbage.status().is_client_error());
    // On a connection of its own: the server answers 413 without reading
    // the body and closes that connection, which a pooled client could
    // otherwise reuse for the next request.
    let huge = reqwest::Client::new()
        .post(format!("{}/v1/notices", partner.base))
        .bearer_auth(&partner.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await?;
    assert_eq!(huge.status().as_u16(), 413);
    assert_eq!(partner.get("/v1/notices/not-a-uuid").await?.0, 400);

    // Checkpoint, metrics, export.
    let cp = agency
        .http
        .get(format!("{}/v1/checkpoint", agency.base))
        .bearer_auth(&agency.token)
        .send()
        .await?
        .text()
        .await?;
    assert!(cp.starts_with("isop.log/KR-KNPA\n"), "{cp}");
    // Metrics need the token too; the probes do not.
    let anonymous = reqwest::get(format!("{}/metrics", agency.base)).await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let health = reqwest::get(format!("{}/healthz", agency.base)).await?;
    assert_eq!(health.status().as_u16(), 200);
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", agency.base))
        .await?
        .json()
        .await?;
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["org"], KR, "{ready}");
    let metrics = agency
        .http
        .get(format!("{}/metrics", agency.base))
        .bearer_auth(&agency.token)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("isop_notices_received_total{kind=\"referral\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("isop_notices_sent_total{kind=\"status\"} 1"),
        "{metrics}"
    );
    let export = agency
        .http
        .get(format!("{}/v1/export?clearance=role:agency", agency.base))
        .bearer_auth(&agency.token)
        .send()
        .await?
        .bytes()
        .await?;
    let target = tempfile::tempdir()?;
    let roster_key = kr.roster_envelope();
    let key = isop_core::RosterKey {
        name: roster_key.signatures[0].keyid.clone(),
        key: fed.roster_signer.public(),
    };
    let (copy, summary) = Store::import(
        &StoreConfig::new(target.path().join("copy")),
        export.as_ref(),
        &key,
    )?;
    // The export is a prefix of KR's log (which may have grown since), root for root.
    assert!(copy.size() >= 2 && copy.size() <= kr.store().size());
    assert_eq!(copy.root(copy.size())?, kr.store().root(copy.size())?);
    assert_eq!(summary.disclosures, 1, "only the agency-labelled field");

    // A newer roster is taken through the API; an older one is refused.
    let now = now();
    let v2 = fed.sign(
        &isop_core::RosterBuilder::from_pb(fed.roster.clone())
            .version(2, now)
            .build()?,
    )?;
    let push = |env: isop_core::pb::Envelope| {
        use prost::Message;
        agency
            .http
            .post(format!("{}/v1/roster", agency.base))
            .bearer_auth(&agency.token)
            .body(env.encode_to_vec())
            .send()
    };
    let r = push(v2).await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await?["version"], 2);
    assert_eq!(kr.roster().version(), 2);
    let r = push(fed.sign(&fed.roster)?).await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await?.contains("not newer"));

    // FilmCo's key is revoked from before its referral was made: the
    // referral is still shown, said not to verify, never a 500; and FilmCo
    // is refused at submit, naming its key, since nothing it signs can be
    // delivered.
    let v3 = fed.sign(
        &isop_core::RosterBuilder::from_pb(fed.roster.clone())
            .version(3, now)
            .revoke_key(&org(FILMCO), &"k1".parse()?, UnixMillis(now.0 - 3_600_000))?
            .build()?,
    )?;
    assert_eq!(push(v3).await?.status().as_u16(), 200);
    filmco
        .wait_until("roster v3", STEP, |n| n.roster().version() == 3)
        .await?;
    let (code, shown) = agency.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(code, 200, "{shown}");
    assert_eq!(shown["verified"], false, "{shown}");
    assert!(
        shown["verification_error"]
            .as_str()
            .is_some_and(|e| e.contains("revoked")),
        "{shown}"
    );
    assert_eq!(
        shown["body"]["referral"]["target"]["domain"],
        "streamz.example"
    );
    let (code, e) = partner.post("/v1/notices", &referral_json(KR)).await?;
    assert_eq!(code, 403, "{e}");
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|e| e.contains("RH-FILMCO/k1")),
        "{e}"
    );

    kr.shutdown().await?;
    filmco.shutdown().await?;
    Ok(())
}
