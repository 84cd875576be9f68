//! The shipped example config parses, unknown fields are refused, and key
//! files are private.

use std::path::Path;

use isop_node::NodeConfig;
use isop_node::config::{
    ApiConfig, check_private, create_private, ensure_private_dir, read_signing_key, write_private,
    write_signing_key,
};

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node.example.toml");
    let c = NodeConfig::load(&path).unwrap();
    assert_eq!(c.org_id().unwrap().as_str(), "KR-KNPA");
    assert!(
        c.data_dir.is_absolute() && c.data_dir.ends_with("data"),
        "relative paths follow the file: {:?}",
        c.data_dir
    );
    assert_eq!(c.delivery.connect_timeout_ms, 5000);
    assert_eq!(c.witness.interval_ms, 30000);
    assert_eq!(c.notify[0].name, "siem");
    assert!(
        c.notify[0].secret_file.is_absolute(),
        "relative paths follow the file"
    );
    c.roster_key().unwrap();
}

#[test]
fn unknown_fields_and_bad_values_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("node.example.toml"))
            .unwrap();
    let cases = [
        (format!("{example}\ncolour = \"blue\"\n"), "unknown field"),
        (
            example.replace("org = \"KR-KNPA\"", "org = \"kr knpa\""),
            "invalid org id",
        ),
        (
            example.replace("listen = \"127.0.0.1:7401\"", "listen = \"nowhere\""),
            "listen",
        ),
    ];
    for (text, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let e = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains(needle), "{e}");
    }
}

#[test]
fn key_files_are_written_private_and_refused_when_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    let key = isop_core::SecretKey::generate(&mut rand_core_rng());
    write_signing_key(&path, &key).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(read_signing_key(&path).unwrap().public(), key.public());
    // It is never overwritten.
    assert!(write_private(&path, b"x").is_err());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = read_signing_key(&path).unwrap_err().to_string();
    assert!(
        e.contains("readable by others") && e.contains("chmod 600"),
        "{e}"
    );
    assert!(check_private(&dir.path().join("missing")).is_err());
    // The secret never shows in Debug output.
    assert!(!format!("{key:?}").contains(&std::fs::read_to_string(&path).unwrap().trim()[..16]));
}

#[test]
fn secret_files_that_are_links_or_owned_by_another_user_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    let key = isop_core::SecretKey::generate(&mut rand_core_rng());
    write_signing_key(&path, &key).unwrap();
    // A symbolic link to a private key file: refused, not followed.
    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = read_signing_key(&link).unwrap_err().to_string();
    assert!(e.contains("symbolic link") && e.contains("link.key"), "{e}");
    // Owned by another user (only root can give a file away).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let e = check_private(&path).unwrap_err().to_string();
        assert!(e.contains("owned by user 65534"), "{e}");
    }
}

#[test]
fn the_data_directory_is_made_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node").join("data");
    ensure_private_dir(&data).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    ensure_private_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = ensure_private_dir(&data).unwrap_err().to_string();
    assert!(
        e.contains("readable by others") && e.contains("chmod 700"),
        "{e}"
    );

    // Exports are 0600, even over a file that was readable by others.
    let export = dir.path().join("log.isop");
    std::fs::write(&export, b"old").unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(create_private(&export).unwrap());
    assert_eq!(mode(&export), 0o600);
    assert_eq!(std::fs::read(&export).unwrap(), b"");
}

#[test]
fn the_api_listens_on_loopback_unless_told_otherwise() {
    let mut api = ApiConfig {
        listen: "0.0.0.0:7402".parse().unwrap(),
        token_file: "api.token".into(),
        allow_non_loopback: false,
    };
    let e = api.check().unwrap_err().to_string();
    assert!(
        e.contains("0.0.0.0:7402") && e.contains("allow_non_loopback"),
        "{e}"
    );
    api.allow_non_loopback = true;
    api.check().unwrap();
    for ok in ["127.0.0.1:7402", "[::1]:7402", "127.3.2.1:80"] {
        let api = ApiConfig {
            listen: ok.parse().unwrap(),
            token_file: "api.token".into(),
            allow_non_loopback: false,
        };
        api.check().unwrap();
    }
}

fn rand_core_rng() -> impl rand::CryptoRng + rand::RngCore {
    rand::rngs::OsRng
}
