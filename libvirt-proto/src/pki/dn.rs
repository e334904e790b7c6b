//! A certificate's distinguished name written as GnuTLS writes it: what
//! libvirtd's `tls_allowed_dn_list` matches and the server tells its
//! service (feature `server-tls`).

use std::fmt::Write;

use super::der::{element, subject, CN, OID, SEQUENCE, SET};

/// The string type GnuTLS expects of an attribute's value.
#[derive(Clone, Copy)]
enum Kind {
    /// PrintableString only.
    Printable,
    /// IA5String only.
    Ia5,
    /// X.520's DirectoryString: TeletexString, PrintableString,
    /// UniversalString, UTF8String or BMPString.
    Directory,
}

use Kind::{Directory, Ia5, Printable};

/// The attributes GnuTLS has names for (by their DER-encoded OIDs), with
/// the type it expects; others are written as dotted numbers.
const NAMES: &[(&[u8], &str, Kind)] = &[
    (&[0x55, 0x04, 0x06], "C", Printable),
    (&[0x55, 0x04, 0x08], "ST", Directory),
    (&[0x55, 0x04, 0x07], "L", Directory),
    (&[0x55, 0x04, 0x0a], "O", Directory),
    (&[0x55, 0x04, 0x0b], "OU", Directory),
    (CN, "CN", Directory),
    (&[0x55, 0x04, 0x09], "street", Directory),
    (&[0x55, 0x04, 0x0c], "title", Directory),
    (&[0x55, 0x04, 0x0d], "description", Directory),
    (&[0x55, 0x04, 0x05], "serialNumber", Printable),
    (&[0x55, 0x04, 0x14], "telephoneNumber", Printable),
    (&[0x55, 0x04, 0x04], "surName", Directory),
    (&[0x55, 0x04, 0x2a], "givenName", Directory),
    (&[0x55, 0x04, 0x2b], "initials", Directory),
    (&[0x55, 0x04, 0x2c], "generationQualifier", Directory),
    (&[0x55, 0x04, 0x2e], "dnQualifier", Printable),
    (&[0x55, 0x04, 0x41], "pseudonym", Directory),
    (&[0x55, 0x04, 0x11], "postalCode", Directory),
    (&[0x55, 0x04, 0x29], "name", Directory),
    (&[0x55, 0x04, 0x0f], "businessCategory", Directory),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
        Ia5,
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
        Directory,
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "EMAIL",
        Ia5,
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x01,
        ],
        "jurisdictionOfIncorporationLocalityName",
        Directory,
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x02,
        ],
        "jurisdictionOfIncorporationStateOrProvinceName",
        Directory,
    ),
    (
        &[
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x03,
        ],
        "jurisdictionOfIncorporationCountryName",
        Printable,
    ),
];

/// The certificate's subject as `gnutls_x509_crt_get_dn` writes it, the
/// string libvirtd matches `tls_allowed_dn_list` against and
/// `virt-pki-query-dn` prints: the relative names in the certificate's
/// order joined by `,` (the attributes of one joined by `+`), each
/// `NAME=value` with RFC 4514's escapes. An attribute GnuTLS has no name
/// for, or a value not of the type GnuTLS expects for its attribute (or
/// holding a NUL), is `#` with the hex of the whole DER value; a
/// UniversalString or a TeletexString that is not printable ASCII is `\#`
/// with the hex of its contents. `None` when the certificate cannot be
/// walked or its subject is empty (GnuTLS fails then too), or when a
/// value read as text is not valid UTF-8 (or UCS-2): GnuTLS copies such
/// bytes as they are, and GLib's pattern matching then steps over them
/// in ways a Rust string cannot follow, so such a name is not written
/// rather than written differently.
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
            match NAMES.iter().find(|(known, ..)| *known == oid) {
                Some((_, name, kind)) => {
                    out.push_str(name);
                    out.push('=');
                    write_value(*kind, tag, contents, value, &mut out)?;
                }
                None => {
                    dotted(oid, &mut out)?;
                    out.push('=');
                    whole_in_hex(value, &mut out);
                }
            }
        }
        if first {
            // An empty relative name.
            return None;
        }
        rdns += 1;
    }
    (rdns > 0).then_some(out)
}

/// Appends a value of an attribute GnuTLS knows: `whole` is its DER
/// encoding, `tag` and `contents` its parts.
fn write_value(kind: Kind, tag: u8, contents: &[u8], whole: &[u8], out: &mut String) -> Option<()> {
    const UTF8: u8 = 0x0c;
    const PRINTABLE: u8 = 0x13;
    const TELETEX: u8 = 0x14;
    const IA5: u8 = 0x16;
    const UNIVERSAL: u8 = 0x1c;
    const BMP: u8 = 0x1e;
    let text = match (kind, tag) {
        (Printable, PRINTABLE) | (Ia5, IA5) | (Directory, PRINTABLE | UTF8) => {
            String::from_utf8(contents.to_vec()).ok()?
        }
        // Taken as text only when it is printable ASCII.
        (Directory, TELETEX) if contents.iter().all(|b| (0x20..=0x7e).contains(b)) => {
            String::from_utf8(contents.to_vec()).ok()?
        }
        (Directory, TELETEX | UNIVERSAL) => {
            out.push_str("\\#");
            hex(contents, out);
            return Some(());
        }
        // UCS-2, big-endian; a last odd byte is left out, as GnuTLS does.
        (Directory, BMP) => {
            let units = contents
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()?
        }
        _ => {
            whole_in_hex(whole, out);
            return Some(());
        }
    };
    if text.contains('\0') {
        whole_in_hex(whole, out);
        return Some(());
    }
    escape(&text, out);
    Some(())
}

/// `#` and the hex of a whole DER value: what GnuTLS writes for a value
/// it does not read.
fn whole_in_hex(whole: &[u8], out: &mut String) {
    out.push('#');
    hex(whole, out);
}

/// Appends `value` with RFC 4514's escapes, as GnuTLS writes them.
fn escape(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let escaped = match c {
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
            let n = contents.len();
            let len = match n {
                0..0x80 => vec![n as u8],
                0x80..0x100 => vec![0x81, n as u8],
                _ => vec![0x82, (n >> 8) as u8, n as u8],
            };
            [&[tag][..], &len, contents].concat()
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

    /// Each case as `virt-pki-query-dn` (GnuTLS 3.7) printed it for a
    /// certificate with that subject.
    #[test]
    fn values_gnutls_does_not_read_are_in_hex() {
        const C: &[u8] = &[0x55, 0x04, 0x06];
        const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
        let subject = [
            // An attribute GnuTLS has no name for.
            rdn(&[(&[0x2a, 0x03, 0x04], 0x13, b"odd")]),
            // Not printable ASCII in a TeletexString; a UniversalString.
            rdn(&[(O, 0x14, b"Zo\xeb")]),
            rdn(&[(O, 0x1c, b"clientY")]),
            // Printable ASCII in a TeletexString.
            rdn(&[(O, 0x14, b"clientY")]),
            // A BMPString.
            rdn(&[(CN, 0x1e, &[0, b'Z', 0, 0xeb])]),
            // A country as UTF8String, a DC as PrintableString, a common
            // name as IA5String or VisibleString: not the expected type.
            rdn(&[(C, 0x0c, b"GB")]),
            rdn(&[(DC, 0x13, b"dcZ")]),
            rdn(&[(CN, 0x16, b"clientY")]),
            rdn(&[(CN, 0x1a, b"clientY")]),
            // A NUL.
            rdn(&[(O, 0x0c, b"lvp\0")]),
        ]
        .concat();
        assert_eq!(
            distinguished_name(&cert_with_subject(&subject)).as_deref(),
            Some(
                "1.2.3.4=#13036f6464,O=\\#5a6feb,O=\\#636c69656e7459,O=clientY,CN=Zë,\
                 C=#0c024742,DC=#130364635a,CN=#1607636c69656e7459,CN=#1a07636c69656e7459,\
                 O=#0c046c767000"
            )
        );
    }

    #[test]
    fn broken_names_give_none() {
        // An empty RDN, a truncated OID, an empty subject.
        for subject in [
            vec![SET, 0],
            rdn(&[(&[0x2a, 0x83], 0x0c, b"x")]),
            Vec::new(),
            // Text that is not UTF-8, a BMPString with half a surrogate
            // pair: GnuTLS writes the bytes, which this cannot match.
            rdn(&[(CN, 0x0c, b"adm\xc3n")]),
            rdn(&[(CN, 0x1e, &[0xd8, 0x00])]),
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
