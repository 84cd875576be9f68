//! An in-memory network, for deterministic tests of what nodes do (in the
//! spirit of quinn-proto's `Pair`): endpoints exchange the same frames as
//! over QUIC, through channels, with no sockets, no packets and no TLS
//! handshake. A dialler presents its certificate, and each side's gate
//! judges the identity read from the other's certificate exactly as over
//! QUIC (org, pinned key); the certificate chain is not checked against
//! the CA, which is TLS's part and is tested over real QUIC. Behind the
//! `memory` feature: a node built for production cannot use it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use isop_core::OrgId;
use isop_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot, watch};

use crate::frame::{check_len, decode_frame};
use crate::{Error, PeerIdentity, Refusal, TlsIdentity};

/// One request on a connection: the framed bytes, and where the framed
/// answer goes.
struct Exchange {
    bytes: Vec<u8>,
    answer: oneshot::Sender<Vec<u8>>,
}

/// A connection's shared state: closed once, with a reason, by either side.
#[derive(Debug)]
struct Link {
    closed: watch::Sender<Option<String>>,
}

impl Link {
    fn close(&self, reason: &str) {
        self.closed.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(reason.to_owned());
            }
            first
        });
    }

    fn reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }
}

/// A peer knocking at a listening endpoint: its end of the connection and
/// the identity its certificate shows.
pub(crate) struct Knock {
    pub(crate) end: End,
    pub(crate) peer: Result<PeerIdentity, Refusal>,
}

impl std::fmt::Debug for Knock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knock")
            .field("remote", &self.end.remote)
            .finish_non_exhaustive()
    }
}

/// One end of a connection.
#[derive(Clone)]
pub(crate) struct End {
    link: Arc<Link>,
    to_peer: mpsc::UnboundedSender<Exchange>,
    from_peer: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Exchange>>>,
    remote: SocketAddr,
}

impl std::fmt::Debug for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("End")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl End {
    fn pair(a: SocketAddr, b: SocketAddr) -> (Self, Self) {
        let link = Arc::new(Link {
            closed: watch::Sender::new(None),
        });
        let (to_b, from_a) = mpsc::unbounded_channel();
        let (to_a, from_b) = mpsc::unbounded_channel();
        (
            Self {
                link: link.clone(),
                to_peer: to_b,
                from_peer: Arc::new(tokio::sync::Mutex::new(from_b)),
                remote: b,
            },
            Self {
                link,
                to_peer: to_a,
                from_peer: Arc::new(tokio::sync::Mutex::new(from_a)),
                remote: a,
            },
        )
    }

    pub(crate) fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub(crate) fn close(&self, reason: &str) {
        self.link.close(reason);
    }

    pub(crate) fn close_reason(&self) -> Option<String> {
        self.link.reason()
    }

    /// Waits until the connection is closed, and says why.
    pub(crate) async fn closed(&self) -> String {
        let mut rx = self.link.closed.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "closed".into(),
        }
    }

    /// Sends framed request bytes and waits for the framed answer.
    pub(crate) async fn exchange(&self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let closed = |reason: Option<String>| {
            Error::Stream(format!(
                "connection closed: {}",
                reason.unwrap_or_else(|| "the peer went away".into())
            ))
        };
        if let Some(reason) = self.link.reason() {
            return Err(closed(Some(reason)));
        }
        let (answer, answered) = oneshot::channel();
        self.to_peer
            .send(Exchange {
                bytes: bytes.to_vec(),
                answer,
            })
            .map_err(|_| closed(self.link.reason()))?;
        tokio::select! {
            a = answered => a.map_err(|_| closed(self.link.reason())),
            reason = self.closed() => Err(closed(Some(reason))),
        }
    }

    /// The peer's next request, `None` once the connection is closed.
    pub(crate) async fn next_request(&self) -> Option<(Vec<u8>, oneshot::Sender<Vec<u8>>)> {
        if self.link.reason().is_some() {
            return None;
        }
        let mut from_peer = self.from_peer.lock().await;
        tokio::select! {
            e = from_peer.recv() => e.map(|e| (e.bytes, e.answer)),
            _ = self.closed() => None,
        }
    }
}

/// Reads a frame from framed bytes, as `read_frame` does from a stream.
pub(crate) fn frame_from_bytes(bytes: &[u8], max: usize) -> Result<pb::Frame, Error> {
    let Some((prefix, body)) = bytes.split_first_chunk::<4>() else {
        return Err(Error::Stream(format!(
            "reading a frame length: the stream finished after {} bytes",
            bytes.len()
        )));
    };
    let len = check_len(*prefix, max)?;
    if body.len() < len {
        return Err(Error::Stream(format!(
            "reading a frame of {len} bytes: the stream finished early, after {} bytes",
            body.len()
        )));
    }
    decode_frame(&body[..len])
}

#[derive(Debug, Default)]
struct Net {
    listeners: HashMap<SocketAddr, Listener>,
    next_port: u16,
    /// Numbers each listener, so a closed endpoint removes only its own.
    next_listener: u64,
}

#[derive(Debug)]
struct Listener {
    number: u64,
    identity: Result<PeerIdentity, Refusal>,
    knocks: mpsc::UnboundedSender<Knock>,
}

/// An in-memory network of endpoints, each at an address of its own.
/// Cloning it gives another handle to the same network.
#[derive(Clone, Debug, Default)]
pub struct MemoryNetwork {
    net: Arc<Mutex<Net>>,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// An address on 127.0.0.1 that no endpoint of this network has taken
    /// (nothing is bound: the address only names an endpoint here).
    pub fn reserve(&self) -> SocketAddr {
        let mut net = self.lock();
        net.next_port = net.next_port.wrapping_add(1).max(1);
        SocketAddr::from(([127, 0, 0, 1], net.next_port))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens at `addr` as `identity`.
    pub(crate) fn listen(
        &self,
        addr: SocketAddr,
        identity: &TlsIdentity,
    ) -> Result<MemoryEndpoint, Error> {
        let mut net = self.lock();
        if net.listeners.contains_key(&addr) {
            return Err(Error::Bind {
                addr,
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            });
        }
        let (knocks, incoming) = mpsc::unbounded_channel();
        let identity = presented(identity);
        net.next_listener += 1;
        let number = net.next_listener;
        net.listeners.insert(
            addr,
            Listener {
                number,
                identity: identity.clone(),
                knocks,
            },
        );
        Ok(MemoryEndpoint {
            network: self.clone(),
            addr,
            number,
            identity: Mutex::new(identity),
            incoming: tokio::sync::Mutex::new(incoming),
            links: Mutex::new(Vec::new()),
            closed: watch::Sender::new(false),
        })
    }
}

/// The identity a certificate presents, as a peer would read it.
fn presented(identity: &TlsIdentity) -> Result<PeerIdentity, Refusal> {
    PeerIdentity::from_cert(identity.cert().ok_or(Refusal::NoCertificate)?)
}

/// An endpoint of a [`MemoryNetwork`].
#[derive(Debug)]
pub(crate) struct MemoryEndpoint {
    network: MemoryNetwork,
    addr: SocketAddr,
    number: u64,
    identity: Mutex<Result<PeerIdentity, Refusal>>,
    incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<Knock>>,
    links: Mutex<Vec<Weak<Link>>>,
    closed: watch::Sender<bool>,
}

impl MemoryEndpoint {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn track(&self, end: &End) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| l.strong_count() > 0);
        links.push(Arc::downgrade(&end.link));
    }

    pub(crate) async fn accept(&self) -> Option<Knock> {
        let mut stop = self.closed.subscribe();
        let mut incoming = self.incoming.lock().await;
        let knock = tokio::select! {
            k = incoming.recv() => k?,
            _ = stop.wait_for(|c| *c) => return None,
        };
        self.track(&knock.end);
        Some(knock)
    }

    /// Shows `identity` from now on, to new connections both ways.
    pub(crate) fn set_identity(&self, identity: &TlsIdentity) {
        let shown = presented(identity);
        let mut net = self.network.lock();
        if let Some(l) = net.listeners.get_mut(&self.addr)
            && l.number == self.number
        {
            l.identity = shown.clone();
        }
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = shown;
    }

    /// Dials `addr`, which must show `org`'s certificate: this end and
    /// the identity the listener showed.
    pub(crate) fn connect(&self, addr: SocketAddr, org: &OrgId) -> Result<Knock, Error> {
        let net = self.network.lock();
        let listener = net.listeners.get(&addr).ok_or_else(|| Error::Connect {
            addr,
            why: "no endpoint listens there".into(),
        })?;
        let peer = match &listener.identity {
            Ok(p) if p.org == *org => p.clone(),
            Ok(p) => {
                return Err(Error::Connect {
                    addr,
                    why: format!("the certificate is for {}, not {org}", p.org),
                });
            }
            Err(r) => return Err(Error::Refused(r.clone())),
        };
        let (mine, theirs) = End::pair(self.addr, addr);
        listener
            .knocks
            .send(Knock {
                end: theirs,
                peer: self
                    .identity
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            })
            .map_err(|_| Error::Connect {
                addr,
                why: "the endpoint there closed".into(),
            })?;
        drop(net);
        self.track(&mine);
        Ok(Knock {
            end: mine,
            peer: Ok(peer),
        })
    }

    /// Closes every connection and stops listening.
    pub(crate) fn close(&self) {
        let mut net = self.network.lock();
        if net
            .listeners
            .get(&self.addr)
            .is_some_and(|l| l.number == self.number)
        {
            net.listeners.remove(&self.addr);
        }
        drop(net);
        self.closed.send_replace(true);
        let links = std::mem::take(&mut *self.links.lock().unwrap_or_else(|p| p.into_inner()));
        for link in links.iter().filter_map(Weak::upgrade) {
            link.close("shutting down");
        }
    }
}

impl Drop for MemoryEndpoint {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_frame;
    use crate::{Error, error_frame};

    #[test]
    fn a_frame_is_read_from_bytes_as_from_a_stream() {
        let frame = error_frame(pb::ErrorCode::NotFound, "no such entry");
        let bytes = encode_frame(&frame);
        assert_eq!(frame_from_bytes(&bytes, 1024).unwrap(), frame);
        // Cut short, in the prefix and in the body.
        assert!(matches!(
            frame_from_bytes(&bytes[..3], 1024),
            Err(Error::Stream(_))
        ));
        let e = frame_from_bytes(&bytes[..bytes.len() - 1], 1024).unwrap_err();
        assert!(e.to_string().contains("finished early"), "{e}");
        // Over the limit.
        assert!(matches!(
            frame_from_bytes(&bytes, 4),
            Err(Error::FrameTooLarge { .. })
        ));
        // Not a frame.
        let junk = [0, 0, 0, 2, 0xff, 0xff];
        assert!(matches!(
            frame_from_bytes(&junk, 1024),
            Err(Error::Malformed(_))
        ));
    }
}
