//! A GnuTLS priority string (a client URI's `tls_priority=`, libvirtd's
//! `tls_priority`), read as GnuTLS 3.7 reads it and applied to what this
//! crate's TLS speaks (rustls with *ring*).
//!
//! The string is a `:`-separated list. It starts from a level (`NORMAL`,
//! `PFS`, `PERFORMANCE`, `LEGACY`, `SECURE128` or `SECURE`, `SECURE192`,
//! `SECURE256`, `SUITEB128`, `SUITEB192`) or from nothing (`NONE`); then
//! `+KEYWORD` allows and `-KEYWORD` or `!KEYWORD` removes, `+LEVEL` (or a
//! level alone) adds a level's algorithms but not its protocol versions,
//! and `%FLAG` sets a GnuTLS flag. A string that does not start with a
//! level starts from GnuTLS's protocol versions and nothing else. Names are GnuTLS's
//! (case does not matter, except in flags) and anything GnuTLS would
//! refuse is refused ([`PriorityError::Syntax`]), so that a string
//! libvirt would not start with is not silently taken for something
//! else.
//!
//! What is applied, among what rustls has: the protocol versions (TLS 1.2
//! and 1.3), the bulk ciphers (AES-128-GCM, AES-256-GCM,
//! CHACHA20-POLY1305; they need the `AEAD` MAC, as in GnuTLS), TLS 1.2's
//! key exchanges (ECDHE-RSA, ECDHE-ECDSA), the key exchange groups
//! (X25519, SECP256R1, SECP384R1) and the signature schemes of the
//! handshake, both those this end verifies (the peer's) and the one it
//! signs with ([`restrict_signing`]). Everything else GnuTLS
//! names (TLS 1.1, CBC ciphers, RSA key exchange, FFDHE groups, `%`
//! flags, certificate types, compression) changes nothing here: a string
//! never widens what is offered beyond what it names, and one that leaves
//! nothing usable here is an error (where GnuTLS would find nothing
//! usable either, and where what it leaves is only what rustls lacks,
//! such as TLS 1.0).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::sign::{Signer, SigningKey};
use rustls::{CipherSuite, NamedGroup, SignatureScheme, SupportedProtocolVersion};

/// Why a GnuTLS priority string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PriorityError {
    /// An element GnuTLS refuses too: a name it does not know, one
    /// without `+`, `-`, `!` or `%` after the first, an empty element, a
    /// level removed or `NONE` after the first.
    Syntax {
        /// The element, as written.
        element: String,
    },
    /// `@KEYWORD`: GnuTLS's system-wide priorities, from a configuration
    /// file this crate does not read.
    SystemPriority {
        /// The element, as written.
        element: String,
    },
    /// Neither TLS 1.2 nor TLS 1.3 is left.
    NoProtocolVersion,
    /// No cipher suite (cipher with the `AEAD` MAC and, for TLS 1.2, an
    /// ECDHE key exchange) or no key exchange group is left.
    NoCipherSuite,
    /// No signature scheme this crate verifies is left.
    NoSignatureScheme,
}

impl fmt::Display for PriorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriorityError::Syntax { element } => {
                write!(
                    f,
                    "'{element}' is not a priority keyword GnuTLS accepts here"
                )
            }
            PriorityError::SystemPriority { element } => write!(
                f,
                "'{element}' names GnuTLS's system-wide priorities, which are not read"
            ),
            PriorityError::NoProtocolVersion => f.write_str("neither TLS 1.2 nor TLS 1.3 is left"),
            PriorityError::NoCipherSuite => {
                f.write_str("no cipher suite or key exchange group this crate speaks is left")
            }
            PriorityError::NoSignatureScheme => {
                f.write_str("no signature scheme this crate verifies is left")
            }
        }
    }
}

impl std::error::Error for PriorityError {}

// What a string leaves, as bits: one per algorithm this crate has.
const TLS12: u32 = 1 << 0;
const TLS13: u32 = 1 << 1;
const AES128: u32 = 1 << 2;
const AES256: u32 = 1 << 3;
const CHACHA20: u32 = 1 << 4;
const AEAD: u32 = 1 << 5;
const ECDHE_RSA: u32 = 1 << 6;
const ECDHE_ECDSA: u32 = 1 << 7;
const X25519: u32 = 1 << 8;
const P256: u32 = 1 << 9;
const P384: u32 = 1 << 10;
const RSA_SHA256: u32 = 1 << 11;
const RSA_SHA384: u32 = 1 << 12;
const RSA_SHA512: u32 = 1 << 13;
const PSS_SHA256: u32 = 1 << 14;
const PSS_SHA384: u32 = 1 << 15;
const PSS_SHA512: u32 = 1 << 16;
/// TLS 1.2's `ECDSA-SHA256` (any curve); TLS 1.3's is [`ECDSA_P256`].
/// Both are code point 0x0403, as are their SHA-384 pair 0x0503.
const ECDSA_SHA256: u32 = 1 << 17;
const ECDSA_SHA384: u32 = 1 << 18;
const ECDSA_P256: u32 = 1 << 19;
const ECDSA_P384: u32 = 1 << 20;
const ED25519: u32 = 1 << 21;
/// TLS 1.0 and 1.1: not spoken here, but they decide whether GnuTLS
/// keeps TLS 1.3 (see [`Priority::versions`]).
const TLS10: u32 = 1 << 22;
const TLS11: u32 = 1 << 23;

/// The protocol versions levels and `VERS-ALL` name.
const ALL_VERSIONS: u32 = TLS10 | TLS11 | TLS12 | TLS13;
const CIPHERS: u32 = AES128 | AES256 | CHACHA20;
const MACS: u32 = AEAD;
const KXS: u32 = ECDHE_RSA | ECDHE_ECDSA;
const GROUPS: u32 = X25519 | P256 | P384;
const SIGNS: u32 = RSA_SHA256
    | RSA_SHA384
    | RSA_SHA512
    | PSS_SHA256
    | PSS_SHA384
    | PSS_SHA512
    | ECDSA_SHA256
    | ECDSA_SHA384
    | ECDSA_P256
    | ECDSA_P384
    | ED25519;
const EVERYTHING: u32 = ALL_VERSIONS | CIPHERS | MACS | KXS | GROUPS | SIGNS;

/// GnuTLS 3.7's levels, with what each allows of ours (read off
/// `gnutls-cli -l --priority LEVEL`; the unit tests compare).
const LEVELS: &[(&str, u32)] = &[
    ("NORMAL", EVERYTHING),
    ("PFS", EVERYTHING),
    ("PERFORMANCE", EVERYTHING),
    ("LEGACY", EVERYTHING),
    ("SECURE128", EVERYTHING),
    ("SECURE", EVERYTHING),
    ("SECURE192", SECURE192),
    ("SECURE256", SECURE192),
    ("SUITEB128", SUITEB128),
    ("SUITEB192", SUITEB192),
];
const SECURE192: u32 = ALL_VERSIONS
    | AES256
    | CHACHA20
    | AEAD
    | KXS
    | P384
    | RSA_SHA384
    | RSA_SHA512
    | PSS_SHA384
    | PSS_SHA512
    | ECDSA_SHA384
    | ECDSA_P384;
const SUITEB128: u32 = TLS12
    | AES128
    | AES256
    | AEAD
    | ECDHE_ECDSA
    | P256
    | P384
    | ECDSA_SHA256
    | ECDSA_P256
    | SUITEB192;
const SUITEB192: u32 = TLS12 | AES256 | AEAD | ECDHE_ECDSA | P384 | ECDSA_SHA384 | ECDSA_P384;

/// GnuTLS's MAC names (`+SHA256`), with ours.
const MAC_NAMES: &[(&str, u32)] = &[
    ("AEAD", AEAD),
    ("SHA1", 0),
    ("SHA256", 0),
    ("SHA384", 0),
    ("SHA512", 0),
    ("SHA224", 0),
    ("MD5", 0),
    ("UMAC-96", 0),
    ("UMAC-128", 0),
    ("GOSTR341194", 0),
    ("STREEBOG-256", 0),
    ("STREEBOG-512", 0),
    ("AES-CMAC-128", 0),
    ("AES-CMAC-256", 0),
    ("AES-GMAC-128", 0),
    ("AES-GMAC-192", 0),
    ("AES-GMAC-256", 0),
    ("GOST28147-TC26Z-IMIT", 0),
    ("OMAC-MAGMA", 0),
    ("OMAC-KUZNYECHIK", 0),
];

/// GnuTLS's cipher names (`+AES-128-GCM`), with ours.
const CIPHER_NAMES: &[(&str, u32)] = &[
    ("AES-128-GCM", AES128),
    ("AES-256-GCM", AES256),
    ("CHACHA20-POLY1305", CHACHA20),
    ("AES-128-CBC", 0),
    ("AES-192-CBC", 0),
    ("AES-256-CBC", 0),
    ("AES-192-GCM", 0),
    ("AES-128-CCM", 0),
    ("AES-256-CCM", 0),
    ("AES-128-CCM-8", 0),
    ("AES-256-CCM-8", 0),
    ("AES-128-CFB8", 0),
    ("AES-192-CFB8", 0),
    ("AES-256-CFB8", 0),
    ("AES-128-XTS", 0),
    ("AES-256-XTS", 0),
    ("AES-128-SIV", 0),
    ("AES-256-SIV", 0),
    ("ARCFOUR-128", 0),
    ("ARCFOUR-40", 0),
    ("ESTREAM-SALSA20-256", 0),
    ("SALSA20-256", 0),
    ("CHACHA20-32", 0),
    ("CHACHA20-64", 0),
    ("CAMELLIA-128-CBC", 0),
    ("CAMELLIA-192-CBC", 0),
    ("CAMELLIA-256-CBC", 0),
    ("CAMELLIA-128-GCM", 0),
    ("CAMELLIA-256-GCM", 0),
    ("GOST28147-TC26Z-CFB", 0),
    ("GOST28147-CPA-CFB", 0),
    ("GOST28147-CPB-CFB", 0),
    ("GOST28147-CPC-CFB", 0),
    ("GOST28147-CPD-CFB", 0),
    ("GOST28147-TC26Z-CNT", 0),
    ("MAGMA-CTR-ACPKM", 0),
    ("KUZNYECHIK-CTR-ACPKM", 0),
    ("3DES-CBC", 0),
    ("DES-CBC", 0),
    ("RC2-40", 0),
    ("NULL", 0),
];

/// GnuTLS's key exchange names (`+ECDHE-RSA`), with ours.
const KX_NAMES: &[(&str, u32)] = &[
    ("ECDHE-RSA", ECDHE_RSA),
    ("ECDHE-ECDSA", ECDHE_ECDSA),
    ("RSA", 0),
    ("DHE-RSA", 0),
    ("DHE-DSS", 0),
    ("PSK", 0),
    ("RSA-PSK", 0),
    ("DHE-PSK", 0),
    ("ECDHE-PSK", 0),
    ("SRP-DSS", 0),
    ("SRP-RSA", 0),
    ("SRP", 0),
    ("ANON-DH", 0),
    ("ANON-ECDH", 0),
    ("VKO-GOST-12", 0),
    ("RSA-EXPORT", 0),
];

/// GnuTLS's protocol names (`+VERS-TLS1.2`), with ours.
const VERSION_NAMES: &[(&str, u32)] = &[
    ("TLS1.2", TLS12),
    ("TLS1.3", TLS13),
    ("SSL3.0", 0),
    ("TLS1.0", TLS10),
    ("TLS1.1", TLS11),
    ("DTLS0.9", 0),
    ("DTLS1.0", 0),
    ("DTLS1.2", 0),
];

/// GnuTLS's elliptic curve names (`+CURVE-X25519`, the older form of
/// groups), with ours.
const CURVE_NAMES: &[(&str, u32)] = &[
    ("X25519", X25519),
    ("SECP256R1", P256),
    ("SECP384R1", P384),
    ("SECP192R1", 0),
    ("SECP224R1", 0),
    ("SECP521R1", 0),
    ("X448", 0),
    ("Ed25519", 0),
    ("Ed448", 0),
    ("CryptoPro-A", 0),
    ("CryptoPro-XchA", 0),
    ("TC26-256-B", 0),
    ("TC26-512-A", 0),
];

/// GnuTLS's group names (`+GROUP-X25519`), with ours.
const GROUP_NAMES: &[(&str, u32)] = &[
    ("X25519", X25519),
    ("SECP256R1", P256),
    ("SECP384R1", P384),
    ("SECP192R1", 0),
    ("SECP224R1", 0),
    ("SECP521R1", 0),
    ("X448", 0),
    ("GC256A", 0),
    ("GC256B", 0),
    ("GC256C", 0),
    ("GC256D", 0),
    ("GC512A", 0),
    ("GC512B", 0),
    ("GC512C", 0),
    ("FFDHE2048", 0),
    ("FFDHE3072", 0),
    ("FFDHE4096", 0),
    ("FFDHE6144", 0),
    ("FFDHE8192", 0),
];

/// GnuTLS's signature names (`+SIGN-RSA-SHA256`), with ours.
const SIGN_NAMES: &[(&str, u32)] = &[
    ("RSA-SHA256", RSA_SHA256),
    ("RSA-SHA384", RSA_SHA384),
    ("RSA-SHA512", RSA_SHA512),
    ("RSA-PSS-RSAE-SHA256", PSS_SHA256),
    ("RSA-PSS-RSAE-SHA384", PSS_SHA384),
    ("RSA-PSS-RSAE-SHA512", PSS_SHA512),
    ("ECDSA-SHA256", ECDSA_SHA256),
    ("ECDSA-SHA384", ECDSA_SHA384),
    ("ECDSA-SECP256R1-SHA256", ECDSA_P256),
    ("ECDSA-SECP384R1-SHA384", ECDSA_P384),
    ("EdDSA-Ed25519", ED25519),
    ("RSA-PSS-SHA256", 0),
    ("RSA-PSS-SHA384", 0),
    ("RSA-PSS-SHA512", 0),
    ("EdDSA-Ed448", 0),
    ("ECDSA-SHA512", 0),
    ("ECDSA-SECP521R1-SHA512", 0),
    ("ECDSA-SHA3-224", 0),
    ("ECDSA-SHA3-256", 0),
    ("ECDSA-SHA3-384", 0),
    ("ECDSA-SHA3-512", 0),
    ("RSA-SHA3-224", 0),
    ("RSA-SHA3-256", 0),
    ("RSA-SHA3-384", 0),
    ("RSA-SHA3-512", 0),
    ("DSA-SHA3-224", 0),
    ("DSA-SHA3-256", 0),
    ("DSA-SHA3-384", 0),
    ("DSA-SHA3-512", 0),
    ("RSA-RAW", 0),
    ("RSA-SHA1", 0),
    ("RSA-SHA224", 0),
    ("RSA-RMD160", 0),
    ("DSA-SHA1", 0),
    ("DSA-SHA224", 0),
    ("DSA-SHA256", 0),
    ("DSA-SHA384", 0),
    ("DSA-SHA512", 0),
    ("RSA-MD5", 0),
    ("RSA-MD2", 0),
    ("ECDSA-SHA1", 0),
    ("ECDSA-SHA224", 0),
    ("GOSTR341012-512", 0),
    ("GOSTR341012-256", 0),
    ("GOSTR341001", 0),
];

/// GnuTLS's certificate type names, after `CTYPE-` (`CTYPE-OPENPGP`
/// only in this older form) or `CTYPE-CLI-` / `CTYPE-SRV-`.
const CTYPE_NAMES: &[&str] = &["X509", "X.509", "RAWPK"];

/// GnuTLS 3.7's `%` flags (case matters in these).
const FLAGS: &[&str] = &[
    "ALLOW_SMALL_RECORDS",
    "COMPAT",
    "DEBUG_ALLOW_KEY_USAGE_VIOLATIONS",
    "DISABLE_SAFE_RENEGOTIATION",
    "DISABLE_TLS13_COMPAT_MODE",
    "DISABLE_WILDCARDS",
    "DUMBFW",
    "FALLBACK_SCSV",
    "FORCE_ETM",
    "LATEST_RECORD_VERSION",
    "NEW_PADDING",
    "NO_ETM",
    "NO_EXTENSIONS",
    "NO_SESSION_HASH",
    "NO_TICKETS",
    "NO_TICKETS_TLS12",
    "PARTIAL_RENEGOTIATION",
    "PROFILE_FUTURE",
    "PROFILE_HIGH",
    "PROFILE_LEGACY",
    "PROFILE_LOW",
    "PROFILE_MEDIUM",
    "PROFILE_SUITEB128",
    "PROFILE_SUITEB192",
    "PROFILE_ULTRA",
    "PROFILE_VERY_WEAK",
    "SAFE_RENEGOTIATION",
    "SERVER_PRECEDENCE",
    "SSL3_RECORD_VERSION",
    "STATELESS_COMPRESSION",
    "UNSAFE_RENEGOTIATION",
    "VERIFY_ALLOW_BROKEN",
    "VERIFY_ALLOW_SIGN_RSA_MD5",
    "VERIFY_ALLOW_SIGN_WITH_SHA1",
    "VERIFY_ALLOW_X509_V1_CA_CRT",
    "VERIFY_DISABLE_CRL_CHECKS",
];

/// What an element does with what it names.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Remove,
}

/// What a priority string leaves, among what this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Priority(u32);

/// `name` in `table`, in any case: what it stands for of ours.
fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, bits)| bits)
}

/// `text` without `prefix`, when it starts with it in any case.
fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

impl Priority {
    /// Reads a priority string; `None` (no `tls_priority=`) allows
    /// everything.
    pub(crate) fn parse(priority: Option<&str>) -> Result<Priority, PriorityError> {
        let Some(priority) = priority else {
            return Ok(Priority(EVERYTHING));
        };
        if priority.starts_with('@') {
            let element = priority.split(':').next().unwrap_or_default();
            return Err(PriorityError::SystemPriority {
                element: element.to_owned(),
            });
        }
        // Before a level, GnuTLS's default protocol versions: all of them.
        let mut p = Priority(ALL_VERSIONS);
        for (i, raw) in priority.split(':').enumerate() {
            // GnuTLS skips white space before the string and spaces
            // before each element, nothing after.
            let element = if i == 0 {
                raw.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
            } else {
                raw.trim_start_matches(' ')
            };
            let syntax = || PriorityError::Syntax {
                element: raw.to_owned(),
            };
            if i == 0 {
                if element.eq_ignore_ascii_case("NONE") {
                    p.0 = 0;
                    continue;
                }
                if let Some(bits) = lookup(LEVELS, element) {
                    p.0 = bits;
                    continue;
                }
            }
            // After the first, a level alone adds, as `+LEVEL`.
            if let Some(bits) = lookup(LEVELS, element) {
                p.0 |= bits & !ALL_VERSIONS;
                continue;
            }
            let (op, name) = match element.as_bytes().first() {
                Some(b'+') => (Op::Add, &element[1..]),
                Some(b'-' | b'!') => (Op::Remove, &element[1..]),
                Some(b'%') if FLAGS.contains(&&element[1..]) => continue,
                _ => return Err(syntax()),
            };
            p.apply(op, name).ok_or_else(syntax)?;
        }
        Ok(p)
    }

    /// Allows or removes what `name` (after its `+`, `-` or `!`) names;
    /// `None` when GnuTLS would not know it.
    fn apply(&mut self, op: Op, name: &str) -> Option<()> {
        // GnuTLS's order: levels (only added), MACs, ciphers, key
        // exchanges, then the prefixed names.
        if op == Op::Add {
            if let Some(bits) = lookup(LEVELS, name) {
                // An added level leaves the protocol versions alone.
                self.0 |= bits & !ALL_VERSIONS;
                return Some(());
            }
        }
        if let Some(bits) = lookup(MAC_NAMES, name)
            .or_else(|| lookup(CIPHER_NAMES, name))
            .or_else(|| lookup(KX_NAMES, name))
        {
            self.set(op, bits);
            return Some(());
        }
        let bits = if let Some(v) = strip_prefix_ci(name, "VERS-") {
            // The `-ALL` forms are matched as prefixes, as GnuTLS does.
            if strip_prefix_ci(v, "TLS-ALL").is_some() || strip_prefix_ci(v, "ALL").is_some() {
                ALL_VERSIONS
            } else if strip_prefix_ci(v, "DTLS-ALL").is_some() {
                0
            } else {
                lookup(VERSION_NAMES, v)?
            }
        } else if strip_prefix_ci(name, "COMP-").is_some() {
            // Compression: any name, ignored by GnuTLS too.
            0
        } else if let Some(c) = strip_prefix_ci(name, "CURVE-") {
            if strip_prefix_ci(c, "ALL").is_some() {
                GROUPS
            } else {
                lookup(CURVE_NAMES, c)?
            }
        } else if let Some(g) = strip_prefix_ci(name, "GROUP-") {
            if strip_prefix_ci(g, "ALL").is_some() || strip_prefix_ci(g, "EC-ALL").is_some() {
                GROUPS
            } else if strip_prefix_ci(g, "DH-ALL").is_some()
                || strip_prefix_ci(g, "GOST-ALL").is_some()
            {
                0
            } else {
                lookup(GROUP_NAMES, g)?
            }
        } else if let Some(t) = strip_prefix_ci(name, "CTYPE-") {
            let known = |t: &str| CTYPE_NAMES.iter().any(|n| n.eq_ignore_ascii_case(t));
            let side = strip_prefix_ci(t, "CLI-").or_else(|| strip_prefix_ci(t, "SRV-"));
            let ok = match side {
                Some(s) => strip_prefix_ci(s, "ALL").is_some() || known(s),
                None => {
                    strip_prefix_ci(t, "ALL").is_some()
                        || known(t)
                        || t.eq_ignore_ascii_case("OPENPGP")
                }
            };
            if !ok {
                return None;
            }
            0
        } else if let Some(s) = strip_prefix_ci(name, "SIGN-") {
            if strip_prefix_ci(s, "ALL").is_some() {
                SIGNS
            } else if strip_prefix_ci(s, "GOST-ALL").is_some() {
                // Removing GOST's list clears the whole list in GnuTLS
                // 3.7; adding it adds nothing of ours.
                Self::gost_all(op, SIGNS)
            } else {
                lookup(SIGN_NAMES, s)?
            }
        } else if strip_prefix_ci(name, "MAC-ALL").is_some() {
            MACS
        } else if strip_prefix_ci(name, "CIPHER-ALL").is_some() {
            CIPHERS
        } else if strip_prefix_ci(name, "KX-ALL").is_some() {
            KXS
        } else if strip_prefix_ci(name, "CIPHER-GOST-ALL").is_some() {
            Self::gost_all(op, CIPHERS)
        } else if strip_prefix_ci(name, "MAC-GOST-ALL").is_some() {
            Self::gost_all(op, MACS)
        } else if strip_prefix_ci(name, "KX-GOST-ALL").is_some() {
            Self::gost_all(op, KXS)
        } else if ["CIPHER-", "MAC-", "KX-"]
            .iter()
            .any(|p| strip_prefix_ci(name, p).is_some())
        {
            // Any other name after these: taken, and nothing done.
            0
        } else if strip_prefix_ci(name, "GOST").is_some() {
            // GOST's algorithms (a name not a MAC's or cipher's): its
            // removal clears ciphers, MACs, key exchanges and signatures.
            Self::gost_all(op, CIPHERS | MACS | KXS | SIGNS)
        } else {
            return None;
        };
        self.set(op, bits);
        Some(())
    }

    /// What a `GOST-ALL` keyword does to ours: its removal clears the
    /// whole category (`all`), its addition adds nothing.
    fn gost_all(op: Op, all: u32) -> u32 {
        match op {
            Op::Add => 0,
            Op::Remove => all,
        }
    }

    fn set(&mut self, op: Op, bits: u32) {
        match op {
            Op::Add => self.0 |= bits,
            Op::Remove => self.0 &= !bits,
        }
    }

    fn has(&self, bits: u32) -> bool {
        self.0 & bits != 0
    }

    /// The protocol versions left, newest first. As GnuTLS: TLS 1.3 goes
    /// when TLS 1.0 or 1.1 stays without TLS 1.2.
    fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions = Vec::new();
        let tls13_dropped = self.has(TLS10 | TLS11) && !self.has(TLS12);
        if self.has(TLS13) && !tls13_dropped {
            versions.push(&rustls::version::TLS13);
        }
        if self.has(TLS12) {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// Whether `suite` is left: its version, its cipher with the AEAD MAC
    /// and, for TLS 1.2, its key exchange.
    fn allows_suite(&self, suite: CipherSuite) -> bool {
        use CipherSuite as S;
        let need = match suite {
            S::TLS13_AES_128_GCM_SHA256 => TLS13 | AES128,
            S::TLS13_AES_256_GCM_SHA384 => TLS13 | AES256,
            S::TLS13_CHACHA20_POLY1305_SHA256 => TLS13 | CHACHA20,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => TLS12 | AES128 | ECDHE_ECDSA,
            S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => TLS12 | AES256 | ECDHE_ECDSA,
            S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => TLS12 | CHACHA20 | ECDHE_ECDSA,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => TLS12 | AES128 | ECDHE_RSA,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => TLS12 | AES256 | ECDHE_RSA,
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => TLS12 | CHACHA20 | ECDHE_RSA,
            // A suite this table does not know is not offered.
            _ => return false,
        };
        self.0 & (need | AEAD) == need | AEAD
    }

    /// Whether key exchange group `group` is left.
    fn allows_group(&self, group: NamedGroup) -> bool {
        match group {
            NamedGroup::X25519 => self.has(X25519),
            NamedGroup::secp256r1 => self.has(P256),
            NamedGroup::secp384r1 => self.has(P384),
            _ => false,
        }
    }

    /// Whether signature scheme `scheme` is left.
    fn allows_scheme(&self, scheme: SignatureScheme) -> bool {
        use SignatureScheme as S;
        match scheme {
            S::RSA_PKCS1_SHA256 => self.has(RSA_SHA256),
            S::RSA_PKCS1_SHA384 => self.has(RSA_SHA384),
            S::RSA_PKCS1_SHA512 => self.has(RSA_SHA512),
            S::RSA_PSS_SHA256 => self.has(PSS_SHA256),
            S::RSA_PSS_SHA384 => self.has(PSS_SHA384),
            S::RSA_PSS_SHA512 => self.has(PSS_SHA512),
            S::ECDSA_NISTP256_SHA256 => self.has(ECDSA_SHA256 | ECDSA_P256),
            S::ECDSA_NISTP384_SHA384 => self.has(ECDSA_SHA384 | ECDSA_P384),
            S::ED25519 => self.has(ED25519),
            _ => false,
        }
    }

    /// `algorithms` with the handshake's signature schemes this leaves
    /// (certificate chains keep every algorithm). The mapping is static
    /// in rustls, so each distinct choice is made once and kept: at most
    /// one per subset of [`SIGNS`] of each provider's table.
    fn signatures(&self, algorithms: WebPkiSupportedAlgorithms) -> WebPkiSupportedAlgorithms {
        type Mapping = &'static [(
            SignatureScheme,
            &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm],
        )];
        static MADE: OnceLock<Mutex<HashMap<(usize, u32), Mapping>>> = OnceLock::new();
        let signs = self.0 & SIGNS;
        if signs == SIGNS {
            return algorithms;
        }
        // The mapping filtered, by where it is (rustls's static table)
        // and what is kept of it.
        let key = (algorithms.mapping.as_ptr() as usize, signs);
        let mut made = MADE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mapping = *made.entry(key).or_insert_with(|| {
            let left: Vec<_> = algorithms
                .mapping
                .iter()
                .filter(|(scheme, _)| self.allows_scheme(*scheme))
                .copied()
                .collect();
            Box::leak(left.into_boxed_slice())
        });
        WebPkiSupportedAlgorithms {
            all: algorithms.all,
            mapping,
        }
    }

    /// The versions and the *ring* provider with the suites, groups and
    /// signature schemes left; an error when it leaves no version, no
    /// cipher suite, no group or no signature scheme.
    pub(crate) fn provider(
        &self,
    ) -> Result<(Vec<&'static SupportedProtocolVersion>, Arc<CryptoProvider>), PriorityError> {
        let versions = self.versions();
        if versions.is_empty() {
            return Err(PriorityError::NoProtocolVersion);
        }
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .retain(|s| self.allows_suite(s.suite()));
        provider.kx_groups.retain(|g| self.allows_group(g.name()));
        if provider.cipher_suites.is_empty() || provider.kx_groups.is_empty() {
            return Err(PriorityError::NoCipherSuite);
        }
        provider.signature_verification_algorithms =
            self.signatures(provider.signature_verification_algorithms);
        if provider
            .signature_verification_algorithms
            .mapping
            .is_empty()
        {
            return Err(PriorityError::NoSignatureScheme);
        }
        Ok((versions, Arc::new(provider)))
    }
}

/// `key`, signing only with the schemes `provider` verifies (those its
/// priority string leaves), as GnuTLS signs only with what its priority
/// allows; `key` itself when that is every scheme.
pub(crate) fn restrict_signing(
    key: Arc<dyn SigningKey>,
    provider: &CryptoProvider,
) -> Arc<dyn SigningKey> {
    let allowed: Vec<SignatureScheme> = provider
        .signature_verification_algorithms
        .supported_schemes();
    let all = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .supported_schemes();
    if all.iter().all(|s| allowed.contains(s)) {
        return key;
    }
    Arc::new(RestrictedKey { key, allowed })
}

/// A signing key that picks its scheme among `allowed` only.
#[derive(Debug)]
struct RestrictedKey {
    key: Arc<dyn SigningKey>,
    allowed: Vec<SignatureScheme>,
}

impl SigningKey for RestrictedKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let offered: Vec<SignatureScheme> = offered
            .iter()
            .copied()
            .filter(|s| self.allowed.contains(s))
            .collect();
        self.key.choose_scheme(&offered)
    }

    fn public_key(&self) -> Option<rustls::pki_types::SubjectPublicKeyInfoDer<'_>> {
        self.key.public_key()
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        self.key.algorithm()
    }
}

/// What `priority` (a GnuTLS priority string, or none for everything)
/// leaves: the protocol versions and the *ring* provider to build a
/// rustls configuration with.
pub(crate) fn provider(
    priority: Option<&str>,
) -> Result<(Vec<&'static SupportedProtocolVersion>, Arc<CryptoProvider>), PriorityError> {
    Priority::parse(priority)?.provider()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// What a string leaves, by code point, or how it is refused.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        /// A syntax error (GnuTLS's "Syntax error at").
        Syntax,
        /// Nothing usable left.
        Refused,
        /// The versions, the suites of those versions, the groups and
        /// the signature schemes left.
        Left {
            versions: BTreeSet<&'static str>,
            suites: BTreeSet<u16>,
            groups: BTreeSet<u16>,
            schemes: BTreeSet<u16>,
        },
    }

    /// Whether `suite` belongs to TLS 1.3.
    fn is_tls13(suite: u16) -> bool {
        suite >> 8 == 0x13
    }

    /// What is usable of these versions, suites, groups and schemes:
    /// `Refused` when any is empty, as neither end could connect.
    fn usable(
        versions: BTreeSet<&'static str>,
        suites: BTreeSet<u16>,
        groups: BTreeSet<u16>,
        schemes: BTreeSet<u16>,
    ) -> Outcome {
        let suites: BTreeSet<u16> = suites
            .into_iter()
            .filter(|&s| versions.contains(if is_tls13(s) { "TLS1.3" } else { "TLS1.2" }))
            .collect();
        if versions.is_empty() || suites.is_empty() || groups.is_empty() || schemes.is_empty() {
            return Outcome::Refused;
        }
        Outcome::Left {
            versions,
            suites,
            groups,
            schemes,
        }
    }

    /// What this crate makes of `priority`.
    fn ours(priority: &str) -> Outcome {
        let (versions, provider) = match provider(Some(priority)) {
            Ok(made) => made,
            Err(PriorityError::Syntax { .. } | PriorityError::SystemPriority { .. }) => {
                return Outcome::Syntax;
            }
            Err(_) => return Outcome::Refused,
        };
        let versions = versions
            .iter()
            .map(|v| match v.version {
                rustls::ProtocolVersion::TLSv1_3 => "TLS1.3",
                _ => "TLS1.2",
            })
            .collect();
        let suites = provider
            .cipher_suites
            .iter()
            .map(|s| u16::from(s.suite()))
            .collect();
        let groups = provider
            .kx_groups
            .iter()
            .map(|g| u16::from(g.name()))
            .collect();
        let schemes = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .map(|(s, _)| u16::from(*s))
            .collect();
        usable(versions, suites, groups, schemes)
    }

    /// The code points of *ring*'s suites, groups and schemes.
    fn ring() -> (BTreeSet<u16>, BTreeSet<u16>, BTreeSet<u16>) {
        let p = rustls::crypto::ring::default_provider();
        (
            p.cipher_suites
                .iter()
                .map(|s| u16::from(s.suite()))
                .collect(),
            p.kx_groups.iter().map(|g| u16::from(g.name())).collect(),
            p.signature_verification_algorithms
                .mapping
                .iter()
                .map(|(s, _)| u16::from(*s))
                .collect(),
        )
    }

    /// `gnutls-cli` when it is installed; its absence fails the test when
    /// the daemon tests are required (`cargo xtask test` installs it).
    fn gnutls_cli() -> bool {
        let found = std::process::Command::new("gnutls-cli")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("LIBVIRT_PROTO_DAEMON_TESTS").is_none_or(|v| v != "1"),
                "gnutls-cli not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
            );
            eprintln!("skipped: gnutls-cli not found (Debian's gnutls-bin)");
        }
        found
    }

    /// `gnutls-cli -l --priority priority`: its output.
    fn gnutls_list(priority: &str) -> String {
        let out = std::process::Command::new("gnutls-cli")
            .args(["-l", "--priority", priority])
            .env("GNUTLS_SYSTEM_PRIORITY_FILE", "/dev/null")
            .output()
            .expect("gnutls-cli runs");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// The names after `label` on a line of `gnutls-cli -l`'s output.
    fn listed<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|rest| rest.split(", ").map(str::trim).collect())
            .unwrap_or_default()
    }

    /// What GnuTLS makes of `priority`, among what *ring* has.
    fn gnutls(priority: &str) -> Outcome {
        let text = gnutls_list(priority);
        if text.contains("Syntax error at") {
            return Outcome::Syntax;
        }
        if text.contains("Error in priorities") {
            return Outcome::Refused;
        }
        let (ring_suites, ring_groups, ring_schemes) = ring();
        let versions = listed(&text, "Protocols: ")
            .into_iter()
            .filter_map(|v| match v {
                "VERS-TLS1.2" => Some("TLS1.2"),
                "VERS-TLS1.3" => Some("TLS1.3"),
                _ => None,
            })
            .collect();
        // Suite lines: "NAME \t0x13, 0x02\tTLS1.3".
        let suites = text
            .lines()
            .filter(|l| l.starts_with("TLS_"))
            .filter_map(|l| {
                let code = l.split('\t').nth(1)?;
                let (hi, lo) = code.split_once(", ")?;
                let byte = |b: &str| u8::from_str_radix(b.trim().trim_start_matches("0x"), 16);
                Some(u16::from_be_bytes([byte(hi).ok()?, byte(lo).ok()?]))
            })
            .filter(|s| ring_suites.contains(s))
            .collect();
        let groups = listed(&text, "Groups: ")
            .into_iter()
            .filter_map(|g| match g {
                "GROUP-X25519" => Some(u16::from(NamedGroup::X25519)),
                "GROUP-SECP256R1" => Some(u16::from(NamedGroup::secp256r1)),
                "GROUP-SECP384R1" => Some(u16::from(NamedGroup::secp384r1)),
                _ => None,
            })
            .filter(|g| ring_groups.contains(g))
            .collect();
        let schemes = listed(&text, "PK-signatures: ")
            .into_iter()
            .filter_map(|s| {
                use SignatureScheme as S;
                Some(match s {
                    "SIGN-RSA-SHA256" => S::RSA_PKCS1_SHA256,
                    "SIGN-RSA-SHA384" => S::RSA_PKCS1_SHA384,
                    "SIGN-RSA-SHA512" => S::RSA_PKCS1_SHA512,
                    "SIGN-RSA-PSS-RSAE-SHA256" => S::RSA_PSS_SHA256,
                    "SIGN-RSA-PSS-RSAE-SHA384" => S::RSA_PSS_SHA384,
                    "SIGN-RSA-PSS-RSAE-SHA512" => S::RSA_PSS_SHA512,
                    "SIGN-ECDSA-SHA256" | "SIGN-ECDSA-SECP256R1-SHA256" => S::ECDSA_NISTP256_SHA256,
                    "SIGN-ECDSA-SHA384" | "SIGN-ECDSA-SECP384R1-SHA384" => S::ECDSA_NISTP384_SHA384,
                    "SIGN-EdDSA-Ed25519" => S::ED25519,
                    _ => return None,
                })
            })
            .map(u16::from)
            .filter(|s| ring_schemes.contains(s))
            .collect();
        usable(versions, suites, groups, schemes)
    }

    /// Strings that exercise GnuTLS's reading: levels, each kind of
    /// keyword, bulk keywords, what a later level adds, syntax errors.
    const STRINGS: &[&str] = &[
        "NORMAL",
        "PFS",
        "PERFORMANCE",
        "LEGACY",
        "SECURE128",
        "SECURE",
        "SECURE192",
        "SECURE256",
        "SUITEB128",
        "SUITEB192",
        "NONE",
        "normal",
        "Secure256",
        "NORMAL:-VERS-TLS1.3",
        "NORMAL:-VERS-ALL:+VERS-TLS1.3",
        "SECURE256:!VERS-TLS1.3",
        "NORMAL:-VERS-TLS-ALL:+VERS-TLS1.2",
        "NORMAL:-VERS-ALL:+VERS-TLS1.0",
        "NORMAL:-VERS-DTLS-ALL",
        "NORMAL:+VERS-TLS-ALLX",
        "NONE:+VERS-TLS1.2:+AES-256-GCM:+ECDHE-RSA:+GROUP-ALL:+SIGN-ALL",
        "NONE:+VERS-TLS1.2:+AES-256-GCM:+AEAD:+ECDHE-RSA:+GROUP-ALL:+SIGN-ALL",
        "NONE:+VERS-TLS1.2:+CIPHER-ALL:+MAC-ALL:+KX-ALL:+GROUP-ALL:+SIGN-ALL",
        "NONE:+VERS-TLS1.3:+CHACHA20-POLY1305:+AEAD:+GROUP-X25519:+SIGN-ALL",
        "NONE:+VERS-TLS1.3:+AES-128-GCM:+AEAD:+CURVE-SECP256R1:+SIGN-RSA-PSS-RSAE-SHA256",
        "NORMAL:-AES-128-GCM:-CHACHA20-POLY1305",
        "NORMAL:-ECDHE-ECDSA:-CIPHER-ALL:+CHACHA20-POLY1305",
        "NORMAL:-GROUP-ALL:+GROUP-SECP384R1",
        "NORMAL:-CURVE-X25519",
        "NORMAL:-CURVE-ALL:+CURVE-X25519",
        "NORMAL:-GROUP-EC-ALL",
        "NORMAL:-GROUP-DH-ALL",
        "NORMAL:-GROUP-ALL:+GROUP-FFDHE2048",
        "NORMAL:+AES-128-CBC:-SHA384:%COMPAT",
        "NORMAL:-CIPHER-ALL",
        "NORMAL:-CIPHER-ALL:+AES-128-CBC",
        "NORMAL:-GROUP-ALL",
        "NORMAL:-VERS-TLS1.3:-KX-ALL",
        "NORMAL:-KX-ALL",
        "NORMAL:-MAC-ALL",
        "NORMAL:-MAC-ALL:+AEAD",
        "NORMAL:-AEAD",
        "NORMAL:-SIGN-ALL",
        "NORMAL:-SIGN-ALL:+SIGN-RSA-SHA1",
        "NORMAL:-SIGN-ALL:+SIGN-ECDSA-SECP384R1-SHA384",
        "NORMAL:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-EdDSA-Ed25519",
        "SECURE256:-SIGN-RSA-SHA384:-SIGN-ECDSA-SHA384",
        "NORMAL:-CIPHER-GOST-ALL",
        "NORMAL:-MAC-GOST-ALL",
        "NORMAL:-KX-GOST-ALL",
        "NORMAL:-SIGN-GOST-ALL",
        "NORMAL:-GROUP-GOST-ALL",
        "NORMAL:+CIPHER-GOST-ALL:+KX-GOST-ALL",
        "SUITEB192:NORMAL",
        "SUITEB128:+VERS-TLS1.3:+SECURE128",
        "NONE:+NORMAL",
        "NONE:NORMAL",
        "NONE:+NORMAL:+VERS-ALL",
        "+NORMAL",
        "-VERS-TLS1.2",
        "+AES-128-GCM:+AEAD:+ECDHE-RSA:+GROUP-ALL:+SIGN-ALL",
        "+AES-128-GCM:+AEAD:+ECDHE-RSA:+GROUP-ALL:+SIGN-ALL:-VERS-TLS1.3",
        "SECURE256:+SECURE128",
        "NORMAL:SECURE256",
        "NORMAL:+RSA:+SHA1:+3DES-CBC:+VERS-TLS1.0:+COMP-NULL",
        "LEGACY:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:-KX-ALL:+ECDHE-RSA",
        "NORMAL:-CTYPE-ALL:+CTYPE-X.509:-CTYPE-CLI-RAWPK:+CTYPE-SRV-X509:-CTYPE-OPENPGP",
        "NORMAL:%SERVER_PRECEDENCE:%NO_TICKETS:%PROFILE_HIGH",
        "NORMAL: -VERS-TLS1.3",
        "  NORMAL",
        "\t\nNORMAL:-VERS-TLS1.2:-VERS-TLS1.1:-VERS-TLS1.0",
        "NORMAL:-VERS-TLS1.2",
        "NORMAL:-VERS-TLS1.2:-VERS-TLS1.0",
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-SSL3.0:+VERS-DTLS1.2",
        "SUITEB128:+VERS-TLS1.3:-VERS-TLS1.2",
        "SUITEB128:+VERS-TLS1.3:-VERS-TLS1.2:+VERS-TLS1.1",
        "NORMAL:-MAC-SHA1:-CIPHER-FOO:+kx-foo:-KX-",
        "NORMAL:+GOST",
        "NORMAL:-GOST",
        "NORMAL:-GOSTX:+CIPHER-ALL:+MAC-ALL:+KX-ALL:+SIGN-ALL",
        "NORMAL:-GOSTR341194:-GOST28147-TC26Z-CNT",
        "NORMAL:-MAC-ALLX",
        "NORMAL:%SAFE_RENEGOTIATION",
        "NORMAL:+CURVE-CryptoPro-A:-CURVE-TC26-512-A",
        // Refused by GnuTLS.
        "NORMAL:-VERS-TLS1.3 ",
        "NORMAL :-VERS-TLS1.3",
        "NORMAL:\t+VERS-TLS1.2",
        "NORMAL:-CURVE-GC256A",
        "NORMAL:+FOO-ALL",
        "NORMAL:-FOO",
        "NORMAL:-SECURE256",
        "NORMAL:%FOO",
        "NORMAL:%compat",
        "NORMAL:VERS-TLS1.2",
        "NORMAL:",
        "",
        "NORMAL::",
        "NORMAL:NONE",
        "NORMAL:+NONE",
        "NORMAL:-VERS-TLS1.4",
        "NORMAL:-CURVE-FFDHE2048",
        "NORMAL:-CTYPE-FOO",
        "NORMAL:-CTYPE-CLI-OPENPGP",
        "NORMAL:-SIGN-FOO",
        "NORMAL:+GROUP-ED25519",
        "NORMAL:@SYSTEM",
        "@SYSTEM",
        "FOO",
    ];

    #[test]
    fn strings_are_read_as_gnutls_reads_them() {
        if !gnutls_cli() {
            return;
        }
        let mut differ = Vec::new();
        for p in STRINGS {
            let (theirs, ours) = (gnutls(p), ours(p));
            if theirs != ours {
                differ.push(format!("{p:?}: GnuTLS {theirs:?}, here {ours:?}"));
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    #[test]
    fn every_name_is_one_gnutls_knows_and_the_other_way_round() {
        if !gnutls_cli() {
            return;
        }
        let accepted = |p: &str| !gnutls_list(p).contains("rror");
        let mut differ = Vec::new();
        let tables: [(&str, &[(&str, u32)]); 8] = [
            ("", LEVELS),
            ("", MAC_NAMES),
            ("", CIPHER_NAMES),
            ("", KX_NAMES),
            ("VERS-", VERSION_NAMES),
            ("CURVE-", CURVE_NAMES),
            ("GROUP-", GROUP_NAMES),
            ("SIGN-", SIGN_NAMES),
        ];
        for (prefix, table) in tables {
            for (name, _) in table {
                let p = format!("NORMAL:+{prefix}{name}");
                if !accepted(&p) {
                    differ.push(format!("GnuTLS refuses {p}"));
                }
            }
        }
        for flag in FLAGS {
            let p = format!("NORMAL:%{flag}");
            if !accepted(&p) {
                differ.push(format!("GnuTLS refuses {p}"));
            }
        }
        // What GnuTLS lists of its own: each is a name here.
        let all = gnutls_list_everything();
        for label in [
            "Ciphers: ",
            "MACs: ",
            "Key exchange algorithms: ",
            "Protocols: ",
            "Groups: ",
            "PK-signatures: ",
        ] {
            let names = listed(&all, label);
            assert!(!names.is_empty(), "no {label}in gnutls-cli -l");
            for name in names {
                let p = format!("NORMAL:+{name}");
                if Priority::parse(Some(&p)).is_err() {
                    differ.push(format!("{p} is refused here"));
                }
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    /// `gnutls-cli -l`: every algorithm GnuTLS has, by kind.
    fn gnutls_list_everything() -> String {
        let out = std::process::Command::new("gnutls-cli")
            .arg("-l")
            .output()
            .expect("gnutls-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn what_is_left_without_gnutls_at_hand() {
        let left = |p| match ours(p) {
            Outcome::Left {
                versions,
                suites,
                groups,
                schemes,
            } => (versions.len(), suites.len(), groups.len(), schemes.len()),
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(left("NORMAL"), (2, 9, 3, 9));
        // SECURE256: the 256-bit ciphers, SECP384R1, SHA-384 and up.
        assert_eq!(left("SECURE256"), (2, 6, 1, 5));
        assert_eq!(left("SUITEB192"), (1, 1, 1, 1));
        assert_eq!(left("NORMAL:-VERS-TLS1.3"), (1, 6, 3, 9));
        assert_eq!(
            ours("NONE:+VERS-TLS1.1"),
            Outcome::Refused,
            "TLS 1.1 alone is nothing here"
        );
        assert_eq!(
            Priority::parse(Some("NORMAL:-VERS-ALL:+VERS-TLS1.0"))
                .and_then(|p| p.provider().map(|_| ())),
            Err(PriorityError::NoProtocolVersion)
        );
        for (p, e) in [
            ("NORMAL:-CIPHER-ALL", PriorityError::NoCipherSuite),
            ("NORMAL:-AEAD", PriorityError::NoCipherSuite),
            ("NORMAL:-GROUP-ALL", PriorityError::NoCipherSuite),
            (
                "NORMAL:-SIGN-ALL:+SIGN-RSA-SHA1",
                PriorityError::NoSignatureScheme,
            ),
        ] {
            assert_eq!(provider(Some(p)).err(), Some(e), "{p}");
        }
        for p in [
            "NORMAL:-FOO",
            "NORMAL:",
            "NORMAL:-VERS-TLS1.3 ",
            "NORMAL:%compat",
        ] {
            assert!(
                matches!(provider(Some(p)), Err(PriorityError::Syntax { .. })),
                "{p}"
            );
        }
        assert!(matches!(
            provider(Some("@SYSTEM")),
            Err(PriorityError::SystemPriority { .. })
        ));
        // The same signature choice is made once.
        let (_, a) = provider(Some("SECURE256")).unwrap();
        let (_, b) = provider(Some("SECURE192")).unwrap();
        assert!(std::ptr::eq(
            a.signature_verification_algorithms.mapping,
            b.signature_verification_algorithms.mapping
        ));
    }
}
