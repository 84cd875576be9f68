//! Drives NATS JetStream the way `cargo bench -p isop-node --bench ingest`
//! drives an isop node: 1 KiB messages to a file-backed stream, over mutual
//! TLS on loopback, at 1, 16 and 256 in flight. It makes its own CA and
//! certificates, starts the `nats-server` it is given with the sync setting
//! it is given, and prints one line per run in the isop bench's format.
//!
//! - `publish+ack`: each message published and its acknowledgement awaited
//!   (latency: publish to acknowledgement).
//! - `signed pipeline` (with `--signed`): the least a NATS user must run to
//!   get what an isop receiver gives. Two publishers (as isop's bench has
//!   two senders) publish pre-signed messages (a body and its ed25519
//!   signature, 1 KiB in all), each awaiting its acknowledgement; a pull
//!   consumer takes what has arrived, up to 256 at a time, verifies the
//!   signatures in one batch and acknowledges them (ack-all on the last).
//!   Timed from the first publish to the last message verified; latency is
//!   publish to verified, per message.
//!
//! Usage: `nats-load [--server PATH] [--sync default|always] [--signed] [messages]`
//! (default 50,000 messages, `nats-server` from `PATH`). `--sync always`
//! sets `jetstream { sync_interval: always }` (nats-server 2.10 and later):
//! the stream is fsynced before each acknowledgement, as isop's log is
//! before each receipt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_nats::jetstream;

fn certs(dir: &std::path::Path) -> Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(vec![])?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "bench CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    for (name, sans) in [("server", vec!["localhost"]), ("client", vec!["client"])] {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        if name == "server" {
            p.subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
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

/// Publishes `messages` to `subject`, `window` in flight, each awaiting
/// its acknowledgement; `sent[i]` is set as message `i` goes out. Returns
/// the publish-to-acknowledgement latencies.
async fn publish(
    js: &jetstream::Context,
    subject: &str,
    messages: Arc<Vec<bytes::Bytes>>,
    window: usize,
    sent: Arc<Vec<std::sync::OnceLock<Instant>>>,
) -> Result<Vec<Duration>> {
    let n = messages.len();
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..window {
        let (js, messages, sent, subject) = (
            js.clone(),
            messages.clone(),
            sent.clone(),
            subject.to_owned(),
        );
        lanes.spawn(async move {
            let mut lat = Vec::new();
            for i in (lane..n).step_by(window) {
                let t = Instant::now();
                let _ = sent[i].set(t);
                js.publish(subject.clone(), messages[i].clone())
                    .await?
                    .await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::with_capacity(n);
    while let Some(r) = lanes.join_next().await {
        lat.extend(r??);
    }
    Ok(lat)
}

/// Times when each of `n` messages is sent.
fn send_times(n: usize) -> Arc<Vec<std::sync::OnceLock<Instant>>> {
    Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect())
}

/// `n` copies of `payload` published with acknowledgements, `window` in
/// flight: messages/s and the sorted latencies.
async fn run(
    js: &jetstream::Context,
    n: usize,
    window: usize,
    payload: bytes::Bytes,
) -> Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let messages = Arc::new(vec![payload; n]);
    let mut lat = publish(js, "bench.notices", messages, window, send_times(n)).await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok((rate, lat))
}

/// Publishes pre-signed messages from two publishers, `window` in flight
/// in all, while one pull consumer batch-verifies and acknowledges them.
/// Returns messages/s (first publish to last verified) and the sorted
/// publish-to-verified latencies.
async fn signed_pipeline(
    js: &jetstream::Context,
    run: usize,
    n: usize,
    window: usize,
) -> Result<(f64, Vec<Duration>)> {
    use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
    use futures::StreamExt;
    let stream_name = format!("SIGNED{run}");
    let subject = format!("signed.{run}");
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("verifier".into()),
            ack_policy: jetstream::consumer::AckPolicy::All,
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await?;
    // Everything is signed before the clock starts, as in isop's bench.
    let keys: Vec<SigningKey> = (0..2)
        .map(|_| SigningKey::generate(&mut rand::rngs::OsRng))
        .collect();
    let verifying: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    const BODY: usize = 1024 - 64;
    let messages: Vec<bytes::Bytes> = (0..n)
        .map(|i| {
            // The body carries its number (for the latency) and its publisher.
            let mut body = vec![0x5a; BODY];
            body[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let signature = keys[i % 2].sign(&body);
            body.extend_from_slice(&signature.to_bytes());
            bytes::Bytes::from(body)
        })
        .collect();
    let sent = send_times(n);
    let mut verified = consumer
        .stream()
        .max_messages_per_batch(window.max(256))
        .messages()
        .await?;
    let started = Instant::now();
    let verifier = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            let mut done = 0usize;
            let mut taken = Vec::with_capacity(256);
            while done < n {
                // What has arrived, up to 256: at least one.
                taken.clear();
                match verified.next().await {
                    Some(m) => taken.push(m?),
                    None => bail!("the consumer ended after {done} messages"),
                }
                while taken.len() < 256 {
                    match futures::FutureExt::now_or_never(verified.next()) {
                        Some(Some(m)) => taken.push(m?),
                        _ => break,
                    }
                }
                let mut numbers = Vec::with_capacity(taken.len());
                let mut bodies = Vec::with_capacity(taken.len());
                let mut signatures = Vec::with_capacity(taken.len());
                let mut signers = Vec::with_capacity(taken.len());
                for m in &taken {
                    let p = &m.payload;
                    if p.len() != 1024 {
                        bail!("a message of {} bytes", p.len());
                    }
                    let i = u64::from_be_bytes(p[..8].try_into()?) as usize;
                    numbers.push(i);
                    bodies.push(&p[..BODY]);
                    signatures.push(ed25519_dalek::Signature::from_slice(&p[BODY..])?);
                    signers.push(verifying[i % 2]);
                }
                ed25519_dalek::verify_batch(&bodies, &signatures, &signers)
                    .map_err(|e| anyhow::anyhow!("a batch failed to verify: {e}"))?;
                let now = Instant::now();
                lat.extend(numbers.iter().filter_map(|&i| Some(now - *sent[i].get()?)));
                taken
                    .last()
                    .expect("one at least")
                    .ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                done += taken.len();
            }
            anyhow::Ok(lat)
        })
    };
    publish(js, &subject, Arc::new(messages), window, sent).await?;
    let mut lat = verifier.await??;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort_unstable();
    js.delete_stream(&stream_name).await?;
    Ok((rate, lat))
}

fn report(what: &str, rate: f64, lat: &[Duration]) {
    println!(
        "  {what:<34} {rate:>9.0} notices/s   p50 {:>8.3} ms  p99 {:>8.3} ms  p999 {:>8.3} ms",
        percentile(lat, 0.50).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        percentile(lat, 0.999).as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut server_bin = std::path::PathBuf::from("nats-server");
    let mut sync = "default".to_owned();
    let mut signed = false;
    let mut n = 50_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server_bin = args.next().context("--server needs a path")?.into(),
            "--sync" => sync = args.next().context("--sync needs default or always")?,
            "--signed" => signed = true,
            other => {
                n = other
                    .parse()
                    .with_context(|| format!("{other:?} is not a number of messages"))?
            }
        }
    }
    let sync_line = match sync.as_str() {
        "default" => "",
        "always" => "  sync_interval: always\n",
        other => bail!("--sync {other:?}: default or always"),
    };
    let dir = std::env::temp_dir().join(format!("nats-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    certs(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let conf = format!(
        "listen: 127.0.0.1:{port}\ntls {{\n  cert_file: \"{d}/server.pem\"\n  key_file: \"{d}/server.key\"\n  ca_file: \"{d}/ca.pem\"\n  verify: true\n  timeout: 5\n}}\njetstream {{\n  store_dir: \"{d}/js\"\n{sync_line}}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nats.conf"), conf)?;
    let mut server = tokio::process::Command::new(&server_bin)
        .arg("-c")
        .arg(dir.join("nats.conf"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (install it: apt-get install nats-server)",
                server_bin.display()
            )
        })?;
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
    let version = std::process::Command::new(&server_bin)
        .arg("--version")
        .output()?;
    println!(
        "NATS JetStream ({}), sync {sync}, file store, mutual TLS, {n} messages of 1 KiB per run",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    let payload = bytes::Bytes::from(vec![0x5a; 1024]);
    for window in [1usize, 16, 256] {
        let count = if window == 1 { n.min(5_000) } else { n };
        let (rate, lat) = run(&js, count, window, payload.clone()).await?;
        report(&format!("publish+ack, {window} in flight"), rate, &lat);
    }
    if signed {
        for (run, window) in [1usize, 16, 256].into_iter().enumerate() {
            let count = if window == 1 { n.min(5_000) } else { n };
            let (rate, lat) = signed_pipeline(&js, run, count, window).await?;
            report(&format!("signed pipeline, {window} in flight"), rate, &lat);
        }
    }
    server.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
