//! `specs/libvirt.toml`: what to generate.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Known tags and the SHA-256 of their release tarball.
    pub tags: BTreeMap<String, String>,
    /// Where releases come from.
    pub download: Download,
    /// Constants read from C headers.
    pub header_constants: Vec<HeaderConstants>,
    /// C enums turned into named codes.
    pub header_enums: Vec<HeaderEnums>,
    /// The C API's enums, flag sets and constants (module `api`).
    pub api: Api,
    /// The generated modules, in order.
    pub module: Vec<Module>,
}

/// Download locations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Download {
    /// Tarball URL with `{version}`.
    pub tarball: String,
    /// Git repository (for tags without a tarball).
    pub git: String,
}

/// Constants from one header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderConstants {
    /// Path inside the tree.
    pub header: String,
    /// The constants.
    pub names: Vec<String>,
}

/// Enums from one header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEnums {
    /// Path inside the tree.
    pub header: String,
    /// The `typedef enum { ... } NAME;` names.
    pub enums: Vec<String>,
}

/// The headers of the C API and what the documentation leaves unsaid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Public headers, in include order (later ones use earlier constants).
    pub headers: Vec<String>,
    /// Enums that are flag sets although neither their name nor the API
    /// documentation says so.
    pub flag_sets: Vec<String>,
    /// Values whose type depends on another value.
    #[serde(default)]
    pub depends: Vec<Depends>,
    /// Values whose documentation misnames or omits their type.
    #[serde(default)]
    pub values: Vec<ValueOverride>,
}

/// A parameter's type, where libvirt's documentation misspells or omits
/// it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueOverride {
    /// The function or event callback
    /// (`virConnectDomainEventMetadataChangeCallback`).
    pub function: String,
    /// Its parameter (`type`).
    pub param: String,
    /// The C enum the value is one of (`virDomainMetadataType`), or
    /// `bool` for a value that is 0 or 1.
    #[serde(rename = "enum")]
    pub c_enum: String,
}

/// A value whose C type depends on another value, as a lifecycle event's
/// detail depends on the event: `of`'s members each have an enum named
/// `stem` + member + `suffix` (`VIR_DOMAIN_EVENT_STARTED` of
/// `virDomainEventType` → `virDomainEventStartedDetailType`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Depends {
    /// The Rust enum generated (`DomainEventDetail`).
    pub name: String,
    /// The enum whose value decides (`virDomainEventType`).
    pub of: String,
    /// What each dependent enum's name starts with (`virDomainEvent`).
    pub stem: String,
    /// What it ends with (`DetailType`).
    pub suffix: String,
}

/// One generated module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// Rust module name.
    pub name: String,
    /// Its `//!` documentation.
    pub doc: String,
    /// `.x` files, loaded in order.
    pub files: Vec<String>,
    /// Earlier modules holding types these files use.
    #[serde(default, rename = "extern")]
    pub extern_modules: Vec<String>,
    /// Name prefix to strip.
    pub strip_prefix: Option<String>,
    /// Program constant, version constant, procedure enum, type prefix.
    pub program: Option<[String; 4]>,
}

impl Spec {
    /// Reads and parses the file.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
