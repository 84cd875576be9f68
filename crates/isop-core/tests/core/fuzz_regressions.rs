//! Inputs the fuzzers (`fuzz/`) found crashing, kept as regression tests.

use isop_core::SignedNote;

/// `note_parse`: a note whose only signature line is not an ed25519
/// signature parsed, but printed without that line, which no longer parsed.
/// Lines of other algorithms are now kept as they are.
#[test]
fn a_note_with_a_foreign_signature_line_prints_back_to_itself() {
    let input = "isop.log/GB-PIPCU\n7\nXpFnulckCJw4VyL3i4dogbi+dDCO5At306kVPSE+s7o=\n\n— GB-PIPCU/k1 u0sS842K9Mt/sQcITkmkWrIFqKfxskJht6kCL/PgwYhX/6Gjanx8ahPsRmoFE50tPUggDT6MhMtwL2/djyhxCXl1TjxTOEf8Qelv4vDuCagGSQw=\n";
    let note = SignedNote::parse(input.as_bytes()).expect("parses");
    assert!(
        note.signatures().is_empty(),
        "the line is not an ed25519 signature"
    );
    let again = SignedNote::parse(&note.to_bytes()).expect("a printed note parses");
    assert_eq!(again, note);
    assert_eq!(note.to_bytes(), input.as_bytes());
}
