//! C2SP signed notes and checkpoints: parse, print, verify.
#![no_main]

use isop_core::{Checkpoint, KeyId, NoteVerifier, SecretKey, SignedNote, Signer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(note) = SignedNote::parse(data) else {
        return;
    };
    // A parsed note prints back to bytes that parse to the same note.
    let again = SignedNote::parse(&note.to_bytes()).expect("a printed note parses");
    assert_eq!(note, again);
    let signer = Signer::new(
        "KR-KNPA/k1".parse::<KeyId>().expect("a key id"),
        SecretKey::from_seed(&[1; 32]),
    );
    let verifier = NoteVerifier::new("KR-KNPA/k1", signer.public()).expect("a verifier");
    let _ = note.verify(&verifier);
    if let Ok(cp) = Checkpoint::parse(note.text()) {
        let _ = Checkpoint::open(&note, &cp.origin, &verifier);
        assert_eq!(Checkpoint::parse(&cp.to_text()).expect("reparses"), cp);
    }
});
