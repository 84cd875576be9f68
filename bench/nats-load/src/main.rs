//! Drives NATS JetStream the way `cargo bench -p isop-node --bench ingest`
//! drives an isop node: 1 KiB messages published with acknowledgements to
//! a file-backed stream, over mutual TLS on loopback, at 1, 16 and 256 in
//! flight. It makes its own CA and certificates, starts `nats-server`,
//! and prints one line per run in the isop bench's format.
//!
//! Usage: `nats-load [messages]` (default 50,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_nats::jetstream;

fn certs(dir: &std::path::Path) -> Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(vec![])?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "bench CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    for (name, sans) in [("server", vec!["localhost"]), ("client", vec!["client"])] {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        if name == "server" {
            p.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        }
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = p.signed_by(&key, &issuer)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
    }
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run(js: &jetstream::Context, n: usize, window: usize, payload: bytes::Bytes) -> Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let js = Arc::new(js.clone());
    for lane in 0..window {
        let (js, payload) = (js.clone(), payload.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            for _ in (lane..n).step_by(window) {
                let t = Instant::now();
                js.publish("bench.notices", payload.clone()).await?.await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        lat.extend(r??);
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok((rate, lat))
}

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let dir = std::env::temp_dir().join(format!("nats-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    certs(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let conf = format!(
        "listen: 127.0.0.1:{port}\ntls {{\n  cert_file: \"{d}/server.pem\"\n  key_file: \"{d}/server.key\"\n  ca_file: \"{d}/ca.pem\"\n  verify: true\n  timeout: 5\n}}\njetstream {{\n  store_dir: \"{d}/js\"\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nats.conf"), conf)?;
    let mut server = tokio::process::Command::new("nats-server")
        .arg("-c")
        .arg(dir.join("nats.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting nats-server (install it: apt-get install nats-server)")?;
    let url = format!("tls://localhost:{port}");
    let options = || {
        async_nats::ConnectOptions::new()
            .add_root_certificates(dir.join("ca.pem"))
            .add_client_certificate(dir.join("client.pem"), dir.join("client.key"))
            .require_tls(true)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match options().connect(&url).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => bail!("cannot reach nats-server: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let version = std::process::Command::new("nats-server").arg("--version").output()?;
    println!(
        "NATS JetStream ({}), file store, mutual TLS, {n} messages of 1 KiB per run",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    let payload = bytes::Bytes::from(vec![0x5a; 1024]);
    for window in [1usize, 16, 256] {
        let count = if window == 1 { n.min(5_000) } else { n };
        let (rate, lat) = run(&js, count, window, payload.clone()).await?;
        println!(
            "  {:<34} {rate:>9.0} notices/s   p50 {:>8.3} ms  p99 {:>8.3} ms  p999 {:>8.3} ms",
            format!("publish+ack, {window} in flight"),
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            percentile(&lat, 0.999).as_secs_f64() * 1e3,
        );
    }
    server.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
