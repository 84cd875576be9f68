//! Export files: the record reader and the whole auditor (verify and
//! replay) on whatever bytes come.
#![no_main]

use isop_core::{RosterKey, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = RosterKey {
        name: "ISOP-FED/roster".into(),
        key: SecretKey::from_seed(&[2; 32]).public(),
    };
    let mut r = isop_export::ExportReader::new(data);
    while let Ok(Some(_)) = r.next_record() {}
    let mut options = isop_audit::VerifyOptions::new(key.clone());
    options.threads = 1;
    let _ = isop_audit::verify(data, &options, None);
    let _ = isop_audit::replay(data, &key, None);
});
