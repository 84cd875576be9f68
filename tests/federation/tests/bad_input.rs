//! The bad-input table: every case names its input and the rejection it
//! must get, and checks that the node appended nothing but the logged
//! rejection, and that the case's own connection and another member's
//! connection still work.

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use isop_core::*;
use isop_federation_tests::*;
use isop_net::PeerConnection;
use prost::Message;
use serde_json::json;

/// What a case sends to the node under test (KR-KNPA), and from whom.
enum Input {
    /// Bytes on one stream, as they are (framing included).
    Raw(Vec<u8>),
    /// A well-formed frame.
    Frame(pb::Frame),
    /// A delivery.
    Deliver(pb::Envelope, Vec<Bytes>),
}

/// What the node must answer.
enum Expect {
    /// A signed rejection with this code, its reason naming the problem;
    /// the rejection (and only it) is logged.
    Rejected(pb::RejectReason, &'static str),
    /// Accepted and logged (the baseline).
    Accepted,
    /// DUPLICATE with the original index; nothing appended.
    Duplicate,
    /// An `Error` frame with this code; nothing appended. With `reset_ok`, a
    /// reset of the stream is an answer too (the node stopped reading).
    Error(pb::ErrorCode, &'static str, bool),
}

struct Case {
    name: &'static str,
    from: &'static str,
    input: Input,
    expect: Expect,
}

fn case(name: &'static str, from: &'static str, input: Input, expect: Expect) -> Case {
    Case {
        name,
        from,
        input,
        expect,
    }
}

fn frame(kind: pb::frame::Kind) -> pb::Frame {
    pb::Frame {
        kind: Some(kind),
        roster_version: 0,
    }
}

/// Re-signs a notice payload as `signer`.
fn signed(signer: &Signer, notice: &pb::Notice) -> pb::Envelope {
    sign_envelope(signer, NOTICE_PAYLOAD_TYPE, notice.encode_to_vec().into())
}

/// A referral's wire form, to alter before signing.
fn referral_pb(signer: &Signer, to: &[&str]) -> Result<(pb::Notice, SealedNotice)> {
    let sealed = referral(to, Tlp::Amber).seal(signer, now(), &mut rand::rngs::OsRng)?;
    Ok((
        pb::Notice::decode(sealed.envelope().payload.as_ref())?,
        sealed,
    ))
}

/// Seals a draft and keeps only its envelope.
trait SignedBy {
    fn signed_by(self, signer: &Signer, t: UnixMillis) -> Result<pb::Envelope>;
}

impl SignedBy for NoticeDraft {
    fn signed_by(self, signer: &Signer, t: UnixMillis) -> Result<pb::Envelope> {
        Ok(self
            .seal(signer, t, &mut rand::rngs::OsRng)?
            .envelope()
            .clone())
    }
}

/// The disclosures of `sealed` with these paths.
fn disclosures(sealed: &SealedNotice, paths: &[&str]) -> Vec<Bytes> {
    paths
        .iter()
        .filter_map(|p| {
            sealed
                .disclosures()
                .iter()
                .find(|d| d.path() == *p)
                .map(|d| d.bytes().clone())
        })
        .collect()
}

/// Sends a case's input; returns the answer frame, or the error text.
async fn send(conn: &PeerConnection, input: &Input) -> Result<pb::Frame, String> {
    let r = match input {
        Input::Raw(bytes) => conn.request_raw(bytes).await,
        Input::Frame(f) => conn.request(f).await,
        Input::Deliver(env, ds) => {
            conn.request(&frame(pb::frame::Kind::Deliver(pb::Deliver {
                envelope: Some(env.clone()),
                disclosures: ds.clone(),
            })))
            .await
        }
    };
    r.map_err(|e| match e {
        isop_net::Error::Remote { code, message } => format!("{}: {message}", code.as_str_name()),
        other => format!("LOCAL: {other}"),
    })
}

/// The receipt a delivery was answered with.
fn receipt_of(name: &str, f: &pb::Frame) -> Result<pb::Receipt> {
    let Some(pb::frame::Kind::Receipt(env)) = &f.kind else {
        bail!("{name}: no receipt: {f:?}")
    };
    Ok(pb::Receipt::decode(env.payload.as_ref())?)
}

async fn alive(conn: &PeerConnection) -> Result<()> {
    let answer = conn
        .request(&frame(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})))
        .await?;
    ensure!(matches!(answer.kind, Some(pb::frame::Kind::Checkpoint(_))));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_by_name_and_touches_nothing_else() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let t = now();
    let year = 365 * 86_400_000;

    // Roster v2: FILMCO also holds an expired key and a revoked one.
    let expired = Signer::new("RH-FILMCO/old".parse()?, stranger_key());
    let revoked = Signer::new("RH-FILMCO/gone".parse()?, stranger_key());
    let v2 = RosterBuilder::from_pb(fed.roster.clone())
        .version(2, t)
        .key(
            &org(FILMCO),
            &"old".parse()?,
            &expired.public(),
            UnixMillis(t.0 - 2 * year),
            UnixMillis(t.0 - year),
        )?
        .key(
            &org(FILMCO),
            &"gone".parse()?,
            &revoked.public(),
            UnixMillis(t.0 - year),
            UnixMillis(t.0 + year),
        )?
        .revoke_key(
            &org(FILMCO),
            &"gone".parse()?,
            UnixMillis(t.0 - 60_000),
            "key leaked",
        )?
        .build()?;
    let v2_env = fed.sign(&v2)?;
    kr.update_roster(&v2_env)?;

    let filmco = signer(&fed, FILMCO)?;
    let sports = signer(&fed, SPORTS)?;
    let gb = signer(&fed, GB)?;
    let clearance = kr.roster().clearance(&org(KR))?;

    // The baseline: a valid referral, then the same one replayed.
    let (_, valid) = referral_pb(&filmco, &[KR])?;
    let valid_ds = valid.delivery_for(&clearance).disclosures;

    let (base, sealed) = referral_pb(&filmco, &[KR])?;
    let env = sealed.envelope().clone();
    let ds = sealed.delivery_for(&clearance).disclosures;
    let mut cases = vec![
        case(
            "a valid referral (the baseline)",
            FILMCO,
            Input::Deliver(valid.envelope().clone(), valid_ds.clone()),
            Expect::Accepted,
        ),
        case(
            "a replayed notice",
            FILMCO,
            Input::Deliver(valid.envelope().clone(), valid_ds),
            Expect::Duplicate,
        ),
        // Frames.
        case(
            "a malformed frame",
            FILMCO,
            Input::Raw(vec![0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Expect::Error(pb::ErrorCode::Malformed, "", false),
        ),
        case(
            "an oversized frame",
            FILMCO,
            Input::Raw({
                let mut b = (5u32 << 20).to_be_bytes().to_vec();
                b.extend(std::iter::repeat_n(0u8, 64 << 10));
                b
            }),
            Expect::Error(pb::ErrorCode::TooLarge, "", true),
        ),
        case(
            "a truncated frame",
            FILMCO,
            Input::Raw({
                let mut b = 100u32.to_be_bytes().to_vec();
                b.extend_from_slice(&[0x0a; 10]);
                b
            }),
            Expect::Error(pb::ErrorCode::Malformed, "finished early", false),
        ),
        case(
            "a length prefix cut short",
            FILMCO,
            Input::Raw(vec![0, 0]),
            Expect::Error(pb::ErrorCode::Malformed, "", false),
        ),
        case(
            "a stream with no bytes",
            FILMCO,
            Input::Raw(vec![]),
            Expect::Error(pb::ErrorCode::Malformed, "", false),
        ),
        case(
            "an empty frame",
            FILMCO,
            Input::Raw(vec![0, 0, 0, 0]),
            Expect::Error(pb::ErrorCode::Malformed, "carries no request", false),
        ),
        case(
            "an answer sent as a request",
            FILMCO,
            Input::Frame(frame(pb::frame::Kind::Ack(pb::Ack {}))),
            Expect::Error(pb::ErrorCode::Unexpected, "not a request", false),
        ),
        case(
            "a roster push without a roster",
            FILMCO,
            Input::Frame(frame(pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: None,
            }))),
            Expect::Error(pb::ErrorCode::Malformed, "without a roster", false),
        ),
        case(
            "a roster with a lower version",
            HUB,
            Input::Frame(frame(pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: Some(fed.sign(&fed.roster)?),
            }))),
            Expect::Error(pb::ErrorCode::RosterRefused, "not newer", false),
        ),
        case(
            "a roster with a bad signature",
            HUB,
            Input::Frame(frame(pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: Some({
                    let v3 = RosterBuilder::from_pb(v2.clone()).version(3, t).build()?;
                    let mut e = fed.sign(&v3)?;
                    e.signatures[0].sig = vec![7u8; 64].into();
                    e
                }),
            }))),
            Expect::Error(pb::ErrorCode::RosterRefused, "", false),
        ),
        case(
            "a roster signed by a member, not the authority",
            HUB,
            Input::Frame(frame(pb::frame::Kind::RosterPush(pb::RosterPush {
                roster: Some(Roster::sign(
                    &RosterBuilder::from_pb(v2.clone()).version(3, t).build()?,
                    &gb,
                )?),
            }))),
            Expect::Error(pb::ErrorCode::RosterRefused, "", false),
        ),
        case(
            "a proof beyond the log",
            GB,
            Input::Frame(frame(pb::frame::Kind::GetConsistencyProof(
                pb::GetConsistencyProof {
                    from: 1,
                    to: 1 << 40,
                },
            ))),
            Expect::Error(pb::ErrorCode::NotFound, "", false),
        ),
        case(
            "a cosignature that is not a note",
            GB,
            Input::Frame(frame(pb::frame::Kind::SubmitCosignature(
                pb::SubmitCosignature {
                    note: Bytes::from_static(b"not a note"),
                },
            ))),
            Expect::Error(pb::ErrorCode::Forbidden, "", false),
        ),
        // The envelope.
        case(
            "a wrong payload type",
            FILMCO,
            Input::Deliver(
                pb::Envelope {
                    payload_type: RECEIPT_PAYLOAD_TYPE.into(),
                    ..env.clone()
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Malformed, "wrong payload type"),
        ),
        case(
            "a delivery without an envelope",
            FILMCO,
            Input::Frame(frame(pb::frame::Kind::Deliver(pb::Deliver::default()))),
            Expect::Rejected(pb::RejectReason::Malformed, "payload type"),
        ),
        case(
            "an unsigned envelope",
            FILMCO,
            Input::Deliver(
                pb::Envelope {
                    signatures: vec![],
                    ..env.clone()
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Malformed, "no usable signature"),
        ),
        case(
            "too many signatures",
            FILMCO,
            Input::Deliver(
                pb::Envelope {
                    signatures: vec![env.signatures[0].clone(); 9],
                    ..env.clone()
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Malformed, "at most 8"),
        ),
        case(
            "a signature of 63 bytes",
            FILMCO,
            Input::Deliver(
                {
                    let mut e = env.clone();
                    e.signatures[0].sig = e.signatures[0].sig.slice(..63);
                    e
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Malformed, "63 bytes"),
        ),
        case(
            "a bad signature",
            FILMCO,
            Input::Deliver(
                {
                    let mut e = env.clone();
                    let mut sig = e.signatures[0].sig.to_vec();
                    sig[10] ^= 1;
                    e.signatures[0].sig = sig.into();
                    e
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::BadSignature, "bad signature"),
        ),
        case(
            "a payload altered after signing",
            FILMCO,
            Input::Deliver(
                {
                    let mut n = base.clone();
                    n.case_ref = "OTHER".into();
                    pb::Envelope {
                        payload: n.encode_to_vec().into(),
                        ..env.clone()
                    }
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::BadSignature, "bad signature"),
        ),
        case(
            "an unknown key",
            FILMCO,
            Input::Deliver(
                {
                    let mut e = env.clone();
                    e.signatures[0].keyid = "RH-FILMCO/k9".into();
                    e
                },
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::KeyInvalid, "unknown key RH-FILMCO/k9"),
        ),
        case(
            "an expired key",
            FILMCO,
            Input::Deliver(signed(&expired, &base), vec![]),
            Expect::Rejected(pb::RejectReason::KeyInvalid, "after its validity ended"),
        ),
        case(
            "a revoked key",
            FILMCO,
            Input::Deliver(signed(&revoked, &base), vec![]),
            Expect::Rejected(pb::RejectReason::KeyInvalid, "revoked"),
        ),
        case(
            "a notice claiming another author",
            FILMCO,
            Input::Deliver(signed(&sports, &base), vec![]),
            Expect::Rejected(
                pb::RejectReason::KeyInvalid,
                "does not belong to the author RH-FILMCO",
            ),
        ),
        case(
            "an impostor's key under the author's key name",
            FILMCO,
            Input::Deliver(
                signed(&Signer::new("RH-FILMCO/k1".parse()?, stranger_key()), &base),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::BadSignature, "bad signature"),
        ),
        case(
            "a payload that is not a notice",
            FILMCO,
            Input::Deliver(
                sign_envelope(
                    &filmco,
                    NOTICE_PAYLOAD_TYPE,
                    Bytes::from_static(b"\xff\xff\xff garbage"),
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Malformed, "cannot decode notice"),
        ),
        case(
            "a notice from an hour ahead",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        created_at: t.0 + 3_600_000,
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::ClockSkew, "ahead of the receiver's clock"),
        ),
        case(
            "a notice older than the maximum age",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        created_at: t.0 - Judgement::DEFAULT_MAX_AGE_MS - 3_600_000,
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Expired, "expired"),
        ),
        // The notice.
        case(
            "a notice to a reserved group id (org:, role:, country:)",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        to_groups: vec!["role:agency".into()],
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "reserved prefix"),
        ),
        case(
            "a notice not addressed to the receiver",
            FILMCO,
            Input::Deliver(referral(&[GB], Tlp::Amber).signed_by(&filmco, t)?, vec![]),
            Expect::Rejected(pb::RejectReason::NotAddressed, "KR-KNPA"),
        ),
        case(
            "an invalid label on a field",
            FILMCO,
            Input::Deliver(
                signed(&filmco, &{
                    let mut n = base.clone();
                    n.fields[0].label = "role:agency|role:hub&country:KR".into();
                    n
                }),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "invalid label"),
        ),
        case(
            "huge repeated fields (20,000 works)",
            FILMCO,
            Input::Deliver(
                signed(&filmco, &{
                    let mut n = base.clone();
                    if let Some(pb::notice::Body::Referral(r)) = &mut n.body {
                        r.works = vec![r.works[0].clone(); 20_000];
                    }
                    n
                }),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "works"),
        ),
        case(
            "too many recipients",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        to_orgs: vec![KR.to_string(); 5_000],
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(
                pb::RejectReason::InvalidNotice,
                "notice.recipients more than 256",
            ),
        ),
        case(
            "a referral without its good-faith statement",
            FILMCO,
            Input::Deliver(
                signed(&filmco, &{
                    let mut n = base.clone();
                    if let Some(pb::notice::Body::Referral(r)) = &mut n.body {
                        r.good_faith_statement = false;
                    }
                    n
                }),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "good_faith"),
        ),
        // Member text and indicators.
        case(
            "a target URL ending in a bidi override",
            FILMCO,
            Input::Deliver(
                signed(&filmco, &{
                    let mut n = base.clone();
                    if let Some(pb::notice::Body::Referral(r)) = &mut n.body {
                        r.target.as_mut().unwrap().url =
                            "https://streamz.example/live\u{202e}4pm.exe".into();
                    }
                    n
                }),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "referral.target.url"),
        ),
        case(
            "a summary with terminal escape sequences",
            FILMCO,
            Input::Deliver(
                signed(&filmco, &{
                    let mut n = base.clone();
                    if let Some(pb::notice::Body::Referral(r)) = &mut n.body {
                        r.summary = "ok\u{1b}]0;pwned\u{7}".into();
                    }
                    n
                }),
                vec![],
            ),
            Expect::Rejected(
                pb::RejectReason::InvalidNotice,
                "referral.summary holds U+001B at character 2",
            ),
        ),
        case(
            "an indicator naming a look-alike domain in Unicode",
            GB,
            Input::Deliver(
                signed(&gb, &{
                    let sealed = intel_to(KR).seal(&gb, t, &mut rand::rngs::OsRng)?;
                    let mut n = pb::Notice::decode(sealed.envelope().payload.as_ref())?;
                    if let Some(pb::notice::Body::IntelReport(r)) = &mut n.body {
                        r.indicators[0].value = "streamz.exаmple".into();
                    }
                    n
                }),
                vec![],
            ),
            Expect::Rejected(
                pb::RejectReason::InvalidNotice,
                "intel.indicators[0].value \"streamz.exаmple\" is not written as lower-case IDNA A-labels: write it as \"streamz.xn--exmple-4nf\"",
            ),
        ),
        {
            // A labelled indicator is checked when it is opened: its
            // author's node never sealed this one.
            let server = SealedDisclosure::create(
                "referral.server",
                Label::parse("")?,
                pb::FieldValue {
                    value: Some(pb::field_value::Value::Indicator(pb::Indicator {
                        kind: pb::IndicatorKind::Ip as i32,
                        value: "not-an-ip а".into(),
                        context: String::new(),
                    })),
                },
                &mut rand::rngs::OsRng,
            );
            let mut n = base.clone();
            n.fields.push(server.commitment());
            case(
                "a labelled indicator that is not an IP address",
                FILMCO,
                Input::Deliver(signed(&filmco, &n), vec![server.bytes().clone()]),
                Expect::Rejected(
                    pb::RejectReason::InvalidNotice,
                    "referral.server.value \"not-an-ip а\" is not an IPv4 or IPv6 address",
                ),
            )
        },
        case(
            "a notice id of 5 bytes",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        id: Bytes::from_static(b"12345"),
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "notice id"),
        ),
        case(
            "an unknown TLP value",
            FILMCO,
            Input::Deliver(
                signed(
                    &filmco,
                    &pb::Notice {
                        tlp: 99,
                        ..base.clone()
                    },
                ),
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::InvalidNotice, "tlp"),
        ),
        case(
            "a partner's status update on a referral it did not make",
            FILMCO,
            Input::Deliver(
                NoticeDraft::new(
                    Tlp::Amber,
                    StatusUpdateBuilder::new(
                        NoticeId::new_v7(t, &mut rand::rngs::OsRng),
                        pb::ReferralStatus::Closed,
                    )
                    .build(),
                )
                .to_org(&org(KR))
                .in_reply_to(NoticeId::new_v7(t, &mut rand::rngs::OsRng))
                .signed_by(&filmco, t)?,
                vec![],
            ),
            Expect::Rejected(
                pb::RejectReason::Policy,
                "must reply to a referral of the sender's own",
            ),
        ),
        // Policy and TLP.
        case(
            "a partner sending an IntelReport",
            FILMCO,
            Input::Deliver(intel_to(KR).signed_by(&filmco, t)?, vec![]),
            Expect::Rejected(pb::RejectReason::Policy, "policy forbids"),
        ),
        case(
            "a partner sending a TakedownRequest",
            FILMCO,
            Input::Deliver(
                NoticeDraft::new(
                    Tlp::Amber,
                    TakedownRequestBuilder::new(
                        pb::Target {
                            domain: "x.example".into(),
                            hosting_country: "KR".into(),
                            ..Default::default()
                        },
                        pb::RequestedAction::Takedown,
                    )
                    .legal_basis("law")
                    .deadline(UnixMillis(t.0 + year))
                    .build(),
                )
                .to_org(&org(KR))
                .signed_by(&filmco, t)?,
                vec![],
            ),
            Expect::Rejected(pb::RejectReason::Policy, "policy forbids"),
        ),
        case(
            "a RED notice forwarded by a holder",
            GB,
            Input::Deliver(referral(&[GB], Tlp::Red).signed_by(&filmco, t)?, vec![]),
            Expect::Rejected(pb::RejectReason::Tlp, "TLP:RED"),
        ),
        case(
            "an AMBER notice forwarded by a holder",
            GB,
            Input::Deliver(referral(&[GB], Tlp::Amber).signed_by(&filmco, t)?, vec![]),
            Expect::Rejected(pb::RejectReason::Tlp, "TLP:AMBER"),
        ),
        // Disclosures.
        case(
            "a disclosure that matches no commitment",
            FILMCO,
            Input::Deliver(
                env.clone(),
                vec![Bytes::from_static(b"\x0a\x10referral.contact")],
            ),
            Expect::Rejected(pb::RejectReason::Disclosure, "matches no commitment"),
        ),
        case(
            "a disclosure beyond the receiver's clearance",
            FILMCO,
            Input::Deliver(
                env.clone(),
                disclosures(&sealed, &["referral.internal_ref"]),
            ),
            Expect::Rejected(
                pb::RejectReason::Disclosure,
                "exceeds the receiver's clearance",
            ),
        ),
        case(
            "a disclosure sent twice",
            FILMCO,
            Input::Deliver(env.clone(), [ds[0].clone(), ds[0].clone()].into()),
            Expect::Rejected(pb::RejectReason::Disclosure, "sent twice"),
        ),
        case(
            "more disclosures than commitments",
            FILMCO,
            Input::Deliver(env.clone(), vec![ds[0].clone(); 4]),
            Expect::Rejected(
                pb::RejectReason::Disclosure,
                "4 disclosures for 3 commitments",
            ),
        ),
    ];

    let mut conns = std::collections::HashMap::new();
    for from in [FILMCO, GB, HUB] {
        let ep = raw_client(&fed, from, None, None)?;
        let conn = ep.connect(kr.local_addr()?, &org(KR)).await?;
        conns.insert(from, (ep, conn));
    }
    // Another member's connection that every case must leave working.
    let bystander = raw_client(&fed, SPORTS, None, None)?;
    let bystander = bystander.connect(kr.local_addr()?, &org(KR)).await?;

    let mut passed = 0;
    for c in cases.drain(..) {
        let before = (kr.store().size(), kr.store().inbox(false)?.len());
        let (_, conn) = &conns[c.from];
        let answer = send(conn, &c.input).await;
        let after = (kr.store().size(), kr.store().inbox(false)?.len());
        let name = c.name;
        let appended = after.0 - before.0;
        match (&c.expect, &answer) {
            (Expect::Rejected(code, text), Ok(f)) => {
                let r = receipt_of(name, f)?;
                ensure!(
                    r.status == pb::ReceiptStatus::Rejected as i32,
                    "{name}: not rejected: {r:?}"
                );
                ensure!(
                    r.reason_code == *code as i32,
                    "{name}: reason {:?}, expected {code:?}: {}",
                    pb::RejectReason::try_from(r.reason_code),
                    r.reason
                );
                ensure!(
                    r.reason.contains(text),
                    "{name}: the reason {:?} does not name {text:?}",
                    r.reason
                );
                ensure!(
                    appended == 1 && after.1 == before.1,
                    "{name}: {appended} entries appended, inbox {before:?} -> {after:?}"
                );
                ensure!(
                    r.log_index == before.0,
                    "{name}: the rejection names entry {} as its logged copy, not {}",
                    r.log_index,
                    before.0
                );
                // The rejection names what it rejects, so the sender and an
                // auditor can link it: the payload's digest whenever there
                // is a payload, and the id whenever it parses.
                if let Input::Deliver(env, _) = &c.input
                    && !env.payload.is_empty()
                {
                    ensure!(
                        r.notice_digest.as_ref() == sha256(&env.payload),
                        "{name}: the rejection does not name the payload digest"
                    );
                    let id = pb::Notice::decode(env.payload.clone())
                        .ok()
                        .and_then(|n| NoticeId::from_slice(&n.id).ok());
                    if let Some(id) = id {
                        ensure!(
                            r.notice_id.as_ref() == id.as_bytes(),
                            "{name}: the rejection does not name notice {id}"
                        );
                    }
                }
            }
            (Expect::Accepted, Ok(f)) => {
                let r = receipt_of(name, f)?;
                ensure!(
                    r.status == pb::ReceiptStatus::Accepted as i32,
                    "{name}: {r:?}"
                );
                ensure!(
                    appended == 1 && after.1 == before.1 + 1,
                    "{name}: {appended} appended"
                );
            }
            (Expect::Duplicate, Ok(f)) => {
                let r = receipt_of(name, f)?;
                ensure!(
                    r.status == pb::ReceiptStatus::Duplicate as i32,
                    "{name}: {r:?}"
                );
                ensure!(appended == 0, "{name}: {appended} appended");
            }
            (Expect::Error(code, text, reset_ok), Err(e)) => {
                let named = e.starts_with(code.as_str_name()) && e.contains(text);
                ensure!(
                    named || (*reset_ok && e.starts_with("LOCAL")),
                    "{name}: {e:?}, expected {code:?} {text:?}"
                );
                ensure!(appended == 0, "{name}: {appended} appended");
            }
            (_, other) => bail!("{name}: unexpected answer {other:?}"),
        }
        // The case's connection and another member's still work.
        alive(conn)
            .await
            .with_context(|| format!("{name}: its connection broke"))?;
        alive(&bystander)
            .await
            .with_context(|| format!("{name}: another connection broke"))?;
        passed += 1;
    }

    // The local API: bad tokens and bodies change nothing.
    let api = fed.member(KR)?.config.api.as_ref().context("api")?.clone();
    let token = std::fs::read_to_string(&api.token_file)?.trim().to_owned();
    let base = format!("http://{}", kr.api_addr().context("api address")?);
    let http = isop_api::http_client()?;
    let notice = |to: &str, label: &str, tlp: &str| {
        json!({
            "tlp": tlp, "to_orgs": [to], "case_ref": "SOP-1",
            "labelled": [{"path": "case.text", "label": label, "value": {"text": "x"}}],
            "body": {"case_message": {"action": "message", "text": "hello"}}
        })
    };
    // Over the 1 MiB limit, yet small enough that loopback buffers take it
    // whole before the node answers and closes.
    let big = vec![b'x'; (1 << 20) + (64 << 10)];
    let api_cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no API token",
            http.get(format!("{base}/v1/status")),
            401,
            "token",
        ),
        (
            "a wrong API token",
            http.get(format!("{base}/v1/status")).bearer_auth("wrong"),
            401,
            "token",
        ),
        (
            "a token in the wrong scheme",
            http.get(format!("{base}/v1/status"))
                .header("authorization", format!("Basic {token}")),
            401,
            "token",
        ),
        (
            "a garbage body",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "",
        ),
        (
            "an oversized body",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(big),
            413,
            "",
        ),
        (
            "a notice of an unknown shape",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .json(&json!({"tlp": "amber", "body": {"poem": {}}})),
            400,
            "poem",
        ),
        (
            "an unknown org as recipient",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .json(&notice("XX-NOBODY", "", "amber")),
            400,
            "XX-NOBODY",
        ),
        (
            "an invalid label via the API",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .json(&notice(GB, "role:agency|role:hub&country:KR", "amber")),
            400,
            "invalid label",
        ),
        (
            "an unknown TLP name",
            http.post(format!("{base}/v1/notices"))
                .bearer_auth(&token)
                .json(&notice(GB, "", "purple")),
            400,
            "tlp: \\\"purple\\\" is not one of clear, green, amber, amber_strict, red",
        ),
        (
            "a malformed notice id",
            http.get(format!("{base}/v1/notices/not-a-uuid"))
                .bearer_auth(&token),
            400,
            "notice id",
        ),
        (
            "an unknown notice id",
            http.get(format!(
                "{base}/v1/notices/{}",
                NoticeId::new_v7(t, &mut rand::rngs::OsRng)
            ))
            .bearer_auth(&token),
            404,
            "",
        ),
    ];
    for (name, req, status, text) in api_cases {
        let size = kr.store().size();
        let r = req.send().await?;
        let got = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        ensure!(
            got == status,
            "{name}: HTTP {got}, expected {status}: {body}"
        );
        ensure!(
            body.contains(text),
            "{name}: {body:?} does not name {text:?}"
        );
        ensure!(kr.store().size() == size, "{name}: something was appended");
        alive(&bystander)
            .await
            .with_context(|| format!("{name}: a peer connection broke"))?;
        passed += 1;
    }
    let (status, _) = (
        http.get(format!("{base}/v1/status"))
            .bearer_auth(&token)
            .send()
            .await?
            .status(),
        (),
    );
    ensure!(status.is_success(), "the API still answers");
    println!("{passed} bad-input cases passed");
    ensure!(passed >= 40, "only {passed} cases");
    kr.shutdown().await?;
    Ok(())
}
