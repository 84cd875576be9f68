//! The QUIC endpoint: accept and dial mutually authenticated connections,
//! check the peer against the caller's gate, and exchange frames, one
//! request per bidirectional stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use isop_core::OrgId;
use isop_proto::v1 as pb;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use crate::frame::{encode_frame, error_frame, read_frame};
#[cfg(feature = "memory")]
use crate::memory::{End, Knock, MemoryEndpoint, MemoryNetwork, frame_from_bytes};
use crate::tls::{TlsIdentity, client_config, roots, server_config};
use crate::{Error, PeerIdentity, Refusal};

/// Decides whether a peer may talk to us (the node checks the roster:
/// known org, not revoked, pinned key).
pub type Gate = Arc<dyn Fn(&PeerIdentity) -> Result<(), Refusal> + Send + Sync>;

/// How long a peer may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Application close codes.
const CLOSE_REFUSED: u32 = 1;
const CLOSE_SHUTDOWN: u32 = 2;
/// Stream stop code for a request frame not read to its end (oversized or late).
const STOP_NOT_READ: u32 = 3;

/// How an endpoint is built.
#[derive(Debug)]
pub struct EndpointConfig {
    /// The federation CA bundle.
    pub ca: Vec<CertificateDer<'static>>,
    /// The node's TLS identity.
    pub identity: TlsIdentity,
    /// The frame size limit.
    pub max_frame: usize,
    /// How long a request may take.
    pub request_timeout: Duration,
    /// How long a peer may take to send a request's frame once it opened
    /// its stream.
    pub read_timeout: Duration,
    /// How many request streams a peer may have open on one connection at
    /// once: QUIC's stream limit, so further requests wait at the peer.
    pub max_streams: u32,
    /// A connection with no traffic for this long is closed. With
    /// keep-alives flowing, that happens only when the peer stops
    /// answering (it died, or its network went): its requests then fail
    /// within this time, not after the request timeout.
    pub idle_timeout: Duration,
    /// Keep-alive interval: a live peer answers these, so an idle but
    /// healthy connection never times out.
    pub keep_alive: Duration,
}

impl EndpointConfig {
    /// Defaults: 4 MiB frames, 30 s requests, 10 s to send a request
    /// frame, 32 request streams per connection, 10 s idle (a dead peer
    /// shows within it), 3 s keep-alive.
    pub fn new(ca: Vec<CertificateDer<'static>>, identity: TlsIdentity) -> Self {
        Self {
            ca,
            identity,
            max_frame: crate::frame::DEFAULT_MAX_FRAME,
            request_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(10),
            max_streams: 32,
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(3),
        }
    }
}

/// The bounds a connection applies to frames and requests.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_frame: usize,
    request_timeout: Duration,
    read_timeout: Duration,
}

/// The QUIC endpoint settings that outlive a restart: the stateless reset
/// key and the connection-ID key, both derived from the node's TLS private
/// key. A node that restarts then recognises the connection IDs of its
/// previous run and resets those connections (RFC 9000 §10.3), so its peers
/// learn at once that they are gone instead of waiting out a timeout.
/// Derived from a secret the node already keeps, they are as secret as it.
fn quic_endpoint_config(identity: &TlsIdentity) -> quinn::EndpointConfig {
    use sha2::Digest;
    let derive = |label: &[u8]| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(label);
        h.update(identity.key.secret_der());
        h.finalize().into()
    };
    let reset = derive(b"isop/1 QUIC stateless reset key\0");
    let cid = derive(b"isop/1 QUIC connection id key\0");
    let cid_key = u64::from_be_bytes([
        cid[0], cid[1], cid[2], cid[3], cid[4], cid[5], cid[6], cid[7],
    ]);
    let mut c = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset,
    )));
    c.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key)));
    c
}

/// An endpoint that both accepts and dials: QUIC with mutual TLS, or
/// (with the `memory` feature, for tests) an in-memory network.
pub struct Endpoint {
    backend: Backend,
    gate: Gate,
    limits: Limits,
}

enum Backend {
    Quic(Quic),
    #[cfg(feature = "memory")]
    Memory(MemoryEndpoint),
}

struct Quic {
    inner: quinn::Endpoint,
    roots: Arc<RootCertStore>,
    /// What this end shows when it dials; replaced by
    /// [`Endpoint::set_identity`].
    identity: std::sync::RwLock<Arc<TlsIdentity>>,
    transport: Arc<quinn::TransportConfig>,
}

impl Quic {
    /// The server side's configuration, showing `identity`.
    fn server(
        roots: Arc<RootCertStore>,
        identity: &TlsIdentity,
        transport: Arc<quinn::TransportConfig>,
    ) -> Result<quinn::ServerConfig, Error> {
        let tls = server_config(roots, identity)?;
        let crypto = QuicServerConfig::try_from(tls)
            .map_err(|e| Error::Pki(format!("QUIC server crypto: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(transport);
        Ok(server)
    }

    /// Dials `org` at `addr` and completes the handshake.
    async fn connect(&self, addr: SocketAddr, org: &OrgId) -> Result<quinn::Connection, Error> {
        let identity = self
            .identity
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let tls = client_config(self.roots.clone(), &identity, org.clone())?;
        let crypto = QuicClientConfig::try_from(tls)
            .map_err(|e| Error::Pki(format!("QUIC client crypto: {e}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(self.transport.clone());
        let connecting = self
            .inner
            .connect_with(client, addr, "isop.invalid")
            .map_err(|e| Error::Connect {
                addr,
                why: e.to_string(),
            })?;
        connecting.await.map_err(|e| Error::Connect {
            addr,
            why: e.to_string(),
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Limits {
    fn of(config: &EndpointConfig) -> Self {
        Self {
            max_frame: config.max_frame,
            request_timeout: config.request_timeout,
            read_timeout: config.read_timeout,
        }
    }
}

impl Endpoint {
    /// Binds a UDP socket at `addr` and serves QUIC with mutual TLS.
    pub fn bind(addr: SocketAddr, config: EndpointConfig, gate: Gate) -> Result<Self, Error> {
        let socket =
            std::net::UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        Self::from_socket(socket, config, gate)
    }

    /// Serves QUIC with mutual TLS on an already bound UDP socket (so a
    /// caller can learn its port before the endpoint exists).
    pub fn from_socket(
        socket: std::net::UdpSocket,
        config: EndpointConfig,
        gate: Gate,
    ) -> Result<Self, Error> {
        let addr = socket.local_addr().map_err(|source| Error::Bind {
            addr: ([0, 0, 0, 0], 0).into(),
            source,
        })?;
        let roots = roots(&config.ca)?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(config.idle_timeout)
                    .map_err(|e| Error::Pki(format!("idle timeout: {e}")))?,
            ))
            .keep_alive_interval(Some(config.keep_alive))
            // Requests a peer may have open at once on one connection;
            // more wait at the peer, pushed back by QUIC.
            .max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.max_streams))
            // Unread bytes buffered for one connection, whatever its streams.
            .receive_window(quinn::VarInt::from_u32(
                u32::try_from((2 * config.max_frame).max(16 << 20)).unwrap_or(u32::MAX),
            ))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
        let transport = Arc::new(transport);
        let server = Quic::server(roots.clone(), &config.identity, transport.clone())?;
        let runtime = quinn::default_runtime().ok_or_else(|| Error::Bind {
            addr,
            source: std::io::Error::other("no async runtime"),
        })?;
        let inner = quinn::Endpoint::new(
            quic_endpoint_config(&config.identity),
            Some(server),
            socket,
            runtime,
        )
        .map_err(|source| Error::Bind { addr, source })?;
        let limits = Limits::of(&config);
        Ok(Self {
            backend: Backend::Quic(Quic {
                inner,
                roots,
                identity: std::sync::RwLock::new(Arc::new(config.identity)),
                transport,
            }),
            gate,
            limits,
        })
    }

    /// An endpoint of the in-memory `network`, at `addr` (see
    /// [`MemoryNetwork`]): for deterministic tests of nodes.
    #[cfg(feature = "memory")]
    pub fn memory(
        network: &MemoryNetwork,
        addr: SocketAddr,
        config: EndpointConfig,
        gate: Gate,
    ) -> Result<Self, Error> {
        Ok(Self {
            backend: Backend::Memory(network.listen(addr, &config.identity)?),
            limits: Limits::of(&config),
            gate,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        match &self.backend {
            Backend::Quic(q) => q
                .inner
                .local_addr()
                .map_err(|e| Error::Stream(format!("local address: {e}"))),
            #[cfg(feature = "memory")]
            Backend::Memory(m) => Ok(m.local_addr()),
        }
    }

    /// Waits for the next peer to knock. `None` once the endpoint is closed.
    /// The handshake and the gate run in [`Incoming::admit`], which the
    /// caller should await on a task of its own: a peer that stalls its
    /// handshake then holds up only itself, never the next peer.
    pub async fn accept(&self) -> Option<Incoming> {
        let incoming = match &self.backend {
            Backend::Quic(q) => Knocking::Quic(Box::new(q.inner.accept().await?)),
            #[cfg(feature = "memory")]
            Backend::Memory(m) => Knocking::Memory(m.accept().await?),
        };
        Some(Incoming {
            incoming,
            gate: self.gate.clone(),
            limits: self.limits,
        })
    }

    /// Dials `org` at `addr`.
    pub async fn connect(&self, addr: SocketAddr, org: &OrgId) -> Result<PeerConnection, Error> {
        match &self.backend {
            Backend::Quic(q) => admit(q.connect(addr, org).await?, &self.gate, self.limits),
            #[cfg(feature = "memory")]
            Backend::Memory(m) => admit_memory(m.connect(addr, org)?, &self.gate, self.limits),
        }
    }

    /// Shows `identity` (a renewed certificate, or a new key) to every
    /// connection from now on, accepted or dialled; connections open now
    /// keep the one they began with. The stateless-reset keys stay
    /// derived from the key the endpoint started with, until it restarts.
    pub fn set_identity(&self, identity: TlsIdentity) -> Result<(), Error> {
        match &self.backend {
            Backend::Quic(q) => {
                let server = Quic::server(q.roots.clone(), &identity, q.transport.clone())?;
                q.inner.set_server_config(Some(server));
                *q.identity.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(identity);
            }
            #[cfg(feature = "memory")]
            Backend::Memory(m) => m.set_identity(&identity),
        }
        Ok(())
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        match &self.backend {
            Backend::Quic(q) => q
                .inner
                .close(quinn::VarInt::from_u32(CLOSE_SHUTDOWN), b"shutting down"),
            #[cfg(feature = "memory")]
            Backend::Memory(m) => m.close(),
        }
    }

    /// Waits until every connection has closed.
    pub async fn wait_idle(&self) {
        match &self.backend {
            Backend::Quic(q) => q.inner.wait_idle().await,
            // Closing closed every connection at once.
            #[cfg(feature = "memory")]
            Backend::Memory(_) => {}
        }
    }
}

/// A peer that began a handshake with this endpoint.
pub struct Incoming {
    incoming: Knocking,
    gate: Gate,
    limits: Limits,
}

enum Knocking {
    Quic(Box<quinn::Incoming>),
    #[cfg(feature = "memory")]
    Memory(Knock),
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remote = match &self.incoming {
            Knocking::Quic(i) => i.remote_address(),
            #[cfg(feature = "memory")]
            Knocking::Memory(k) => k.end.remote(),
        };
        f.debug_struct("Incoming")
            .field("remote", &remote)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    /// Completes the handshake (within [`HANDSHAKE_TIMEOUT`]) and puts the
    /// peer's identity through the gate. A peer that fails either is
    /// closed with the reason, which is also logged.
    pub async fn admit(self) -> Result<PeerConnection, Error> {
        match self.incoming {
            Knocking::Quic(incoming) => {
                let conn = handshake(*incoming).await?;
                admit(conn, &self.gate, self.limits)
            }
            #[cfg(feature = "memory")]
            Knocking::Memory(k) => admit_memory(k, &self.gate, self.limits),
        }
    }
}

/// Completes an incoming QUIC handshake, within [`HANDSHAKE_TIMEOUT`].
async fn handshake(incoming: quinn::Incoming) -> Result<quinn::Connection, Error> {
    let remote = incoming.remote_address();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => {
            tracing::warn!(%remote, error = %e, "TLS handshake refused");
            Err(Error::Connection(e))
        }
        Err(_) => {
            tracing::warn!(%remote, "TLS handshake not completed in time");
            Err(Error::Timeout(HANDSHAKE_TIMEOUT))
        }
    }
}

/// Reads the peer's identity and applies the gate; a refused peer is closed
/// with the refusal as the reason.
fn admit(conn: quinn::Connection, gate: &Gate, limits: Limits) -> Result<PeerConnection, Error> {
    match peer_identity(&conn).and_then(|p| gate(&p).map(|()| p)) {
        Ok(peer) => Ok(PeerConnection {
            conn: Conn::Quic(conn),
            peer,
            limits,
        }),
        Err(refusal) => {
            tracing::warn!(remote = %conn.remote_address(), %refusal, "peer refused");
            conn.close(
                quinn::VarInt::from_u32(CLOSE_REFUSED),
                refusal.to_string().as_bytes(),
            );
            Err(Error::Refused(refusal))
        }
    }
}

/// As [`admit`], for an in-memory connection.
#[cfg(feature = "memory")]
fn admit_memory(knock: Knock, gate: &Gate, limits: Limits) -> Result<PeerConnection, Error> {
    match knock.peer.and_then(|p| gate(&p).map(|()| p)) {
        Ok(peer) => Ok(PeerConnection {
            conn: Conn::Memory(knock.end),
            peer,
            limits,
        }),
        Err(refusal) => {
            tracing::warn!(remote = %knock.end.remote(), %refusal, "peer refused");
            knock.end.close(&refusal.to_string());
            Err(Error::Refused(refusal))
        }
    }
}

fn peer_identity(conn: &quinn::Connection) -> Result<PeerIdentity, Refusal> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(Refusal::NoCertificate)?;
    PeerIdentity::from_cert(certs.first().ok_or(Refusal::NoCertificate)?)
}

/// An admitted connection to a peer.
#[derive(Clone, Debug)]
pub struct PeerConnection {
    conn: Conn,
    peer: PeerIdentity,
    limits: Limits,
}

#[derive(Clone, Debug)]
enum Conn {
    Quic(quinn::Connection),
    #[cfg(feature = "memory")]
    Memory(End),
}

impl PeerConnection {
    /// Who the peer is.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// Sends one request on a new stream and waits for the answer. An
    /// `Error` answer becomes [`Error::Remote`].
    pub async fn request(&self, frame: &pb::Frame) -> Result<pb::Frame, Error> {
        self.request_raw(&encode_frame(frame)).await
    }

    /// Sends `bytes` as they are on a new stream (they should be a framed
    /// request: length prefix and body) and reads the answer frame, as
    /// [`PeerConnection::request`]. For relaying pre-encoded frames, and for
    /// testing what a peer does with bytes that are not a well-formed frame.
    pub async fn request_raw(&self, bytes: &[u8]) -> Result<pb::Frame, Error> {
        let exchange = async {
            match &self.conn {
                Conn::Quic(conn) => {
                    let (mut send, mut recv) = conn.open_bi().await?;
                    send.write_all(bytes)
                        .await
                        .map_err(|e| Error::Stream(format!("sending: {e}")))?;
                    send.finish()
                        .map_err(|e| Error::Stream(format!("finishing: {e}")))?;
                    read_frame(&mut recv, self.limits.max_frame).await
                }
                #[cfg(feature = "memory")]
                Conn::Memory(end) => {
                    frame_from_bytes(&end.exchange(bytes).await?, self.limits.max_frame)
                }
            }
        };
        let timeout = self.limits.request_timeout;
        let answer = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        match answer.kind {
            Some(pb::frame::Kind::Error(e)) => Err(Error::Remote {
                code: pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Unspecified),
                message: e.message,
            }),
            _ => Ok(answer),
        }
    }

    /// Waits for the peer's next request stream. `None` when the
    /// connection ends. The frame is read by [`IncomingRequest::read`], on
    /// the caller's task for that request: a peer that stalls one stream
    /// holds up only that stream, for at most the read timeout.
    pub async fn next_request(&self) -> Option<IncomingRequest> {
        let stream = match &self.conn {
            Conn::Quic(conn) => {
                let (send, recv) = conn.accept_bi().await.ok()?;
                Stream::Quic { send, recv }
            }
            #[cfg(feature = "memory")]
            Conn::Memory(end) => {
                let (bytes, answer) = end.next_request().await?;
                Stream::Memory { bytes, answer }
            }
        };
        Some(IncomingRequest {
            stream,
            limits: self.limits,
            peer: self.peer.org.clone(),
        })
    }

    /// Whether the connection has closed (the peer went away or refused us).
    pub fn is_closed(&self) -> bool {
        match &self.conn {
            Conn::Quic(conn) => conn.close_reason().is_some(),
            #[cfg(feature = "memory")]
            Conn::Memory(end) => end.close_reason().is_some(),
        }
    }

    /// Closes the connection with a reason.
    pub fn close(&self, reason: &str) {
        match &self.conn {
            Conn::Quic(conn) => {
                conn.close(quinn::VarInt::from_u32(CLOSE_SHUTDOWN), reason.as_bytes());
            }
            #[cfg(feature = "memory")]
            Conn::Memory(end) => end.close(reason),
        }
    }

    /// Waits until the connection is closed, and says why.
    pub async fn closed(&self) -> quinn::ConnectionError {
        match &self.conn {
            Conn::Quic(conn) => conn.closed().await,
            #[cfg(feature = "memory")]
            Conn::Memory(end) => {
                quinn::ConnectionError::ApplicationClosed(quinn::ApplicationClose {
                    error_code: quinn::VarInt::from_u32(CLOSE_SHUTDOWN),
                    reason: end.closed().await.into(),
                })
            }
        }
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        match &self.conn {
            Conn::Quic(conn) => conn.remote_address(),
            #[cfg(feature = "memory")]
            Conn::Memory(end) => end.remote(),
        }
    }
}

/// A request stream a peer opened, its frame not read yet.
pub struct IncomingRequest {
    stream: Stream,
    limits: Limits,
    peer: OrgId,
}

enum Stream {
    Quic {
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    },
    #[cfg(feature = "memory")]
    Memory {
        bytes: Vec<u8>,
        answer: tokio::sync::oneshot::Sender<Vec<u8>>,
    },
}

/// Where a request's answer goes.
enum Answer {
    Quic(quinn::SendStream),
    #[cfg(feature = "memory")]
    Memory(tokio::sync::oneshot::Sender<Vec<u8>>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answer")
    }
}

impl Answer {
    async fn send(self, frame: &pb::Frame) -> Result<(), Error> {
        match self {
            Self::Quic(mut send) => {
                send.write_all(&encode_frame(frame))
                    .await
                    .map_err(|e| Error::Stream(format!("answering: {e}")))?;
                send.finish()
                    .map_err(|e| Error::Stream(format!("finishing the answer: {e}")))
            }
            #[cfg(feature = "memory")]
            Self::Memory(answer) => answer
                .send(encode_frame(frame))
                .map_err(|_| Error::Stream("answering: the peer went away".into())),
        }
    }
}

impl IncomingRequest {
    /// Reads the request's frame, within the read timeout. A frame that is
    /// malformed, oversized or late is answered with an `Error` frame on
    /// this stream only, and comes back as `Err`; the connection goes on.
    pub async fn read(self) -> Result<Request, Error> {
        let max = self.limits.max_frame;
        let (read, answer) = match self.stream {
            Stream::Quic { send, mut recv } => {
                let read = read_frame(&mut recv, max);
                let read = match tokio::time::timeout(self.limits.read_timeout, read).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::Timeout(self.limits.read_timeout)),
                };
                if matches!(read, Err(Error::FrameTooLarge { .. } | Error::Timeout(_))) {
                    // Not read any further.
                    let _ = recv.stop(quinn::VarInt::from_u32(STOP_NOT_READ));
                }
                (read, Answer::Quic(send))
            }
            #[cfg(feature = "memory")]
            Stream::Memory { bytes, answer } => {
                (frame_from_bytes(&bytes, max), Answer::Memory(answer))
            }
        };
        match read {
            Ok(frame) => Ok(Request {
                frame,
                send: answer,
            }),
            Err(e) => {
                let code = match e {
                    Error::FrameTooLarge { .. } => pb::ErrorCode::TooLarge,
                    Error::Timeout(_) => pb::ErrorCode::Timeout,
                    _ => pb::ErrorCode::Malformed,
                };
                tracing::warn!(peer = %self.peer, error = %e, "bad request frame");
                let _ = answer.send(&error_frame(code, e.to_string())).await;
                Err(e)
            }
        }
    }
}

/// A request read from a stream, to be answered once.
#[derive(Debug)]
pub struct Request {
    /// The request.
    pub frame: pb::Frame,
    send: Answer,
}

impl Request {
    /// Sends the answer and finishes the stream.
    pub async fn respond(self, frame: &pb::Frame) -> Result<(), Error> {
        self.send.send(frame).await
    }
}
