//! A certificate's distinguished name written as GnuTLS writes it: what
//! libvirtd's `tls_allowed_dn_list` matches and the server tells its
//! service (feature `server-tls`).

use std::fmt::Write;

use super::der::{element, subject, CN, OID, SEQUENCE, SET};

/// The attribute names GnuTLS writes (by their DER-encoded OIDs); others
/// are written as dotted numbers.
const NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (CN, "CN"),
    (&[0x55, 0x04, 0x09], "street"),
    (&[0x55, 0x04, 0x0c], "title"),
    (&[0x55, 0x04, 0x0d], "description"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    (&[0x55, 0x04, 0x04], "surName"),
    (&[0x55, 0x04, 0x2a], "givenName"),
    (&[0x55, 0x04, 0x2b], "initials"),
    (&[0x55, 0x04, 0x2c], "generationQualifier"),
    (&[0x55, 0x04, 0x2e], "dnQualifier"),
    (&[0x55, 0x04, 0x41], "pseudonym"),
    (&[0x55, 0x04, 0x11], "postalCode"),
    (&[0x55, 0x04, 0x29], "name"),
    (&[0x55, 0x04, 0x0f], "businessCategory"),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "EMAIL",
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x01,
        ],
        "jurisdictionOfIncorporationLocalityName",
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x02,
        ],
        "jurisdictionOfIncorporationStateOrProvinceName",
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x03,
        ],
        "jurisdictionOfIncorporationCountryName",
    ),
];

/// The certificate's subject as `gnutls_x509_crt_get_dn` writes it, the
/// string libvirtd matches `tls_allowed_dn_list` against and
/// `virt-pki-query-dn` prints: the relative names in the certificate's
/// order joined by `,` (the attributes of one joined by `+`), each
/// `NAME=value` with RFC 4514's escapes. An attribute GnuTLS has no name
/// for is its dotted OID and `#` with the hex of its whole DER value; a
/// value that is not text is `\#` with the hex of its contents. `None`
/// when the certificate cannot be walked or a value holds a NUL (GnuTLS
/// fails then too).
pub(crate) fn distinguished_name(cert: &[u8]) -> Option<String> {
    let (name, _) = subject(cert)?;
    let mut out = String::new();
    let mut rdns = 0;
    let mut rest = name;
    while !rest.is_empty() {
        let (SET, set, after) = element(rest)? else {
            return None;
        };
        rest = after;
        let mut atvs = set;
        let mut first = true;
        while !atvs.is_empty() {
            let (SEQUENCE, atv, after) = element(atvs)? else {
                return None;
            };
            atvs = after;
            let (OID, oid, value) = element(atv)? else {
                return None;
            };
            let (tag, contents, trailing) = element(value)?;
            if !trailing.is_empty() {
                return None;
            }
            out.push_str(match (first, rdns) {
                (false, _) => "+",
                (true, 0) => "",
                (true, _) => ",",
            });
            first = false;
            match NAMES.iter().find(|(known, _)| *known == oid) {
                Some((_, name)) => {
                    out.push_str(name);
                    out.push('=');
                    match text(tag, contents) {
                        Some(s) => escape(&s, &mut out)?,
                        None => {
                            out.push_str("\\#");
                            hex(contents, &mut out);
                        }
                    }
                }
                None => {
                    dotted(oid, &mut out)?;
                    out.push_str("=#");
                    hex(value, &mut out);
                }
            }
        }
        if first {
            // An empty relative name.
            return None;
        }
        rdns += 1;
    }
    Some(out)
}

/// A string value as text, for the string types GnuTLS decodes; `None`
/// for any other type or bytes that are not text of their type.
fn text(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString,
        // NumericString.
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => String::from_utf8(contents.to_vec()).ok(),
        // TeletexString: taken only when it is printable ASCII.
        0x14 => contents
            .iter()
            .all(|b| (0x20..0x7f).contains(b))
            .then(|| String::from_utf8_lossy(contents).into_owned()),
        // BMPString: UCS-2, big-endian.
        0x1e => {
            if contents.len() % 2 != 0 {
                return None;
            }
            let units = contents
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// Appends `value` with RFC 4514's escapes, as GnuTLS writes them; `None`
/// for a NUL.
fn escape(value: &str, out: &mut String) -> Option<()> {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let escaped = match c {
            '\0' => return None,
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            '#' => i == 0,
            ' ' => i == 0 || i == last,
            _ => false,
        };
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
    Some(())
}

fn hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Appends a DER-encoded OID in dotted form; `None` when malformed.
fn dotted(oid: &[u8], out: &mut String) -> Option<()> {
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        if arc == 0 && b == 0x80 {
            // A leading zero septet is not DER.
            return None;
        }
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        } else if i == oid.len() - 1 {
            return None;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let _ = write!(out, "{a}.{b}");
    for arc in rest {
        let _ = write!(out, ".{arc}");
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TBSCertificate around `subject` (and nothing a certificate
    /// needs otherwise: this walk reads the subject only).
    fn cert_with_subject(subject: &[u8]) -> Vec<u8> {
        fn wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
            assert!(contents.len() < 0x80);
            [&[tag, contents.len() as u8][..], contents].concat()
        }
        let empty = wrap(SEQUENCE, &[]);
        let tbs = [
            wrap(0x02, &[1]),
            empty.clone(),
            empty.clone(),
            empty,
            wrap(SEQUENCE, subject),
        ]
        .concat();
        wrap(SEQUENCE, &wrap(SEQUENCE, &tbs))
    }

    fn rdn(atvs: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
        let mut set = Vec::new();
        for (oid, tag, value) in atvs {
            let oid = [&[OID, oid.len() as u8][..], oid].concat();
            let value = [&[*tag, value.len() as u8][..], value].concat();
            let atv = [oid, value].concat();
            set.extend([&[SEQUENCE, atv.len() as u8][..], &atv].concat());
        }
        [&[SET, set.len() as u8][..], &set].concat()
    }

    const O: &[u8] = &[0x55, 0x04, 0x0a];

    #[test]
    fn escapes_and_multivalued_names() {
        let subject = [
            rdn(&[(O, 0x0c, b"a,b+c"), (CN, 0x13, b"x")]),
            rdn(&[(CN, 0x0c, b"#lead and trail ")]),
            rdn(&[(CN, 0x0c, b"mid#dle \"q\" <a>;\\")]),
        ]
        .concat();
        assert_eq!(
            distinguished_name(&cert_with_subject(&subject)).as_deref(),
            Some("O=a\\,b\\+c+CN=x,CN=\\#lead and trail\\ ,CN=mid#dle \\\"q\\\" \\<a\\>\\;\\\\")
        );
    }

    #[test]
    fn unknown_attributes_and_values_in_hex() {
        // 1.2.3.4, and a TeletexString that is not ASCII.
        let subject = [
            rdn(&[(&[0x2a, 0x03, 0x04], 0x13, b"odd")]),
            rdn(&[(O, 0x14, b"Zo\xeb")]),
            rdn(&[(CN, 0x1e, &[0, b'Z', 0, 0xeb])]),
        ]
        .concat();
        assert_eq!(
            distinguished_name(&cert_with_subject(&subject)).as_deref(),
            Some("1.2.3.4=#13036f6464,O=\\#5a6feb,CN=Zë")
        );
    }

    #[test]
    fn broken_names_give_none() {
        // A NUL, an empty RDN, a truncated OID.
        for subject in [
            rdn(&[(CN, 0x0c, b"a\0b")]),
            vec![SET, 0],
            rdn(&[(&[0x2a, 0x83], 0x0c, b"x")]),
        ] {
            assert_eq!(distinguished_name(&cert_with_subject(&subject)), None);
        }
        let good = cert_with_subject(&rdn(&[(CN, 0x0c, b"client")]));
        assert_eq!(distinguished_name(&good).as_deref(), Some("CN=client"));
        for n in 0..good.len() {
            assert_eq!(distinguished_name(&good[..n]), None, "{n}");
        }
    }
}
