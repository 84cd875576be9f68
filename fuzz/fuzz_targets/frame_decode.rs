//! Frame decoding: the 4-byte length check and the protobuf `Frame`, and
//! the receipt list a `ReceiptBatch` carries.
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
        // A batch's answer: its receipt list opens or is refused by name.
        if let Some(isop_core::pb::frame::Kind::ReceiptBatch(b)) = &frame.kind
            && let Some(env) = &b.receipts
            && let Ok(list) = isop_core::SignedReceipts::open(env)
        {
            assert!(!list.receipts().is_empty());
            assert!(list.receipts().len() <= isop_core::MAX_RECEIPTS);
        }
    }
});
