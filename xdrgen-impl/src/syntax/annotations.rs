//! libvirt's procedure annotations.
//!
//! libvirt writes, before each member of a procedure enum, a comment such as
//!
//! ```text
//! /**
//!  * @generate: both
//!  * @readstream: 1
//!  * @acl: domain:screenshot
//!  */
//! REMOTE_PROC_DOMAIN_SCREENSHOT = 211,
//! ```
//!
//! Each `@name: value` line of the last `/** */` comment before a member is
//! parsed into [`Annotations`]. Unknown names are reported as warnings and
//! kept in [`Annotations::unknown`]; malformed values are errors.

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, Span};
use crate::syntax::ast::Comment;

/// Everything the annotations of one procedure say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotations {
    /// `@generate`: which side's dispatch code libvirt generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
    /// `@priority`: whether the call may be handled by a high-priority worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `@acl`: access-control checks, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<AclRule>,
    /// `@aclfilter`: filters applied to a returned list of objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_filter: Vec<AclPermission>,
    /// `@readstream` or `@writestream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamAnnotation>,
    /// `@sparseflag`: the flag that turns on holes in the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_flag: Option<String>,
    /// Annotations this tool does not know, as written (`name`, `value`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<(String, String)>,
}

impl Annotations {
    /// Whether no annotation was given.
    pub fn is_empty(&self) -> bool {
        *self == Annotations::default()
    }
}

/// `@generate: both|client|server|none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generate {
    /// Client and server stubs.
    Both,
    /// Client stub only.
    Client,
    /// Server stub only.
    Server,
    /// Both sides are hand-written.
    None,
}

/// `@priority: high|low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// May run on a high-priority worker (never blocks on a hypervisor).
    High,
    /// The default.
    Low,
}

/// An `object:permission` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclPermission {
    /// `connect`, `domain`, `network`, ...
    pub object: String,
    /// `getattr`, `write`, `save`, ...
    pub permission: String,
}

/// One `@acl` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclRule {
    /// `@acl: none`: no check.
    None,
    /// `@acl: object:permission[:condition]`.
    Check {
        /// What is checked.
        permission: AclPermission,
        /// When it applies; always when `None`.
        condition: Option<AclCondition>,
    },
}

/// When an ACL check applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclCondition {
    /// `object:permission:FLAG|FLAG` (any of the flags set) or
    /// `object:permission:!FLAG|FLAG` (none of them set).
    Flags {
        /// Whether the `!` form was used.
        negated: bool,
        /// The flag names.
        flags: Vec<String>,
    },
    /// `object:permission::param:value`: an unsigned parameter equals a value.
    Param {
        /// The parameter's name.
        name: String,
        /// The value it is compared with (a constant's name or a number).
        value: String,
    },
}

/// Which way a stream flows, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamDirection {
    /// `@readstream`: data flows from the daemon to the client.
    Read,
    /// `@writestream`: data flows from the client to the daemon.
    Write,
}

/// `@readstream: N` or `@writestream: N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamAnnotation {
    /// The direction.
    pub direction: StreamDirection,
    /// The position of the stream in the C API's parameter list.
    pub param: u32,
}

/// Parses the annotations of a doc comment, pushing diagnostics for unknown
/// names and bad values.
pub fn parse(comment: &Comment, diags: &mut Vec<Diagnostic>) -> Annotations {
    let mut out = Annotations::default();
    let file = comment.span.file;
    let base = comment.span.start as usize;
    let mut offset = 0;
    for line in comment.raw.split_inclusive('\n') {
        let line_start = base + offset;
        offset += line.len();
        let Some((at, rest)) = annotation_start(line) else {
            continue;
        };
        let start = line_start + at;
        let rest = rest.trim_end().trim_end_matches("*/").trim_end();
        let (name, value) = match rest.split_once(':') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => (rest.trim(), ""),
        };
        let span = Span::new(file, start, start + 1 + rest.len());
        apply(&mut out, name, value, span, diags);
    }
    out
}

/// If the line (after `*` and spaces) starts with `@name`, the offset of the
/// `@` and the text after it.
fn annotation_start(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let trimmed = trimmed.strip_prefix("/**").unwrap_or(trimmed);
    let trimmed = trimmed.strip_prefix('*').unwrap_or(trimmed).trim_start();
    let rest = trimmed.strip_prefix('@')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let at = line.len() - trimmed.len();
    Some((at, rest))
}

fn apply(out: &mut Annotations, name: &str, value: &str, span: Span, diags: &mut Vec<Diagnostic>) {
    let bad = |what: &str| {
        Diagnostic::error(span, format!("invalid `@{name}` annotation: {what}"))
            .with_label(format!("`{value}`"))
    };
    match name {
        "generate" => {
            let g = match value {
                "both" => Generate::Both,
                "client" => Generate::Client,
                "server" => Generate::Server,
                "none" => Generate::None,
                _ => return diags.push(bad("expected `both`, `client`, `server` or `none`")),
            };
            if out.generate.replace(g).is_some() {
                diags.push(Diagnostic::warning(
                    span,
                    "`@generate` given twice; the last one wins",
                ));
            }
        }
        "priority" => {
            let p = match value {
                "high" => Priority::High,
                "low" => Priority::Low,
                _ => return diags.push(bad("expected `high` or `low`")),
            };
            if out.priority.replace(p).is_some() {
                diags.push(Diagnostic::warning(
                    span,
                    "`@priority` given twice; the last one wins",
                ));
            }
        }
        "acl" => match parse_acl(value) {
            Ok(rule) => out.acl.push(rule),
            Err(what) => diags.push(bad(what)),
        },
        "aclfilter" => match parse_permission(value) {
            Some(p) => out.acl_filter.push(p),
            None => diags.push(bad("expected `object:permission`")),
        },
        "readstream" | "writestream" => {
            let direction = if name == "readstream" {
                StreamDirection::Read
            } else {
                StreamDirection::Write
            };
            let Ok(param) = value.parse::<u32>() else {
                return diags.push(bad("expected a parameter number"));
            };
            let new = StreamAnnotation { direction, param };
            if out.stream.replace(new).is_some() {
                diags.push(Diagnostic::error(
                    span,
                    "a procedure has at most one `@readstream` / `@writestream`",
                ));
            }
        }
        "sparseflag" => {
            if !is_identifier(value) {
                return diags.push(bad("expected a flag name"));
            }
            out.sparse_flag = Some(value.to_owned());
        }
        _ => {
            diags.push(
                Diagnostic::warning(span, format!("unknown annotation `@{name}`")).with_note(
                    "known annotations: @generate, @priority, @acl, @aclfilter, \
                     @readstream, @writestream, @sparseflag",
                ),
            );
            out.unknown.push((name.to_owned(), value.to_owned()));
        }
    }
}

fn parse_permission(value: &str) -> Option<AclPermission> {
    let (object, permission) = value.split_once(':')?;
    (is_identifier(object) && is_identifier(permission)).then(|| AclPermission {
        object: object.to_owned(),
        permission: permission.to_owned(),
    })
}

fn parse_acl(value: &str) -> Result<AclRule, &'static str> {
    if value == "none" {
        return Ok(AclRule::None);
    }
    const SHAPE: &str = "expected `none`, `object:permission`, `object:permission:FLAGS` \
                         or `object:permission::param:value`";
    let mut parts = value.splitn(3, ':');
    let object = parts.next().unwrap_or_default();
    let permission = parts.next().ok_or(SHAPE)?;
    let permission = parse_permission(&format!("{object}:{permission}")).ok_or(SHAPE)?;
    let condition = match parts.next() {
        None => None,
        Some(rest) => Some(if let Some(param) = rest.strip_prefix(':') {
            let (name, value) = param.split_once(':').ok_or(SHAPE)?;
            if !is_identifier(name) || !is_identifier_or_number(value) {
                return Err(SHAPE);
            }
            AclCondition::Param {
                name: name.to_owned(),
                value: value.to_owned(),
            }
        } else {
            let (negated, list) = match rest.strip_prefix('!') {
                Some(l) => (true, l),
                None => (false, rest),
            };
            let flags: Vec<String> = list.split('|').map(|f| f.trim().to_owned()).collect();
            if flags.iter().any(|f| !is_identifier(f)) {
                return Err("expected flag names separated by `|`, optionally after `!`");
            }
            AclCondition::Flags { negated, flags }
        }),
    };
    Ok(AclRule::Check {
        permission,
        condition,
    })
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_identifier_or_number(s: &str) -> bool {
    is_identifier(s) || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::FileId;

    fn comment(raw: &str) -> Comment {
        Comment {
            span: Span::new(FileId(0), 100, 100 + raw.len()),
            raw: raw.to_owned(),
        }
    }

    fn parse_ok(raw: &str) -> Annotations {
        let mut d = Vec::new();
        let a = parse(&comment(raw), &mut d);
        assert!(d.is_empty(), "{d:?}");
        a
    }

    #[test]
    fn parses_every_known_annotation() {
        let a = parse_ok(
            "/**\n * @generate: both\n * @priority: high\n * @readstream: 1\n \
             * @sparseflag: VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM\n \
             * @acl: domain:save:!VIR_DOMAIN_AFFECT_CONFIG|VIR_DOMAIN_AFFECT_LIVE\n \
             * @acl: domain:write::source:VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT\n \
             * @aclfilter: domain:getattr\n */",
        );
        assert_eq!(a.generate, Some(Generate::Both));
        assert_eq!(a.priority, Some(Priority::High));
        assert_eq!(
            a.stream,
            Some(StreamAnnotation {
                direction: StreamDirection::Read,
                param: 1
            })
        );
        assert_eq!(
            a.sparse_flag.as_deref(),
            Some("VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM")
        );
        assert_eq!(
            a.acl[0],
            AclRule::Check {
                permission: AclPermission {
                    object: "domain".into(),
                    permission: "save".into()
                },
                condition: Some(AclCondition::Flags {
                    negated: true,
                    flags: vec![
                        "VIR_DOMAIN_AFFECT_CONFIG".into(),
                        "VIR_DOMAIN_AFFECT_LIVE".into()
                    ]
                })
            }
        );
        assert_eq!(
            a.acl[1],
            AclRule::Check {
                permission: AclPermission {
                    object: "domain".into(),
                    permission: "write".into()
                },
                condition: Some(AclCondition::Param {
                    name: "source".into(),
                    value: "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT".into()
                })
            }
        );
        assert_eq!(a.acl_filter.len(), 1);
    }

    #[test]
    fn accepts_generate_without_space_and_acl_none() {
        let a = parse_ok("/**\n * @generate:both\n * @acl: none\n */");
        assert_eq!(a.generate, Some(Generate::Both));
        assert_eq!(a.acl, vec![AclRule::None]);
    }

    #[test]
    fn unknown_annotation_is_a_warning_and_is_kept() {
        let mut d = Vec::new();
        let a = parse(&comment("/** @frobnicate: yes */"), &mut d);
        assert_eq!(d.len(), 1);
        assert!(!d[0].is_error());
        assert_eq!(a.unknown, vec![("frobnicate".to_owned(), "yes".to_owned())]);
        // The span points at the `@`.
        assert_eq!(d[0].primary.as_ref().unwrap().span.start, 104);
    }

    #[test]
    fn bad_values_are_errors() {
        for raw in [
            "/** @generate: sometimes */",
            "/** @priority: urgent */",
            "/** @readstream: first */",
            "/** @acl: domain */",
            "/** @acl: domain:save:A||B */",
            "/** @aclfilter: domain */",
        ] {
            let mut d = Vec::new();
            parse(&comment(raw), &mut d);
            assert!(d.iter().any(Diagnostic::is_error), "{raw}");
        }
    }

    #[test]
    fn prose_mentioning_an_annotation_is_ignored() {
        let a = parse_ok("/** The @readstream annotation creates a stream. */");
        assert!(a.is_empty());
    }
}
