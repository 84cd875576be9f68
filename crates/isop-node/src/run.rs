//! Running a node for as long as its process runs (`isop node run`): it
//! starts again by itself after its log stopped taking writes.

use std::time::Duration;

use crate::{Error, Node, NodeConfig};

/// What [`run`] tells its caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// The node started (again, after a stop for its log).
    Started(&'a Node),
    /// The node's log stopped taking writes, so the node stopped; it
    /// starts again once its disk has the reserve free.
    Stopped {
        /// Why the log takes no more writes.
        why: &'a str,
    },
}

/// How often a running node's log is checked, and a stopped node's disk.
const CHECK: Duration = Duration::from_secs(1);

/// How long a start waits for the node's UDP port and log lock, which a
/// node stopped a moment ago may still hold, and how often it tries.
const START_WAIT: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(100);

/// Runs the node `config` describes until `stop` resolves, and keeps it
/// running: when its log stops taking writes (a write failed, most often
/// because something filled the disk past the reserve within one group
/// commit; sled takes no writes after a failed one until it is reopened),
/// the node stops, waits until its disk has `min_free_disk_bytes` free,
/// and starts again, reopening and re-verifying its log. Nothing
/// acknowledged is lost: what the failed write held was never answered,
/// and its senders deliver it again. Each notice of `reload` has the
/// running node take up its key and certificate again (SIGHUP).
pub async fn run<T>(
    config: NodeConfig,
    stop: impl Future<Output = T>,
    reload: &tokio::sync::Notify,
    mut told: impl FnMut(RunEvent<'_>),
) -> Result<T, Error> {
    tokio::pin!(stop);
    loop {
        let node = start(&config).await?;
        told(RunEvent::Started(&node));
        let mut check = tokio::time::interval(CHECK);
        let why = loop {
            tokio::select! {
                out = &mut stop => {
                    node.shutdown().await?;
                    return Ok(out);
                }
                () = reload.notified() => {
                    // What failed is said; the node keeps what it has.
                    if let Err(e) = node.reload() {
                        tracing::error!(error = %e, "kept the signing key and certificate in use");
                    }
                }
                _ = check.tick() => {
                    if let Some(why) = node.store().failure() {
                        break why;
                    }
                }
            }
        };
        tracing::error!(error = %why, "the log takes no more writes: stopping the node, to start it again once its disk has room");
        told(RunEvent::Stopped { why: &why });
        if let Err(e) = node.shutdown().await {
            tracing::warn!(error = %e, "stopping the node");
        }
        let store = config.store();
        let mut said = false;
        while let Err(e) = store.room() {
            if !said {
                tracing::error!(error = %e, "waiting for disk space to start the node again");
                said = true;
            }
            tokio::select! {
                out = &mut stop => return Ok(out),
                () = tokio::time::sleep(CHECK) => {}
            }
        }
        tracing::info!("the disk has room: starting the node again");
    }
}

/// Starts the node, waiting (bounded) for a port or log lock that a node
/// stopped a moment ago still holds.
async fn start(config: &NodeConfig) -> Result<Node, Error> {
    let deadline = tokio::time::Instant::now() + START_WAIT;
    let waiting = || tokio::time::Instant::now() < deadline;
    loop {
        let socket = match std::net::UdpSocket::bind(config.listen) {
            Ok(socket) => socket,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && waiting() => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(e) => return Err(crate::node::listen_error(config.listen, &e)),
        };
        match Node::bind_socket(config.clone(), socket).await {
            Err(Error::Store(isop_store::Error::Locked(_))) if waiting() => {
                tokio::time::sleep(RETRY).await;
            }
            r => return r,
        }
    }
}
