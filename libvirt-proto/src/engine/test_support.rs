//! Helpers that play the daemon's side in examples and tests.

use crate::frame::{Frame, FrameDecoder};
use crate::generated::virnet::{MessageStatus, MessageType};

/// The REPLY frame (status OK, `body`) answering the call frame `call`.
///
/// # Panics
/// If `call` is not one whole frame.
pub fn reply_to(call: &[u8], body: &[u8]) -> Vec<u8> {
    let mut d = FrameDecoder::new();
    d.push(call);
    let f = d
        .next_frame()
        .expect("a valid frame")
        .expect("a whole frame");
    let mut header = f.header;
    header.kind = MessageType::Reply;
    header.status = MessageStatus::Ok;
    Frame::new(header, body.to_vec()).encode()
}
