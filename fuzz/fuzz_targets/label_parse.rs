//! The access-label parser and evaluator.
#![no_main]

use isop_core::{Clearance, Label};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Label::parse(text) {
        Ok(label) => {
            // A parsed label prints as itself and evaluates without panicking.
            assert_eq!(Label::parse(label.as_str()).expect("reparses").as_str(), label.as_str());
            let clearance = Clearance::from_tokens(["role:agency", "country:KR", "org:KR-KNPA"]);
            let _ = label.allows(&clearance);
            let _ = label.allows(&Clearance::default());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
