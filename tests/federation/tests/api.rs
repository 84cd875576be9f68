//! The local API over HTTP on loopback, against real nodes; and its
//! contract: every answer read here as raw JSON is exactly the form of its
//! type in `isop_api` (read into the type and written back, it is the
//! same), and every error is an `ErrorBody` with its code.

use anyhow::{Context, Result};
use isop_core::{LogIndex, UnixMillis};
use isop_federation_tests::*;
use isop_store::{Store, StoreConfig};
use serde_json::{Value, json};

/// `raw` is exactly the JSON form of `T`: read into it and written back,
/// it is the same value.
fn contract<T: serde::de::DeserializeOwned + serde::Serialize>(raw: &Value) -> T {
    let typed: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{raw} is not a {}: {e}", std::any::type_name::<T>()));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        raw,
        "{} does not come back the same",
        std::any::type_name::<T>()
    );
    typed
}

/// An error answer: `status`, an `ErrorBody` whose code is `code`, and
/// whose message holds `says`.
fn refused(answer: &(u16, Value), status: u16, code: &str, says: &str) {
    let (got, e) = answer;
    assert_eq!(*got, status, "{e}");
    let body: isop_api::ErrorBody = contract(e);
    assert_eq!(e["code"], code, "{e}");
    assert!(body.message.contains(says), "{says:?} not in {e}");
}

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
            http: isop_api::http_client()?,
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

    async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }
}

fn referral_json(to: &str) -> Value {
    json!({
        "tlp": "TLP_AMBER",
        "to_orgs": [to],
        "case_ref": "SOP-9",
        "labelled": [
            { "path": "referral.contact", "label": "role:agency", "value": { "text": "desk@filmco.example" } },
            { "path": "referral.internal_ref", "label": "role:hub", "value": { "text": "FC-9" } }
        ],
        "body": { "referral": {
            "target": { "domain": "streamz.example", "url": "https://streamz.example/live" },
            "category": "CONTENT_CATEGORY_LIVE_SPORT",
            "works": [{ "title": "Cup Final", "rights_owner": "FilmCo", "identifiers": [{ "scheme": "IDENTIFIER_SCHEME_ISAN", "value": "0000-0001-8CFA-0000-I-0000-0000-K" }] }],
            // Enum values in any case without their prefix, times as Unix
            // milliseconds: taken too.
            "evidence": [{ "sha256": "ab".repeat(32), "captured_at": 1_700_000_000_000u64, "method": "stream_recording", "description": "recording" }],
            "requested_action": "Takedown",
            "jurisdiction": "KR",
            "good_faith_statement": true,
            "accuracy_statement": true
        } }
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
    let anonymous = isop_api::http_client()?
        .get(format!("{}/v1/status", partner.base))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.text().await?.contains("missing bearer token"));
    let wrong = isop_api::http_client()?
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
    let sent: isop_api::Sent = contract(&sent);
    let id = sent.id.clone();
    let index = LogIndex(sent.index);
    filmco
        .wait_until("the receipt", STEP, |n| {
            n.delivery_status(index).is_ok_and(|v| {
                v.iter()
                    .all(|(_, s)| matches!(s, isop_store::DeliveryStatus::Delivered { .. }))
            })
        })
        .await?;
    let (_, d) = partner.get(&format!("/v1/notices/{id}/track")).await?;
    let track: isop_api::Track = contract(&d);
    assert_eq!(d["recipients"][0]["state"], "DELIVERED", "{d}");
    assert!(track.recipients[0].receipt_at.is_some(), "{d}");

    // Each peer's standing: KR answered; GB, whose node is not running,
    // did not, and its error shows as soon as the dial gives up.
    let (_, to_gb) = partner.post("/v1/notices", &referral_json(GB)).await?;
    let to_gb = LogIndex(contract::<isop_api::Sent>(&to_gb).index);
    filmco
        .wait_until("a failed attempt", STEP, |n| {
            n.delivery_status(to_gb).is_ok_and(|v| {
                v.iter().any(|(_, s)| {
                    matches!(s, isop_store::DeliveryStatus::Pending { attempts, .. } if *attempts > 0)
                })
            })
        })
        .await?;
    let (_, st) = partner.get("/v1/status").await?;
    let status: isop_api::Status = contract(&st);
    let peer = |org: &str| status.peers.iter().find(|p| p.org == org).cloned();
    let kr_peer = peer(KR).context("KR in status")?;
    assert_eq!(kr_peer.reachable, Some(true), "{st}");
    assert_eq!(kr_peer.roster_version, Some(1), "{st}");
    assert!(
        kr_peer.last_seen.is_some() && kr_peer.last_error.is_none(),
        "{st}"
    );
    let gb_peer = peer(GB).context("GB in status")?;
    assert_eq!(gb_peer.reachable, Some(false), "{st}");
    assert!(gb_peer.last_error.is_some_and(|e| e.contains(GB)), "{st}");
    assert_eq!(gb_peer.outbox_depth, 1, "{st}");
    refused(
        &partner.get("/v1/notices/x/track").await?,
        400,
        "INVALID_REQUEST",
        "\"x\"",
    );

    // The agency's inbox, the notice with its revealed and withheld fields.
    let (_, inbox) = agency.get("/v1/inbox?unread=true&kind=referral").await?;
    let page: isop_api::Page = contract(&inbox);
    assert_eq!(page.items.len(), 1, "{inbox}");
    assert_eq!(inbox["items"][0]["kind"], "NOTICE_KIND_REFERRAL", "{inbox}");
    assert_eq!(inbox["items"][0]["tlp"], "TLP_AMBER", "{inbox}");
    assert_eq!(inbox["items"][0]["subject"], "streamz.example", "{inbox}");
    assert_eq!(inbox["items"][0]["read"], false, "{inbox}");
    refused(
        &agency.get("/v1/inbox?kind=referal").await?,
        400,
        "INVALID_REQUEST",
        "\"referal\" is not one of referral, status_update, intel_report",
    );
    refused(
        &agency.get("/v1/inbox?colour=red").await?,
        400,
        "INVALID_REQUEST",
        "colour",
    );
    refused(
        &agency.get("/v1/nothing").await?,
        404,
        "NOT_FOUND",
        "/v1/nothing",
    );
    let (code, shown) = agency.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(code, 200, "{shown}");
    let view: isop_api::NoticeView = contract(&shown);
    assert_eq!(shown["kind"], "NOTICE_KIND_REFERRAL");
    // A withheld field says why in plain words.
    assert_eq!(
        view.withheld[0].reason,
        "needs role:hub; this node is country:KR, op:sop-2026, org:KR-KNPA, role:agency"
    );
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
    let unread: isop_api::Page = contract(&agency.get("/v1/inbox?unread=true").await?.1);
    assert!(unread.items.is_empty() && unread.more == 0);

    // Who referred this? And the agency answers.
    let (_, q) = agency.get("/v1/query?indicator=streamz.example").await?;
    contract::<isop_api::QueryAnswer>(&q);
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
    contract::<isop_api::Page>(&inbox);
    assert_eq!(
        inbox["items"][0]["kind"], "NOTICE_KIND_STATUS_UPDATE",
        "{inbox}"
    );
    assert_eq!(
        inbox["items"][0]["status"], "REFERRAL_STATUS_ACCEPTED",
        "{inbox}"
    );
    // The referral's sender follows it: its delivery, and what came back.
    let (_, d) = partner.get(&format!("/v1/notices/{id}/track")).await?;
    let track: isop_api::Track = contract(&d);
    assert_eq!(track.thread.len(), 1, "{d}");
    assert_eq!(d["thread"][0]["status"], "REFERRAL_STATUS_ACCEPTED", "{d}");
    let (_, sent_page) = partner.get("/v1/sent").await?;
    contract::<isop_api::Page>(&sent_page);
    // Newest first: the referral to GB, then the one KR answered.
    assert_eq!(sent_page["items"][0]["index"], to_gb.0, "{sent_page}");
    assert_eq!(sent_page["items"][1]["id"], json!(id), "{sent_page}");
    assert_eq!(
        sent_page["items"][1]["status"], "REFERRAL_STATUS_ACCEPTED",
        "{sent_page}"
    );
    let (_, first) = partner.get("/v1/sent?limit=1").await?;
    contract::<isop_api::Page>(&first);
    assert_eq!(first["more"], 1, "{first}");
    assert_eq!(first["next_before"], to_gb.0, "{first}");
    let (_, next) = partner
        .get(&format!("/v1/sent?limit=1&before={}", to_gb.0))
        .await?;
    contract::<isop_api::Page>(&next);
    assert_eq!(next["items"][0]["id"], json!(id), "{next}");
    assert_eq!(next["more"], 0, "{next}");
    // A kind filter pages and counts as well; a unique first word names
    // the kind.
    let (_, referrals) = partner.get("/v1/sent?kind=referral&limit=1").await?;
    contract::<isop_api::Page>(&referrals);
    assert_eq!(referrals["more"], 1, "{referrals}");
    let (_, none) = partner.get("/v1/sent?kind=status").await?;
    assert_eq!(contract::<isop_api::Page>(&none).items.len(), 0, "{none}");
    // Who acted, by the indicator.
    let (_, q) = partner.get("/v1/query?indicator=STREAMZ.example").await?;
    contract::<isop_api::QueryAnswer>(&q);
    assert_eq!(q["acted"][0]["org"], KR, "{q}");
    assert_eq!(q["acted"][0]["status"], "REFERRAL_STATUS_ACCEPTED", "{q}");
    // Search: filters narrow what the indexes pick, or every notice.
    for (query, found) in [
        ("kind=referral&category=live_sport&work=CUP", 2),
        ("status=accepted", 2),
        ("author=KR-KNPA", 1),
        ("indicator=streamz.example&category=film", 0),
        ("contains=STREAMZ&kind=referral&limit=1", 1),
        ("until=2000-01-01T00:00:00Z", 0),
    ] {
        let (_, q) = partner.get(&format!("/v1/query?{query}")).await?;
        let answer: isop_api::QueryAnswer = contract(&q);
        assert_eq!(answer.notices.len(), found, "{query}: {q}");
    }
    let (_, q) = partner.get("/v1/query?contains=streamz&limit=1").await?;
    assert_eq!(q["more"], 1, "{q}");
    // The answer names the referral it answers, as its UUID.
    let answer_id = inbox["items"][0]["id"].as_str().context("answer id")?;
    let (_, shown) = partner.get(&format!("/v1/notices/{answer_id}")).await?;
    let view: isop_api::NoticeView = contract(&shown);
    let replied = view.in_reply_to.context("in reply to")?;
    assert_eq!(replied.id, id);
    assert_eq!(replied.subject.as_deref(), Some("streamz.example"));
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
    let intel = json!({ "tlp": "amber", "to_orgs": [KR], "body": { "intel_report": { "title": "x", "source_reliability": "b", "information_credibility": "probably_true", "indicators": [{ "kind": "domain", "value": "streamz.example" }] } } });
    refused(
        &partner.post("/v1/notices", &intel).await?,
        403,
        "FORBIDDEN",
        "policy forbids",
    );
    let mut incomplete = referral_json(KR);
    incomplete["body"]["referral"]["evidence"] = json!([]);
    refused(
        &partner.post("/v1/notices", &incomplete).await?,
        400,
        "INVALID_REQUEST",
        "referral.evidence",
    );
    let mut bad_enum = referral_json(KR);
    bad_enum["body"]["referral"]["category"] = json!("films");
    refused(
        &partner.post("/v1/notices", &bad_enum).await?,
        400,
        "INVALID_REQUEST",
        "\"films\" is not one of film, tv, live_sport",
    );
    let mut two_kinds = referral_json(KR);
    two_kinds["body"]["retraction"] = json!({});
    refused(
        &partner.post("/v1/notices", &two_kinds).await?,
        400,
        "INVALID_REQUEST",
        "body: has 2 keys: give one key of referral",
    );
    // The framework's own refusals are JSON with a code too.
    refused(
        &partner
            .post_raw("/v1/notices", "application/json", b"{not json".to_vec())
            .await?,
        400,
        "INVALID_REQUEST",
        "JSON",
    );
    let mut missing = referral_json(KR);
    missing.as_object_mut().context("object")?.remove("tlp");
    refused(
        &partner.post("/v1/notices", &missing).await?,
        422,
        "INVALID_REQUEST",
        "missing field `tlp`",
    );
    refused(
        &partner
            .post_raw(
                "/v1/notices",
                "text/plain",
                referral_json(KR).to_string().into_bytes(),
            )
            .await?,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "application/json",
    );
    // On a connection of its own: the server answers 413 without reading
    // the body and closes that connection, which a pooled client could
    // otherwise reuse for the next request.
    let huge = isop_api::http_client()?
        .post(format!("{}/v1/notices", partner.base))
        .bearer_auth(&partner.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await?;
    assert_eq!(huge.status().as_u16(), 413);
    let huge: Value = huge.json().await?;
    assert_eq!(huge["code"], "PAYLOAD_TOO_LARGE", "{huge}");
    refused(
        &partner.get("/v1/notices/not-a-uuid").await?,
        400,
        "INVALID_REQUEST",
        "not-a-uuid",
    );

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
    let anonymous = isop_api::http_client()?
        .get(format!("{}/metrics", agency.base))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let health = isop_api::http_client()?
        .get(format!("{}/healthz", agency.base))
        .send()
        .await?;
    assert_eq!(health.status().as_u16(), 200);
    let ready: serde_json::Value = isop_api::http_client()?
        .get(format!("{}/readyz", agency.base))
        .send()
        .await?
        .json()
        .await?;
    contract::<isop_api::Ready>(&ready);
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
    assert!(
        metrics.contains("isop_peer_up{peer=\"RH-FILMCO\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("isop_roster_version 1"), "{metrics}");
    assert!(
        metrics.contains("isop_checkpoint_lag_seconds "),
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

    // A newer roster is taken through the API; pushing one the node has
    // already changes nothing and is no error; another roster under a
    // version it has is refused, naming what differs.
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
    let r = push(v2.clone()).await?;
    assert_eq!(r.status().as_u16(), 200);
    let accepted: isop_api::RosterAccepted = contract(&r.json::<Value>().await?);
    assert_eq!((accepted.version, accepted.new), (2, true));
    assert_eq!(kr.roster().version(), 2);
    for again in [v2, fed.sign(&fed.roster)?] {
        let r = push(again).await?;
        assert_eq!(r.status().as_u16(), 200);
        let accepted: isop_api::RosterAccepted = contract(&r.json::<Value>().await?);
        assert_eq!((accepted.version, accepted.new), (2, false));
    }
    let other_v2 = fed.sign(
        &isop_core::RosterBuilder::from_pb(fed.roster.clone())
            .version(2, now)
            .revoke_member(&org(SPORTS), now)?
            .build()?,
    )?;
    let r = push(other_v2).await?;
    refused(
        &(r.status().as_u16(), r.json().await?),
        400,
        "INVALID_REQUEST",
        "RH-SPORTSNET is removed",
    );

    // FilmCo's key is revoked from before its referral was made: the
    // referral is still shown, said not to verify, never a 500; and FilmCo
    // is refused at submit, naming its key, since nothing it signs can be
    // delivered.
    let v3 = fed.sign(
        &isop_core::RosterBuilder::from_pb(fed.roster.clone())
            .version(3, now)
            .revoke_key(
                &org(FILMCO),
                &"k1".parse()?,
                UnixMillis(now.0 - 3_600_000),
                "key leaked",
            )?
            .build()?,
    )?;
    assert_eq!(push(v3).await?.status().as_u16(), 200);
    filmco
        .wait_until("roster v3", STEP, |n| n.roster().version() == 3)
        .await?;
    let (code, shown) = agency.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(code, 200, "{shown}");
    contract::<isop_api::NoticeView>(&shown);
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
    refused(
        &partner.post("/v1/notices", &referral_json(KR)).await?,
        403,
        "FORBIDDEN",
        "RH-FILMCO/k1",
    );

    kr.shutdown().await?;
    filmco.shutdown().await?;
    Ok(())
}

/// People, not one token: users with roles, each refused what the role
/// does not permit (403, naming why), and every access the police data
/// rules ask for recorded in the node's log, for an auditor to replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_have_roles_and_every_access_is_recorded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let kr_admin = Client::new(&fed, &kr, KR)?;
    let filmco_admin = Client::new(&fed, &filmco, FILMCO)?;
    let as_user = |admin: &Client, token: &str| Client {
        http: admin.http.clone(),
        base: admin.base.clone(),
        token: token.to_owned(),
    };

    // The admin adds users; a bad role or name is refused by name.
    let (code, t) = kr_admin
        .post("/v1/users", &json!({ "name": "ana", "role": "analyst" }))
        .await?;
    assert_eq!(code, 200, "{t}");
    let ana = as_user(
        &kr_admin,
        contract::<isop_api::UserToken>(&t).token.as_str(),
    );
    let (_, t) = kr_admin
        .post("/v1/users", &json!({ "name": "vic", "role": "Viewer" }))
        .await?;
    let vic = as_user(
        &kr_admin,
        contract::<isop_api::UserToken>(&t).token.as_str(),
    );
    let (_, t) = filmco_admin
        .post("/v1/users", &json!({ "name": "sub", "role": "submitter" }))
        .await?;
    let sub = as_user(
        &filmco_admin,
        contract::<isop_api::UserToken>(&t).token.as_str(),
    );
    refused(
        &kr_admin
            .post("/v1/users", &json!({ "name": "eve", "role": "boss" }))
            .await?,
        400,
        "INVALID_REQUEST",
        "is not one of admin, analyst, submitter, viewer",
    );
    refused(
        &kr_admin
            .post("/v1/users", &json!({ "name": "Eve Doe", "role": "viewer" }))
            .await?,
        400,
        "INVALID_REQUEST",
        "user name",
    );
    refused(
        &kr_admin
            .post("/v1/users", &json!({ "name": "ana", "role": "viewer" }))
            .await?,
        400,
        "INVALID_REQUEST",
        "already",
    );
    let (_, list) = kr_admin.get("/v1/users").await?;
    let names: Vec<String> = contract::<Vec<isop_api::UserView>>(&list)
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["admin", "ana", "vic"]);

    // A submitter sends, and cannot read what came in.
    let (code, sent) = sub.post("/v1/notices", &referral_json(KR)).await?;
    assert_eq!(code, 200, "{sent}");
    let id = contract::<isop_api::Sent>(&sent).id;
    refused(
        &sub.get("/v1/inbox").await?,
        403,
        "FORBIDDEN",
        "submitter sub may not read what came in",
    );
    kr.wait_until("the referral", STEP, |n| {
        n.store().inbox(false).is_ok_and(|i| i.len() == 1)
    })
    .await?;

    // A viewer reads, and cannot answer, erase or add users.
    let (code, shown) = vic.get(&format!("/v1/notices/{id}")).await?;
    assert_eq!(code, 200, "{shown}");
    let answer = json!({ "status": "accepted" });
    refused(
        &vic.post(&format!("/v1/notices/{id}/respond"), &answer)
            .await?,
        403,
        "FORBIDDEN",
        "viewer vic may not send notices",
    );
    refused(
        &vic.post(
            &format!("/v1/notices/{id}/erase"),
            &json!({ "reason": "x" }),
        )
        .await?,
        403,
        "FORBIDDEN",
        "may not erase values",
    );
    refused(
        &vic.post("/v1/users", &json!({ "name": "mallory", "role": "admin" }))
            .await?,
        403,
        "FORBIDDEN",
        "may not manage users",
    );
    // An analyst answers; the admin erases a field.
    let (code, a) = ana
        .post(&format!("/v1/notices/{id}/respond"), &answer)
        .await?;
    assert_eq!(code, 200, "{a}");
    let answered = contract::<isop_api::Sent>(&a).id;
    let (code, e) = kr_admin
        .post(
            &format!("/v1/notices/{id}/erase"),
            &json!({ "field": "referral.contact", "reason": "data subject's request" }),
        )
        .await?;
    assert_eq!(code, 200, "{e}");

    // A user removed can do nothing more.
    let r = kr_admin
        .http
        .delete(format!("{}/v1/users/vic", kr_admin.base))
        .bearer_auth(&kr_admin.token)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(vic.get("/v1/status").await?.0, 401);

    // The access record, replayed from KR's export by an auditor.
    let mut export = Vec::new();
    kr.export(&mut export, &kr.roster().clearance(&org(KR))?)?;
    let key = fed.roster_key();
    let report = isop_audit::verify(
        export.as_slice(),
        &isop_audit::VerifyOptions::new(key.clone()),
        None,
    )?;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let story = isop_audit::replay(export.as_slice(), &key, None)?;
    let seen: Vec<(String, String, Option<String>, bool)> = story
        .accesses
        .iter()
        .map(|a| {
            (
                a.user.clone(),
                a.action.clone(),
                a.notice.clone(),
                a.refused,
            )
        })
        .collect();
    let has = |user: &str, action: &str, notice: Option<&str>, refused: bool| {
        seen.contains(&(user.into(), action.into(), notice.map(Into::into), refused))
    };
    assert!(has("admin", "user add", None, false), "{seen:?}");
    assert!(has("vic", "read", Some(&id), false), "{seen:?}");
    assert!(
        has("vic", "POST /v1/notices/{id}/respond", Some(&id), true),
        "{seen:?}"
    );
    assert!(
        has("vic", "POST /v1/notices/{id}/erase", Some(&id), true),
        "{seen:?}"
    );
    assert!(has("vic", "POST /v1/users", None, true), "{seen:?}");
    assert!(has("ana", "send", Some(&answered), false), "{seen:?}");
    assert!(has("admin", "erase", Some(&id), false), "{seen:?}");
    assert!(has("admin", "user remove", None, false), "{seen:?}");
    let erase = story
        .accesses
        .iter()
        .find(|a| a.action == "erase")
        .context("the erasure")?;
    assert_eq!(erase.detail, "referral.contact: data subject's request");
    // FilmCo's log records its submitter's send and refusal.
    let mut export = Vec::new();
    filmco.export(&mut export, &filmco.roster().clearance(&org(FILMCO))?)?;
    let story = isop_audit::replay(export.as_slice(), &key, None)?;
    assert!(story.accesses.iter().any(|a| a.user == "sub"
        && a.action == "send"
        && a.notice.as_deref() == Some(id.as_str())));
    assert!(
        story
            .accesses
            .iter()
            .any(|a| a.user == "sub" && a.refused && a.action == "GET /v1/inbox")
    );
    kr.shutdown().await?;
    filmco.shutdown().await?;
    Ok(())
}

/// Triage: the inbox narrowed by author, status, text and time, the count
/// of referrals awaiting this node's answer, a notice's inclusion proof,
/// and who a token is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_filters_counts_and_proves() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let filmco = fed.start(FILMCO).await?;
    let agency = Client::new(&fed, &kr, KR)?;
    let partner = Client::new(&fed, &filmco, FILMCO)?;
    let mut other = referral_json(KR);
    other["case_ref"] = json!("SOP-10");
    other["body"]["referral"]["target"] = json!({ "domain": "other.example" });
    let mut sent = Vec::new();
    for body in [referral_json(KR), other] {
        let (code, s) = partner.post("/v1/notices", &body).await?;
        assert_eq!(code, 200, "{s}");
        sent.push(contract::<isop_api::Sent>(&s));
    }
    for s in &sent {
        let index = LogIndex(s.index);
        filmco
            .wait_until("the receipt", STEP, |n| delivered(n, index, KR))
            .await?;
    }
    let page = |q: &str| {
        let q = q.to_owned();
        let agency = &agency;
        async move {
            let (code, p) = agency.get(&format!("/v1/inbox?{q}")).await?;
            assert_eq!(code, 200, "{q}: {p}");
            let p: isop_api::Page = contract(&p);
            anyhow::Ok((
                p.items
                    .iter()
                    .map(|i| i.subject.clone())
                    .collect::<Vec<_>>(),
                p.unanswered,
            ))
        }
    };
    assert_eq!(
        page("").await?,
        (
            vec!["other.example".into(), "streamz.example".into()],
            Some(2)
        )
    );
    assert_eq!(page("contains=SOP-10").await?.0, ["other.example"]);
    assert_eq!(page("contains=STREAMZ").await?.0, ["streamz.example"]);
    assert_eq!(page("author=RH-FILMCO&limit=1").await?.0, ["other.example"]);
    assert!(page("author=GB-PIPCU").await?.0.is_empty());
    assert!(
        page("made_from=2000-01-01T00:00:00Z&made_until=2001-01-01T00:00:00Z")
            .await?
            .0
            .is_empty()
    );
    refused(
        &agency.get("/v1/inbox?author=not%20an%20org").await?,
        400,
        "INVALID_REQUEST",
        "author",
    );

    // An answer: that referral is answered, and its status filters.
    let (code, a) = agency
        .post(
            &format!("/v1/notices/{}/respond", sent[0].id),
            &json!({ "status": "accepted" }),
        )
        .await?;
    assert_eq!(code, 200, "{a}");
    assert_eq!(
        page("status=accepted").await?,
        (vec!["streamz.example".into()], Some(1))
    );

    // The notice proven in the log, its thread and signing key shown.
    let (code, p) = agency
        .get(&format!("/v1/notices/{}/proof", sent[0].id))
        .await?;
    assert_eq!(code, 200, "{p}");
    let proof: isop_api::InLog = contract(&p);
    assert!(proof.verified, "{p}");
    assert!(
        proof.checkpoint_size.is_some_and(|s| s > proof.index),
        "{p}"
    );
    assert_eq!(proof.signed_by, [KR], "{p}");
    let (_, n) = agency.get(&format!("/v1/notices/{}", sent[0].id)).await?;
    let n: isop_api::NoticeView = contract(&n);
    // The read was recorded in the log; the checkpoint that covers the
    // notice still serves: no checkpoint is signed a read.
    let (_, again) = agency
        .get(&format!("/v1/notices/{}/proof", sent[0].id))
        .await?;
    let again: isop_api::InLog = contract(&again);
    assert_eq!(again.checkpoint_size, proof.checkpoint_size);
    assert!(again.verified);
    assert_eq!(n.signed_by.as_deref(), Some("RH-FILMCO/k1"));
    assert_eq!(n.thread.len(), 1);
    assert_eq!(
        n.thread[0].status,
        Some(isop_core::pb::ReferralStatus::Accepted)
    );

    // What each recipient would see, before sending: nothing is sent.
    let (code, p) = partner
        .post("/v1/notices/preview", &referral_json(KR))
        .await?;
    assert_eq!(code, 200, "{p}");
    let preview: isop_api::Preview = contract(&p);
    let kr_view = &preview.recipients[0];
    assert_eq!(kr_view.org, KR);
    assert_eq!(kr_view.sees.len(), 1, "{p}");
    assert_eq!(kr_view.sees[0].path, "referral.contact");
    assert_eq!(kr_view.withheld[0].path, "referral.internal_ref");
    assert!(
        kr_view.withheld[0].reason.contains("KR-KNPA is")
            && kr_view.clearance.contains(&"role:agency".into()),
        "{p}"
    );
    let mut mixed = referral_json(KR);
    mixed["labelled"][0]["label"] = json!("role:agency&country:KR|role:hub");
    refused(
        &partner.post("/v1/notices/preview", &mixed).await?,
        400,
        "INVALID_REQUEST",
        "labelled referral.contact's label",
    );
    let (_, page_after) = partner.get("/v1/sent").await?;
    assert_eq!(contract::<isop_api::Page>(&page_after).items.len(), 2);

    // The federation as this node holds it, and its own log verified.
    let (_, f) = agency.get("/v1/federation").await?;
    let f: isop_api::Federation = contract(&f);
    assert_eq!(f.org, KR);
    assert!(f.clearance.contains(&"role:agency".into()));
    assert_eq!(f.members[0].org, KR, "this node first");
    assert!(f.members[0].health.is_none());
    assert!(
        f.members.iter().any(
            |m| m.org == FILMCO && m.health.as_ref().is_some_and(|h| h.reachable == Some(true))
        )
    );
    assert_eq!(f.members[0].keys[0].state, "valid");
    assert_eq!(f.log.split_views, 0);
    assert!(
        f.sends
            .iter()
            .any(|r| r.kinds.contains(&isop_core::pb::NoticeKind::IntelReport)),
        "an agency may send intelligence reports"
    );
    assert!(
        f.log
            .checkpoints
            .iter()
            .all(|c| c.signed_by.contains(&KR.into()))
    );
    let (code, r) = agency.post("/v1/audit", &json!(null)).await?;
    assert_eq!(code, 200, "{r}");
    let report: isop_api::AuditReport = contract(&r);
    assert_eq!(report.findings_total, 0, "{r}");
    assert!(report.complete && report.notices_received == 2, "{r}");

    // Who a token is.
    let (_, me) = agency.get("/v1/me").await?;
    let me: isop_api::Me = contract(&me);
    assert_eq!((me.name.as_str(), me.role.as_str()), ("admin", "admin"));
    assert!(me.may.iter().any(|m| m == "users"));
    for node in [kr, filmco] {
        node.shutdown().await?;
    }
    Ok(())
}
