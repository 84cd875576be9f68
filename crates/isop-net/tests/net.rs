//! Real QUIC with real certificates on loopback: admission, refusals with
//! named reasons, framing limits, concurrent streams.

use std::collections::HashMap;
use std::sync::Arc;

use isop_core::{OrgId, UnixMillis};
use isop_net::pki::{self, CertifiedKey};
use isop_net::*;
use isop_proto::v1 as pb;

const YEAR: u64 = 365 * 86_400_000;

fn now() -> UnixMillis {
    UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

fn org(s: &str) -> OrgId {
    s.parse().unwrap()
}

struct Member {
    cert_pem: String,
    key_pem: String,
}

fn member(ca: &CertifiedKey, id: &str) -> Member {
    let key_pem = pki::generate_tls_key().unwrap();
    let cert_pem = pki::issue(
        ca,
        &org(id),
        &key_pem,
        UnixMillis(now().0 - YEAR),
        UnixMillis(now().0 + YEAR),
    )
    .unwrap();
    Member { cert_pem, key_pem }
}

fn ca() -> CertifiedKey {
    pki::generate_ca(
        "isop test CA",
        UnixMillis(now().0 - YEAR),
        UnixMillis(now().0 + 10 * YEAR),
    )
    .unwrap()
}

/// A gate that admits exactly the pinned orgs.
fn gate(pins: &[(&str, &Member)]) -> Gate {
    let pins: HashMap<OrgId, [u8; 32]> = pins
        .iter()
        .map(|(id, m)| {
            (
                org(id),
                pki::spki_sha256(&pki::certs_from_pem(&m.cert_pem).unwrap()[0]).unwrap(),
            )
        })
        .collect();
    Arc::new(move |p: &PeerIdentity| match pins.get(&p.org) {
        None => Err(Refusal::UnknownOrg(p.org.clone())),
        Some(pin) if *pin != p.spki_sha256 => Err(Refusal::PinMismatch {
            org: p.org.clone(),
            spki: "…".into(),
        }),
        Some(_) => Ok(()),
    })
}

fn endpoint(ca: &CertifiedKey, m: &Member, gate: Gate, max_frame: usize) -> Endpoint {
    let mut cfg = EndpointConfig::new(
        pki::certs_from_pem(&ca.cert_pem).unwrap(),
        TlsIdentity::from_pem(&m.cert_pem, &m.key_pem).unwrap(),
    );
    cfg.max_frame = max_frame;
    Endpoint::bind("127.0.0.1:0".parse().unwrap(), cfg, gate).unwrap()
}

/// Serves every admitted connection: answers each request with an Ack,
/// and reports each admission or refusal.
fn serve(ep: Arc<Endpoint>) -> tokio::sync::mpsc::UnboundedReceiver<Result<OrgId, String>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            match incoming.admit().await {
                Ok(conn) => {
                    let _ = tx.send(Ok(conn.peer().org.clone()));
                    tokio::spawn(async move {
                        while let Some(incoming) = conn.next_request().await {
                            tokio::spawn(async move {
                                if let Ok(req) = incoming.read().await {
                                    let ack = pb::Frame {
                                        roster_version: 0,
                                        kind: Some(pb::frame::Kind::Ack(pb::Ack {})),
                                    };
                                    let _ = req.respond(&ack).await;
                                }
                            });
                        }
                    });
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        }
    });
    rx
}

fn get_checkpoint() -> pb::Frame {
    pb::Frame {
        roster_version: 0,
        kind: Some(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})),
    }
}

#[tokio::test]
async fn admitted_peers_exchange_frames_on_many_streams() {
    let ca = ca();
    let (a, b) = (member(&ca, "KR-KNPA"), member(&ca, "INTERPOL-GS"));
    let pins = [("KR-KNPA", &a), ("INTERPOL-GS", &b)];
    let server = Arc::new(endpoint(&ca, &b, gate(&pins), DEFAULT_MAX_FRAME));
    let addr = server.local_addr().unwrap();
    let mut admitted = serve(server.clone());
    let client = endpoint(&ca, &a, gate(&pins), DEFAULT_MAX_FRAME);
    let conn = client.connect(addr, &org("INTERPOL-GS")).await.unwrap();
    assert_eq!(conn.peer().org, org("INTERPOL-GS"));
    assert_eq!(admitted.recv().await.unwrap(), Ok(org("KR-KNPA")));

    // 200 concurrent requests on one connection.
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.request(&get_checkpoint()).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap().kind,
            Some(pb::frame::Kind::Ack(_))
        ));
    }
}

#[tokio::test]
async fn bad_frames_fail_only_their_own_stream() {
    let ca = ca();
    let (a, b) = (member(&ca, "KR-KNPA"), member(&ca, "INTERPOL-GS"));
    let pins = [("KR-KNPA", &a), ("INTERPOL-GS", &b)];
    let server = Arc::new(endpoint(&ca, &b, gate(&pins), 1024));
    let addr = server.local_addr().unwrap();
    let _admitted = serve(server.clone());
    let client = endpoint(&ca, &a, gate(&pins), DEFAULT_MAX_FRAME);
    let conn = client.connect(addr, &org("INTERPOL-GS")).await.unwrap();

    let huge = pb::Frame {
        roster_version: 0,
        kind: Some(pb::frame::Kind::SubmitCosignature(pb::SubmitCosignature {
            note: vec![b'x'; 4096].into(),
        })),
    };
    match conn.request(&huge).await {
        Err(Error::Remote {
            code: pb::ErrorCode::TooLarge,
            message,
        }) => assert!(message.contains("exceeds the 1024-byte limit"), "{message}"),
        other => panic!("{other:?}"),
    }
    match conn.request(&pb::Frame::default()).await {
        Err(Error::Remote {
            code: pb::ErrorCode::Malformed,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // The connection and other streams keep working.
    assert!(conn.request(&get_checkpoint()).await.is_ok());
}

/// Dials and returns the reason the server gives for closing the connection.
async fn refusal_reason(client: &Endpoint, addr: std::net::SocketAddr, to: &str) -> String {
    match client.connect(addr, &org(to)).await {
        Err(e) => e.to_string(),
        Ok(conn) => conn.closed().await.to_string(),
    }
}

#[tokio::test]
async fn refused_peers_are_told_which_check_failed() {
    let ca = ca();
    let (a, b) = (member(&ca, "KR-KNPA"), member(&ca, "INTERPOL-GS"));
    let server = Arc::new(endpoint(
        &ca,
        &b,
        gate(&[("KR-KNPA", &a), ("INTERPOL-GS", &b)]),
        DEFAULT_MAX_FRAME,
    ));
    let addr = server.local_addr().unwrap();
    let mut admitted = serve(server.clone());
    let open_gate: Gate = Arc::new(|_| Ok(()));

    // An org the roster does not know.
    let stranger = member(&ca, "XX-UNKNOWN");
    let client = endpoint(&ca, &stranger, open_gate.clone(), DEFAULT_MAX_FRAME);
    let reason = refusal_reason(&client, addr, "INTERPOL-GS").await;
    assert!(
        reason.contains("org XX-UNKNOWN is not in the roster"),
        "{reason}"
    );
    assert!(
        admitted
            .recv()
            .await
            .unwrap()
            .unwrap_err()
            .contains("not in the roster")
    );

    // A known org presenting another key: the pin does not match.
    let impostor = member(&ca, "KR-KNPA");
    let client = endpoint(&ca, &impostor, open_gate.clone(), DEFAULT_MAX_FRAME);
    let reason = refusal_reason(&client, addr, "INTERPOL-GS").await;
    assert!(reason.contains("does not match the roster pin"), "{reason}");
    assert!(
        admitted
            .recv()
            .await
            .unwrap()
            .unwrap_err()
            .contains("roster pin")
    );

    // A certificate from another CA fails the TLS handshake.
    let other_ca = pki::generate_ca(
        "rogue CA",
        UnixMillis(now().0 - YEAR),
        UnixMillis(now().0 + YEAR),
    )
    .unwrap();
    let rogue = member(&other_ca, "KR-KNPA");
    let mut cfg = EndpointConfig::new(
        pki::certs_from_pem(&ca.cert_pem).unwrap(),
        TlsIdentity::from_pem(&rogue.cert_pem, &rogue.key_pem).unwrap(),
    );
    cfg.max_frame = DEFAULT_MAX_FRAME;
    let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), cfg, open_gate.clone()).unwrap();
    let reason = refusal_reason(&client, addr, "INTERPOL-GS").await;
    assert!(!reason.is_empty());
    assert!(
        admitted
            .recv()
            .await
            .unwrap()
            .unwrap_err()
            .contains("handshake")
    );

    // Dialling an address that answers as another org.
    let client = endpoint(&ca, &a, open_gate, DEFAULT_MAX_FRAME);
    let reason = refusal_reason(&client, addr, "GB-PIPCU").await;
    assert!(
        reason.contains("expected org GB-PIPCU, the peer is INTERPOL-GS"),
        "{reason}"
    );

    // And a member in good standing still gets in.
    let conn = client.connect(addr, &org("INTERPOL-GS")).await.unwrap();
    assert!(conn.request(&get_checkpoint()).await.is_ok());
}

#[test]
fn certificates_carry_the_org_and_csrs_are_checked() {
    let ca = ca();
    let key = pki::generate_tls_key().unwrap();
    let csr = pki::csr(&org("KR-KNPA"), &key).unwrap();
    let cert = pki::issue_from_csr(
        &ca,
        &org("KR-KNPA"),
        &csr,
        now(),
        UnixMillis(now().0 + YEAR),
    )
    .unwrap();
    let der = &pki::certs_from_pem(&cert).unwrap()[0];
    let id = PeerIdentity::from_cert(der).unwrap();
    assert_eq!(id.org, org("KR-KNPA"));
    assert_eq!(id.spki_sha256, pki::spki_sha256(der).unwrap());
    let err = pki::issue_from_csr(
        &ca,
        &org("GB-PIPCU"),
        &csr,
        now(),
        UnixMillis(now().0 + YEAR),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not name urn:isop:org:GB-PIPCU"),
        "{err}"
    );
    // A CA certificate names no org.
    let ca_der = &pki::certs_from_pem(&ca.cert_pem).unwrap()[0];
    assert!(matches!(
        PeerIdentity::from_cert(ca_der),
        Err(Refusal::BadCertificate(_))
    ));
    assert!(!format!("{ca:?}").contains("PRIVATE KEY"));
}
