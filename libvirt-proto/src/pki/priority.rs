//! A GnuTLS priority string (a client URI's `tls_priority=`, libvirtd's
//! `tls_priority`), applied to what this crate's TLS speaks (rustls with
//! *ring*): the protocol versions (TLS 1.2
//! and 1.3, `VERS-` keywords), the bulk ciphers (`AES-128-GCM`,
//! `AES-256-GCM`, `CHACHA20-POLY1305`, `CIPHER-ALL`), TLS 1.2's key
//! exchanges (`ECDHE-RSA`, `ECDHE-ECDSA`, `KX-ALL`) and the key exchange
//! groups (`GROUP-X25519`, `GROUP-SECP256R1`, `GROUP-SECP384R1`,
//! `GROUP-ALL`, and the older `CURVE-` names).
//!
//! As GnuTLS reads it: the string starts from a base (`NONE` allows
//! nothing, any other such as `NORMAL` or `SECURE256` everything here),
//! then each `+KEYWORD` allows and each `-KEYWORD` or `!KEYWORD` removes.
//! Keywords for what rustls does not have (TLS 1.1, CBC ciphers, RSA key
//! exchange) and the others (MACs, signatures, compression, `%` flags)
//! change nothing: a string never widens what is offered beyond what it
//! names, and one that leaves nothing usable is an error, as it would be
//! for GnuTLS.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, NamedGroup, SupportedProtocolVersion};

/// What a priority string leaves nothing of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PriorityError {
    /// Neither TLS 1.2 nor TLS 1.3.
    NoProtocolVersion,
    /// No cipher suite or no key exchange group.
    NoCipherSuite,
}

/// What a priority string leaves, among what this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Priority {
    tls12: bool,
    tls13: bool,
    aes128: bool,
    aes256: bool,
    chacha20: bool,
    ecdhe_rsa: bool,
    ecdhe_ecdsa: bool,
    x25519: bool,
    secp256r1: bool,
    secp384r1: bool,
}

impl Priority {
    /// Everything this crate speaks, or nothing.
    fn all(on: bool) -> Priority {
        Priority {
            tls12: on,
            tls13: on,
            aes128: on,
            aes256: on,
            chacha20: on,
            ecdhe_rsa: on,
            ecdhe_ecdsa: on,
            x25519: on,
            secp256r1: on,
            secp384r1: on,
        }
    }

    /// Reads a priority string; `None` (no `tls_priority=`) allows
    /// everything.
    pub(crate) fn parse(priority: Option<&str>) -> Priority {
        let Some(priority) = priority else {
            return Priority::all(true);
        };
        let mut keywords = priority.split(':').map(str::trim);
        let base = keywords.next().unwrap_or_default();
        let mut p = Priority::all(base != "NONE");
        for keyword in keywords {
            let (on, name) = match keyword.as_bytes().first() {
                Some(b'+') => (true, &keyword[1..]),
                Some(b'-' | b'!') => (false, &keyword[1..]),
                _ => continue,
            };
            p.set(name, on);
        }
        p
    }

    /// Allows or removes what `keyword` names.
    fn set(&mut self, keyword: &str, on: bool) {
        let fields: &mut [&mut bool] = match keyword {
            "VERS-ALL" | "VERS-TLS-ALL" => &mut [&mut self.tls12, &mut self.tls13],
            "VERS-TLS1.2" => &mut [&mut self.tls12],
            "VERS-TLS1.3" => &mut [&mut self.tls13],
            "CIPHER-ALL" => &mut [&mut self.aes128, &mut self.aes256, &mut self.chacha20],
            "AES-128-GCM" => &mut [&mut self.aes128],
            "AES-256-GCM" => &mut [&mut self.aes256],
            "CHACHA20-POLY1305" => &mut [&mut self.chacha20],
            "KX-ALL" => &mut [&mut self.ecdhe_rsa, &mut self.ecdhe_ecdsa],
            "ECDHE-RSA" => &mut [&mut self.ecdhe_rsa],
            "ECDHE-ECDSA" => &mut [&mut self.ecdhe_ecdsa],
            "GROUP-ALL" | "CURVE-ALL" => {
                &mut [&mut self.x25519, &mut self.secp256r1, &mut self.secp384r1]
            }
            "GROUP-X25519" | "CURVE-X25519" => &mut [&mut self.x25519],
            "GROUP-SECP256R1" | "CURVE-SECP256R1" => &mut [&mut self.secp256r1],
            "GROUP-SECP384R1" | "CURVE-SECP384R1" => &mut [&mut self.secp384r1],
            _ => &mut [],
        };
        for f in fields {
            **f = on;
        }
    }

    /// The protocol versions left, newest first.
    fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// Whether `suite` is left: its version, its cipher and, for TLS 1.2,
    /// its key exchange.
    fn allows_suite(&self, suite: CipherSuite) -> bool {
        use CipherSuite as S;
        let (version, cipher, kx) = match suite {
            S::TLS13_AES_128_GCM_SHA256 => (self.tls13, self.aes128, true),
            S::TLS13_AES_256_GCM_SHA384 => (self.tls13, self.aes256, true),
            S::TLS13_CHACHA20_POLY1305_SHA256 => (self.tls13, self.chacha20, true),
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
                (self.tls12, self.aes128, self.ecdhe_ecdsa)
            }
            S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
                (self.tls12, self.aes256, self.ecdhe_ecdsa)
            }
            S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
                (self.tls12, self.chacha20, self.ecdhe_ecdsa)
            }
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => (self.tls12, self.aes128, self.ecdhe_rsa),
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => (self.tls12, self.aes256, self.ecdhe_rsa),
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
                (self.tls12, self.chacha20, self.ecdhe_rsa)
            }
            // A suite this table does not know is not offered.
            _ => (false, false, false),
        };
        version && cipher && kx
    }

    /// Whether key exchange group `group` is left.
    fn allows_group(&self, group: NamedGroup) -> bool {
        match group {
            NamedGroup::X25519 => self.x25519,
            NamedGroup::secp256r1 => self.secp256r1,
            NamedGroup::secp384r1 => self.secp384r1,
            _ => false,
        }
    }

    /// The versions and the *ring* provider with the suites and groups
    /// left; an error when it leaves no version, no cipher suite or no
    /// group.
    pub(crate) fn apply(
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
        Ok((versions, Arc::new(provider)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The versions, suites and groups a string leaves, by name.
    fn left(p: Option<&str>) -> Result<(Vec<String>, Vec<String>), PriorityError> {
        let (versions, provider) = Priority::parse(p).apply()?;
        let mut names: Vec<String> = versions
            .iter()
            .map(|v| format!("{:?}", v.version))
            .collect();
        names.extend(provider.kx_groups.iter().map(|g| format!("{:?}", g.name())));
        let suites = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        Ok((names, suites))
    }

    #[test]
    fn protocol_versions_follow_the_vers_keywords() {
        let versions = |p| {
            let (names, _) = left(Some(p)).unwrap();
            names
                .into_iter()
                .filter(|n| n.starts_with("TLS"))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions("NORMAL"), ["TLSv1_3", "TLSv1_2"]);
        assert_eq!(versions("NORMAL:-VERS-ALL:+VERS-TLS1.3"), ["TLSv1_3"]);
        assert_eq!(versions("SECURE256:!VERS-TLS1.3"), ["TLSv1_2"]);
        assert_eq!(
            versions("NONE:+VERS-TLS1.2:+AES-256-GCM:+ECDHE-RSA:+GROUP-ALL:+SIGN-ALL"),
            ["TLSv1_2"]
        );
        // Only versions this client lacks: refused, not widened.
        for p in ["NORMAL:-VERS-ALL:+VERS-TLS1.0", "NONE", "NONE:+VERS-TLS1.1"] {
            assert!(
                left(Some(p)) == Err(PriorityError::NoProtocolVersion),
                "{p}"
            );
        }
    }

    #[test]
    fn ciphers_key_exchanges_and_groups_follow_their_keywords() {
        let (_, all) = left(None).unwrap();
        assert_eq!(all.len(), 9, "{all:?}");
        let (_, s) = left(Some("NORMAL:-AES-128-GCM:-CHACHA20-POLY1305")).unwrap();
        assert_eq!(
            s,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        // TLS 1.2's key exchange leaves TLS 1.3's suites alone.
        let (_, s) = left(Some("NORMAL:-ECDHE-ECDSA:-CIPHER-ALL:+CHACHA20-POLY1305")).unwrap();
        assert_eq!(
            s,
            [
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        let (names, _) = left(Some("NORMAL:-GROUP-ALL:+GROUP-SECP384R1")).unwrap();
        assert_eq!(names, ["TLSv1_3", "TLSv1_2", "secp384r1"]);
        let (names, _) = left(Some("NORMAL:-CURVE-X25519")).unwrap();
        assert_eq!(names, ["TLSv1_3", "TLSv1_2", "secp256r1", "secp384r1"]);
        // What rustls lacks, MACs and signatures change nothing.
        assert_eq!(
            left(Some("NORMAL:+AES-128-CBC:-SHA384:-SIGN-ALL:%COMPAT")).unwrap(),
            left(None).unwrap()
        );
        // Nothing usable left: an error, as GnuTLS would find no suite.
        for p in [
            "NORMAL:-CIPHER-ALL",
            "NORMAL:-CIPHER-ALL:+AES-128-CBC",
            "NORMAL:-GROUP-ALL",
            "NORMAL:-VERS-TLS1.3:-KX-ALL",
            "NONE:+VERS-TLS1.2:+AES-256-GCM:+SIGN-ALL",
        ] {
            assert!(left(Some(p)) == Err(PriorityError::NoCipherSuite), "{p}");
        }
    }
}
