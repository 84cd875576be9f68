//! The vendored known-answer vectors must equal the shared originals.

use std::path::Path;

#[test]
fn vendored_vectors_match_shared_originals() {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors");
    let mut compared = 0;
    for entry in std::fs::read_dir(&ours).unwrap() {
        let path = entry.unwrap().path();
        let original = shared.join(path.file_name().unwrap());
        if !shared.exists() {
            // A clone without ../shared: the vendored copies stand alone.
            eprintln!("../shared/test-vectors not found; vendored vectors not compared");
            return;
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&original).unwrap(),
            "{} differs from ../shared",
            path.display()
        );
        compared += 1;
    }
    assert_eq!(compared, 2);
}
