//! Just enough DER to read what libvirt looks at in a certificate that
//! webpki does not give: the subject (its common names when it has no
//! subjectAltName, the client's GnuTLS-style host name fallback, and its
//! relative names for `super::dn`), the validity dates, and the basic
//! constraints and key usage extensions of libvirt's sanity check.
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
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[3]` EXPLICIT, around the extensions.
const EXTENSIONS: u8 = 0xa3;
/// `[0]` EXPLICIT, around the version.
const VERSION: u8 = 0xa0;
/// 2.5.29.17, subjectAltName.
const SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.5.29.19, basicConstraints.
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// 2.5.29.15, keyUsage.
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// 2.5.4.3, commonName.
pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];

/// The parts of a certificate's TBSCertificate libvirt looks at.
struct Tbs<'a> {
    /// The Validity SEQUENCE's contents.
    validity: &'a [u8],
    /// The subject Name's contents.
    subject: &'a [u8],
    /// The contents of the extensions' SEQUENCE, empty without any.
    extensions: &'a [u8],
}

fn tbs(cert: &[u8]) -> Option<Tbs<'_>> {
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
    let (SEQUENCE, validity) = fields.nth(3)? else {
        return None;
    };
    let (SEQUENCE, subject) = fields.next()? else {
        return None;
    };
    for (tag, contents) in fields {
        if tag == EXTENSIONS {
            let (SEQUENCE, extensions, _) = element(contents)? else {
                return None;
            };
            return Some(Tbs {
                validity,
                subject,
                extensions,
            });
        }
    }
    Some(Tbs {
        validity,
        subject,
        extensions: &[],
    })
}

/// The value of the extension `wanted` and whether it is critical:
/// `Some(None)` when the certificate has no such extension, `None` when
/// it cannot be read.
fn find_extension<'a>(cert: &'a [u8], wanted: &[u8]) -> Option<Option<(bool, &'a [u8])>> {
    for (_, ext) in elements(tbs(cert)?.extensions) {
        let (oid, critical, value) = extension(ext)?;
        if oid == wanted {
            return Some(Some((critical, value)));
        }
    }
    Some(None)
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
    let tbs = tbs(cert)?;
    let mut has_san = false;
    for (_, ext) in elements(tbs.extensions) {
        let (oid, ..) = extension(ext)?;
        has_san |= oid == SAN;
    }
    Some((tbs.subject, has_san))
}

/// What a certificate's key usage extension allows, of what libvirt
/// looks at.
pub(crate) struct KeyUsage {
    pub digital_signature: bool,
    pub key_encipherment: bool,
    pub key_cert_sign: bool,
    pub critical: bool,
}

/// The certificate's key usage: `Some(None)` when it has no such
/// extension, `None` when it cannot be read.
pub(crate) fn key_usage(cert: &[u8]) -> Option<Option<KeyUsage>> {
    let Some((critical, value)) = find_extension(cert, KEY_USAGE)? else {
        return Some(None);
    };
    // A BIT STRING: the count of unused bits, then the bits, the first
    // (digitalSignature) the highest of the first byte.
    let (BIT_STRING, bits, _) = element(value)? else {
        return None;
    };
    let first = bits.get(1).copied().unwrap_or(0);
    Some(Some(KeyUsage {
        digital_signature: first & 0x80 != 0,
        key_encipherment: first & 0x20 != 0,
        key_cert_sign: first & 0x04 != 0,
        critical,
    }))
}

/// Whether the certificate's basic constraints make it a CA:
/// `Some(None)` without the extension, `None` when it cannot be read.
pub(crate) fn basic_constraints_ca(cert: &[u8]) -> Option<Option<bool>> {
    let Some((_, value)) = find_extension(cert, BASIC_CONSTRAINTS)? else {
        return Some(None);
    };
    let (SEQUENCE, constraints, _) = element(value)? else {
        return None;
    };
    // cA BOOLEAN DEFAULT FALSE, then an optional path length.
    let ca = match elements(constraints).next() {
        Some((BOOLEAN, flag)) => flag.first().is_some_and(|&b| b != 0),
        _ => false,
    };
    Some(Some(ca))
}

/// The certificate's validity, notBefore and notAfter, in seconds since
/// the Unix epoch.
pub(crate) fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let mut times = elements(tbs(cert)?.validity);
    let not_before = time(times.next()?)?;
    let not_after = time(times.next()?)?;
    Some((not_before, not_after))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950 to 2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), as RFC 5280 has them, in seconds since the epoch.
fn time((tag, text): (u8, &[u8])) -> Option<i64> {
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 for a leap second.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_rfc_5280_writes_them() {
        for (tag, text, seconds) in [
            (UTC_TIME, &b"200101000000Z"[..], Some(1_577_836_800)),
            (UTC_TIME, b"491231235959Z", Some(2_524_607_999)),
            (UTC_TIME, b"500101000000Z", Some(-631_152_000)),
            (GENERALIZED_TIME, b"20991231235959Z", Some(4_102_444_799)),
            (GENERALIZED_TIME, b"19700101000000Z", Some(0)),
            (GENERALIZED_TIME, b"20240229120000Z", Some(1_709_208_000)),
            // Not UTC, a month 13, a letter, too short, the wrong type.
            (UTC_TIME, b"200101000000+", None),
            (UTC_TIME, b"201301000000Z", None),
            (UTC_TIME, b"2001010000a0Z", None),
            (UTC_TIME, b"2001010000Z", None),
            (GENERALIZED_TIME, b"200101000000Z", None),
            (OCTET_STRING, b"200101000000Z", None),
        ] {
            assert_eq!(
                time((tag, text)),
                seconds,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
