//! The harness of the multi-node scenarios: a five-org federation on
//! loopback, and a raw client that speaks the wire protocol as a member
//! (to send what a well-behaved node never would).

#![allow(missing_docs)]

pub mod fault;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use isop_authority::{LocalFederation, MemberSpec};
use isop_core::{
    LogIndex, NoticeDraft, NoticeId, OrgId, Role, SealedNotice, SecretKey, Signer, Tlp, UnixMillis,
    pb,
};
use isop_net::{Endpoint, EndpointConfig, PeerConnection, TlsIdentity};
use isop_node::Node;
use isop_store::DeliveryStatus;
use prost::Message;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// How long any scenario step may take.
pub const STEP: Duration = Duration::from_secs(20);

pub const HUB: &str = "INTERPOL-GS";
pub const KR: &str = "KR-KNPA";
pub const GB: &str = "GB-PIPCU";
pub const FILMCO: &str = "RH-FILMCO";
pub const SPORTS: &str = "RH-SPORTSNET";

pub fn org(s: &str) -> OrgId {
    s.parse().expect("a valid org id")
}

/// Sends the nodes' logs to the test output, filtered by `RUST_LOG`.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn members() -> Result<Vec<MemberSpec>> {
    Ok(vec![
        MemberSpec::new(HUB, "INTERPOL General Secretariat", Role::Hub, "FR")?,
        MemberSpec::new(KR, "Korean National Police Agency", Role::Agency, "KR")?,
        MemberSpec::new(GB, "Police IP Crime Unit", Role::Agency, "GB")?,
        MemberSpec::new(FILMCO, "FilmCo Studios", Role::Partner, "US")?,
        MemberSpec::new(SPORTS, "SportsNet Rights", Role::Partner, "GB")?,
    ])
}

const GROUPS: &[(&str, &[&str])] = &[("op:sop-2026", &[HUB, KR, GB])];

/// A hub, two agencies and two partners, in a temporary directory.
pub fn federation(dir: &std::path::Path) -> Result<LocalFederation> {
    logs();
    Ok(LocalFederation::create(
        dir,
        "isop-test",
        &members()?,
        GROUPS,
    )?)
}

/// The same federation on the in-memory `network`, every node reading
/// `clock`.
pub fn federation_in_memory(
    dir: &std::path::Path,
    network: &isop_net::MemoryNetwork,
    clock: &isop_node::Clock,
) -> Result<LocalFederation> {
    logs();
    let mut fed =
        LocalFederation::create_in_memory(dir, "isop-test", &members()?, GROUPS, network)?;
    for m in &mut fed.members {
        m.config.clock = clock.clone();
    }
    Ok(fed)
}

/// Turns on `org`'s local API (on loopback, an ephemeral port), its token
/// to be kept in `token_file`: the in-memory federations' configs have none.
pub fn with_api(
    fed: &mut LocalFederation,
    org_id: &str,
    token_file: &std::path::Path,
) -> Result<()> {
    fed.member_mut(org_id)?.config.api = Some(isop_node::config::ApiConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        token_file: token_file.to_path_buf(),
        allow_non_loopback: false,
    });
    Ok(())
}

/// A client of `node`'s local API, with the token in `token_file`.
pub fn api_client(node: &Node, token_file: &std::path::Path) -> Result<isop_api::ApiClient> {
    Ok(isop_api::ApiClient::new(
        &node
            .api_addr()
            .context("the node serves no API")?
            .to_string(),
        &std::fs::read_to_string(token_file)?,
    )?)
}

/// The signing key of `org`, read from its key file.
pub fn signer(fed: &LocalFederation, org_id: &str) -> Result<Signer> {
    Ok(fed.member(org_id)?.config.signer()?)
}

/// A raw client holding `as_org`'s TLS identity, or `tls` (cert, key) PEMs if given.
pub fn raw_client(
    fed: &LocalFederation,
    as_org: &str,
    tls: Option<(&str, &str)>,
    ca_pem: Option<&str>,
) -> Result<Endpoint> {
    let m = fed.member(as_org)?;
    let read =
        |p: &std::path::Path| std::fs::read_to_string(p).with_context(|| p.display().to_string());
    let identity = match tls {
        Some((cert, key)) => TlsIdentity::from_pem(cert, key)?,
        None => TlsIdentity::from_pem(&read(&m.config.tls_cert)?, &read(&m.config.tls_key)?)?,
    };
    let ca = isop_net::pki::certs_from_pem(&match ca_pem {
        Some(p) => p.to_owned(),
        None => read(&fed.dir.join("ca.crt"))?,
    })?;
    Ok(Endpoint::bind(
        "127.0.0.1:0".parse()?,
        EndpointConfig::new(ca, identity),
        std::sync::Arc::new(|_| Ok(())),
    )?)
}

/// Sends a delivery and returns the decoded receipt.
pub async fn deliver(
    conn: &PeerConnection,
    envelope: pb::Envelope,
    disclosures: Vec<bytes::Bytes>,
) -> Result<pb::Receipt> {
    use prost::Message;
    let answer = conn
        .request(&pb::Frame {
            roster_version: 0,
            kind: Some(pb::frame::Kind::Deliver(pb::Deliver {
                envelope: Some(envelope),
                disclosures,
            })),
        })
        .await?;
    let Some(pb::frame::Kind::Receipt(env)) = answer.kind else {
        bail!("no receipt: {answer:?}")
    };
    Ok(pb::Receipt::decode(env.payload)?)
}

/// Sends a `DeliverBatch`; returns the receipts of its signed list, or
/// the error frame's code and message.
pub async fn deliver_batch(
    conn: &PeerConnection,
    items: Vec<(pb::Envelope, Vec<bytes::Bytes>)>,
) -> Result<std::result::Result<Vec<pb::Receipt>, String>> {
    let answer = conn
        .request(&pb::Frame {
            roster_version: 0,
            kind: Some(pb::frame::Kind::DeliverBatch(pb::DeliverBatch {
                items: items
                    .into_iter()
                    .map(|(envelope, disclosures)| pb::Deliver {
                        envelope: Some(envelope),
                        disclosures,
                    })
                    .collect(),
            })),
        })
        .await;
    match answer {
        Ok(pb::Frame {
            kind:
                Some(pb::frame::Kind::ReceiptBatch(pb::ReceiptBatch {
                    receipts: Some(env),
                })),
            ..
        }) => Ok(Ok(pb::ReceiptList::decode(env.payload)?.receipts)),
        Ok(other) => bail!("no receipts: {other:?}"),
        Err(isop_net::Error::Remote { code, message }) => {
            Ok(Err(format!("{}: {message}", code.as_str_name())))
        }
        Err(e) => Err(e.into()),
    }
}

/// The wall clock, as the nodes read it.
pub use isop_node::now;

/// An intelligence report to `to`: a notice partners may not send.
pub fn intel_to(to: &str) -> NoticeDraft {
    NoticeDraft::new(
        Tlp::Amber,
        isop_core::IntelReportBuilder::new(
            "a network",
            pb::SourceReliability::B,
            pb::InformationCredibility::ProbablyTrue,
        )
        .indicator(pb::IndicatorKind::Domain, "streamz.example", "front")
        .build(),
    )
    .to_org(&org(to))
}

/// A fresh key nobody registered.
pub fn stranger_key() -> SecretKey {
    SecretKey::generate(&mut rand::rngs::OsRng)
}

/// The shared example referral of streamz.example (hosted in KR), with
/// three labelled fields (`isop_core::testing`).
pub fn referral(to: &[&str], tlp: Tlp) -> NoticeDraft {
    let to: Vec<OrgId> = to.iter().map(|o| org(o)).collect();
    isop_core::testing::referral(
        "streamz.example",
        UnixMillis(1_700_000_000_000),
        &to.iter().collect::<Vec<_>>(),
        tlp,
    )
}

/// Where delivering entry `index` to `to` stands.
pub fn status_of(node: &Node, index: LogIndex, to: &str) -> DeliveryStatus {
    node.delivery_status(index)
        .ok()
        .and_then(|v| {
            v.into_iter()
                .find(|(o, _)| o.as_str() == to)
                .map(|(_, s)| s)
        })
        .unwrap_or(DeliveryStatus::Unknown)
}

/// Each of `ids` (one author's notices, in the order sent) is in `node`'s
/// log once, in that order.
pub fn logged_in_order<'a>(node: &Node, ids: impl IntoIterator<Item = &'a NoticeId>) -> Result<()> {
    let mut last = None;
    for id in ids {
        let at = node.store().find_notice(id)?;
        ensure!(
            at.is_some(),
            "notice {id} never reached {}'s log",
            node.org()
        );
        ensure!(
            at > last,
            "notice {id} is out of its author's order in {}'s log",
            node.org()
        );
        last = at;
    }
    Ok(())
}

/// `from` sends `n` referrals to the agency: each one's id and entry.
pub async fn refer(from: &Node, n: usize) -> Result<Vec<(NoticeId, LogIndex)>> {
    let mut sent = Vec::with_capacity(n);
    for _ in 0..n {
        let s = from.send(referral(&[KR], Tlp::Amber)).await?;
        sent.push((s.id, s.index));
    }
    Ok(sent)
}

/// Waits (up to `wait`) until the agency has receipted every one of
/// `sent`, as `from` logs it.
pub async fn receipted(from: &Node, sent: &[(NoticeId, LogIndex)], wait: Duration) -> Result<()> {
    from.wait_until("every notice receipted", wait, |n| {
        sent.iter().all(|(_, i)| delivered(n, *i, KR))
    })
    .await?;
    Ok(())
}

/// Whether entry `index` was delivered to `to`.
pub fn delivered(node: &Node, index: LogIndex, to: &str) -> bool {
    matches!(status_of(node, index, to), DeliveryStatus::Delivered { .. })
}

/// Appends `sealed` to `node`'s log as a node that did not check the
/// sending policy would have: inbound from `peer`, or outbound to `to`.
/// What the auditor must then find in the node's export.
pub fn forge(
    node: &Node,
    sealed: &SealedNotice,
    peer: Option<&str>,
    to: &[&str],
) -> Result<LogIndex> {
    let direction = if peer.is_some() {
        isop_store::Direction::Inbound
    } else {
        isop_store::Direction::Outbound
    };
    let mut e = isop_store::NewEntry::new(
        now(),
        direction,
        isop_store::Record::Envelope(sealed.envelope().encode_to_vec().into()),
    );
    e.peer = peer.map(org);
    e.recipients = to.iter().map(|o| org(o)).collect();
    Ok(node.store().append(e)?.index())
}

/// `node`'s log exported at its own clearance and verified: its findings.
pub fn audit_findings(
    node: &Node,
    fed: &LocalFederation,
) -> Result<Vec<(isop_audit::FindingKind, Option<u64>)>> {
    let mut export = Vec::new();
    node.export(&mut export, &node.roster().clearance(node.org())?)?;
    let report = isop_audit::verify(
        export.as_slice(),
        &isop_audit::VerifyOptions::new(fed.roster_key()),
        None,
    )?;
    Ok(report.findings.iter().map(|f| (f.kind, f.index)).collect())
}

/// A verifier that takes any server: hand-made clients that test the server.
#[derive(Debug)]
pub struct AnyServer(pub Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client config over ring, with `alpn` and, if given, a client
/// certificate.
pub fn rustls_client(alpn: &[u8], cert: Option<(&str, &str)>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let mut config = match cert {
        Some((chain, key)) => builder.with_client_auth_cert(
            isop_net::pki::certs_from_pem(chain)?,
            isop_net::pki::key_from_pem(key)?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}
