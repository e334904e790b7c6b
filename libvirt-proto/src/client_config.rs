//! How the name a client is given becomes the URI it opens, as libvirt's
//! client library decides (`virConnectOpen`, `virAdmConnectOpen`):
//!
//! 1. An empty name asks for the default: `LIBVIRT_DEFAULT_URI` (for the
//!    admin program `LIBVIRT_ADMIN_DEFAULT_URI`) when set and not empty,
//!    else `uri_default` of the configuration file. With neither, a
//!    connection to the remote program has no URI: it probes for a local
//!    daemon ([`crate::socket::probe_socket`]) and lets the daemon pick
//!    its driver. An admin connection takes `libvirtd:///system` as
//!    root and `libvirtd:///session` otherwise.
//! 2. The name, or the default, is looked up in the file's `uri_aliases`
//!    (entries `alias=URI`; the alias of `A-Z a-z 0-9 _ -`), unless
//!    aliases are turned off (`VIR_CONNECT_NO_ALIASES`). An entry that is
//!    malformed stops the lookup with an error when it is reached, as in
//!    libvirt, so a typo in the file shows at once.
//! 3. For the remote program `xen` and `xen://` mean `xen:///system`.
//!
//! The configuration file is `/etc/libvirt/libvirt.conf` (`libvirt-admin.conf`
//! for the admin program) for root, and
//! `$XDG_CONFIG_HOME/libvirt/libvirt.conf` (by default
//! `~/.config/libvirt/libvirt.conf`) for anyone else; a missing file is
//! no error. Without `XDG_CONFIG_HOME` and `HOME` no file is read (GLib
//! would look up the home folder in the user database).
//!
//! ```
//! use libvirt_proto::client_config::{resolve, ConfigEnv, Program};
//! use libvirt_proto::conf::Conf;
//!
//! let conf = Conf::parse("uri_aliases = [\"hail=qemu+ssh://root@hail/system\"]\n\
//!                         uri_default = \"qemu:///system\"").unwrap();
//! let env = ConfigEnv::default();
//! let uri = |name| resolve(name, Program::Remote, &env, Some(&conf), true).unwrap();
//! assert_eq!(uri("hail").as_deref(), Some("qemu+ssh://root@hail/system"));
//! assert_eq!(uri("").as_deref(), Some("qemu:///system"));
//! assert_eq!(uri("test:///default").as_deref(), Some("test:///default"));
//! // Nothing configured: no URI, the client probes.
//! assert_eq!(resolve("", Program::Remote, &env, None, true).unwrap(), None);
//! ```

use std::path::{Path, PathBuf};

use crate::conf::{Conf, ConfError, ConfErrorKind};
use crate::uri::{ConnectUri, Mode, Proxy};

/// Which program a connection opens: it decides the file and variable
/// the defaults come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The remote program (`virsh`): `libvirt.conf`, `LIBVIRT_DEFAULT_URI`.
    Remote,
    /// The admin program (`virt-admin`): `libvirt-admin.conf`,
    /// `LIBVIRT_ADMIN_DEFAULT_URI`.
    Admin,
}

impl Program {
    /// The configuration file's name.
    pub fn file_name(self) -> &'static str {
        match self {
            Program::Remote => "libvirt.conf",
            Program::Admin => "libvirt-admin.conf",
        }
    }

    /// The environment variable with the default URI.
    pub fn default_uri_variable(self) -> &'static str {
        match self {
            Program::Remote => "LIBVIRT_DEFAULT_URI",
            Program::Admin => "LIBVIRT_ADMIN_DEFAULT_URI",
        }
    }
}

/// Which configuration file a connection reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigSource {
    /// libvirt's file for this user ([`config_path`]), as libvirt's own
    /// client reads it.
    #[default]
    User,
    /// This file (when it does not exist, no file).
    File(PathBuf),
    /// No file: no `uri_default`, no aliases.
    None,
}

/// The parts of the environment the decision depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEnv {
    /// Whether the process runs as root.
    pub root: bool,
    /// `$XDG_CONFIG_HOME`.
    pub config_home: Option<String>,
    /// `$HOME`.
    pub home: Option<String>,
    /// The default URI variable's value ([`Program::default_uri_variable`]).
    pub default_uri: Option<String>,
}

impl ConfigEnv {
    /// This process's environment, for a connection to `program`.
    pub fn current(program: Program) -> ConfigEnv {
        let var = |name| std::env::var(name).ok();
        ConfigEnv {
            root: crate::socket::effective_uid_is_root(),
            config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
            default_uri: var(program.default_uri_variable()),
        }
    }
}

/// libvirt's configuration file of `program` for this user: under
/// `/etc/libvirt` for root, else under `$XDG_CONFIG_HOME/libvirt` or
/// `$HOME/.config/libvirt`; `None` without either variable.
pub fn config_path(program: Program, env: &ConfigEnv) -> Option<PathBuf> {
    let dir = if env.root {
        PathBuf::from("/etc/libvirt")
    } else {
        let base = match (&env.config_home, &env.home) {
            (Some(c), _) if !c.is_empty() => PathBuf::from(c),
            (_, Some(h)) => Path::new(h).join(".config"),
            _ => return None,
        };
        base.join("libvirt")
    };
    Some(dir.join(program.file_name()))
}

/// Reads the configuration `source` names (`None` when there is none).
pub fn load(
    source: &ConfigSource,
    program: Program,
    env: &ConfigEnv,
) -> Result<Option<Conf>, ConfError> {
    match source {
        ConfigSource::User => match config_path(program, env) {
            Some(path) => Conf::read(&path),
            None => Ok(None),
        },
        ConfigSource::File(path) => Conf::read(path),
        ConfigSource::None => Ok(None),
    }
}

/// The URI a connection to `program` named `name` opens (see the module
/// documentation); `None` for a remote connection left to probe.
pub fn resolve(
    name: &str,
    program: Program,
    env: &ConfigEnv,
    conf: Option<&Conf>,
    aliases: bool,
) -> Result<Option<String>, ConfError> {
    let uri = if !name.is_empty() {
        if program == Program::Remote && (name.eq_ignore_ascii_case("xen") || name == "xen://") {
            "xen:///system".to_owned()
        } else {
            name.to_owned()
        }
    } else if let Some(d) = env.default_uri.as_deref().filter(|d| !d.is_empty()) {
        d.to_owned()
    } else if let Some(d) = conf.map(|c| c.string("uri_default")).transpose()?.flatten() {
        d.to_owned()
    } else {
        match program {
            Program::Remote => return Ok(None),
            Program::Admin if env.root => "libvirtd:///system".to_owned(),
            Program::Admin => "libvirtd:///session".to_owned(),
        }
    };
    if aliases {
        if let Some(target) = conf.map(|c| find_alias(c, &uri)).transpose()?.flatten() {
            return Ok(Some(target.to_owned()));
        }
    }
    Ok(Some(uri))
}

/// `libvirt.conf`'s settings for what a remote URI leaves out:
/// `remote_mode` (which local daemon, or which socket `nc` reaches on the
/// far side of ssh) for a URI without `mode=`, and `remote_proxy` (what
/// ssh runs on the far side) for one without `proxy=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteDefaults {
    /// `remote_mode`.
    pub mode: Option<Mode>,
    /// `remote_proxy`.
    pub proxy: Option<Proxy>,
}

impl RemoteDefaults {
    /// Reads the settings `uri` leaves out (only those, as libvirt: a bad
    /// `remote_mode` does not matter to a URI with `mode=`).
    pub fn read(conf: Option<&Conf>, uri: &ConnectUri) -> Result<RemoteDefaults, ConfError> {
        let Some(conf) = conf else {
            return Ok(RemoteDefaults::default());
        };
        let setting = |name: &str, wanted: bool| -> Result<Option<String>, ConfError> {
            Ok(if wanted {
                conf.string(name)?.map(str::to_owned)
            } else {
                None
            })
        };
        let unknown = |name: &str, value: String| {
            conf.error(ConfErrorKind::UnknownValue {
                name: name.to_owned(),
                value,
            })
        };
        let mode = match setting("remote_mode", uri.params.mode.is_none())? {
            Some(v) => Some(Mode::from_name(&v).ok_or_else(|| unknown("remote_mode", v))?),
            None => None,
        };
        let proxy = match setting("remote_proxy", uri.params.proxy.is_none())? {
            Some(v) => Some(Proxy::from_name(&v).ok_or_else(|| unknown("remote_proxy", v))?),
            None => None,
        };
        Ok(RemoteDefaults { mode, proxy })
    }
}

/// The URI `conf`'s `uri_aliases` gives `name`, checking each entry up to
/// the match as libvirt does.
pub fn find_alias<'c>(conf: &'c Conf, name: &str) -> Result<Option<&'c str>, ConfError> {
    let Some(entries) = conf.string_list("uri_aliases")? else {
        return Ok(None);
    };
    for entry in entries {
        let malformed = |reason| {
            conf.error(ConfErrorKind::MalformedAlias {
                entry: entry.to_owned(),
                reason,
            })
        };
        let Some((alias, target)) = entry.split_once('=') else {
            return Err(malformed("expected `alias=URI`"));
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if !alias.chars().all(valid) {
            return Err(malformed("an alias may only hold A-Z, a-z, 0-9, _ and -"));
        }
        if alias == name {
            return Ok(Some(target));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Conf {
        Conf::parse(text).unwrap()
    }

    fn remote(name: &str, env: &ConfigEnv, conf: Option<&Conf>) -> Option<String> {
        resolve(name, Program::Remote, env, conf, true).unwrap()
    }

    #[test]
    fn defaults_in_libvirts_order() {
        let c = conf("uri_default = 'test:///conf'");
        let mut env = ConfigEnv::default();
        assert_eq!(remote("", &env, Some(&c)).as_deref(), Some("test:///conf"));
        env.default_uri = Some(String::new());
        assert_eq!(remote("", &env, Some(&c)).as_deref(), Some("test:///conf"));
        env.default_uri = Some("test:///env".into());
        assert_eq!(remote("", &env, Some(&c)).as_deref(), Some("test:///env"));
        assert_eq!(
            remote("test:///given", &env, Some(&c)).as_deref(),
            Some("test:///given")
        );
        assert_eq!(remote("", &ConfigEnv::default(), None), None);
        // A uri_default of the wrong type only matters when it is needed.
        let bad = conf("uri_default = 1");
        assert_eq!(
            remote("test:///given", &env, Some(&bad)).as_deref(),
            Some("test:///given")
        );
        assert_eq!(remote("", &env, Some(&bad)).as_deref(), Some("test:///env"));
        assert!(resolve("", Program::Remote, &ConfigEnv::default(), Some(&bad), true).is_err());
    }

    #[test]
    fn admin_defaults() {
        let mut env = ConfigEnv::default();
        let admin = |env: &ConfigEnv, c: Option<&Conf>| {
            resolve("", Program::Admin, env, c, true).unwrap().unwrap()
        };
        assert_eq!(admin(&env, None), "libvirtd:///session");
        env.root = true;
        assert_eq!(admin(&env, None), "libvirtd:///system");
        let c = conf("uri_default = 'virtqemud:///system'");
        assert_eq!(admin(&env, Some(&c)), "virtqemud:///system");
        env.default_uri = Some("virtnetworkd:///system".into());
        assert_eq!(admin(&env, Some(&c)), "virtnetworkd:///system");
        // xen is the remote program's business only.
        assert_eq!(
            resolve("xen", Program::Admin, &env, None, true)
                .unwrap()
                .as_deref(),
            Some("xen")
        );
    }

    #[test]
    fn aliases() {
        let c = conf(
            "uri_aliases = [\n  'hail=qemu+ssh://root@hail/system',\n  'a-b_1=test:///x=y',\n  \
             'hail=test:///second',\n]\nuri_default = 'hail'",
        );
        let env = ConfigEnv::default();
        assert_eq!(
            remote("hail", &env, Some(&c)).as_deref(),
            Some("qemu+ssh://root@hail/system")
        );
        // Split at the first `=`.
        assert_eq!(
            remote("a-b_1", &env, Some(&c)).as_deref(),
            Some("test:///x=y")
        );
        // The default is an alias too.
        assert_eq!(
            remote("", &env, Some(&c)).as_deref(),
            Some("qemu+ssh://root@hail/system")
        );
        // Aliases match whole and case-sensitively.
        assert_eq!(remote("HAIL", &env, Some(&c)).as_deref(), Some("HAIL"));
        assert_eq!(remote("hai", &env, Some(&c)).as_deref(), Some("hai"));
        assert_eq!(
            resolve("hail", Program::Remote, &env, Some(&c), false)
                .unwrap()
                .as_deref(),
            Some("hail")
        );
        assert_eq!(remote("xen", &env, None).as_deref(), Some("xen:///system"));
        assert_eq!(remote("XEN", &env, None).as_deref(), Some("xen:///system"));
        assert_eq!(
            remote("xen://", &env, None).as_deref(),
            Some("xen:///system")
        );
    }

    #[test]
    fn malformed_aliases_fail_when_reached() {
        let c = conf("uri_aliases = ['good=test:///g', 'no-equals', 'bad!=test:///b']");
        let env = ConfigEnv::default();
        assert_eq!(remote("good", &env, Some(&c)).as_deref(), Some("test:///g"));
        let e = resolve("other", Program::Remote, &env, Some(&c), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed `uri_aliases` entry `no-equals`: expected `alias=URI`"
        );
        let c = conf("uri_aliases = ['bad!=test:///b']");
        assert!(resolve("x", Program::Remote, &env, Some(&c), true).is_err());
        // Not looked at without aliases.
        assert!(resolve("x", Program::Remote, &env, Some(&c), false).is_ok());
        // A single string is not a list.
        let c = conf("uri_aliases = 'a=test:///a'");
        assert!(resolve("a", Program::Remote, &env, Some(&c), true).is_err());
    }

    #[test]
    fn remote_defaults_fill_what_the_uri_leaves_out() {
        let c = conf("remote_mode = 'legacy'\nremote_proxy = 'netcat'");
        let read = |c: &Conf, uri| RemoteDefaults::read(Some(c), &ConnectUri::parse(uri).unwrap());
        assert_eq!(
            read(&c, "qemu:///system").unwrap(),
            RemoteDefaults {
                mode: Some(Mode::Legacy),
                proxy: Some(Proxy::Netcat)
            }
        );
        assert_eq!(
            read(&c, "qemu:///system?mode=auto&proxy=native").unwrap(),
            RemoteDefaults::default()
        );
        let bad = conf("remote_mode = 'fast'\nremote_proxy = 1");
        assert_eq!(
            read(&bad, "qemu:///system?proxy=auto")
                .unwrap_err()
                .to_string(),
            "unknown value `fast` for `remote_mode`"
        );
        assert!(read(&bad, "qemu:///system?mode=direct").is_err());
        assert!(read(&bad, "qemu:///system?mode=direct&proxy=auto").is_ok());
        assert_eq!(
            RemoteDefaults::read(None, &ConnectUri::parse("qemu:///system").unwrap()).unwrap(),
            RemoteDefaults::default()
        );
    }

    #[test]
    fn config_paths() {
        let mut env = ConfigEnv {
            home: Some("/home/u".into()),
            ..ConfigEnv::default()
        };
        let path = |env: &ConfigEnv, p| config_path(p, env).map(|p| p.display().to_string());
        assert_eq!(
            path(&env, Program::Remote).as_deref(),
            Some("/home/u/.config/libvirt/libvirt.conf")
        );
        env.config_home = Some("/cfg".into());
        assert_eq!(
            path(&env, Program::Admin).as_deref(),
            Some("/cfg/libvirt/libvirt-admin.conf")
        );
        env.root = true;
        assert_eq!(
            path(&env, Program::Remote).as_deref(),
            Some("/etc/libvirt/libvirt.conf")
        );
        assert_eq!(path(&ConfigEnv::default(), Program::Remote), None);
    }
}
