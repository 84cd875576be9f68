//! A UDP fault proxy: it sits between QUIC peers on loopback and drops,
//! delays, reorders, duplicates and corrupts their datagrams at set rates,
//! and can black-hole either direction (an asymmetric partition).
//!
//! Kernel network emulation is not available where the tests run, so the
//! faults are made here, in user space. A peer that should be reached
//! through the proxy is given the proxy's address instead of its own; each
//! client address the proxy hears from gets its own upstream socket (as a
//! NAT would), so the target sees distinct peers. The faults of each
//! direction can be changed while traffic flows; the random choices come
//! from a seeded generator, so a run's fault pattern can be replayed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;

/// What happens to the datagrams of one direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// The share of datagrams dropped (0.0 to 1.0).
    pub loss: f64,
    /// Every datagram waits this long before it is passed on.
    pub delay: Duration,
    /// And a further random wait up to this long (which reorders them).
    pub jitter: Duration,
    /// The share of datagrams held back a further `reorder_by` (reordered
    /// behind those that follow).
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_by: Duration,
    /// The share of datagrams sent twice.
    pub duplicate: f64,
    /// The share of datagrams with one byte flipped.
    pub corrupt: f64,
    /// Nothing passes.
    pub blackhole: bool,
}

/// What the proxy did to the datagrams of one direction.
#[derive(Debug, Default)]
pub struct Counts {
    passed: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    corrupted: AtomicU64,
    reordered: AtomicU64,
}

impl Counts {
    fn add(n: &AtomicU64) {
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// The datagrams passed on (duplicates counted once).
    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    pub fn duplicated(&self) -> u64 {
        self.duplicated.load(Ordering::Relaxed)
    }
    pub fn corrupted(&self) -> u64 {
        self.corrupted.load(Ordering::Relaxed)
    }
    pub fn reordered(&self) -> u64 {
        self.reordered.load(Ordering::Relaxed)
    }
}

/// One direction: its faults, its counts.
#[derive(Debug, Default)]
struct Direction {
    faults: Mutex<Faults>,
    counts: Counts,
}

struct Shared {
    /// Client to target.
    up: Direction,
    /// Target to client.
    down: Direction,
    rng: Mutex<StdRng>,
}

/// A running proxy in front of one target; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `target`,
    /// its random choices seeded with `seed`, passing everything until
    /// faults are set.
    pub async fn start(target: SocketAddr, seed: u64) -> std::io::Result<Self> {
        let listen = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = listen.local_addr()?;
        let shared = Arc::new(Shared {
            up: Direction::default(),
            down: Direction::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        });
        let task = tokio::spawn(run(listen, target, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// The address peers use to reach the target through the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the faults of datagrams from clients to the target.
    pub fn set_up(&self, faults: Faults) {
        *lock(&self.shared.up.faults) = faults;
    }

    /// Sets the faults of datagrams from the target back to clients.
    pub fn set_down(&self, faults: Faults) {
        *lock(&self.shared.down.faults) = faults;
    }

    /// Sets the same faults both ways.
    pub fn set(&self, faults: Faults) {
        self.set_up(faults.clone());
        self.set_down(faults);
    }

    /// What happened to datagrams from clients to the target.
    pub fn up(&self) -> &Counts {
        &self.shared.up.counts
    }

    /// What happened to datagrams from the target to clients.
    pub fn down(&self) -> &Counts {
        &self.shared.down.counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The largest datagram QUIC sends here (with room to spare).
const MAX_DATAGRAM: usize = 65_535;

/// Where a datagram that passes goes.
#[derive(Clone)]
enum Dest {
    /// To the target, on the client's own upstream socket.
    Target(Arc<UdpSocket>),
    /// Back to the client, from the proxy's address.
    Client(Arc<UdpSocket>, SocketAddr),
}

impl Dest {
    async fn send(&self, datagram: &[u8]) {
        // A datagram that cannot be sent is lost, as on a network.
        let _ = match self {
            Dest::Target(upstream) => upstream.send(datagram).await,
            Dest::Client(listen, client) => listen.send_to(datagram, client).await,
        };
    }
}

async fn run(listen: Arc<UdpSocket>, target: SocketAddr, shared: Arc<Shared>) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut children = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, client)) = listen.recv_from(&mut buf).await else {
            return;
        };
        let upstream = match upstreams.get(&client) {
            Some(u) => u.clone(),
            None => {
                let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                if socket.connect(target).await.is_err() {
                    continue;
                }
                let socket = Arc::new(socket);
                upstreams.insert(client, socket.clone());
                // The target's answers to this client, back through `listen`.
                let (from, back, shared) = (
                    socket.clone(),
                    Dest::Client(listen.clone(), client),
                    shared.clone(),
                );
                children.spawn(async move {
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    while let Ok(n) = from.recv(&mut buf).await {
                        pass(&shared, &shared.down, buf[..n].to_vec(), &back).await;
                    }
                });
                socket
            }
        };
        pass(
            &shared,
            &shared.up,
            buf[..n].to_vec(),
            &Dest::Target(upstream),
        )
        .await;
    }
}

/// Applies `dir`'s faults to one datagram and sends what is left to
/// `dest`: at once (in order) without a delay, else from a task after it.
async fn pass(shared: &Shared, dir: &Direction, mut datagram: Vec<u8>, dest: &Dest) {
    let faults = lock(&dir.faults).clone();
    let counts = &dir.counts;
    if faults.blackhole {
        Counts::add(&counts.dropped);
        return;
    }
    // Each copy's wait (two copies when duplicated), and the byte flipped.
    let (dropped, waits, flip) = {
        let mut rng = lock(&shared.rng);
        let dropped = rng.gen_bool(faults.loss.clamp(0.0, 1.0));
        let copies = 1 + usize::from(rng.gen_bool(faults.duplicate.clamp(0.0, 1.0)));
        let flip = rng.gen_bool(faults.corrupt.clamp(0.0, 1.0)).then(|| {
            (
                rng.gen_range(0..datagram.len().max(1)),
                rng.gen_range(1..=255u8),
            )
        });
        let waits: Vec<(Duration, bool)> = (0..copies)
            .map(|_| {
                let jitter = faults.jitter.mul_f64(rng.gen_range(0.0..1.0));
                let reordered = rng.gen_bool(faults.reorder.clamp(0.0, 1.0));
                let held = if reordered {
                    faults.reorder_by
                } else {
                    Duration::ZERO
                };
                (faults.delay + jitter + held, reordered)
            })
            .collect();
        (dropped, waits, flip)
    };
    if dropped {
        Counts::add(&counts.dropped);
        return;
    }
    if let Some((at, x)) = flip
        && let Some(b) = datagram.get_mut(at)
    {
        *b ^= x;
        Counts::add(&counts.corrupted);
    }
    Counts::add(&counts.passed);
    if waits.len() == 2 {
        Counts::add(&counts.duplicated);
    }
    for (wait, reordered) in waits {
        if reordered {
            Counts::add(&counts.reordered);
        }
        if wait.is_zero() {
            dest.send(&datagram).await;
        } else {
            let (dest, datagram) = (dest.clone(), datagram.clone());
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                dest.send(&datagram).await;
            });
        }
    }
}
