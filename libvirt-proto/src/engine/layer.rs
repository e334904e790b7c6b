//! SASL security layers: once a mechanism with a security layer (GSSAPI
//! with integrity or confidentiality) has authenticated a connection,
//! every byte in both directions goes through it, except the bytes that
//! carry file descriptors: libvirt writes those on the socket itself
//! after the packets of their message (`virNetSocketSendFD`), and reads
//! them so once it has decoded a message that announces descriptors.
//!
//! On the wire the layer's output is a sequence of packets, each a 4-byte
//! big-endian length followed by that many bytes of the mechanism's
//! output (Cyrus SASL's `sasl_encode` framing, which libvirtd uses). The
//! RPC frames inside are cut into pieces of at most
//! [`SecurityLayer::max_plaintext`] bytes regardless of frame boundaries.
//!
//! libvirtd switches to the layer right after it has written the reply
//! that completes authentication; the client switches when it has read
//! that reply, before it sends anything else.

use std::fmt;

/// A negotiated security layer, one per connection.
pub trait SecurityLayer: Send {
    /// The most plaintext [`SecurityLayer::encode`] takes at a time (what
    /// fits in one packet the peer accepts).
    fn max_plaintext(&self) -> usize;
    /// The largest packet accepted from the peer (what this side declared
    /// during the exchange); larger ones end the connection.
    fn max_packet(&self) -> usize;
    /// One packet's payload for `plaintext` (at most
    /// [`SecurityLayer::max_plaintext`] bytes).
    fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String>;
    /// The plaintext of one packet's payload.
    fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, String>;
}

/// Why the layer could not carry the connection's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerError {
    /// A packet longer than [`SecurityLayer::max_packet`] was announced.
    PacketTooLong {
        /// Announced.
        length: usize,
        /// Accepted at most.
        max: usize,
    },
    /// The mechanism refused to encode or decode; its message.
    Mechanism(String),
    /// Bytes arrived after authentication but before the layer took over
    /// (the peer must wait for the other side to speak first); which side
    /// of the switch they belong to cannot be known.
    EarlyData {
        /// How many.
        bytes: usize,
    },
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerError::PacketTooLong { length, max } => write!(
                f,
                "security layer packet of {length} bytes, more than the {max} negotiated"
            ),
            LayerError::Mechanism(e) => write!(f, "security layer: {e}"),
            LayerError::EarlyData { bytes } => write!(
                f,
                "{bytes} bytes arrived before the security layer took over"
            ),
        }
    }
}

impl std::error::Error for LayerError {}

/// A [`SecurityLayer`] with the packet framing around it.
pub(crate) struct LayerCodec {
    layer: Box<dyn SecurityLayer>,
    /// Received bytes not yet taken out.
    input: Vec<u8>,
    /// Where in `input` the bytes not yet taken out start.
    at: usize,
}

impl fmt::Debug for LayerCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerCodec")
            .field("buffered", &self.input.len())
            .finish_non_exhaustive()
    }
}

impl LayerCodec {
    pub(crate) fn new(layer: Box<dyn SecurityLayer>) -> Self {
        LayerCodec {
            layer,
            input: Vec::new(),
            at: 0,
        }
    }

    /// The packets carrying `plaintext`.
    pub(crate) fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, LayerError> {
        let piece = self.layer.max_plaintext().max(1);
        let mut out = Vec::with_capacity(plaintext.len() + 64);
        for chunk in plaintext.chunks(piece) {
            let packet = self.layer.encode(chunk).map_err(LayerError::Mechanism)?;
            let length = u32::try_from(packet.len())
                .map_err(|_| LayerError::Mechanism(format!("packet of {} bytes", packet.len())))?;
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(&packet);
        }
        Ok(out)
    }

    /// Adds received bytes; [`LayerCodec::next`] takes them out.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// What comes next of the bytes received: with `clear` above zero, up
    /// to that many bytes as they came (those carrying descriptors, which
    /// libvirt writes beside the layer); otherwise the plaintext of the
    /// next whole packet. `None` when the bytes run out first.
    pub(crate) fn next(&mut self, clear: usize) -> Result<Option<Vec<u8>>, LayerError> {
        let rest = &self.input[self.at..];
        let (used, out) = if clear > 0 {
            let n = clear.min(rest.len());
            (n, rest[..n].to_vec())
        } else {
            match whole_packet(rest, self.layer.max_packet())? {
                Some((end, packet)) => {
                    let plain = self.layer.decode(packet).map_err(LayerError::Mechanism)?;
                    (end, plain)
                }
                None => (0, Vec::new()),
            }
        };
        if used == 0 {
            // All that can be taken is out: drop it, once per input.
            self.input.drain(..self.at);
            self.at = 0;
            return Ok(None);
        }
        self.at += used;
        Ok(Some(out))
    }

    /// All that comes out of `data` when no bytes are due outside the
    /// layer.
    #[cfg(test)]
    pub(crate) fn decode(&mut self, data: &[u8]) -> Result<Vec<u8>, LayerError> {
        self.push(data);
        let mut out = Vec::new();
        while let Some(plain) = self.next(0)? {
            out.extend(plain);
        }
        Ok(out)
    }
}

/// The packet at the start of `bytes`, and where it ends, once it is whole;
/// a length above `max` is refused before the packet is waited for (and so
/// buffered).
fn whole_packet(bytes: &[u8], max: usize) -> Result<Option<(usize, &[u8])>, LayerError> {
    let Some(prefix) = bytes.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if length > max {
        return Err(LayerError::PacketTooLong { length, max });
    }
    // `length` is bounded by `max` above; checked anyway, for a layer
    // that declares an enormous maximum.
    let end = 4usize
        .checked_add(length)
        .ok_or(LayerError::PacketTooLong { length, max })?;
    Ok(bytes.get(4..end).map(|packet| (end, packet)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A toy layer: XOR with a key, and a one-byte checksum appended.
    pub(crate) struct Xor {
        pub key: u8,
        pub max_plaintext: usize,
        pub max_packet: usize,
    }

    impl SecurityLayer for Xor {
        fn max_plaintext(&self) -> usize {
            self.max_plaintext
        }
        fn max_packet(&self) -> usize {
            self.max_packet
        }
        fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
            assert!(plaintext.len() <= self.max_plaintext);
            let mut out: Vec<u8> = plaintext.iter().map(|b| b ^ self.key).collect();
            out.push(plaintext.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
            Ok(out)
        }
        fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, String> {
            let (sum, body) = packet.split_last().ok_or("empty packet")?;
            let plain: Vec<u8> = body.iter().map(|b| b ^ self.key).collect();
            if plain.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != *sum {
                return Err("checksum mismatch".into());
            }
            Ok(plain)
        }
    }

    pub(crate) fn xor(max_plaintext: usize) -> Box<dyn SecurityLayer> {
        Box::new(Xor {
            key: 0x5a,
            max_plaintext,
            max_packet: max_plaintext + 1,
        })
    }

    #[test]
    fn plaintext_is_cut_into_packets_and_put_back_together() {
        let mut a = LayerCodec::new(xor(7));
        let mut b = LayerCodec::new(xor(7));
        let text: Vec<u8> = (0..40u8).collect();
        let wire = a.encode(&text).unwrap();
        // 40 bytes in pieces of 7: 6 packets, each 4 + piece + 1 bytes.
        assert_eq!(wire.len(), 40 + 6 * 5);
        assert_eq!(&wire[..4], &8u32.to_be_bytes());
        // Received a byte at a time, nothing comes out before a packet is
        // whole, and everything comes out in the end.
        let mut got = Vec::new();
        for (i, byte) in wire.iter().enumerate() {
            let out = b.decode(std::slice::from_ref(byte)).unwrap();
            if i < 11 {
                assert!(out.is_empty());
            }
            got.extend(out);
        }
        assert_eq!(got, text);
    }

    #[test]
    fn an_oversized_packet_is_refused_before_it_is_buffered() {
        let mut c = LayerCodec::new(xor(16));
        let e = c.decode(&1_000_000u32.to_be_bytes()).unwrap_err();
        assert_eq!(
            e,
            LayerError::PacketTooLong {
                length: 1_000_000,
                max: 17
            }
        );
    }

    #[test]
    fn a_packet_the_mechanism_rejects_is_an_error() {
        let mut c = LayerCodec::new(xor(16));
        let e = c.decode(&[0, 0, 0, 2, 1, 2]).unwrap_err();
        assert_eq!(e, LayerError::Mechanism("checksum mismatch".into()));
    }
}
