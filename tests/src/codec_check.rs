//! Checks run on generated types, chosen by XDR type name at run time.
//!
//! `build.rs` generates, per specification, a `dispatch` function mapping an
//! XDR type name to a call of [`Visit::visit`] with the generated Rust type;
//! the visitors here hold the bytes and do the checking, so each check is
//! written once and not generated per type.

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

use xdrgen::rt::{self, Decode, Encode};

use crate::random_xdr::Encoding;

/// Something done with a generated type `T`.
pub trait Visit {
    /// What it gives back.
    type Output;
    /// Does it with `T`.
    fn visit<T: Encode + Decode + PartialEq + Debug>(self) -> Self::Output;
}

/// Full round trip of a valid encoding: it decodes; re-encoding gives the
/// same bytes; `encoded_len` is their count; decoding the re-encoding gives
/// an equal value.
#[derive(Debug, Clone, Copy)]
pub struct Roundtrip<'a>(pub &'a [u8]);

impl Visit for Roundtrip<'_> {
    type Output = Result<(), String>;

    fn visit<T: Encode + Decode + PartialEq + Debug>(self) -> Result<(), String> {
        let bytes = self.0;
        let guarded = catch_unwind(AssertUnwindSafe(|| {
            let value: T = rt::from_bytes(bytes).map_err(|e| format!("decode failed: {e}"))?;
            let again =
                rt::to_bytes(&value).map_err(|e| format!("re-encode of {value:?} failed: {e}"))?;
            if again != bytes {
                return Err(format!(
                    "re-encoding differs:\n  input  {}\n  output {}\n  value {value:?}",
                    hex(bytes),
                    hex(&again)
                ));
            }
            let len = value.encoded_len();
            if len != bytes.len() {
                return Err(format!(
                    "encoded_len() = {len}, but the encoding has {} bytes; value {value:?}",
                    bytes.len()
                ));
            }
            let back: T = rt::from_bytes(&again)
                .map_err(|e| format!("decoding the re-encoding failed: {e}"))?;
            if back != value {
                return Err(format!(
                    "decoded values differ:\n  first  {value:?}\n  second {back:?}"
                ));
            }
            Ok(())
        }));
        guarded.unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(&*p))))
    }
}

/// What decoding arbitrary bytes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Decoding failed with this error (an `Err`, not a panic).
    Rejected(String),
    /// Decoding succeeded, and the value re-encodes to exactly the input
    /// with an exact `encoded_len`.
    Accepted,
    /// Decoding succeeded but the value does not re-encode to the input.
    Inconsistent(String),
    /// Decoding or re-encoding panicked.
    Panicked(String),
}

/// Decodes arbitrary bytes; when they decode, the value must re-encode to
/// exactly those bytes (XDR decoding here accepts only canonical forms:
/// zero padding, 0/1 bools, in-range values).
#[derive(Debug, Clone, Copy)]
pub struct DecodeAny<'a>(pub &'a [u8]);

impl Visit for DecodeAny<'_> {
    type Output = Decoded;

    fn visit<T: Encode + Decode + PartialEq + Debug>(self) -> Decoded {
        let bytes = self.0;
        let guarded = catch_unwind(AssertUnwindSafe(|| {
            let value: T = match rt::from_bytes(bytes) {
                Ok(v) => v,
                Err(e) => return Decoded::Rejected(e.to_string()),
            };
            match rt::to_bytes(&value) {
                Ok(again) if again == bytes && value.encoded_len() == bytes.len() => {
                    Decoded::Accepted
                }
                Ok(again) => Decoded::Inconsistent(format!(
                    "input {} decodes to {value:?}, which encodes to {} (encoded_len {})",
                    hex(bytes),
                    hex(&again),
                    value.encoded_len()
                )),
                Err(e) => Decoded::Inconsistent(format!(
                    "input {} decodes to {value:?}, which fails to encode: {e}",
                    hex(bytes)
                )),
            }
        }));
        guarded.unwrap_or_else(|p| Decoded::Panicked(panic_message(&*p)))
    }
}

/// Everything checked on one random encoding, in one dispatch: the round
/// trip, every corruption the oracle offers is rejected, the given strict
/// prefixes are rejected, and the given byte flips never panic (and decode
/// only to values that re-encode to the same bytes).
#[derive(Debug, Clone, Copy)]
pub struct FullCheck<'a> {
    /// The valid encoding and its corruptions.
    pub encoding: &'a Encoding,
    /// Lengths of strict prefixes to decode (each `< bytes.len()`).
    pub prefixes: &'a [usize],
    /// Byte flips: offset and a non-zero XOR mask.
    pub flips: &'a [(usize, u8)],
}

/// What [`FullCheck`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems, one line each (empty: all good).
    pub failures: Vec<String>,
    /// Corruptions rejected.
    pub corruptions: usize,
    /// Prefixes rejected.
    pub prefixes: usize,
    /// Flips decoded without a panic or an inconsistency.
    pub flips: usize,
    /// Of those, flips that still decoded.
    pub flips_accepted: usize,
}

impl Visit for FullCheck<'_> {
    type Output = Report;

    fn visit<T: Encode + Decode + PartialEq + Debug>(self) -> Report {
        let bytes = &self.encoding.bytes[..];
        let mut report = Report::default();
        if let Err(e) = Roundtrip(bytes).visit::<T>() {
            report
                .failures
                .push(format!("valid encoding {}: {e}", hex(bytes)));
        }
        for c in &self.encoding.corruptions {
            let bad = self.encoding.corrupted(c);
            match DecodeAny(&bad).visit::<T>() {
                Decoded::Rejected(_) => report.corruptions += 1,
                other => report.failures.push(format!(
                    "corruption at byte {} ({}) not rejected: {other:?}; bytes {}",
                    c.offset,
                    c.what,
                    hex(&bad)
                )),
            }
        }
        for &len in self.prefixes {
            match DecodeAny(&bytes[..len]).visit::<T>() {
                Decoded::Rejected(_) => report.prefixes += 1,
                other => report.failures.push(format!(
                    "prefix of {len} of {} bytes not rejected: {other:?}; bytes {}",
                    bytes.len(),
                    hex(&bytes[..len])
                )),
            }
        }
        for &(at, mask) in self.flips {
            let mut flipped = bytes.to_vec();
            flipped[at] ^= mask;
            match DecodeAny(&flipped).visit::<T>() {
                Decoded::Rejected(_) => report.flips += 1,
                Decoded::Accepted => {
                    report.flips += 1;
                    report.flips_accepted += 1;
                }
                other => report.failures.push(format!(
                    "byte {at} flipped with {mask:#04x}: {other:?}; bytes {}",
                    hex(&flipped)
                )),
            }
        }
        report
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// Bytes as hex words, e.g. `00000001 41420000`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + bytes.len() / 4);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}
