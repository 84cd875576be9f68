//! Framing: a 4-byte big-endian length, then an encoded `isop.v1.Frame`.

use bytes::{Buf, BytesMut};
use isop_proto::v1 as pb;
use prost::Message;

use crate::Error;

/// The default frame size limit: 4 MiB.
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;

/// Encodes a frame with its length prefix.
pub fn encode_frame(frame: &pb::Frame) -> Vec<u8> {
    let len = frame.encoded_len();
    let mut out = Vec::with_capacity(4 + len);
    // A frame over 4 GiB cannot be built: every field is bounded well below.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    frame.encode(&mut out).unwrap_or_default();
    out
}

/// Checks a length prefix against the limit.
pub fn check_len(prefix: [u8; 4], max: usize) -> Result<usize, Error> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(Error::FrameTooLarge {
            size: len as u64,
            limit: max,
        });
    }
    Ok(len)
}

/// Decodes a frame body; a frame with no case set is malformed. From a
/// `Bytes` body, the frame's byte fields are slices of it, not copies.
pub fn decode_frame(body: impl Buf) -> Result<pb::Frame, Error> {
    let f = pb::Frame::decode(body).map_err(|e| Error::Malformed(e.to_string()))?;
    if f.kind.is_none() {
        return Err(Error::Malformed(
            "frame carries no request or answer".into(),
        ));
    }
    Ok(f)
}

/// An `Error` frame.
pub fn error_frame(code: pb::ErrorCode, message: impl Into<String>) -> pb::Frame {
    pb::Frame {
        roster_version: 0,
        kind: Some(pb::frame::Kind::Error(pb::Error {
            code: code as i32,
            message: message.into(),
        })),
    }
}

pub(crate) async fn read_frame(
    recv: &mut quinn::RecvStream,
    max: usize,
) -> Result<pb::Frame, Error> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix)
        .await
        .map_err(|e| Error::Stream(format!("reading a frame length: {e}")))?;
    let len = check_len(prefix, max)?;
    // Gathered from the stream's chunks into one buffer, never zeroed first.
    let mut body = BytesMut::with_capacity(len);
    while body.len() < len {
        let chunk = recv
            .read_chunk(len - body.len(), true)
            .await
            .map_err(|e| Error::Stream(format!("reading a frame of {len} bytes: {e}")))?
            .ok_or_else(|| {
                Error::Stream(format!(
                    "reading a frame of {len} bytes: the stream finished early, after {} bytes",
                    body.len()
                ))
            })?;
        body.extend_from_slice(&chunk.bytes);
    }
    decode_frame(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let f = error_frame(pb::ErrorCode::NotFound, "no such entry");
        let bytes = encode_frame(&f);
        let len = check_len(bytes[..4].try_into().unwrap(), DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode_frame(&bytes[4..]).unwrap(), f);
        assert!(matches!(
            check_len((5u32 << 20).to_be_bytes(), DEFAULT_MAX_FRAME),
            Err(Error::FrameTooLarge { .. })
        ));
        assert!(matches!(
            decode_frame(&[0xff, 0xff][..]),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(decode_frame(&[][..]), Err(Error::Malformed(_))));
    }
}
