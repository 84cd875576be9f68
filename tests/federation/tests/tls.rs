//! TLS misconfiguration: each kind of client a node must refuse is refused
//! at the handshake or the gate, the node logs the reason, and it keeps
//! serving members.
//!
//! Some of these clients cannot be made with isop-net (it only makes
//! correct ones), so they are built here from quinn and rustls directly.

use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result, ensure};
use isop_core::*;
use isop_federation_tests::*;
use quinn::crypto::rustls::QuicClientConfig;
use quinn_proto::crypto::{
    ClientConfig as QuicCrypto, ExportKeyingMaterialError, HeaderKey, KeyPair, Keys, PacketKey,
    Session,
};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::{ConnectError, ConnectionId, Side, TransportError};

/// Everything the nodes log at warn and above, to check the reasons.
fn captured() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(Mutex::default)
}

/// Woken on every log write.
fn written() -> &'static tokio::sync::Notify {
    static N: OnceLock<tokio::sync::Notify> = OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        captured()
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        written().notify_waiters();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&captured().lock().expect("the log")).into_owned()
}

/// Dials `addr` with a hand-made client; returns why the connection failed
/// (or ended).
async fn dial(crypto: Arc<dyn QuicCrypto>, addr: std::net::SocketAddr) -> Result<String> {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    ep.set_default_client_config(quinn::ClientConfig::new(crypto));
    let why = match ep.connect(addr, "isop.invalid")?.await {
        Err(e) => e.to_string(),
        // A server that only refuses after the handshake closes at once.
        Ok(conn) => conn.closed().await.to_string(),
    };
    ep.close(0u32.into(), b"done");
    Ok(why)
}

/// A QUIC client session whose ClientHello offers only TLS 1.2: the
/// `supported_versions` extension is cut from it on the way out. (QUIC
/// itself requires TLS 1.3, so no library makes such a client.)
struct Tls12Only(Arc<QuicClientConfig>);

impl QuicCrypto for Tls12Only {
    fn start_session(
        self: Arc<Self>,
        version: u32,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Box<dyn Session>, ConnectError> {
        let inner = self.0.clone().start_session(version, server_name, params)?;
        Ok(Box::new(Tls12Session { inner, sent: false }))
    }
}

struct Tls12Session {
    inner: Box<dyn Session>,
    sent: bool,
}

/// Removes the `supported_versions` extension (43) from a ClientHello,
/// which makes it a TLS 1.2 ClientHello.
fn strip_supported_versions(hello: &[u8]) -> Option<Vec<u8>> {
    let u16_at =
        |b: &[u8], i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize);
    if hello.first() != Some(&1) {
        return None;
    }
    let body = hello.get(4..)?;
    let mut p = 2 + 32;
    p += 1 + *body.get(p)? as usize;
    p += 2 + u16_at(body, p)?;
    p += 1 + *body.get(p)? as usize;
    let exts_at = p + 2;
    let exts_end = exts_at + u16_at(body, p)?;
    let mut kept = Vec::new();
    let mut q = exts_at;
    while q < exts_end {
        let (kind, len) = (u16_at(body, q)?, u16_at(body, q + 2)?);
        if kind != 43 {
            kept.extend_from_slice(body.get(q..q + 4 + len)?);
        }
        q += 4 + len;
    }
    let mut new_body = body.get(..p)?.to_vec();
    new_body.extend_from_slice(&(kept.len() as u16).to_be_bytes());
    new_body.extend_from_slice(&kept);
    let mut out = vec![1];
    out.extend_from_slice(&(new_body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&new_body);
    Some(out)
}

impl Session for Tls12Session {
    fn initial_keys(&self, dst_cid: &ConnectionId, side: Side) -> Keys {
        self.inner.initial_keys(dst_cid, side)
    }
    fn handshake_data(&self) -> Option<Box<dyn std::any::Any>> {
        self.inner.handshake_data()
    }
    fn peer_identity(&self) -> Option<Box<dyn std::any::Any>> {
        self.inner.peer_identity()
    }
    fn early_crypto(&self) -> Option<(Box<dyn HeaderKey>, Box<dyn PacketKey>)> {
        self.inner.early_crypto()
    }
    fn early_data_accepted(&self) -> Option<bool> {
        self.inner.early_data_accepted()
    }
    fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking()
    }
    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        self.inner.read_handshake(buf)
    }
    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        self.inner.transport_parameters()
    }
    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        let start = buf.len();
        let keys = self.inner.write_handshake(buf);
        if !self.sent && buf.len() > start {
            self.sent = true;
            if let Some(hello) = strip_supported_versions(&buf[start..]) {
                buf.truncate(start);
                buf.extend_from_slice(&hello);
            }
        }
        keys
    }
    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        self.inner.next_1rtt_keys()
    }
    fn is_valid_retry(&self, orig_dst_cid: &ConnectionId, header: &[u8], payload: &[u8]) -> bool {
        self.inner.is_valid_retry(orig_dst_cid, header, payload)
    }
    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.inner.export_keying_material(output, label, context)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigured_clients_are_refused_by_name_and_members_are_still_served() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init();
    let dir = tempfile::tempdir()?;
    let mut fed = federation(dir.path())?;
    let kr = fed.start(KR).await?;
    let addr = kr.local_addr()?;
    let year = 365 * 86_400_000u64;
    let now = now();
    let member = fed.member(FILMCO)?.config.clone();
    let chain = std::fs::read_to_string(&member.tls_cert)?;
    let key = std::fs::read_to_string(&member.tls_key)?;
    let fresh = |org_id: &str,
                 ca: &isop_net::pki::CertifiedKey,
                 from: u64,
                 to: u64|
     -> Result<(String, String)> {
        let key = isop_net::pki::generate_tls_key()?;
        let cert = isop_net::pki::issue(ca, &org(org_id), &key, UnixMillis(from), UnixMillis(to))?;
        Ok((cert, key))
    };
    let rogue_ca =
        isop_net::pki::generate_ca("rogue", UnixMillis(now.0 - year), UnixMillis(now.0 + year))?;

    // (what, the client's error, what the node's log must say)
    let mut refused: Vec<(&str, String, &str)> = Vec::new();
    let as_isop_client =
        |tls: (String, String)| raw_client(&fed, FILMCO, Some((&tls.0, &tls.1)), None);
    let isop_refusal = |ep: isop_net::Endpoint| async move {
        match ep.connect(addr, &org(KR)).await {
            Err(e) => e.to_string(),
            Ok(conn) => conn.closed().await.to_string(),
        }
    };

    let no_cert = QuicClientConfig::try_from(rustls_client(isop_net::ALPN, None)?)?;
    refused.push((
        "no client certificate",
        dial(Arc::new(no_cert), addr).await?,
        "peer sent no certificates",
    ));

    let other_ca = fresh(FILMCO, &rogue_ca, now.0 - year, now.0 + year)?;
    refused.push((
        "a certificate from another CA",
        isop_refusal(as_isop_client(other_ca)?).await,
        "UnknownIssuer",
    ));

    let expired = fresh(FILMCO, &fed.ca, now.0 - 2 * year, now.0 - year)?;
    refused.push((
        "an expired certificate",
        isop_refusal(as_isop_client(expired)?).await,
        "certificate expired",
    ));

    let stranger = fresh("XX-STRANGER", &fed.ca, now.0 - year, now.0 + year)?;
    refused.push((
        "a SAN for an org not in the roster",
        isop_refusal(as_isop_client(stranger)?).await,
        "org XX-STRANGER is not in the roster",
    ));

    let unpinned = fresh(FILMCO, &fed.ca, now.0 - year, now.0 + year)?;
    refused.push((
        "a pin mismatch",
        isop_refusal(as_isop_client(unpinned)?).await,
        "does not match the roster pin",
    ));

    let tls12 = Tls12Only(Arc::new(QuicClientConfig::try_from(rustls_client(
        isop_net::ALPN,
        Some((&chain, &key)),
    )?)?));
    refused.push((
        "a TLS 1.2-only client",
        dial(Arc::new(tls12), addr).await?,
        "Tls13RequiredForQuic",
    ));

    let wrong_alpn = QuicClientConfig::try_from(rustls_client(b"h3", Some((&chain, &key)))?)?;
    refused.push((
        "a wrong ALPN",
        dial(Arc::new(wrong_alpn), addr).await?,
        "doesn't support any known protocol",
    ));

    // Each was refused, for a reason the node logged; and a member is served.
    let member_ep = raw_client(&fed, GB, None, None)?;
    for (what, client_error, logged) in &refused {
        ensure!(!client_error.is_empty(), "{what}: not refused");
        let conn = member_ep.connect(addr, &org(KR)).await?;
        let answer = conn
            .request(&pb::Frame {
                roster_version: 0,
                kind: Some(pb::frame::Kind::GetCheckpoint(pb::GetCheckpoint {})),
            })
            .await
            .with_context(|| format!("after {what}: a member is not served"))?;
        ensure!(matches!(answer.kind, Some(pb::frame::Kind::Checkpoint(_))));
        // The node logs the refusal as its handshake task ends, about when
        // the client hears of it: wait for the line to be written.
        let seen = async {
            loop {
                let next = written().notified();
                if log_text().contains(logged) {
                    break;
                }
                next.await;
            }
        };
        tokio::time::timeout(STEP, seen)
            .await
            .with_context(|| format!("{what}: the log never named {logged:?}:\n{}", log_text()))?;
        println!("refused: {what}: {client_error}");
    }
    kr.shutdown().await?;
    Ok(())
}
