//! An evidence file as a referral records it: its SHA-256, size, media
//! type (by its extension) and modification time, read without holding
//! the file in memory.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use isop_core::UnixMillis;
use sha2::{Digest, Sha256};

/// What a referral records of an evidence file.
#[derive(Debug)]
pub(crate) struct EvidenceFile {
    pub(crate) sha256: [u8; 32],
    pub(crate) size: u64,
    pub(crate) media_type: String,
    pub(crate) modified: UnixMillis,
}

impl EvidenceFile {
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let what = || format!("the evidence file {}", path.display());
        let mut file = std::fs::File::open(path).with_context(what)?;
        let modified = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(isop_node::now, |d| {
                UnixMillis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            });
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).with_context(what)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Self {
            sha256: hasher.finalize().into(),
            size,
            media_type: mime_guess::from_path(path)
                .first_or_octet_stream()
                .essence_str()
                .to_owned(),
            modified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_sizes_and_types_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.mp4");
        std::fs::write(&path, b"abc").unwrap();
        let f = EvidenceFile::read(&path).unwrap();
        assert_eq!(
            hex::encode(f.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(f.size, 3);
        assert_eq!(f.media_type, "video/mp4");
        let err = EvidenceFile::read(&dir.path().join("missing.png")).unwrap_err();
        assert!(format!("{err:#}").contains("missing.png"), "{err:#}");
    }
}
