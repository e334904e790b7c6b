//! `frame_decoder` and `dispatch_decode`.

use libvirt_proto::dispatch;
use libvirt_proto::frame::{self, Frame, FrameDecoder, FrameError, HEADER_LEN, LEN_PREFIX};

/// Every frame `decoder` has, and the error that ends the stream if any.
fn drain(decoder: &mut FrameDecoder, into: &mut Vec<Frame>) -> Option<FrameError> {
    loop {
        match decoder.next_frame() {
            Ok(Some(f)) => into.push(f),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// Feeds a byte stream to a [`FrameDecoder`] in the chunks the input's
/// first bytes choose (every other one appended to the body under way,
/// when there is one, as a transport reading in place does; bodies given
/// back to its pool for reuse), and whole. The same frames and the same
/// final error come out both ways; each frame re-encodes to the bytes it came
/// from; `buffered` counts exactly the bytes not yet returned.
///
/// Input: `n` (low 3 bits: how many chunk sizes follow), `n` chunk-size
/// bytes (used in turn; `s` < 128: `s + 1` bytes, else `(s - 127) * 997`
/// bytes, so large frames also arrive in pieces), then the stream.
pub fn frame_decoder(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n & 7).min(rest.len());
    let (sizes, stream) = rest.split_at(n);

    let mut whole = FrameDecoder::new();
    whole.push(stream);
    let mut frames = Vec::new();
    let whole_error = drain(&mut whole, &mut frames);

    let mut chunked = FrameDecoder::new();
    let mut got = Vec::new();
    let mut chunked_error = None;
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let len = match sizes.get(i % sizes.len().max(1)) {
            None => stream.len(),
            Some(&s) if s < 128 => usize::from(s) + 1,
            Some(&s) => (usize::from(s) - 127) * 997,
        };
        i += 1;
        let mut end = (at + len).min(stream.len());
        // Every other read goes into the body under way, if any, as a
        // transport reading in place does.
        match chunked.body_space().filter(|_| i % 2 == 0) {
            Some(body) => {
                let room = body.capacity() - body.len();
                assert!(room > 0, "a body space without room");
                end = end.min(at + room);
                body.extend_from_slice(&stream[at..end]);
                chunked.body_appended();
            }
            None => chunked.push(&stream[at..end]),
        }
        at = end;
        assert!(chunked.buffered() <= at, "buffered more than received");
        let before = got.len();
        let error = drain(&mut chunked, &mut got);
        // Bodies go back for later frames to reuse, as a stream's reader
        // gives them back: a reused buffer must hold only its new frame.
        for f in &got[before..] {
            chunked.body_pool().give_back(f.body.clone());
        }
        if let Some(e) = error {
            chunked_error = Some(e);
            break;
        }
    }
    if chunked_error.is_none() {
        chunked_error = drain(&mut chunked, &mut got);
    }
    assert!(got == frames, "frames differ with chunking");
    assert_eq!(
        chunked_error, whole_error,
        "final error differs with chunking"
    );

    // The frames are the stream's prefix, byte for byte.
    let mut used = 0;
    for f in &frames {
        let bytes = f.encode();
        assert_eq!(bytes.len(), f.encoded_len());
        assert_eq!(
            &stream[used..used + bytes.len()],
            &bytes[..],
            "re-encoding differs"
        );
        used += bytes.len();
    }
    if whole_error.is_none() {
        assert_eq!(whole.buffered(), stream.len() - used, "buffered miscounts");
        assert_eq!(
            chunked.buffered(),
            stream.len() - used,
            "buffered miscounts"
        );
    }
}

/// Decodes one frame's body with [`dispatch::decode`]: whatever decodes
/// encodes back to the same body.
///
/// Input: a frame as on the wire (its length word is not checked, the
/// rest of the input is the frame): length, 24-byte header, the
/// descriptor count for `*_WITH_FDS` types, body.
pub fn dispatch_decode(data: &[u8]) {
    if data.len() < LEN_PREFIX + HEADER_LEN {
        return;
    }
    let mut head = [0u8; HEADER_LEN];
    head.copy_from_slice(&data[LEN_PREFIX..LEN_PREFIX + HEADER_LEN]);
    let Ok(header) = frame::parse_header(&head) else {
        return;
    };
    let mut at = LEN_PREFIX + HEADER_LEN;
    let mut num_fds = 0;
    if header.has_fds() {
        let Some(w) = data.get(at..at + 4) else {
            return;
        };
        num_fds = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        at += 4;
    }
    let frame = Frame {
        header,
        num_fds,
        body: data[at..].to_vec(),
    };
    if let Ok(body) = dispatch::decode(&frame) {
        let again = body.encode_body().expect("a decoded body encodes");
        assert!(again == frame.body, "re-encoding differs: {body:?}");
    }
}
