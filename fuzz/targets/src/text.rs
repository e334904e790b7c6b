//! `uri`, `auth_conf` and `libvirt_conf`.

use std::path::Path;

use libvirt_proto::client::auth_conf::{AuthConfig, LIBVIRT_SERVICE};
use libvirt_proto::client::fuzzing::ssh_argv;
use libvirt_proto::client_config::{find_alias, resolve, ConfigEnv, Program, RemoteDefaults};
use libvirt_proto::conf::{Conf, Value};
use libvirt_proto::uri::{ConnectUri, Mode, Proxy, Transport};

/// Parses a connection URI (the input as UTF-8); for the ssh transports,
/// builds the `ssh` command line.
///
/// Checks: the name sent to the daemon of a URI without `name=` parses
/// back to the same driver and path (for the `remote` driver, is empty);
/// the ssh argument vector has the
/// user, key file and host where ssh reads them as such (the host after
/// `--`), and the command run on the far side, split as its shell
/// splits it, gives back the socket, netcat and URI exactly, with no
/// shell syntax from the URI outside quotes.
pub fn uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = ConnectUri::parse(text) else {
        return;
    };
    let name = u.remote_name();
    let _ = u.wants_session(false);
    if u.params.name.is_none() && u.driver == "remote" {
        // The remote driver lets the daemon pick: no name.
        assert_eq!(name, "");
    } else if u.params.name.is_none() {
        // The driver and path; parameter names go on as they are, so the
        // rest need not parse.
        let base = name.split(['?', '#']).next().unwrap_or_default();
        let again = ConnectUri::parse(base)
            .unwrap_or_else(|e| panic!("remote name {name:?} does not parse: {e}"));
        assert_eq!(again.driver, u.driver);
        assert_eq!(again.path, u.path);
        assert_eq!(again.host, None);
    }
    if let Some(priority) = &u.params.tls_priority {
        check_priority(priority);
    }
    if matches!(
        u.transport,
        Transport::Ssh | Transport::Libssh | Transport::Libssh2
    ) {
        for (read_only, session) in [(false, false), (true, false), (false, true)] {
            check_ssh(&u, read_only, session);
        }
    }
}

/// A priority string is taken or refused with a typed error; a refused
/// element is one of the string's, as written.
fn check_priority(priority: &str) {
    use libvirt_proto::client::PriorityError;
    if let Err(PriorityError::Syntax { element } | PriorityError::SystemPriority { element }) =
        libvirt_proto::client::fuzzing::tls_priority(priority)
    {
        assert!(
            priority.split(':').any(|e| e == element),
            "{element:?} is not an element of {priority:?}"
        );
    }
}

fn check_ssh(u: &ConnectUri, read_only: bool, session: bool) {
    let p = &u.params;
    let fields = [&u.user, &u.host, &p.command, &p.keyfile, &p.known_hosts]
        .into_iter()
        .chain([&p.socket, &p.netcat, &p.name])
        .flatten()
        .chain([&u.driver, &u.path])
        // Passed on to the far side's helper: names as they are.
        .chain(p.query.iter().map(|(k, _)| k));
    if fields.into_iter().any(|f| f.contains('\0')) {
        // `Command` keeps such an argument as `<string-with-nul>` and
        // refuses to spawn (`InvalidInput`): nothing runs.
        return;
    }
    let (program, args) = ssh_argv(u, read_only, session);
    assert_eq!(
        program.to_str(),
        Some(u.params.command.as_deref().unwrap_or("ssh"))
    );
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.to_str().expect("arguments come from UTF-8"))
        .collect();
    // Options, each with its value, until `--`.
    let mut i = 0;
    let mut user = None;
    let mut key = None;
    while args[i] != "--" {
        match args[i] {
            "-p" | "-l" | "-i" | "-o" | "-e" => {
                let v = args[i + 1];
                match args[i] {
                    "-l" => user = Some(v),
                    "-i" => key = Some(v),
                    "-p" => assert_eq!(Some(v.parse::<u16>().unwrap()), u.port),
                    _ => {}
                }
                i += 2;
            }
            "-T" => i += 1,
            other => panic!("unexpected ssh argument {other:?} in {args:?}"),
        }
    }
    assert_eq!(user, u.user.as_deref());
    // ssh's `%` tokens are escaped.
    let escaped = u.params.keyfile.as_ref().map(|k| k.replace('%', "%%"));
    assert_eq!(key, escaped.as_deref());
    let rest = &args[i + 1..];
    assert_eq!(rest.len(), 2, "host and command after --: {args:?}");
    assert_eq!(rest[0], u.host.as_deref().unwrap_or("localhost"));

    let socket = u.params.socket.clone().unwrap_or_else(|| {
        format!(
            "/var/run/libvirt/{}",
            if read_only {
                "libvirt-sock-ro"
            } else {
                "libvirt-sock"
            }
        )
    });
    let netcat = u.params.netcat.as_deref().unwrap_or("nc");
    let name = u.helper_uri();
    let netcat_words = [netcat, "-U", &socket];
    let mut helper_words = vec!["virt-ssh-helper"];
    if read_only {
        helper_words.push("-r");
    }
    helper_words.push(&name);

    let words = shell_words(rest[1]);
    match u.ssh_proxy(session, None) {
        Proxy::Netcat => assert_eq!(words, netcat_words.map(Word::text), "{}", rest[1]),
        Proxy::Native => assert_eq!(
            words,
            helper_words
                .iter()
                .map(|w| Word::text(w))
                .collect::<Vec<_>>(),
            "{}",
            rest[1]
        ),
        Proxy::Auto => {
            assert_eq!(words.len(), 3, "{}", rest[1]);
            assert_eq!(words[..2], [Word::text("sh"), Word::text("-c")]);
            let Word::Word(script) = &words[2] else {
                panic!("{:?}", words[2]);
            };
            let mut want: Vec<Word> = [
                "if",
                "command",
                "-v",
                "virt-ssh-helper",
                ">/dev/null",
                "2>&1",
            ]
            .map(Word::text)
            .to_vec();
            want.extend([Word::Semi, Word::text("then"), Word::text("exec")]);
            want.extend(helper_words.iter().map(|w| Word::text(w)));
            want.extend([Word::Semi, Word::text("else"), Word::text("exec")]);
            want.extend(netcat_words.map(Word::text));
            want.extend([Word::Semi, Word::text("fi")]);
            assert_eq!(shell_words(script), want, "{script}");
        }
    }
}

/// A token of a POSIX shell command line, as far as these commands go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Word(String),
    /// An unquoted `;`.
    Semi,
}

impl Word {
    fn text(s: &str) -> Word {
        Word::Word(s.to_owned())
    }
}

/// Splits `line` as sh would (single quotes, backslashes, `;`), refusing
/// unquoted characters a shell would interpret, other than in the fixed
/// redirections.
fn shell_words(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut raw = String::new();
    let mut chars = line.chars();
    let flush = |out: &mut Vec<Word>, cur: &mut String, raw: &mut String, in_word: &mut bool| {
        if *in_word {
            let unquoted_specials = raw.chars().any(|c| "|&$`()<>*?[]{}~#!\"\\\n\t".contains(c));
            assert!(
                !unquoted_specials || raw == ">/dev/null" || raw == "2>&1",
                "unquoted shell syntax in {raw:?}"
            );
            out.push(Word::Word(std::mem::take(cur)));
            raw.clear();
            *in_word = false;
        }
    };
    while let Some(ch) = chars.next() {
        match ch {
            ' ' => flush(&mut out, &mut cur, &mut raw, &mut in_word),
            ';' => {
                flush(&mut out, &mut cur, &mut raw, &mut in_word);
                out.push(Word::Semi);
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => panic!("unterminated quote in {line:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                let c = chars.next().expect("a backslash at the end");
                cur.push(c);
            }
            c => {
                in_word = true;
                raw.push(c);
                cur.push(c);
            }
        }
    }
    flush(&mut out, &mut cur, &mut raw, &mut in_word);
    out
}

/// Parses an `auth.conf` (the input as UTF-8) and looks up credentials.
///
/// Checks, against the syntax `AuthConfig::parse` documents: every group
/// a header line names exists; every `key=value` line's value (the last
/// one of its key in its group) is what `string` returns, unescaped; and
/// the lookups for the hosts and credential names in the file agree with
/// `credentials_group` and `string`.
pub fn auth_conf(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("auth.conf");
    let Ok(conf) = AuthConfig::parse(path, text) else {
        return;
    };
    assert_eq!(conf.path(), path);
    // The file by hand, with the documented rules.
    let mut group: Option<String> = None;
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|r| r.trim_end_matches([' ', '\t']).strip_suffix(']'))
        {
            if !name.contains(']') {
                assert!(conf.has_group(name), "group [{name}] is missing");
                group = Some(name.to_owned());
                continue;
            }
        }
        let (k, v) = line.split_once('=').expect("a parsed line is a key=value");
        let g = group.clone().expect("a key after a group");
        let k = k.trim_end_matches(|c: char| c.is_ascii_whitespace());
        let v = v.trim_start_matches(|c: char| c.is_ascii_whitespace());
        entries.retain(|(eg, ek, _)| !(eg == &g && ek == k));
        entries.push((g, k.to_owned(), v.to_owned()));
    }
    for (g, k, v) in &entries {
        match conf.string(g, k) {
            Ok(Some(s)) => assert_eq!(escape(&s), canonical(v), "[{g}] {k}"),
            Ok(None) => panic!("[{g}] {k} is missing"),
            Err(_) => assert!(v.contains('\\'), "[{g}] {k}={v:?} refused"),
        }
    }
    let hosts: Vec<&str> = entries
        .iter()
        .filter_map(|(g, _, _)| g.strip_prefix("auth-libvirt-"))
        .chain([None, Some("default")].into_iter().flatten())
        .collect();
    for host in hosts.iter().map(|h| Some(*h)).chain([None]) {
        let group = conf.credentials_group(LIBVIRT_SERVICE, host);
        for cred in ["authname", "username", "password", "realm"] {
            let found = conf.lookup(LIBVIRT_SERVICE, host, cred);
            match &group {
                Ok(Some(g)) => assert_eq!(found, conf.string(g, cred)),
                Ok(None) => assert_eq!(found, Ok(None)),
                Err(e) => assert_eq!(found.as_ref().err(), Some(e)),
            }
        }
    }
}

/// GLib's escapes for `s`.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            ' ' => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// A raw value with every character `escape` would write escaped.
fn canonical(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push('\\');
            out.extend(chars.next());
        } else {
            out.push_str(&escape(&c.to_string()));
        }
    }
    out
}

/// Parses a `libvirt.conf` (the input's bytes) and resolves names with it.
///
/// Checks: each setting name (a line's leading word before `=`) that
/// `get` finds reads back through `string` / `string_list` as its type
/// says; every name resolves as the `uri_aliases` entries, checked one by
/// one up to the first with that alias, say it must (the entry's target,
/// an error at a malformed entry, the name itself past the end); the empty
/// name gives `uri_default` when it is a string; and `remote_mode` /
/// `remote_proxy` fill in what a URI leaves out, and only that.
pub fn libvirt_conf(data: &[u8]) {
    let Ok(conf) = Conf::parse_bytes(data) else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    check_remote_defaults(&conf);
    let names = text.split(['\n', '\r', ';']).filter_map(|l| {
        let (name, _) = l.split_once('=')?;
        let name = name.trim_matches([' ', '\t']);
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then_some(name)
    });
    for name in names {
        match conf.get(name) {
            Some(Value::String(s)) => assert_eq!(conf.string(name).unwrap(), Some(s.as_str())),
            Some(Value::List(items)) => {
                let all_strings = items.iter().all(|v| matches!(v, Value::String(_)));
                assert_eq!(conf.string_list(name).is_ok(), all_strings, "{name}");
                assert!(conf.string(name).is_err());
            }
            Some(Value::Integer(_)) => {
                assert!(conf.string(name).is_err() && conf.string_list(name).is_err())
            }
            None => {}
        }
    }
    let env = ConfigEnv::default();
    let entries: Vec<&str> = match conf.string_list("uri_aliases") {
        Ok(list) => list.unwrap_or_default(),
        Err(_) => {
            assert!(find_alias(&conf, "x").is_err());
            return;
        }
    };
    let aliases = entries
        .iter()
        .filter_map(|e| e.split_once('=').map(|(a, _)| a));
    for name in aliases.chain(["", "x", "default"]) {
        let got = resolve(name, Program::Remote, &env, Some(&conf), true);
        if name.is_empty() {
            if let Ok(Some(d)) = conf.string("uri_default") {
                if find_alias(&conf, d).is_ok_and(|a| a.is_none()) {
                    assert_eq!(got.as_ref().ok().cloned().flatten().as_deref(), Some(d));
                }
            }
            continue;
        }
        let mut want = Some(Ok(name.to_owned()));
        for entry in &entries {
            match entry.split_once('=') {
                None => {
                    want = Some(Err(()));
                    break;
                }
                Some((a, _))
                    if !a
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)) =>
                {
                    want = Some(Err(()));
                    break;
                }
                Some((a, t)) if a == name => {
                    want = Some(Ok(t.to_owned()));
                    break;
                }
                Some(_) => {}
            }
        }
        let xen = name.eq_ignore_ascii_case("xen") || name == "xen://";
        if !xen {
            let got = got.map(|u| u.expect("a name resolves")).map_err(|_| ());
            assert_eq!(Some(got), want, "{name:?}");
        }
    }
}

/// `RemoteDefaults::read` for URIs with and without `mode=` / `proxy=`,
/// against the settings read by hand.
fn check_remote_defaults(conf: &Conf) {
    let mode = conf.string("remote_mode").map(|m| m.map(Mode::from_name));
    let proxy = conf.string("remote_proxy").map(|p| p.map(Proxy::from_name));
    for uri in [
        "qemu:///system",
        "qemu:///system?mode=auto",
        "qemu+ssh://h/system?proxy=native",
        "qemu+ssh://h/system?mode=legacy&proxy=auto",
    ] {
        let u = ConnectUri::parse(uri).unwrap();
        let got = RemoteDefaults::read(Some(conf), &u);
        // What the URI leaves out is read, and must be valid.
        let want_mode = match (u.params.mode, &mode) {
            (Some(_), _) => Ok(None),
            (None, Ok(Some(Some(m)))) => Ok(Some(*m)),
            (None, Ok(None)) => Ok(None),
            (None, _) => Err(()),
        };
        let want_proxy = match (u.params.proxy, &proxy) {
            (Some(_), _) => Ok(None),
            (None, Ok(Some(Some(p)))) => Ok(Some(*p)),
            (None, Ok(None)) => Ok(None),
            (None, _) => Err(()),
        };
        match (want_mode, want_proxy) {
            (Ok(mode), Ok(proxy)) => {
                assert_eq!(got.unwrap(), RemoteDefaults { mode, proxy }, "{uri}")
            }
            _ => assert!(got.is_err(), "{uri}"),
        }
    }
}
