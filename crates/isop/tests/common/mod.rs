//! What the binary's tests share: node processes, free ports, running `isop`.

#![allow(dead_code)]

use std::process::Command;

/// Kills the node processes when the test ends, however it ends.
pub(crate) struct Nodes(pub(crate) Vec<std::process::Child>);

impl Nodes {
    /// Starts `isop node run --config config`, its log to `log`.
    pub(crate) fn start(&mut self, config: &str, log: &std::path::Path) {
        self.0.push(node_process(config, log));
    }

    /// Stops node `i` (SIGTERM if `gently`, else SIGKILL), starts it again
    /// from `config` logging to `log`, and waits until it serves.
    pub(crate) fn restart(&mut self, i: usize, config: &str, log: &std::path::Path, gently: bool) {
        let child = &mut self.0[i];
        if gently {
            let pid = rustix::process::Pid::from_child(child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        } else {
            let _ = child.kill();
        }
        let _ = child.wait();
        self.0[i] = node_process(config, log);
        eventually(&["status", "--node", config], |o| o.contains("roster v"));
    }
}

/// An `isop node run --config config` process, its log to `log`.
fn node_process(config: &str, log: &std::path::Path) -> std::process::Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(["node", "run", "--config", config])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Kilobytes of resident memory of `pid`, from /proc.
pub(crate) fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Six consecutive free ports on loopback for UDP (QUIC) and TCP (the API),
/// below Linux's ephemeral range (32768 and up), so that no other test's
/// port-0 bind can take them once they are chosen.
pub(crate) fn free_ports() -> (u16, u16) {
    free_port_ranges(6)
}

/// `n` consecutive free UDP ports and `n` free TCP ports from
/// `max(n, 100)` further on, as [`free_ports`] finds six.
pub(crate) fn free_port_ranges(n: u16) -> (u16, u16) {
    let gap = n.max(100);
    let free = |base: u16| {
        (0..n).all(|i| {
            std::net::UdpSocket::bind(("127.0.0.1", base + i)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", base + gap + i)).is_ok()
        })
    };
    // Tests of one process start their search apart, so two never pick the
    // same ports before either binds them.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = (std::process::id() as u16).wrapping_add(call.wrapping_mul(2_003));
    (0..500u16)
        .map(|k| 20_000 + (start.wrapping_add(k.wrapping_mul(211)) % 12_000))
        .find(|b| free(*b))
        .map(|b| (b, b + gap))
        .expect("free ports")
}

/// An example federation (`isop certs example`) written to `dir/fed`, its
/// nodes on free loopback ports.
pub(crate) fn example_federation(dir: &std::path::Path) -> std::path::PathBuf {
    let fed = dir.join("fed");
    let (quic, api) = free_ports();
    let out = run(&[
        "certs",
        "example",
        fed.to_str().unwrap(),
        "--quic-port",
        &quic.to_string(),
        "--api-port",
        &api.to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    fed
}

/// Starts the nodes of `orgs` of the federation in `fed`, each logging to
/// `dir/<org>.log`, and waits until each serves its roster: the nodes, and
/// their configs' paths in the order of `orgs`.
pub(crate) fn start_nodes(
    fed: &std::path::Path,
    dir: &std::path::Path,
    orgs: &[&str],
) -> (Nodes, Vec<String>) {
    let mut nodes = Nodes(Vec::new());
    let configs: Vec<String> = orgs
        .iter()
        .map(|org| fed.join(org).join("node.toml").display().to_string())
        .collect();
    for (org, config) in orgs.iter().zip(&configs) {
        nodes.start(config, &dir.join(format!("{org}.log")));
    }
    for config in &configs {
        eventually(&["status", "--node", config], |o| o.contains("roster v1"));
    }
    (nodes, configs)
}

/// Runs `isop` with `args`.
pub(crate) fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_isop"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `isop` with `args`, which must succeed: its stdout.
pub(crate) fn isop(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "isop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `args` until `ok` holds for its output, or fails after 30 s: the
/// nodes answer when they are up and when deliveries have arrived.
pub(crate) fn eventually(args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && ok(&stdout) {
            return stdout;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "isop {args:?} never gave what was expected: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A listener on loopback posing as an HTTP proxy: it counts the
/// connections it gets and answers each with 502.
pub(crate) struct PosingProxy {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl PosingProxy {
    pub(crate) fn start() -> Self {
        use std::io::Write;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = s.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Self { addr, seen }
    }

    /// The variables that send HTTP clients to a proxy, pointing here,
    /// with no exceptions.
    pub(crate) fn vars(&self) -> Vec<(&'static str, String)> {
        let url = format!("http://{}", self.addr);
        let mut vars: Vec<_> = [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .into_iter()
        .map(|k| (k, url.clone()))
        .collect();
        vars.extend([("NO_PROXY", String::new()), ("no_proxy", String::new())]);
        vars
    }

    /// Connections it got.
    pub(crate) fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}
