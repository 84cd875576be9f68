//! C2SP signed notes and tlog checkpoints.
//!
//! A signed note is UTF-8 text ending in a newline, a blank line, then one
//! line per signature: `— <key name> <base64(4-byte key hash || 64-byte
//! ed25519 signature)>`. The key hash is the first 4 bytes of
//! SHA-256(key name || 0x0A || 0x01 || 32-byte public key). A checkpoint's
//! text is `<origin>\n<size>\n<base64 root>\n` plus optional extension lines;
//! isop's origin is `isop.log/<ORG-ID>`. A cosignature is one more ed25519
//! signature line, by the witness's key, over the same text.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::keys::{signature_from_slice, verify_strict};
use crate::merkle::Hash;
use crate::{Error, OrgId, PublicKey, Signer};

/// The longest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;
/// The most signature lines a note may carry.
pub const MAX_NOTE_SIGNATURES: usize = 100;
const SIG_PREFIX: &str = "\u{2014} ";

/// The 4-byte key hash of an ed25519 note key.
pub fn key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Checks a note key name: non-empty, no whitespace, no `+`.
fn check_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(Error::MalformedNote(format!("bad key name {name:?}")));
    }
    Ok(())
}

/// A public key that verifies note signatures under a name.
#[derive(Clone, Debug)]
pub struct NoteVerifier {
    name: String,
    key: PublicKey,
    hash: [u8; 4],
}

impl NoteVerifier {
    /// A verifier for `key` under `name` (for isop, `<ORG-ID>/<key-name>`).
    pub fn new(name: &str, key: PublicKey) -> Result<Self, Error> {
        check_key_name(name)?;
        Ok(Self {
            hash: key_hash(name, &key),
            name: name.into(),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key hash.
    pub key_hash: [u8; 4],
    /// The 64 signature bytes.
    pub sig: [u8; 64],
}

/// Who signed a note, as [`SignedNote::signers`] finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoteSigners {
    /// The orgs with a signature line that verifies, in line order.
    pub valid: Vec<OrgId>,
    /// Each line by a roster key that does not verify.
    pub invalid: Vec<String>,
}

/// A C2SP signed note: text plus signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
    /// Signature lines of other algorithms (not 68 bytes of key hash and
    /// ed25519 signature): kept as they are, as the spec asks, and never
    /// verified.
    other_lines: Vec<String>,
}

fn check_text(text: &str) -> Result<(), Error> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(Error::MalformedNote(
            "text must be non-empty and end with a newline".into(),
        ));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(Error::MalformedNote(
            "text must not contain a blank line".into(),
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(Error::MalformedNote(format!(
            "text holds control character {c:?}"
        )));
    }
    Ok(())
}

impl SignedNote {
    /// Signs `text` with `signer`, under the name `<ORG-ID>/<key-name>`.
    pub fn sign(text: String, signer: &Signer) -> Result<Self, Error> {
        check_text(&text)?;
        let mut note = Self {
            text,
            signatures: Vec::new(),
            other_lines: Vec::new(),
        };
        note.add_signature(signer);
        Ok(note)
    }

    /// Adds (or replaces) `signer`'s signature: a cosignature on a note
    /// someone else signed.
    pub fn add_signature(&mut self, signer: &Signer) {
        let name = signer.id().to_string();
        let key_hash = key_hash(&name, &signer.public());
        let sig = signer.sign(self.text.as_bytes()).to_bytes();
        self.signatures
            .retain(|s| !(s.name == name && s.key_hash == key_hash));
        self.signatures.push(NoteSignature {
            name,
            key_hash,
            sig,
        });
    }

    /// Adds the signature lines of `other`, a copy of this note signed by
    /// someone else, that this note lacks. Returns how many were added. The
    /// caller verifies the lines it relies on.
    pub fn merge(&mut self, other: &SignedNote) -> Result<usize, Error> {
        if other.text != self.text {
            return Err(Error::MalformedNote(
                "cannot merge signatures of a note with different text".into(),
            ));
        }
        let before = self.signatures.len();
        for s in &other.signatures {
            if !self
                .signatures
                .iter()
                .any(|m| m.name == s.name && m.key_hash == s.key_hash)
            {
                if self.signatures.len() >= MAX_NOTE_SIGNATURES {
                    return Err(Error::MalformedNote(format!(
                        "more than {MAX_NOTE_SIGNATURES} signatures"
                    )));
                }
                self.signatures.push(s.clone());
            }
        }
        Ok(self.signatures.len() - before)
    }

    /// This note with one signature line only: `verifier`'s, checked. What
    /// a log merges of a witness's cosignature: every other line of a
    /// submitted note is dropped, so no one can plant a line under
    /// another member's name.
    pub fn only(&self, verifier: &NoteVerifier) -> Result<SignedNote, Error> {
        self.verify(verifier)?;
        Ok(Self {
            text: self.text.clone(),
            signatures: self
                .signatures
                .iter()
                .filter(|s| s.name == verifier.name && s.key_hash == verifier.hash)
                .take(1)
                .cloned()
                .collect(),
            other_lines: Vec::new(),
        })
    }

    /// Parses a signed note. Signatures are not checked here; see [`verify`](Self::verify).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_NOTE_LEN {
            return Err(Error::MalformedNote(format!(
                "note of {} bytes exceeds {MAX_NOTE_LEN}",
                bytes.len()
            )));
        }
        let s = std::str::from_utf8(bytes)
            .map_err(|e| Error::MalformedNote(format!("not UTF-8: {e}")))?;
        let split = s
            .rfind("\n\n")
            .ok_or_else(|| Error::MalformedNote("no blank line before the signatures".into()))?;
        let (text, sigs) = (&s[..=split], &s[split + 2..]);
        check_text(text)?;
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(Error::MalformedNote(
                "signature lines must be present and end with a newline".into(),
            ));
        }
        let mut signatures = Vec::new();
        let mut other_lines = Vec::new();
        for (n, line) in sigs.lines().enumerate() {
            if n >= MAX_NOTE_SIGNATURES {
                return Err(Error::MalformedNote(format!(
                    "more than {MAX_NOTE_SIGNATURES} signatures"
                )));
            }
            let bad = |why: &str| Error::MalformedNote(format!("signature line {}: {why}", n + 1));
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("does not start with an em dash and a space"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("lacks a name and a signature"))?;
            check_key_name(name).map_err(|_| bad("bad key name"))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| bad("signature is not standard base64"))?;
            if raw.len() < 5 {
                return Err(bad("signature is too short"));
            }
            let key_hash = [raw[0], raw[1], raw[2], raw[3]];
            // Signatures of other algorithms and lengths are kept unparsed by
            // the spec; isop uses ed25519 only, so other lengths cannot verify.
            let Ok(sig) = <[u8; 64]>::try_from(&raw[4..]) else {
                other_lines.push(line.to_owned());
                continue;
            };
            signatures.push(NoteSignature {
                name: name.into(),
                key_hash,
                sig,
            });
        }
        Ok(Self {
            text: text.into(),
            signatures,
            other_lines,
        })
    }

    /// The note text (what the signatures cover).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks that `verifier`'s key signed the text. Lines by other keys are
    /// ignored, as the spec requires.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), Error> {
        let line = self
            .signatures
            .iter()
            .find(|s| s.name == verifier.name && s.key_hash == verifier.hash)
            .ok_or_else(|| Error::NoteUnsigned(verifier.name.clone()))?;
        let sig = signature_from_slice(&line.sig)?;
        if !verify_strict(&verifier.key, self.text.as_bytes(), &sig) {
            return Err(Error::BadSignature(format!(
                "note signature by {}",
                verifier.name
            )));
        }
        Ok(())
    }

    /// Which orgs signed the note, judged by the keys of `rosters` (each
    /// line's key is looked up by name and key hash in the first roster
    /// that lists it, so give the newest first). Lines by keys no roster
    /// lists are ignored, as the spec requires; a line by a listed key that
    /// does not verify is reported in [`NoteSigners::invalid`].
    pub fn signers<'a, I>(&self, rosters: I) -> NoteSigners
    where
        I: IntoIterator<Item = &'a crate::Roster>,
        I::IntoIter: Clone,
    {
        let rosters = rosters.into_iter();
        let mut out = NoteSigners::default();
        for line in &self.signatures {
            let Ok(id) = line.name.parse::<crate::KeyId>() else {
                continue;
            };
            let key = rosters
                .clone()
                .filter_map(|r| r.member(&id.org).ok())
                .flat_map(|m| m.keys.iter())
                .find(|k| k.name == id.name && key_hash(&line.name, &k.public) == line.key_hash);
            let Some(key) = key else { continue };
            let ok = signature_from_slice(&line.sig)
                .is_ok_and(|sig| verify_strict(&key.public, self.text.as_bytes(), &sig));
            if !ok {
                out.invalid.push(format!(
                    "the signature line of {} does not verify",
                    line.name
                ));
            } else if !out.valid.contains(&id.org) {
                out.valid.push(id.org);
            }
        }
        out
    }

    /// The note in its wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SignedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            let mut raw = Vec::with_capacity(68);
            raw.extend_from_slice(&s.key_hash);
            raw.extend_from_slice(&s.sig);
            writeln!(f, "{SIG_PREFIX}{} {}", s.name, B64.encode(raw))?;
        }
        for line in &self.other_lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A C2SP tlog checkpoint: the origin, the tree size and the root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, `isop.log/<ORG-ID>` for isop.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
    /// Extension lines, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint of `org`'s log at `size` with `root`.
    pub fn new(org: &OrgId, size: u64, root: Hash) -> Self {
        Self {
            origin: Self::origin_of(org),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The origin line of `org`'s log.
    pub fn origin_of(org: &OrgId) -> String {
        format!("isop.log/{org}")
    }

    /// The checkpoint's note text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint's note text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        check_text(text)?;
        let bad = |why: String| Error::MalformedNote(format!("checkpoint: {why}"));
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin line".into()))?;
        let size_line = lines.next().ok_or_else(|| bad("no size line".into()))?;
        if size_line.is_empty()
            || (size_line.len() > 1 && size_line.starts_with('0'))
            || !size_line.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad(format!("size {size_line:?} is not a decimal number")));
        }
        let size = size_line
            .parse()
            .map_err(|_| bad(format!("size {size_line:?} is out of range")))?;
        let root_line = lines.next().ok_or_else(|| bad("no root line".into()))?;
        let root = B64
            .decode(root_line)
            .ok()
            .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
            .ok_or_else(|| bad(format!("root {root_line:?} is not a base64 32-byte hash")))?;
        Ok(Self {
            origin: origin.into(),
            size,
            root,
            extensions: lines.map(Into::into).collect(),
        })
    }

    /// Signs the checkpoint as a note.
    pub fn sign(&self, signer: &Signer) -> Result<SignedNote, Error> {
        SignedNote::sign(self.to_text(), signer)
    }

    /// Verifies `note` as a checkpoint signed by `verifier` for `origin`,
    /// and parses it.
    pub fn open(note: &SignedNote, origin: &str, verifier: &NoteVerifier) -> Result<Self, Error> {
        note.verify(verifier)?;
        let cp = Self::parse(note.text())?;
        if cp.origin != origin {
            return Err(Error::MalformedNote(format!(
                "checkpoint origin {:?}, expected {origin:?}",
                cp.origin
            )));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    fn signer(id: &str, seed: u8) -> Signer {
        Signer::new(id.parse().unwrap(), SecretKey::from_seed(&[seed; 32]))
    }

    fn verifier(s: &Signer) -> NoteVerifier {
        NoteVerifier::new(&s.id().to_string(), s.public()).unwrap()
    }

    #[test]
    fn key_hash_follows_the_spec() {
        let s = signer("KR-KNPA/k1", 1);
        let mut input = b"KR-KNPA/k1\n\x01".to_vec();
        input.extend_from_slice(s.public().as_bytes());
        assert_eq!(
            key_hash("KR-KNPA/k1", &s.public())[..],
            Sha256::digest(&input)[..4]
        );
    }

    #[test]
    fn sign_parse_verify_cosign() {
        let org: OrgId = "KR-KNPA".parse().unwrap();
        let origin_key = signer("KR-KNPA/k1", 1);
        let witness = signer("INTERPOL-GS/k1", 2);
        let cp = Checkpoint::new(&org, 42, [7u8; 32]);
        let mut note = cp.sign(&origin_key).unwrap();
        let wire = note.to_bytes();
        let text = String::from_utf8(wire.clone()).unwrap();
        assert!(text.starts_with("isop.log/KR-KNPA\n42\nBwcH"), "{text}");
        assert!(text.contains("\n\n\u{2014} KR-KNPA/k1 "), "{text}");

        let parsed = SignedNote::parse(&wire).unwrap();
        assert_eq!(parsed, note);
        let opened = Checkpoint::open(&parsed, "isop.log/KR-KNPA", &verifier(&origin_key)).unwrap();
        assert_eq!(opened, cp);
        assert!(matches!(
            parsed.verify(&verifier(&witness)),
            Err(Error::NoteUnsigned(_))
        ));
        assert!(Checkpoint::open(&parsed, "isop.log/FR-OCLCTIC", &verifier(&origin_key)).is_err());

        let mut witness_copy = parsed.clone();
        witness_copy.add_signature(&witness);
        let mut merged = parsed.clone();
        assert_eq!(merged.merge(&witness_copy).unwrap(), 1);
        assert_eq!(merged.merge(&witness_copy).unwrap(), 0);
        assert!(
            merged
                .merge(&Checkpoint::new(&org, 43, [7u8; 32]).sign(&witness).unwrap())
                .is_err()
        );
        note.add_signature(&witness);
        assert_eq!(merged, note);
        let cosigned = SignedNote::parse(&note.to_bytes()).unwrap();
        assert_eq!(cosigned.signatures().len(), 2);
        cosigned.verify(&verifier(&origin_key)).unwrap();
        cosigned.verify(&verifier(&witness)).unwrap();

        // A changed size breaks every signature.
        let forged = String::from_utf8(note.to_bytes())
            .unwrap()
            .replacen("\n42\n", "\n43\n", 1);
        let forged = SignedNote::parse(forged.as_bytes()).unwrap();
        assert!(matches!(
            forged.verify(&verifier(&origin_key)),
            Err(Error::BadSignature(_))
        ));
        assert!(forged.verify(&verifier(&witness)).is_err());
    }

    #[test]
    fn malformed_notes_are_refused() {
        let s = signer("KR-KNPA/k1", 1);
        let good = String::from_utf8(
            Checkpoint::new(&"KR-KNPA".parse().unwrap(), 1, [0; 32])
                .sign(&s)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        let cases = [
            "".to_string(),
            "no blank line\n".into(),
            good.replace('\u{2014}', "-"),
            good.trim_end().to_string(),
            good.replacen("isop.log/KR-KNPA\n", "\n", 1),
            "a\x07b\n\n\u{2014} k AAAA\n".into(),
        ];
        for c in &cases {
            assert!(SignedNote::parse(c.as_bytes()).is_err(), "{c:?}");
        }
        for text in ["o\n01\nAAAA\n", "o\nx\n", "o\n1\nAAAA\n", "o\n1\n", "\n1\n"] {
            assert!(Checkpoint::parse(text).is_err(), "{text:?}");
        }
        assert!(SignedNote::parse(&vec![b'a'; MAX_NOTE_LEN + 1]).is_err());
    }
}
