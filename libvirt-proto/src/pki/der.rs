//! Just enough DER to read a certificate's subject: its common names
//! when it has no subjectAltName (the client's GnuTLS-style host name
//! fallback), and the subject's relative names for [`super::dn`].
//! Everything is read from untrusted bytes: a walk that does not fit
//! gives `None`.

/// One element: (tag, contents, rest).
pub(super) fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The elements of a constructed value's contents.
pub(super) fn elements(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, contents, rest) = element(input)?;
        input = rest;
        Some((tag, contents))
    })
}

pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const SET: u8 = 0x31;
pub(super) const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
/// `[3]` EXPLICIT, around the extensions.
const EXTENSIONS: u8 = 0xa3;
/// `[0]` EXPLICIT, around the version.
const VERSION: u8 = 0xa0;
/// 2.5.29.17, subjectAltName.
const SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.5.29.15, keyUsage.
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// 2.5.4.3, commonName.
pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];

/// A certificate's subject Name (its contents) and its extensions (the
/// contents of their SEQUENCE, empty when it has none).
fn subject_and_extensions(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    let (SEQUENCE, cert, _) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut fields = elements(tbs).peekable();
    if fields.peek()?.0 == VERSION {
        fields.next();
    }
    // serialNumber, signature, issuer, validity, subject.
    let (tag, subject) = fields.nth(4)?;
    if tag != SEQUENCE {
        return None;
    }
    for (tag, contents) in fields {
        if tag == EXTENSIONS {
            let (SEQUENCE, list, _) = element(contents)? else {
                return None;
            };
            return Some((subject, list));
        }
    }
    Some((subject, &[]))
}

/// One extension: its OID, whether it is critical, and its value (the
/// OCTET STRING's contents).
fn extension(ext: &[u8]) -> Option<(&[u8], bool, &[u8])> {
    let mut parts = elements(ext);
    let (OID, oid) = parts.next()? else {
        return None;
    };
    let (critical, value) = match parts.next()? {
        (BOOLEAN, flag) => (flag.first().is_some_and(|&b| b != 0), parts.next()?),
        other => (false, other),
    };
    match value {
        (OCTET_STRING, value) => Some((oid, critical, value)),
        _ => None,
    }
}

/// A certificate's subject Name (its contents) and whether it has a
/// subjectAltName extension.
pub(super) fn subject(cert: &[u8]) -> Option<(&[u8], bool)> {
    let (subject, extensions) = subject_and_extensions(cert)?;
    let mut has_san = false;
    for (_, ext) in elements(extensions) {
        let (oid, ..) = extension(ext)?;
        has_san |= oid == SAN;
    }
    Some((subject, has_san))
}

/// What a certificate's key usage extension allows, of what libvirtd
/// looks at.
#[cfg_attr(not(feature = "server-tls"), allow(dead_code))]
pub(crate) struct KeyUsage {
    pub digital_signature: bool,
    pub key_encipherment: bool,
    pub critical: bool,
}

/// The certificate's key usage: `Some(None)` when it has no such
/// extension, `None` when it cannot be read.
#[cfg_attr(not(feature = "server-tls"), allow(dead_code))]
pub(crate) fn key_usage(cert: &[u8]) -> Option<Option<KeyUsage>> {
    let (_, extensions) = subject_and_extensions(cert)?;
    for (_, ext) in elements(extensions) {
        let (oid, critical, value) = extension(ext)?;
        if oid != KEY_USAGE {
            continue;
        }
        // A BIT STRING: the count of unused bits, then the bits, the
        // first (digitalSignature) the highest of the first byte.
        let (BIT_STRING, bits, _) = element(value)? else {
            return None;
        };
        let first = bits.get(1).copied().unwrap_or(0);
        return Some(Some(KeyUsage {
            digital_signature: first & 0x80 != 0,
            key_encipherment: first & 0x20 != 0,
            critical,
        }));
    }
    Some(None)
}

/// The subject Name's contents when the certificate has no
/// subjectAltName extension.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn subject_without_san(cert: &[u8]) -> Option<&[u8]> {
    match subject(cert)? {
        (name, false) => Some(name),
        (_, true) => None,
    }
}

/// The commonName values of a Name (UTF8String, PrintableString or
/// IA5String).
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn common_names(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    elements(name)
        .filter(|&(tag, _)| tag == SET)
        .flat_map(|(_, set)| elements(set))
        .filter_map(|(tag, atv)| {
            if tag != SEQUENCE {
                return None;
            }
            let mut parts = elements(atv);
            let (OID, CN) = parts.next()? else {
                return None;
            };
            match parts.next()? {
                (0x0c | 0x13 | 0x16, value) => Some(value),
                _ => None,
            }
        })
}
