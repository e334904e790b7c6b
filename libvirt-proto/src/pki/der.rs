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
/// `[3]` EXPLICIT, around the extensions.
const EXTENSIONS: u8 = 0xa3;
/// `[0]` EXPLICIT, around the version.
const VERSION: u8 = 0xa0;
/// 2.5.29.17, subjectAltName.
const SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.5.4.3, commonName.
pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];

/// A certificate's subject Name (its contents) and whether it has a
/// subjectAltName extension.
pub(super) fn subject(cert: &[u8]) -> Option<(&[u8], bool)> {
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
    let mut has_san = false;
    for (tag, contents) in fields {
        if tag != EXTENSIONS {
            continue;
        }
        let (SEQUENCE, list, _) = element(contents)? else {
            return None;
        };
        for (_, ext) in elements(list) {
            match elements(ext).next() {
                Some((OID, SAN)) => has_san = true,
                Some(_) => {}
                None => return None,
            }
        }
    }
    Some((subject, has_san))
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
