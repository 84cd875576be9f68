//! Frame decoding: the 4-byte length check and the protobuf `Frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.get(..4) {
        let prefix: [u8; 4] = prefix.try_into().expect("four bytes");
        let _ = isop_net::check_len(prefix, 4 << 20);
    }
    if let Ok(frame) = isop_net::decode_frame(data) {
        // What decodes must encode back to a frame that decodes the same.
        let again = isop_net::encode_frame(&frame);
        let back = isop_net::decode_frame(&again[4..]).expect("re-encoded frame decodes");
        assert_eq!(frame, back);
    }
});
