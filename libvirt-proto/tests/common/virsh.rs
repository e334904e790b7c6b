//! `virsh` and `virt-admin` against a [`Daemon`], as the tests that compare
//! the client's answers with theirs run them: with the C locale (messages
//! untranslated), once (`virsh`, `virsh_fails`, `virt_admin`, or against
//! any URI with `run_if_present`, which skips when the tool is missing) or as a
//! long-running `virsh ... event --loop` ([`Watcher`]); the client's typed
//! events read the same way ([`next_event`]); and the words `virsh` prints
//! for them ([`domain_event_words`], [`after_colon`]).

use std::future::Future;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use libvirt_proto::api::{DomainEventDetail, DomainEventType};
use libvirt_proto::client::{Event, Events};

use super::Daemon;

/// How long an event or a tool's line may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Runs a tool with the C locale.
pub async fn run(program: &str, first: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(program)
        .args(first)
        .args(args)
        .env("LC_ALL", "C")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// `program -c <uri> args...` with the C locale and `env`; `None` when
/// `program` is missing, which fails the test when the daemon tests are
/// required.
pub async fn run_if_present(
    program: &str,
    uri: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Option<Output> {
    if std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !super::required(),
            "{program} not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: {program} not found");
        return None;
    }
    Some(run(program, &["-c", uri], args, env).await)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

/// `virsh -c <uri> args...`: its standard output; it must succeed.
pub async fn virsh(d: &Daemon, args: &[&str]) -> String {
    let out = run("virsh", &["-c", &d.uri()], args, &[]).await;
    assert!(
        out.status.success(),
        "virsh {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `virsh -c <uri> args...` with `env` added, which must fail: its
/// standard error.
pub async fn virsh_fails(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run("virsh", &["-c", &d.uri()], args, env).await;
    assert!(
        !out.status.success(),
        "virsh {args:?} succeeded: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// `virt-admin -c <admin uri> args...`: its standard output; it must
/// succeed.
pub async fn virt_admin(d: &Daemon, args: &[&str]) -> String {
    let out = run("virt-admin", &["-c", &d.admin_uri()], args, &[]).await;
    assert!(
        out.status.success(),
        "virt-admin {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A long-running `virsh -c <uri> ... event --loop`, its lines as they
/// come; killed when dropped.
pub struct Watcher {
    _child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Watcher {
    pub fn spawn(d: &Daemon, args: &[&str]) -> Watcher {
        let mut child = tokio::process::Command::new("virsh")
            .arg("-c")
            .arg(d.uri())
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("virsh starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher {
            _child: child,
            lines,
        }
    }

    /// The next line, if one comes within `within`.
    pub async fn line(&mut self, within: Duration) -> Option<String> {
        tokio::time::timeout(within, self.lines.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits until virsh listens: `poke` makes an event (e.g. suspends and
    /// resumes a domain), until virsh prints a line about one. Fails after
    /// 50 tries.
    pub async fn wait_ready<F, Fut>(&mut self, what: &str, mut poke: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        for _ in 0..50 {
            poke().await;
            if self.line(Duration::from_millis(300)).await.is_some() {
                return;
            }
        }
        panic!("{what} printed nothing");
    }

    /// What virsh printed after `marker` on the next `n` lines naming it
    /// (see [`after_colon`]): "event 'lifecycle' for domain 'x': Started
    /// Booted" gives "Started Booted".
    pub async fn said(&mut self, marker: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let line = self
                .line(WAIT)
                .await
                .unwrap_or_else(|| panic!("virsh printed {out:?}, then nothing about {marker}"));
            if line.contains(marker) {
                out.push(after_colon(&line, marker));
            }
        }
        out
    }

    /// Drops the lines printed so far.
    pub fn drain(&mut self) {
        while self.lines.try_recv().is_ok() {}
    }
}

/// The part of a `virsh event` line after `marker` and its colon: "...
/// for domain 'x': Started Booted" gives "Started Booted".
pub fn after_colon(line: &str, marker: &str) -> String {
    let (_, rest) = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {line:?}"));
    rest.trim_start_matches(':').trim().to_string()
}

/// The next event on `events` that `pick` takes (`what` names it in the
/// failure when none comes within [`WAIT`]).
pub async fn next_event<E: Event, T>(
    events: &mut Events<E>,
    what: &str,
    mut pick: impl FnMut(E) -> Option<T>,
) -> T {
    loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .expect("the connection is open")
            .expect("no error");
        if let Some(t) = pick(e) {
            return t;
        }
    }
}

/// virsh's words for a domain lifecycle event and its detail, as `virsh
/// event` prints them ("Stopped Destroyed"); the detail must be typed by
/// the event, as in libvirt's C API.
pub fn domain_event_words(event: DomainEventType, detail: DomainEventDetail) -> String {
    assert_eq!(detail.of(), event, "the detail is typed by its event");
    let name = event
        .virsh_name()
        .unwrap_or_else(|| panic!("unknown lifecycle event {event}"));
    let detail_word = detail
        .virsh_name()
        .unwrap_or_else(|| panic!("unknown detail {detail:?} of event {name}"));
    format!("{name} {detail_word}")
}

/// A domain's XML under another name and without its uuid, to define a
/// new domain from an existing one's.
pub fn renamed(xml: &str, from: &str, to: &str) -> String {
    let mut xml = xml.replacen(
        &format!("<name>{from}</name>"),
        &format!("<name>{to}</name>"),
        1,
    );
    if let (Some(a), Some(b)) = (xml.find("<uuid>"), xml.find("</uuid>")) {
        xml.replace_range(a..b + "</uuid>".len(), "");
    }
    xml
}
