//! The node's configuration: one TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use isop_core::{KeyId, OrgId, PublicKey, RosterKey, SecretKey, Signer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Error;

/// A node's configuration. Relative paths are relative to the config file.
/// `Default` is a development setup for a node called `DEV-NODE`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The config's format (default 1, the only one so far). A node
    /// refuses a config of a newer format, naming it, before anything else
    /// in the file is read.
    #[serde(default = "default_config_version")]
    pub config_version: u32,
    /// This node's org id, as in the roster.
    pub org: String,
    /// Where the log lives.
    pub data_dir: PathBuf,
    /// The QUIC listen address.
    pub listen: SocketAddr,
    /// The ed25519 signing key file (64 hex digits; must be 0600).
    pub signing_key: PathBuf,
    /// The signing key's name in the roster (`<ORG-ID>/<name>`).
    pub signing_key_name: String,
    /// The TLS certificate chain, PEM.
    pub tls_cert: PathBuf,
    /// The TLS private key, PEM (must be 0600).
    pub tls_key: PathBuf,
    /// The federation CA bundle, PEM.
    pub ca: PathBuf,
    /// The signed roster to start from (an encoded roster envelope). A
    /// newer roster already in the log wins.
    pub roster: PathBuf,
    /// The federation's roster key.
    pub roster_key: RosterKeyConfig,
    /// The largest frame accepted, in bytes. Default 4 MiB.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// How far a new notice's `created_at` may be ahead of this node's
    /// clock, in milliseconds. Default 10 minutes.
    #[serde(default = "default_skew")]
    pub max_clock_skew_ms: u64,
    /// How old a new notice's `created_at` may be, in milliseconds; older
    /// ones are refused as `EXPIRED`. Default 30 days.
    #[serde(default = "default_max_age")]
    pub max_notice_age_ms: u64,
    /// How many refused deliveries from one peer are logged one by one in
    /// a minute; past that they are counted (`isop_rejections_unlogged_total`)
    /// and one summary entry is logged per minute. Default 120.
    #[serde(default = "default_logged_rejections")]
    pub max_logged_rejections_per_minute: u32,
    /// The disk space, in bytes, that must stay free where the log lives.
    /// With less, the node writes nothing: it refuses deliveries with
    /// `RESOURCE_EXHAUSTED` (senders keep them and retry) and local
    /// submits with a message saying so, keeps serving reads, proofs and
    /// exports, and resumes by itself once space is freed. Default 64 MiB.
    #[serde(default = "default_min_free_disk")]
    pub min_free_disk_bytes: u64,
    /// The memory sled may use to cache the log's pages, in bytes.
    /// Default 64 MiB; a node's memory grows to about this much more than
    /// it starts with as its log grows, and no further.
    #[serde(default = "default_store_cache")]
    pub store_cache_bytes: u64,
    /// Index postings (one per indicator of an entry: a notice has about
    /// ten) held in memory before they are written to the log as a run.
    /// Default 131072; a node's memory grows by up to this many postings
    /// and no further. Smaller means less memory and more runs for a
    /// lookup to read (they are merged as they pile up).
    #[serde(default = "default_store_index_run")]
    pub store_index_run: usize,
    /// A list of indicators (one a line, as `isop match` reads them) this
    /// node also matches against when a member asks it (docs/MATCHING.md),
    /// besides those its log holds: its operator's own holdings. Read at
    /// every run; a line that is not an indicator fails the run, naming
    /// the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_list: Option<PathBuf>,
    /// Delivery retry settings.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Witnessing settings.
    #[serde(default)]
    pub witness: WitnessConfig,
    /// The local HTTP API; `None` turns it off.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// Webhooks told of what the log records (`[[notify]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyConfig>,
    /// The retention policy: labelled values erased by age.
    #[serde(default, skip_serializing_if = "RetentionConfig::is_default")]
    pub retention: RetentionConfig,
    /// The clock the node judges and schedules by: the wall clock. Not
    /// read from the file; tests move it to play out long outages.
    #[serde(skip)]
    pub clock: Clock,
    /// The file the config was read from, if it was: what a reload
    /// (SIGHUP, `isop node reload`) reads again.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The wall clock, as a node reads it.
pub fn now() -> isop_core::UnixMillis {
    isop_core::UnixMillis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// The clock a node judges and schedules by: the wall clock, moved by an
/// offset that starts at zero; or, for deterministic tests, a manual clock
/// that stands still until it is moved. Clones share the time, so a test
/// can move a running node's clock (and a restarted node keeps it).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Whether the time is the offset alone: no wall clock.
    manual: bool,
}

impl Clock {
    /// A clock that reads `start` until it is moved with
    /// [`advance`](Self::advance).
    pub fn manual(start: isop_core::UnixMillis) -> Self {
        Self {
            offset_ms: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
                i64::try_from(start.0).unwrap_or(i64::MAX),
            )),
            manual: true,
        }
    }

    /// The time now, by this clock.
    pub fn now(&self) -> isop_core::UnixMillis {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::Relaxed);
        if self.manual {
            return isop_core::UnixMillis(u64::try_from(offset).unwrap_or(0));
        }
        isop_core::UnixMillis(now().0.saturating_add_signed(offset))
    }

    /// Sets the clock `ms` ahead of the wall clock (behind if negative).
    pub fn set_offset(&self, ms: i64) {
        self.offset_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Moves the clock `ms` ahead.
    pub fn advance(&self, ms: u64) {
        self.offset_ms.fetch_add(
            i64::try_from(ms).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// The local HTTP API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The listen address. It must be on loopback unless
    /// `allow_non_loopback` is set: the API is plain HTTP.
    pub listen: SocketAddr,
    /// The bearer token file (made, 0600, if missing). Every route,
    /// `/metrics` included, requires the token.
    pub token_file: PathBuf,
    /// Listen on a non-loopback address (plain HTTP with a bearer token:
    /// only behind a TLS-terminating proxy on a trusted network). Default
    /// false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_non_loopback: bool,
}

impl ApiConfig {
    /// Refuses a non-loopback listen address unless it is explicitly allowed.
    pub fn check(&self) -> Result<(), Error> {
        if self.listen.ip().is_loopback() || self.allow_non_loopback {
            return Ok(());
        }
        Err(Error::Config {
            path: "api.listen".into(),
            why: format!(
                "{} is not a loopback address; the API is plain HTTP, so it listens on \
                 loopback unless api.allow_non_loopback = true is set (see the README)",
                self.listen
            ),
        })
    }
}

/// A webhook the node tells of what its log records, in log order: each
/// event a JSON `isop_api::NotifyEvent` POSTed and signed with HMAC-SHA256
/// (`X-Isop-Signature: sha256=<hex>`), retried with backoff until the
/// receiver answers 2xx. Where it stands is kept in the log's store, so a
/// restart resumes where it was; a new webhook starts from the log's end.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Its name, unique among the node's webhooks: where it stands is
    /// kept under it.
    pub name: String,
    /// Where events are POSTed: `https://…`, or `http://…`.
    pub url: String,
    /// The file holding the HMAC-SHA256 key (readable by the node's user
    /// only; its bytes, trailing white space trimmed).
    pub secret_file: PathBuf,
    /// The events sent: `new_notice`, `status_changed`,
    /// `delivery_failed`, `split_view`; all if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// For `new_notice`, only these notice kinds (`referral`,
    /// `status_update`, …); all if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// For `https`, a PEM file of the CA certificates to trust instead of
    /// the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// The roster key: its name (the keyid it signs under) and public key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RosterKeyConfig {
    /// The keyid, for example `ISOP-DEMO/roster`.
    pub name: String,
    /// The 32-byte ed25519 public key, hex.
    pub public_key: String,
}

impl From<&RosterKey> for RosterKeyConfig {
    fn from(k: &RosterKey) -> Self {
        Self {
            name: k.name.clone(),
            public_key: hex::encode(k.key.as_bytes()),
        }
    }
}

/// How undelivered notices are retried.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// The first retry delay, in milliseconds. Default 500.
    pub initial_backoff_ms: u64,
    /// The longest retry delay, in milliseconds. Default 60000.
    pub max_backoff_ms: u64,
    /// Notices in flight to one peer at once: the most sent in one
    /// `DeliverBatch` (1 to 256; one batch per peer is in flight). Default 256.
    pub in_flight: usize,
    /// How long dialling a peer may take, in milliseconds. Default 5000.
    pub connect_timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
            in_flight: 256,
            connect_timeout_ms: 5_000,
        }
    }
}

/// The retention policy (`[retention]`): which labelled values the node
/// erases, and when; applied at start and every `interval_ms`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often the rules are applied, in milliseconds (and once at
    /// start). Default an hour.
    pub interval_ms: u64,
    /// The rules (`[[retention.rule]]`); none: nothing is erased by age.
    #[serde(rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RetentionRule>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_ms: 3_600_000,
            rules: Vec::new(),
        }
    }
}

impl RetentionConfig {
    fn is_default(&self) -> bool {
        self.rules.is_empty() && self.interval_ms == Self::default().interval_ms
    }
}

/// One retention rule: the values of the labelled fields it selects are
/// erased `after_days` after the notice was logged, or after its case was
/// closed. A field is selected when every criterion given holds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Its name, in each erasure's reason and the dry-run listing.
    pub name: String,
    /// Fields whose label names this token, or with a trailing `*` a
    /// token it starts (`pii:*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Only the field at this path (`referral.contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only notices of this kind (`referral`, `intel_report`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many days the value is kept.
    pub after_days: u64,
    /// Counted from when the notice was logged here (`logged`, the
    /// default), or from when its case was closed (`case_closed`: a case
    /// message closing the notice's case is held here; until then the
    /// value is kept).
    #[serde(default)]
    pub from: RetentionFrom,
}

/// What a retention period counts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionFrom {
    /// When the notice was logged here.
    #[default]
    Logged,
    /// When the notice's case was closed.
    CaseClosed,
}

/// How this node witnesses its peers' logs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WitnessConfig {
    /// How often to fetch, check and cosign each peer's checkpoint, in
    /// milliseconds. 0 turns periodic witnessing off (it can still be run
    /// on demand). Default 30000.
    pub interval_ms: u64,
}

impl Default for WitnessConfig {
    fn default() -> Self {
        Self {
            interval_ms: 30_000,
        }
    }
}

fn default_max_frame() -> usize {
    isop_net::DEFAULT_MAX_FRAME
}

/// The config format this isop reads and writes.
pub const CONFIG_VERSION: u32 = 1;

fn default_config_version() -> u32 {
    CONFIG_VERSION
}

fn default_store_cache() -> u64 {
    isop_store::StoreConfig::new("").cache_bytes
}

fn default_store_index_run() -> usize {
    isop_store::StoreConfig::new("").index_run
}

fn default_min_free_disk() -> u64 {
    isop_store::StoreConfig::new("").min_free_bytes
}

fn default_skew() -> u64 {
    isop_core::Judgement::DEFAULT_MAX_SKEW_MS
}

fn default_logged_rejections() -> u32 {
    120
}

fn default_max_age() -> u64 {
    isop_core::Judgement::DEFAULT_MAX_AGE_MS
}

impl NodeConfig {
    /// `org`'s config with the defaults, listening at `listen`, trusting
    /// `roster_key`, and naming its files as an org's directory lays them
    /// out: `signing.key` (key `k1`), `tls.crt`, `tls.key`, `ca.crt`,
    /// `roster.bin`, and the log in `data`. The local API is off.
    pub fn new(org: &OrgId, listen: SocketAddr, roster_key: RosterKeyConfig) -> Self {
        Self {
            org: org.to_string(),
            config_version: CONFIG_VERSION,
            data_dir: "data".into(),
            listen,
            signing_key: "signing.key".into(),
            signing_key_name: "k1".into(),
            tls_cert: "tls.crt".into(),
            tls_key: "tls.key".into(),
            ca: "ca.crt".into(),
            roster: "roster.bin".into(),
            roster_key,
            max_frame_bytes: isop_net::DEFAULT_MAX_FRAME,
            max_clock_skew_ms: isop_core::Judgement::DEFAULT_MAX_SKEW_MS,
            min_free_disk_bytes: default_min_free_disk(),
            store_cache_bytes: default_store_cache(),
            store_index_run: default_store_index_run(),
            match_list: None,
            max_notice_age_ms: isop_core::Judgement::DEFAULT_MAX_AGE_MS,
            max_logged_rejections_per_minute: default_logged_rejections(),
            delivery: DeliveryConfig::default(),
            witness: WitnessConfig::default(),
            api: None,
            notify: Vec::new(),
            retention: RetentionConfig::default(),
            clock: Clock::default(),
            source: None,
        }
    }

    /// Reads a config file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |why: String| Error::Config {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        // The format first: a newer one may hold fields this isop does not know.
        let table: toml::Table = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        if let Some(version) = table.get("config_version") {
            match version.as_integer() {
                Some(v) if (1..=i64::from(CONFIG_VERSION)).contains(&v) => {}
                Some(v) if v > i64::from(CONFIG_VERSION) => {
                    return Err(fail(format!(
                        "config_version {v} is for a newer isop; this isop ({}) reads config_version {CONFIG_VERSION}",
                        env!("CARGO_PKG_VERSION")
                    )));
                }
                _ => return Err(fail(format!("config_version {version} is not a version"))),
            }
        }
        let mut c: Self = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let api_token = c.api.as_mut().map(|a| &mut a.token_file);
        let notify_files = c
            .notify
            .iter_mut()
            .flat_map(|n| std::iter::once(&mut n.secret_file).chain(n.ca_file.as_mut()));
        let match_list = c.match_list.as_mut();
        for p in [
            &mut c.data_dir,
            &mut c.signing_key,
            &mut c.tls_cert,
            &mut c.tls_key,
            &mut c.ca,
            &mut c.roster,
        ]
        .into_iter()
        .chain(api_token)
        .chain(notify_files)
        .chain(match_list)
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        c.org_id().map_err(|e| fail(e.to_string()))?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// A client of this node's local API, with its token (which must be
    /// readable by its owner only).
    pub fn api_client(&self) -> Result<isop_api::ApiClient, Error> {
        self.api_client_as(None)
    }

    /// A client of this node's local API as the user whose token is in
    /// `token_file` (readable by its owner only), or else with the API
    /// token file's (the first admin's).
    pub fn api_client_as(&self, token_file: Option<&Path>) -> Result<isop_api::ApiClient, Error> {
        let api = self.api.as_ref().ok_or_else(|| Error::Config {
            path: "api".into(),
            why: "the node's local API is off (no [api] section)".into(),
        })?;
        let token_file = token_file.unwrap_or(&api.token_file);
        check_private(token_file)?;
        let token = std::fs::read_to_string(token_file).map_err(|e| Error::KeyFile {
            path: token_file.display().to_string(),
            why: format!("{e} (start the node once to make it)"),
        })?;
        isop_api::ApiClient::new(&api.listen.to_string(), &token)
            .map_err(|e| Error::LocalApi(e.to_string()))
    }

    /// How the node's log is opened: where, and the store settings.
    pub fn store(&self) -> isop_store::StoreConfig {
        isop_store::StoreConfig {
            min_free_bytes: self.min_free_disk_bytes,
            cache_bytes: self.store_cache_bytes,
            index_run: self.store_index_run,
            ..isop_store::StoreConfig::new(&self.data_dir)
        }
    }

    /// The org id.
    pub fn org_id(&self) -> Result<OrgId, Error> {
        Ok(OrgId::new(&self.org)?)
    }

    /// The roster key.
    pub fn roster_key(&self) -> Result<RosterKey, Error> {
        let raw = hex::decode(self.roster_key.public_key.trim()).map_err(|e| Error::Config {
            path: "roster_key.public_key".into(),
            why: e.to_string(),
        })?;
        Ok(RosterKey {
            name: self.roster_key.name.clone(),
            key: isop_core::public_key_from_slice(&raw)?,
        })
    }

    /// Loads the signing key (checking its permissions).
    pub fn signer(&self) -> Result<Signer, Error> {
        let id = KeyId::new(self.org_id()?, self.signing_key_name.parse()?);
        Ok(Signer::new(id, read_signing_key(&self.signing_key)?))
    }
}

/// Refuses a secret file that others can read, that another user owns, or
/// that is a symbolic link (which could be pointed elsewhere).
pub fn check_private(path: &Path) -> Result<(), Error> {
    check_owned(path, "chmod 600")
}

/// Creates the node's data directory readable by its owner only (0700),
/// or refuses an existing one that others can read, another user owns, or
/// that is a symbolic link: the log holds notices and disclosures in clear.
pub fn ensure_private_dir(path: &Path) -> Result<(), Error> {
    if std::fs::symlink_metadata(path).is_err() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            why: format!("cannot create the data directory: {e}"),
        })?;
    }
    check_owned(path, "chmod 700")
}

fn check_owned(path: &Path, fix: &str) -> Result<(), Error> {
    let fail = |why: String| Error::KeyFile {
        path: path.display().to_string(),
        why,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(fail(
            "is a symbolic link; give the real path of a file this node owns".into(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "is readable by others (mode {mode:o}); run {fix} on it"
            )));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(fail(format!(
                "is owned by user {}, not by this process's user {me}",
                meta.uid()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (meta, fix);
    Ok(())
}

/// Reads an ed25519 signing key file: 64 hex digits (the seed), checked
/// for permissions first.
pub fn read_signing_key(path: &Path) -> Result<SecretKey, Error> {
    check_private(path)?;
    let fail = |why: String| Error::KeyFile {
        path: path.display().to_string(),
        why,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
    let seed =
        Zeroizing::new(hex::decode(text.trim()).map_err(|_| fail("is not 64 hex digits".into()))?);
    SecretKey::from_slice(&seed).map_err(|e| fail(e.to_string()))
}

/// Creates (or truncates) a file readable by its owner only (0600), for
/// what holds notices in clear, such as a log export.
pub fn create_private(path: &Path) -> Result<std::fs::File, Error> {
    let fail = |e: std::io::Error| Error::Config {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path).map_err(fail)?;
    // A file that existed keeps its mode on open: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    Ok(file)
}

/// Writes a secret file readable by its owner only (0600), refusing to
/// overwrite one that exists.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let fail = |why: String| Error::KeyFile {
        path: path.display().to_string(),
        why,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| fail(e.to_string()))?;
    f.write_all(contents).map_err(|e| fail(e.to_string()))?;
    f.sync_all().map_err(|e| fail(e.to_string()))
}

/// Writes a signing key file (the seed in hex, 0600).
pub fn write_signing_key(path: &Path, key: &SecretKey) -> Result<(), Error> {
    let mut text = Zeroizing::new(hex::encode(*key.to_seed()));
    text.push('\n');
    write_private(path, text.as_bytes())
}

/// Reads a public key given in hex.
pub fn public_key_hex(hex_text: &str) -> Result<PublicKey, Error> {
    let raw =
        hex::decode(hex_text.trim()).map_err(|e| Error::Roster(format!("public key: {e}")))?;
    Ok(isop_core::public_key_from_slice(&raw)?)
}

/// Reads the federation's roster key, the auditor's trust anchor, from a
/// `roster.pub` file (`<keyid> <public key hex>`, as `isop ca init` writes
/// it) or from a node config (its `[roster_key]` section).
pub fn load_roster_key(path: &Path) -> Result<RosterKey, Error> {
    if path.extension().is_some_and(|e| e == "toml") {
        return NodeConfig::load(path)?.roster_key();
    }
    let RosterKeyConfig { name, public_key } = read_roster_pub(path)?;
    Ok(RosterKey {
        name,
        key: public_key_hex(&public_key)?,
    })
}

/// The roster key a `roster.pub` file names (`<keyid> <public key hex>`).
pub fn read_roster_pub(path: &Path) -> Result<RosterKeyConfig, Error> {
    let fail = |why: String| Error::Config {
        path: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(key), None) => Ok(RosterKeyConfig {
            name: name.to_owned(),
            public_key: key.to_owned(),
        }),
        _ => Err(fail("expected `<keyid> <public key hex>`".into())),
    }
}
