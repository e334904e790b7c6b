//! libvirt's client authentication file, `auth.conf`.
//!
//! Where it is ([`auth_file_path`], libvirt's `virAuthGetConfigFilePathURI`):
//! the file named by `$LIBVIRT_AUTH_FILE`, else the URI's `authfile=`, else
//! `$XDG_CONFIG_HOME/libvirt/auth.conf` (`~/.config/libvirt/auth.conf`)
//! when readable, else `/etc/libvirt/auth.conf` when readable.
//!
//! What it says ([`AuthConfig`], libvirt's `virAuthConfigLookup`): an
//! `.ini` file in GLib's key-file syntax. `[auth-SERVICE-HOST]` (falling
//! back to `[auth-SERVICE-default]`) names a set of credentials with
//! `credentials=NAME`, and `[credentials-NAME]` holds them: `authname=`
//! (the name libvirtd's SASL authenticates), `username=`, `password=`,
//! `realm=`. The service of libvirtd is `libvirt`; the host is the URI's
//! (`localhost` without one).
//!
//! ```text
//! [credentials-test]
//! authname=fred
//! password=123456
//!
//! [auth-libvirt-test1.example.com]
//! credentials=test
//!
//! [auth-libvirt-default]
//! credentials=test
//! ```
//!
//! Limits, since `authfile=` lets a URI name any path: [`AuthConfig::load`]
//! reads only a regular file (a directory, FIFO, socket or device is
//! refused without being opened, so `/dev/zero` or a FIFO cannot make it
//! read forever or wait) of at most [`MAX_AUTH_FILE_SIZE`] bytes, read
//! with that bound even if the file grows. Errors name the file, the line
//! and what is wrong, never the text of the line: it may hold a password.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::local_file::{read_regular, LocalFileError};

/// The service name libvirtd's entries use (`[auth-libvirt-HOST]`).
pub const LIBVIRT_SERVICE: &str = "libvirt";

/// The system-wide file.
pub const SYSTEM_AUTH_FILE: &str = "/etc/libvirt/auth.conf";

/// The largest `auth.conf` [`AuthConfig::load`] reads, in bytes. A
/// credentials file is a few hundred bytes; 64 KiB leaves room for many
/// hosts while bounding what a bad `authfile=` can make the client read.
pub const MAX_AUTH_FILE_SIZE: u64 = 64 * 1024;

/// Why an `auth.conf` cannot be used.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Arc<io::Error>,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the first byte that is not UTF-8 is.
        valid_up_to: usize,
    },
    /// The path names a directory, FIFO, socket or device, not a file.
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a directory`, `a FIFO`, ...).
        kind: &'static str,
    },
    /// The file is larger than [`MAX_AUTH_FILE_SIZE`].
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, [`MAX_AUTH_FILE_SIZE`].
        limit: u64,
    },
    /// A line is not valid key-file syntax. The message says what is
    /// wrong without quoting the line.
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An entry is missing or its value is invalid (libvirt's
    /// `VIR_ERR_CONF_SYNTAX` cases).
    Lookup {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfigError::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            AuthConfigError::NotUtf8 { path, valid_up_to } => write!(
                f,
                "cannot read {}: not UTF-8 text (byte {valid_up_to})",
                path.display()
            ),
            AuthConfigError::NotRegularFile { path, kind } => {
                write!(
                    f,
                    "cannot read {}: {kind}, not a regular file",
                    path.display()
                )
            }
            AuthConfigError::TooLarge { path, limit } => write!(
                f,
                "cannot read {}: larger than {limit} bytes, too large for an auth file",
                path.display()
            ),
            AuthConfigError::Syntax {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            AuthConfigError::Lookup { path, message } => {
                write!(f, "{}: {message}", path.display())
            }
        }
    }
}

/// The I/O error is shared in an `Arc`; the source is the `io::Error`
/// itself, not its `Arc`.
impl std::error::Error for AuthConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthConfigError::Read { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// I/O errors compare by kind and message.
impl PartialEq for AuthConfigError {
    fn eq(&self, other: &Self) -> bool {
        use AuthConfigError::*;
        match (self, other) {
            (Read { path: a, source: x }, Read { path: b, source: y }) => {
                a == b && crate::error::same_io_error(x, y)
            }
            (
                NotUtf8 {
                    path: a,
                    valid_up_to: x,
                },
                NotUtf8 {
                    path: b,
                    valid_up_to: y,
                },
            ) => a == b && x == y,
            (NotRegularFile { path: a, kind: x }, NotRegularFile { path: b, kind: y }) => {
                a == b && x == y
            }
            (TooLarge { path: a, limit: x }, TooLarge { path: b, limit: y }) => a == b && x == y,
            (
                Syntax {
                    path: a,
                    line: l,
                    message: x,
                },
                Syntax {
                    path: b,
                    line: m,
                    message: y,
                },
            ) => a == b && l == m && x == y,
            (
                Lookup {
                    path: a,
                    message: x,
                },
                Lookup {
                    path: b,
                    message: y,
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Eq for AuthConfigError {}

/// A parsed `auth.conf`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    path: PathBuf,
    /// Group name → key → raw (still escaped) value. Repeated groups merge
    /// and a repeated key's last value wins, as in GLib.
    groups: HashMap<String, HashMap<String, String>>,
}

impl fmt::Debug for AuthConfig {
    // Values are passwords: only names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<&String> = self.groups.keys().collect();
        groups.sort();
        f.debug_struct("AuthConfig")
            .field("path", &self.path)
            .field("groups", &groups)
            .finish()
    }
}

impl AuthConfig {
    /// Reads and parses the file at `path`: a regular file of at most
    /// [`MAX_AUTH_FILE_SIZE`] bytes. Blocking (file I/O); a FIFO or device
    /// at `path` is refused without being opened.
    pub fn load(path: &Path) -> Result<AuthConfig, AuthConfigError> {
        let bytes = read_regular(path, MAX_AUTH_FILE_SIZE).map_err(|e| match e {
            LocalFileError::Io(e) => AuthConfigError::Read {
                path: path.to_owned(),
                source: Arc::new(e),
            },
            LocalFileError::NotRegular(kind) => AuthConfigError::NotRegularFile {
                path: path.to_owned(),
                kind,
            },
            LocalFileError::TooLarge => AuthConfigError::TooLarge {
                path: path.to_owned(),
                limit: MAX_AUTH_FILE_SIZE,
            },
        })?;
        let text = String::from_utf8(bytes).map_err(|e| AuthConfigError::NotUtf8 {
            path: path.to_owned(),
            valid_up_to: e.utf8_error().valid_up_to(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the contents of `path` (named in errors only).
    ///
    /// The syntax is GLib's key file: lines end with `\n` (a `\r` before
    /// it is dropped); leading blanks are ignored; `#` starts a comment
    /// line; `[name]` (blanks may follow) starts a group; `key=value`
    /// lines belong to the group above, with blanks around `=` dropped
    /// and blanks at the end of the value kept. Anything else, and a key
    /// before the first group, is an error.
    pub fn parse(path: &Path, text: &str) -> Result<AuthConfig, AuthConfigError> {
        let mut groups: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut current: Option<String> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let syntax = |message: String| AuthConfigError::Syntax {
                path: path.to_owned(),
                line: i + 1,
                message,
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let line = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                if let Some(end) = rest.find(']') {
                    let name = &rest[..end];
                    let after = &rest[end + 1..];
                    if after.trim_start_matches([' ', '\t']).is_empty() {
                        if name.is_empty()
                            || name.contains('[')
                            || name.chars().any(|c| c.is_control())
                        {
                            return Err(syntax(
                                "invalid group name (empty, or with `[` or a control character)"
                                    .into(),
                            ));
                        }
                        groups.entry(name.to_owned()).or_default();
                        current = Some(name.to_owned());
                        continue;
                    }
                }
            }
            let Some((key, value)) = line.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                return Err(syntax(
                    "expected `key=value`, `[group]` or a `#` comment".into(),
                ));
            };
            let key = key.trim_end_matches(|c: char| c.is_ascii_whitespace());
            let Some(group) = &current else {
                return Err(syntax("`key=value` before any `[group]`".into()));
            };
            if !is_key_name(key) {
                return Err(syntax(
                    "invalid key name (blank at an end, `]`, or a bad `[locale]`)".into(),
                ));
            }
            let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
            groups
                .entry(group.clone())
                .or_default()
                .insert(key.to_owned(), value.to_owned());
        }
        Ok(AuthConfig {
            path: path.to_owned(),
            groups,
        })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file has `[group]`.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// The value of `credname` (`authname`, `username`, `password`,
    /// `realm`) for `service` on `host` (`None`: `localhost`), as libvirt
    /// looks it up: `[auth-SERVICE-HOST]`, else `[auth-SERVICE-default]`;
    /// neither: `Ok(None)`. That group must name its credentials
    /// (`credentials=NAME`) and `[credentials-NAME]` must exist; the key
    /// itself may be absent (`Ok(None)`).
    pub fn lookup(
        &self,
        service: &str,
        host: Option<&str>,
        credname: &str,
    ) -> Result<Option<String>, AuthConfigError> {
        let Some(credgroup) = self.credentials_group(service, host)? else {
            return Ok(None);
        };
        self.string(&credgroup, credname)
    }

    /// The `[credentials-NAME]` group for `service` on `host`, if the
    /// file has an entry for them.
    pub fn credentials_group(
        &self,
        service: &str,
        host: Option<&str>,
    ) -> Result<Option<String>, AuthConfigError> {
        let host = host.unwrap_or("localhost");
        let mut authgroup = format!("auth-{service}-{host}");
        if !self.has_group(&authgroup) {
            authgroup = format!("auth-{service}-default");
        }
        if !self.has_group(&authgroup) {
            return Ok(None);
        }
        let Some(name) = self.string(&authgroup, "credentials")? else {
            return Err(
                self.lookup_error(format!("missing item 'credentials' in group '{authgroup}'"))
            );
        };
        let credgroup = format!("credentials-{name}");
        if !self.has_group(&credgroup) {
            return Err(self.lookup_error(format!(
                "missing group '{credgroup}' referenced from group '{authgroup}'"
            )));
        }
        Ok(Some(credgroup))
    }

    /// The unescaped value of `key` in `[group]` (GLib's
    /// `g_key_file_get_string`: `\s`, `\n`, `\t`, `\r` and `\\` are
    /// escapes, any other backslash is an error).
    pub fn string(&self, group: &str, key: &str) -> Result<Option<String>, AuthConfigError> {
        let Some(raw) = self.groups.get(group).and_then(|g| g.get(key)) else {
            return Ok(None);
        };
        unescape(raw)
            .map(Some)
            .map_err(|m| self.lookup_error(format!("key '{key}' in group '{group}': {m}")))
    }

    fn lookup_error(&self, message: String) -> AuthConfigError {
        AuthConfigError::Lookup {
            path: self.path.clone(),
            message,
        }
    }
}

/// GLib's key names: no `=`, `[` or `]` (except a trailing `[locale]`), no
/// blank at either end.
fn is_key_name(key: &str) -> bool {
    let (base, locale) = match key.find('[') {
        Some(i) => (&key[..i], Some(&key[i..])),
        None => (key, None),
    };
    if base.is_empty() || base.starts_with(' ') || base.ends_with(' ') || base.contains(']') {
        return false;
    }
    match locale {
        None => true,
        Some(l) => {
            let inner = l.strip_prefix('[').and_then(|l| l.strip_suffix(']'));
            inner.is_some_and(|s| {
                s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
            })
        }
    }
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            // The character is not shown: it is part of the value.
            Some(_) => {
                return Err(
                    "invalid escape sequence (`\\` followed by other than s, n, t, r or `\\`)"
                        .into(),
                )
            }
            None => return Err("escape character at the end of the value".into()),
        }
    }
    Ok(out)
}

/// Which auth file a connection reads for SASL credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthFile {
    /// The one libvirt would read (see [`auth_file_path`]), found when
    /// the daemon asks for SASL.
    #[default]
    Search,
    /// This file, whatever the environment says.
    Path(PathBuf),
    /// None.
    Disabled,
}

/// Where the auth file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFileSource {
    /// `$LIBVIRT_AUTH_FILE`.
    Environment,
    /// The URI's `authfile=`.
    Uri,
    /// Given by the program.
    Explicit,
    /// The user's configuration folder.
    User,
    /// `/etc/libvirt/auth.conf`.
    System,
}

/// What [`auth_file_path`] looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFileEnv {
    /// `$LIBVIRT_AUTH_FILE`.
    pub libvirt_auth_file: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
}

impl AuthFileEnv {
    /// This process's environment.
    pub fn current() -> AuthFileEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        AuthFileEnv {
            libvirt_auth_file: var("LIBVIRT_AUTH_FILE"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
        }
    }
}

/// The auth file libvirt would use, and why: `$LIBVIRT_AUTH_FILE` (used
/// even if it cannot be read: that is then an error), else `authfile`
/// (the URI's parameter), else `$XDG_CONFIG_HOME/libvirt/auth.conf` (or
/// `$HOME/.config/libvirt/auth.conf`) if `readable`, else
/// `/etc/libvirt/auth.conf` if `readable`; else none.
pub fn auth_file_path(
    env: &AuthFileEnv,
    authfile: Option<&Path>,
    readable: &dyn Fn(&Path) -> bool,
) -> Option<(PathBuf, AuthFileSource)> {
    if let Some(p) = &env.libvirt_auth_file {
        return Some((p.clone(), AuthFileSource::Environment));
    }
    if let Some(p) = authfile {
        return Some((p.to_owned(), AuthFileSource::Uri));
    }
    let config = env
        .xdg_config_home
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".config")));
    if let Some(dir) = config {
        let p = dir.join("libvirt").join("auth.conf");
        if readable(&p) {
            return Some((p, AuthFileSource::User));
        }
    }
    let p = PathBuf::from(SYSTEM_AUTH_FILE);
    readable(&p).then_some((p, AuthFileSource::System))
}

/// Whether this process can open `path` for reading (libvirt asks
/// `access(R_OK)`). Only a file or directory is opened to find out:
/// opening a FIFO, or a serial line, can wait forever. Anything else that
/// exists counts as readable, and [`AuthConfig::load`] then refuses it.
pub(crate) fn readable(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => File::open(path).is_ok(),
        Ok(_) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_file::TempDir;

    /// libvirt's own test data (tests/virauthconfigtest.c).
    const LIBVIRT_TEST: &str = "[credentials-test]\nusername=fred\npassword=123456\n\n\
        [credentials-prod]\nusername=bar\npassword=letmein\n\n\
        [auth-libvirt-test1.example.com]\ncredentials=test\n\n\
        [auth-libvirt-test2.example.com]\ncredentials=test\n\n\
        [auth-libvirt-demo3.example.com]\ncredentials=test\n\n\
        [auth-libvirt-prod1.example.com]\ncredentials=prod\n";

    fn conf(text: &str) -> AuthConfig {
        AuthConfig::parse(Path::new("auth.conf"), text).unwrap()
    }

    #[test]
    fn libvirts_lookup_cases() {
        let c = conf(LIBVIRT_TEST);
        let get = |host, service, cred| c.lookup(service, Some(host), cred).unwrap();
        assert_eq!(
            get("test1.example.com", "libvirt", "username").as_deref(),
            Some("fred")
        );
        assert_eq!(get("test1.example.com", "vnc", "username"), None);
        assert_eq!(get("test1.example.com", "libvirt", "realm"), None);
        assert_eq!(get("test66.example.com", "libvirt", "username"), None);
        assert_eq!(
            get("prod1.example.com", "libvirt", "username").as_deref(),
            Some("bar")
        );
        assert_eq!(
            get("prod1.example.com", "libvirt", "password").as_deref(),
            Some("letmein")
        );
    }

    #[test]
    fn default_group_and_localhost() {
        let c = conf(
            "[credentials-a]\nauthname=alice\npassword=pw\n\
             [credentials-l]\nauthname=local\n\
             [auth-libvirt-localhost]\ncredentials=l\n\
             [auth-libvirt-default]\ncredentials=a\n",
        );
        // No host: `localhost`.
        assert_eq!(
            c.lookup("libvirt", None, "authname").unwrap().as_deref(),
            Some("local")
        );
        // A host without its own group falls back to `default`.
        assert_eq!(
            c.lookup("libvirt", Some("elsewhere"), "authname")
                .unwrap()
                .as_deref(),
            Some("alice")
        );
        // Host names are matched exactly.
        assert_eq!(
            c.lookup("libvirt", Some("LOCALHOST"), "authname")
                .unwrap()
                .as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn glib_key_file_details() {
        let c = conf(
            "# comment\r\n\
             \x20 # indented comment\n\
             \n\
             [credentials-x]  \t\n\
             \x20 username   =   spaced  \n\
             password=a\\sb\\tc\\\\d\\ne\n\
             password[fr]=ignored\n\
             realm=first\n\
             realm=second\n\
             [auth-libvirt-default]\n\
             credentials=x\n\
             [credentials-x]\n\
             authname=merged\n",
        );
        let get = |k| c.lookup("libvirt", None, k).unwrap();
        // Blanks around `=` go, blanks at the end of the value stay.
        assert_eq!(get("username").as_deref(), Some("spaced  "));
        assert_eq!(get("password").as_deref(), Some("a b\tc\\d\ne"));
        // The last of repeated keys wins; repeated groups merge.
        assert_eq!(get("realm").as_deref(), Some("second"));
        assert_eq!(get("authname").as_deref(), Some("merged"));
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let err = |text: &str| AuthConfig::parse(Path::new("/x/auth.conf"), text).unwrap_err();
        let e = err("username=fred\n");
        assert!(
            matches!(&e, AuthConfigError::Syntax { line: 1, message, .. } if message.contains("before any `[group]`")),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "/x/auth.conf:1: `key=value` before any `[group]`"
        );
        let e = err("[ok]\nthis is not a pair\n");
        assert!(matches!(&e, AuthConfigError::Syntax { line: 2, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "/x/auth.conf:2: expected `key=value`, `[group]` or a `#` comment"
        );
        assert!(matches!(
            err("[]\n"),
            AuthConfigError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            err("[a]\n=value\n"),
            AuthConfigError::Syntax { line: 2, .. }
        ));
        assert!(matches!(
            err("[a]\nk]ey=value\n"),
            AuthConfigError::Syntax { line: 2, .. }
        ));
        assert!(matches!(
            err("[a] trailing\n"),
            AuthConfigError::Syntax { line: 1, .. }
        ));
    }

    #[test]
    fn syntax_errors_do_not_echo_the_line() {
        const SECRET: &str = "hunter2-s3cret";
        for (text, line) in [
            // A password with the `=` forgotten.
            (format!("[credentials-x]\npassword {SECRET}\n"), 2),
            (format!("[credentials-x]\n{SECRET}\n"), 2),
            (format!("password={SECRET}\n[credentials-x]\n"), 1),
            (format!("{SECRET}=x\n"), 1),
            (format!("[{SECRET}\n"), 1),
            (format!("[{SECRET}\x01]\n"), 1),
            (format!("[{SECRET}] x\n"), 1),
            (format!("[a]\n{SECRET}]=x\n"), 2),
            (format!("[a]\n{SECRET}[x y]=x\n"), 2),
            (format!("[a]\n={SECRET}\n"), 2),
        ] {
            let e = AuthConfig::parse(Path::new("/x/auth.conf"), &text).unwrap_err();
            assert!(
                matches!(&e, AuthConfigError::Syntax { line: l, .. } if *l == line),
                "{text:?}: {e:?}"
            );
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("hunter2"), "{text:?}: {shown}");
                assert!(!shown.contains("s3cret"), "{text:?}: {shown}");
            }
            assert!(e.to_string().starts_with(&format!("/x/auth.conf:{line}: ")));
        }
        // Nor does a bad escape in a value show the value, or the escape.
        let c = conf(&format!(
            "[auth-libvirt-h]\ncredentials=c\n[credentials-c]\npassword={SECRET}\\q\n"
        ));
        let e = c.lookup("libvirt", Some("h"), "password").unwrap_err();
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("\\q"), "{shown}");
        }
    }

    /// `load(path)` on another thread, failing the test rather than
    /// hanging it should it block.
    fn load_within_seconds(path: &Path) -> Result<AuthConfig, AuthConfigError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(AuthConfig::load(&p));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("load blocked")
    }

    #[test]
    fn a_directory_is_refused() {
        let d = TempDir::new("authconf-dir");
        let e = load_within_seconds(d.path()).unwrap_err();
        assert_eq!(
            e,
            AuthConfigError::NotRegularFile {
                path: d.path().to_path_buf(),
                kind: "a directory"
            }
        );
        assert!(
            e.to_string().ends_with(": a directory, not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = TempDir::new("authconf-fifo");
        let fifo = d.path().join("auth.conf");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            eprintln!("skipped: mkfifo failed");
            return;
        }
        let e = load_within_seconds(&fifo).unwrap_err();
        assert!(
            matches!(&e, AuthConfigError::NotRegularFile { kind: "a FIFO", .. }),
            "{e:?}"
        );
        // Looking for the file does not block on it either; it is found,
        // and `load` says why it cannot be used.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(readable(&p));
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("readable blocked"));
        // (A FIFO swapped in after the path was looked at: `local_file`'s
        // tests.)
    }

    #[test]
    fn a_device_or_socket_is_refused() {
        if Path::new("/dev/zero").exists() {
            let e = load_within_seconds(Path::new("/dev/zero")).unwrap_err();
            assert!(
                matches!(
                    &e,
                    AuthConfigError::NotRegularFile {
                        kind: "a character device",
                        ..
                    }
                ),
                "{e:?}"
            );
        }
        let d = TempDir::new("authconf-sock");
        let sock = d.path().join("auth.conf");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = load_within_seconds(&sock).unwrap_err();
        assert!(
            matches!(
                &e,
                AuthConfigError::NotRegularFile {
                    kind: "a socket",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused() {
        let d = TempDir::new("authconf-size");
        let path = d.path().join("auth.conf");
        // Exactly the limit: read.
        let head = "[credentials-x]\npassword=p\n#";
        let mut text = head.to_owned();
        text.push_str(&"x".repeat(MAX_AUTH_FILE_SIZE as usize - head.len()));
        assert_eq!(text.len() as u64, MAX_AUTH_FILE_SIZE);
        std::fs::write(&path, &text).unwrap();
        let c = load_within_seconds(&path).unwrap();
        assert_eq!(
            c.string("credentials-x", "password").unwrap().as_deref(),
            Some("p")
        );
        // One byte more: refused, without a word of the contents.
        text.push('x');
        std::fs::write(&path, &text).unwrap();
        let e = load_within_seconds(&path).unwrap_err();
        assert_eq!(
            e,
            AuthConfigError::TooLarge {
                path: path.clone(),
                limit: MAX_AUTH_FILE_SIZE
            }
        );
        assert!(e.to_string().contains("larger than 65536 bytes"), "{e}");
        assert!(!format!("{e} {e:?}").contains("password"));
    }

    #[test]
    fn broken_references_are_clear_errors() {
        let c = conf("[auth-libvirt-default]\nusername=x\n");
        let e = c.lookup("libvirt", None, "password").unwrap_err();
        assert_eq!(
            e.to_string(),
            "auth.conf: missing item 'credentials' in group 'auth-libvirt-default'"
        );
        let c = conf("[auth-libvirt-h]\ncredentials=gone\n");
        let e = c.lookup("libvirt", Some("h"), "password").unwrap_err();
        assert_eq!(
            e.to_string(),
            "auth.conf: missing group 'credentials-gone' referenced from group 'auth-libvirt-h'"
        );
        let c = conf("[auth-libvirt-h]\ncredentials=c\n[credentials-c]\npassword=bad\\q\n");
        let e = c.lookup("libvirt", Some("h"), "password").unwrap_err();
        assert!(e.to_string().contains("invalid escape sequence"), "{e}");
        let c = conf("[auth-libvirt-h]\ncredentials=c\n[credentials-c]\npassword=end\\\n");
        assert!(c.lookup("libvirt", Some("h"), "password").is_err());
    }

    #[test]
    fn a_missing_or_unreadable_file_is_an_error_not_a_panic() {
        let e = AuthConfig::load(Path::new("/nonexistent/libvirt/auth.conf")).unwrap_err();
        assert!(matches!(e, AuthConfigError::Read { .. }), "{e}");
        assert!(e
            .to_string()
            .starts_with("cannot read /nonexistent/libvirt/auth.conf"));
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let c = conf(LIBVIRT_TEST);
        let shown = format!("{c:?}");
        assert!(!shown.contains("letmein"), "{shown}");
        assert!(shown.contains("credentials-prod"), "{shown}");
    }

    #[test]
    fn where_the_file_is_looked_for() {
        let none = |_: &Path| false;
        let all = |_: &Path| true;
        let env = AuthFileEnv {
            libvirt_auth_file: Some("/env/auth.conf".into()),
            xdg_config_home: Some("/xdg".into()),
            home: Some("/home/u".into()),
        };
        // The environment wins, readable or not; then the URI.
        assert_eq!(
            auth_file_path(&env, Some(Path::new("/uri.conf")), &none),
            Some(("/env/auth.conf".into(), AuthFileSource::Environment))
        );
        let env = AuthFileEnv {
            libvirt_auth_file: None,
            ..env
        };
        assert_eq!(
            auth_file_path(&env, Some(Path::new("/uri.conf")), &none),
            Some(("/uri.conf".into(), AuthFileSource::Uri))
        );
        // Then the user's file, if readable, then the system's.
        assert_eq!(
            auth_file_path(&env, None, &all),
            Some(("/xdg/libvirt/auth.conf".into(), AuthFileSource::User))
        );
        let only_system = |p: &Path| p == Path::new(SYSTEM_AUTH_FILE);
        assert_eq!(
            auth_file_path(&env, None, &only_system),
            Some((SYSTEM_AUTH_FILE.into(), AuthFileSource::System))
        );
        assert_eq!(auth_file_path(&env, None, &none), None);
        // Without XDG_CONFIG_HOME: ~/.config.
        let env = AuthFileEnv {
            xdg_config_home: None,
            ..env
        };
        assert_eq!(
            auth_file_path(&env, None, &all),
            Some((
                "/home/u/.config/libvirt/auth.conf".into(),
                AuthFileSource::User
            ))
        );
        // Neither: only the system file.
        assert_eq!(
            auth_file_path(&AuthFileEnv::default(), None, &all),
            Some((SYSTEM_AUTH_FILE.into(), AuthFileSource::System))
        );
    }
}
