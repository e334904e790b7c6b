//! The async client and libvirt's own tools agree: every test starts a
//! private `libvirtd` serving `test:///default`, asks this client and
//! `virsh` / `virt-admin` the same questions on that daemon, and compares
//! the answers. Expected values come from the tools' output, never from
//! constants, so a wrong answer from the client fails the test.
//!
//! The test driver keeps its state only while a connection holds it, so
//! every test keeps a [`Client`] open while the tools run.
//!
//! Needs `libvirtd`, `virsh` and `virt-admin`; without them the tests say
//! so and pass, unless `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask test`).

#![cfg(feature = "client")]

mod common;

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::Daemon;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use libvirt_proto::admin;
use libvirt_proto::admin::program::procs as aprocs;
use libvirt_proto::api::{
    DomainEventDetail, DomainEventID, DomainEventType, DomainState, NetworkEventID,
    NetworkEventLifecycleType, StoragePoolEventID, StoragePoolEventLifecycleType,
};
use libvirt_proto::client::{
    AdminClient, Client, ClientError, DomainEvent, Events, NetworkEvent, StoragePoolEvent,
};
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// How long an event or a tool's line may take.
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Running the tools

/// Runs a tool with the C locale (its messages untranslated).
async fn run(program: &str, first: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

/// `virsh -c <uri> args...`: its standard output; it must succeed.
async fn virsh(d: &Daemon, args: &[&str]) -> String {
    let out = run("virsh", &["-c", &d.uri()], args, &[]).await;
    assert!(
        out.status.success(),
        "virsh {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `virsh -c <uri> args...` that must fail: its standard error.
async fn virsh_fails(d: &Daemon, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run("virsh", &["-c", &d.uri()], args, env).await;
    assert!(
        !out.status.success(),
        "virsh {args:?} succeeded: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// `virt-admin -c <admin uri> args...`; it must succeed.
async fn virt_admin(d: &Daemon, args: &[&str]) -> String {
    let out = run("virt-admin", &["-c", &d.admin_uri()], args, &[]).await;
    assert!(
        out.status.success(),
        "virt-admin {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A long-running `virsh ... event --loop`, its lines as they come.
struct Watcher {
    _child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Watcher {
    fn spawn(d: &Daemon, args: &[&str]) -> Watcher {
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
    async fn line(&mut self, within: Duration) -> Option<String> {
        tokio::time::timeout(within, self.lines.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next `n` lines that contain `needle`.
    async fn lines_with(&mut self, needle: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let line = self
                .line(WAIT)
                .await
                .unwrap_or_else(|| panic!("virsh printed {out:?}, then nothing about {needle}"));
            if line.contains(needle) {
                out.push(line);
            }
        }
        out
    }

    fn drain(&mut self) {
        while self.lines.try_recv().is_ok() {}
    }
}

// ---------------------------------------------------------------------------
// Reading the tools' output

/// `Key: value` lines (`dominfo`, `nodeinfo`, `client-info`, ...); the key
/// ends at the first colon.
fn fields(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value of `key`, which must be there.
fn field<'a>(f: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    f.get(key)
        .unwrap_or_else(|| panic!("no `{key}` in {f:?}"))
        .as_str()
}

/// A table of `virsh` / `virt-admin` (header, dashes, rows), each row by
/// column title. Columns are found at the header's titles, so cells may
/// hold single spaces ("shut off").
fn table(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = out.lines().skip_while(|l| l.trim().is_empty());
    let header = lines.next().expect("a header line");
    let dashes = lines.next().expect("a dashes line");
    assert!(
        !dashes.trim().is_empty() && dashes.trim().chars().all(|c| c == '-'),
        "not a table: {out}"
    );
    // A column starts at a title after at least two spaces (or the start).
    let bytes = header.as_bytes();
    let mut starts = Vec::new();
    for i in 0..bytes.len() {
        let after_gap = i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2] == b' ';
        if bytes[i] != b' ' && (starts.is_empty() || after_gap) {
            starts.push(i);
        }
    }
    let cell = |line: &str, c: usize| -> String {
        let from = starts[c].min(line.len());
        let to = starts.get(c + 1).map_or(line.len(), |&s| s.min(line.len()));
        line.get(from..to).unwrap_or("").trim().to_string()
    };
    let titles: Vec<String> = (0..starts.len()).map(|c| cell(header, c)).collect();
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            titles
                .iter()
                .enumerate()
                .map(|(c, t)| (t.clone(), cell(l, c)))
                .collect()
        })
        .collect()
}

/// Non-empty lines, trimmed (`--name` lists).
fn names(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// libvirt's version number as printed: 11003000 is "11.3.0".
fn version(v: u64) -> String {
    format!("{}.{}.{}", v / 1_000_000, v / 1000 % 1000, v % 1000)
}

fn uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A C string in a fixed or counted `char` array.
fn c_string(chars: &[i8]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).expect("utf-8")
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// XML as compared: the tools add a newline to what the daemon returns.
fn xml(s: &str) -> &str {
    s.trim_end_matches('\n')
}

/// virsh's word for a domain state, as the generated API spells it.
fn domain_state(state: i32) -> &'static str {
    DomainState::from(state)
        .virsh_name()
        .unwrap_or_else(|| panic!("unknown domain state {state}"))
}

/// virsh's words for a domain lifecycle event and its detail (typed by the
/// event, as in libvirt's C API).
fn domain_event_words(event: DomainEventType, detail: DomainEventDetail) -> String {
    assert_eq!(detail.of(), event, "the detail is typed by its event");
    let name = event
        .virsh_name()
        .unwrap_or_else(|| panic!("unknown lifecycle event {event}"));
    let detail_word = detail
        .virsh_name()
        .unwrap_or_else(|| panic!("unknown detail {detail:?} of event {name}"));
    format!("{name} {detail_word}")
}

/// The lifecycle part of a `virsh event` line: "... for domain 'x': Started
/// Booted" gives "Started Booted".
fn after_colon(line: &str, marker: &str) -> String {
    let (_, rest) = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {line:?}"));
    rest.trim_start_matches(':').trim().to_string()
}

/// Seconds since the epoch of `2026-05-09 07:29:33+0200`, the form
/// virt-admin prints (`%Y-%m-%d %H:%M:%S%z`).
fn parse_time(s: &str) -> i64 {
    let s = s.trim();
    let (date, rest) = s.split_once(' ').expect("date and time");
    let (time, zone) = rest.split_at(8);
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let z: i64 = zone[1..].parse().unwrap();
    let offset = sign * ((z / 100) * 3600 + (z % 100) * 60);
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - offset
}

// ---------------------------------------------------------------------------
// Asking the client

async fn lookup(client: &Client, name: &str) -> remote::NonnullDomain {
    client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs { name: name.into() })
        .await
        .unwrap_or_else(|e| panic!("lookup of {name}: {e}"))
        .dom
}

async fn state_of(client: &Client, dom: &remote::NonnullDomain) -> &'static str {
    let s = client
        .call::<procs::DomainGetState>(&remote::DomainGetStateArgs {
            dom: dom.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    domain_state(s.state)
}

async fn all_domains(client: &Client) -> Vec<remote::NonnullDomain> {
    client
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1024,
            flags: 0,
        })
        .await
        .unwrap()
        .domains
}

/// `virsh dominfo NAME` against the client's answers for that domain.
async fn compare_dominfo(d: &Daemon, client: &Client, name: &str) {
    let dom = lookup(client, name).await;
    let f = fields(&virsh(d, &["dominfo", name]).await);
    let info = client
        .call::<procs::DomainGetInfo>(&remote::DomainGetInfoArgs { dom: dom.clone() })
        .await
        .unwrap();
    let id = if dom.id == -1 {
        "-".to_string()
    } else {
        dom.id.to_string()
    };
    assert_eq!(field(&f, "Id"), id, "Id of {name}");
    assert_eq!(field(&f, "Name"), dom.name);
    assert_eq!(field(&f, "UUID"), uuid(&dom.uuid));
    let os = client
        .call::<procs::DomainGetOsType>(&remote::DomainGetOsTypeArgs { dom: dom.clone() })
        .await
        .unwrap();
    assert_eq!(field(&f, "OS Type"), os.r#type);
    assert_eq!(field(&f, "State"), domain_state(i32::from(info.state)));
    assert_eq!(field(&f, "CPU(s)"), info.nr_virt_cpu.to_string());
    let max = if info.max_mem == u64::from(u32::MAX) {
        "no limit".to_string()
    } else {
        format!("{} KiB", info.max_mem)
    };
    assert_eq!(field(&f, "Max memory"), max);
    assert_eq!(field(&f, "Used memory"), format!("{} KiB", info.memory));
    let persistent = client
        .call::<procs::DomainIsPersistent>(&remote::DomainIsPersistentArgs { dom: dom.clone() })
        .await
        .unwrap()
        .persistent;
    assert_eq!(field(&f, "Persistent"), yes_no(persistent != 0));
    // virsh prints the autostart line only when the call succeeds.
    match client
        .call::<procs::DomainGetAutostart>(&remote::DomainGetAutostartArgs { dom: dom.clone() })
        .await
    {
        Ok(a) => assert_eq!(
            field(&f, "Autostart"),
            if a.autostart != 0 {
                "enable"
            } else {
                "disable"
            }
        ),
        Err(_) => assert!(!f.contains_key("Autostart"), "{f:?}"),
    }
    let managed = client
        .call::<procs::DomainHasManagedSaveImage>(&remote::DomainHasManagedSaveImageArgs {
            dom: dom.clone(),
            flags: 0,
        })
        .await
        .unwrap()
        .result;
    assert_eq!(field(&f, "Managed save"), yes_no(managed != 0));
    let sec = client
        .call::<procs::NodeGetSecurityModel>(&())
        .await
        .unwrap();
    let model = c_string(&sec.model);
    if !model.is_empty() {
        assert_eq!(field(&f, "Security model"), model);
        assert_eq!(field(&f, "Security DOI"), c_string(&sec.doi));
    }
}

/// `virsh list --all` (names, ids, states) and each domain's `domstate`,
/// `domuuid` and `dominfo`, against the client's answers.
async fn compare_list(d: &Daemon, client: &Client) {
    let doms = all_domains(client).await;
    assert!(!doms.is_empty());
    let ours = sorted(doms.iter().map(|d| d.name.clone()).collect());
    assert_eq!(
        sorted(names(&virsh(d, &["list", "--all", "--name"]).await)),
        ours
    );

    let rows = table(&virsh(d, &["list", "--all"]).await);
    assert_eq!(rows.len(), doms.len(), "{rows:?}");
    for dom in &doms {
        let row = rows
            .iter()
            .find(|r| r["Name"] == dom.name)
            .unwrap_or_else(|| panic!("{} not in {rows:?}", dom.name));
        let id = if dom.id == -1 {
            "-".to_string()
        } else {
            dom.id.to_string()
        };
        assert_eq!(row["Id"], id);
        assert_eq!(row["State"], state_of(client, dom).await);
        assert_eq!(
            virsh(d, &["domstate", &dom.name]).await.trim(),
            state_of(client, dom).await
        );
        assert_eq!(
            virsh(d, &["domuuid", &dom.name]).await.trim(),
            uuid(&dom.uuid)
        );
        compare_dominfo(d, client, &dom.name).await;
    }
}

/// The next lifecycle event of domain `name` on `events`: (event, detail).
async fn next_domain_event(
    events: &mut Events<DomainEvent>,
    name: &str,
) -> (DomainEventType, DomainEventDetail) {
    loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("no lifecycle event of {name} within {WAIT:?}"))
            .expect("the connection is open")
            .expect("no error");
        if let DomainEvent::Lifecycle {
            domain,
            event,
            detail,
        } = e
        {
            if domain.name == name {
                return (event, detail);
            }
        }
    }
}

/// The next lifecycle event of network `name`.
async fn next_network_event(
    events: &mut Events<NetworkEvent>,
    name: &str,
) -> NetworkEventLifecycleType {
    loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("no lifecycle event of network {name} within {WAIT:?}"))
            .expect("the connection is open")
            .expect("no error");
        if let NetworkEvent::Lifecycle { network, event, .. } = e {
            if network.name == name {
                return event;
            }
        }
    }
}

/// The next lifecycle event of storage pool `name`.
async fn next_pool_event(
    events: &mut Events<StoragePoolEvent>,
    name: &str,
) -> StoragePoolEventLifecycleType {
    loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("no lifecycle event of pool {name} within {WAIT:?}"))
            .expect("the connection is open")
            .expect("no error");
        if let StoragePoolEvent::Lifecycle {
            storage_pool,
            event,
            ..
        } = e
        {
            if storage_pool.name == name {
                return event;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn versions_hostname_capabilities_and_node_info() {
    let Some(d) = Daemon::start("parity-host") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();

    let v = fields(&virsh(&d, &["version", "--daemon"]).await);
    let lib = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap()
        .lib_ver;
    assert_eq!(field(&v, "Running against daemon"), version(lib));
    // virsh's own library is the same installation as the daemon.
    assert_eq!(
        field(&v, "Using library"),
        format!("libvirt {}", version(lib))
    );
    let ty = client
        .call::<procs::ConnectGetType>(&())
        .await
        .unwrap()
        .r#type;
    assert_eq!(
        field(&v, "Using API"),
        format!("{ty} {}", version(lib)),
        "virConnectGetType and the library version"
    );
    let hv = client
        .call::<procs::ConnectGetVersion>(&())
        .await
        .unwrap()
        .hv_ver;
    assert_eq!(
        field(&v, "Running hypervisor"),
        format!("{ty} {}", version(hv))
    );

    let host = client
        .call::<procs::ConnectGetHostname>(&())
        .await
        .unwrap()
        .hostname;
    assert_eq!(virsh(&d, &["hostname"]).await.trim(), host);

    let caps = client
        .call::<procs::ConnectGetCapabilities>(&())
        .await
        .unwrap()
        .capabilities;
    assert!(caps.contains("<capabilities>"), "{caps}");
    assert_eq!(xml(&virsh(&d, &["capabilities"]).await), xml(&caps));

    let n = fields(&virsh(&d, &["nodeinfo"]).await);
    let info = client.call::<procs::NodeGetInfo>(&()).await.unwrap();
    assert_eq!(field(&n, "CPU model"), c_string(&info.model));
    assert_eq!(field(&n, "CPU(s)"), info.cpus.to_string());
    assert_eq!(field(&n, "CPU frequency"), format!("{} MHz", info.mhz));
    assert_eq!(field(&n, "CPU socket(s)"), info.sockets.to_string());
    assert_eq!(field(&n, "Core(s) per socket"), info.cores.to_string());
    assert_eq!(field(&n, "Thread(s) per core"), info.threads.to_string());
    assert_eq!(field(&n, "NUMA cell(s)"), info.nodes.to_string());
    assert_eq!(field(&n, "Memory size"), format!("{} KiB", info.memory));
    client.close().await;
}

#[tokio::test]
async fn domain_list_info_and_xml() {
    let Some(d) = Daemon::start("parity-domains") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();

    compare_list(&d, &client).await;

    let test = lookup(&client, "test").await;
    for (flags, extra) in [
        (0u32, None),
        (2, Some("--inactive")),
        (1, Some("--security-info")),
    ] {
        let ours = client
            .call::<procs::DomainGetXmlDesc>(&remote::DomainGetXmlDescArgs {
                dom: test.clone(),
                flags,
            })
            .await
            .unwrap()
            .xml;
        let mut args = vec!["dumpxml", "test"];
        args.extend(extra);
        assert_eq!(xml(&virsh(&d, &args).await), xml(&ours), "{args:?}");
    }
    client.close().await;
}

#[tokio::test]
async fn domain_lifecycle_with_events() {
    let Some(d) = Daemon::start("parity-lifecycle") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let mut events = client
        .domain_events(DomainEventID::LIFECYCLE, None)
        .await
        .unwrap();
    assert!(events.callback_id().is_some());

    // virsh listens too; it is ready once it reports a suspend of "test".
    let mut watcher = Watcher::spawn(&d, &["event", "--all", "--loop"]);
    let test = lookup(&client, "test").await;
    let mut ready = false;
    for _ in 0..50 {
        client
            .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom: test.clone() })
            .await
            .unwrap();
        client
            .call::<procs::DomainResume>(&remote::DomainResumeArgs { dom: test.clone() })
            .await
            .unwrap();
        if watcher.line(Duration::from_millis(300)).await.is_some() {
            ready = true;
            break;
        }
    }
    assert!(ready, "virsh event printed nothing");

    // A new domain from the test domain's XML: another name, no uuid.
    let name = "parity-dom";
    let base = client
        .call::<procs::DomainGetXmlDesc>(&remote::DomainGetXmlDescArgs {
            dom: test.clone(),
            flags: 2, // VIR_DOMAIN_XML_INACTIVE
        })
        .await
        .unwrap()
        .xml;
    let mut new_xml = base.replacen("<name>test</name>", &format!("<name>{name}</name>"), 1);
    if let (Some(a), Some(b)) = (new_xml.find("<uuid>"), new_xml.find("</uuid>")) {
        new_xml.replace_range(a..b + "</uuid>".len(), "");
    }
    assert!(!new_xml.contains("<uuid>") && new_xml.contains(name));

    let dom = client
        .call::<procs::DomainDefineXml>(&remote::DomainDefineXmlArgs { xml: new_xml })
        .await
        .unwrap()
        .dom;
    assert_eq!(dom.name, name);
    assert_ne!(dom.uuid, test.uuid);
    assert_eq!(virsh(&d, &["domuuid", name]).await.trim(), uuid(&dom.uuid));

    let mut seen = Vec::new();
    let mut check =
        |step: &str, got: (DomainEventType, DomainEventDetail), want: DomainEventType| {
            assert_eq!(got.0, want, "event after {step}");
            assert_eq!(got.1.of(), want, "detail after {step}: {got:?}");
            seen.push(got);
        };
    check(
        "define",
        next_domain_event(&mut events, name).await,
        DomainEventType::DEFINED,
    );
    assert_eq!(virsh(&d, &["domstate", name]).await.trim(), "shut off");
    assert_eq!(state_of(&client, &dom).await, "shut off");
    compare_list(&d, &client).await;

    client
        .call::<procs::DomainCreate>(&remote::DomainCreateArgs { dom: dom.clone() })
        .await
        .unwrap();
    check(
        "start",
        next_domain_event(&mut events, name).await,
        DomainEventType::STARTED,
    );
    assert_eq!(virsh(&d, &["domstate", name]).await.trim(), "running");
    assert_eq!(state_of(&client, &dom).await, "running");
    compare_list(&d, &client).await;

    client
        .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom: dom.clone() })
        .await
        .unwrap();
    check(
        "suspend",
        next_domain_event(&mut events, name).await,
        DomainEventType::SUSPENDED,
    );
    assert_eq!(virsh(&d, &["domstate", name]).await.trim(), "paused");
    assert_eq!(state_of(&client, &dom).await, "paused");

    client
        .call::<procs::DomainResume>(&remote::DomainResumeArgs { dom: dom.clone() })
        .await
        .unwrap();
    check(
        "resume",
        next_domain_event(&mut events, name).await,
        DomainEventType::RESUMED,
    );
    assert_eq!(virsh(&d, &["domstate", name]).await.trim(), "running");
    assert_eq!(state_of(&client, &dom).await, "running");

    client
        .call::<procs::DomainDestroy>(&remote::DomainDestroyArgs { dom: dom.clone() })
        .await
        .unwrap();
    check(
        "destroy",
        next_domain_event(&mut events, name).await,
        DomainEventType::STOPPED,
    );
    assert_eq!(virsh(&d, &["domstate", name]).await.trim(), "shut off");
    assert_eq!(state_of(&client, &dom).await, "shut off");

    client
        .call::<procs::DomainUndefine>(&remote::DomainUndefineArgs { dom: dom.clone() })
        .await
        .unwrap();
    check(
        "undefine",
        next_domain_event(&mut events, name).await,
        DomainEventType::UNDEFINED,
    );
    let err = virsh_fails(&d, &["domstate", name], &[]).await;
    assert!(
        err.contains(&format!("failed to get domain '{name}'")),
        "{err}"
    );
    let gone = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs { name: name.into() })
        .await
        .unwrap_err();
    assert_eq!(gone.code().map(|c| c.0), Some(42), "{gone:?}");
    assert!(!names(&virsh(&d, &["list", "--all", "--name"]).await).contains(&name.to_string()));

    // virsh saw the same events, with the same details.
    let marker = format!("for domain '{name}'");
    let printed: Vec<String> = watcher
        .lines_with(&marker, seen.len())
        .await
        .iter()
        .map(|l| after_colon(l, &marker))
        .collect();
    let ours: Vec<String> = seen
        .iter()
        .map(|&(e, det)| domain_event_words(e, det))
        .collect();
    assert_eq!(ours, printed);
    assert_eq!(events.lost(), 0);
    watcher.drain();
    client.close().await;
}

#[tokio::test]
async fn storage_pools_agree() {
    let Some(d) = Daemon::start("parity-pools") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let pools = client
        .call::<procs::ConnectListAllStoragePools>(&remote::ConnectListAllStoragePoolsArgs {
            need_results: 1024,
            flags: 0,
        })
        .await
        .unwrap()
        .pools;
    assert!(!pools.is_empty());
    assert_eq!(
        sorted(names(&virsh(&d, &["pool-list", "--all", "--name"]).await)),
        sorted(pools.iter().map(|p| p.name.clone()).collect())
    );
    let rows = table(&virsh(&d, &["pool-list", "--all"]).await);
    assert_eq!(rows.len(), pools.len(), "{rows:?}");
    for pool in &pools {
        let active = client
            .call::<procs::StoragePoolIsActive>(&remote::StoragePoolIsActiveArgs {
                pool: pool.clone(),
            })
            .await
            .unwrap()
            .active;
        let autostart = client
            .call::<procs::StoragePoolGetAutostart>(&remote::StoragePoolGetAutostartArgs {
                pool: pool.clone(),
            })
            .await
            .unwrap()
            .autostart;
        let row = rows.iter().find(|r| r["Name"] == pool.name).unwrap();
        assert_eq!(
            row["State"],
            if active != 0 { "active" } else { "inactive" }
        );
        assert_eq!(row["Autostart"], yes_no(autostart != 0));

        let f = fields(&virsh(&d, &["pool-info", "--bytes", &pool.name]).await);
        let info = client
            .call::<procs::StoragePoolGetInfo>(&remote::StoragePoolGetInfoArgs {
                pool: pool.clone(),
            })
            .await
            .unwrap();
        let persistent = client
            .call::<procs::StoragePoolIsPersistent>(&remote::StoragePoolIsPersistentArgs {
                pool: pool.clone(),
            })
            .await
            .unwrap()
            .persistent;
        assert_eq!(field(&f, "Name"), pool.name);
        assert_eq!(field(&f, "UUID"), uuid(&pool.uuid));
        let state = [
            "inactive",
            "building",
            "running",
            "degraded",
            "inaccessible",
        ][usize::from(info.state)];
        assert_eq!(field(&f, "State"), state);
        assert_eq!(field(&f, "Persistent"), yes_no(persistent != 0));
        assert_eq!(field(&f, "Autostart"), yes_no(autostart != 0));
        if state == "running" || state == "degraded" {
            assert_eq!(field(&f, "Capacity"), info.capacity.to_string());
            assert_eq!(field(&f, "Allocation"), info.allocation.to_string());
            assert_eq!(field(&f, "Available"), info.available.to_string());
        }
        let ours = client
            .call::<procs::StoragePoolGetXmlDesc>(&remote::StoragePoolGetXmlDescArgs {
                pool: pool.clone(),
                flags: 0,
            })
            .await
            .unwrap()
            .xml;
        assert_eq!(
            xml(&virsh(&d, &["pool-dumpxml", &pool.name]).await),
            xml(&ours)
        );
    }

    // A new pool through its lifecycle, with events on both sides.
    let mut events = client
        .storage_pool_events(StoragePoolEventID::LIFECYCLE, None)
        .await
        .unwrap();
    let mut watcher = Watcher::spawn(&d, &["pool-event", "--event", "lifecycle", "--loop"]);
    let prime = r"<pool type='dir'><name>parity-prime</name><target><path>/parity-prime</path></target></pool>";
    let mut ready = false;
    for _ in 0..50 {
        let p = client
            .call::<procs::StoragePoolDefineXml>(&remote::StoragePoolDefineXmlArgs {
                xml: prime.into(),
                flags: 0,
            })
            .await
            .unwrap()
            .pool;
        client
            .call::<procs::StoragePoolUndefine>(&remote::StoragePoolUndefineArgs { pool: p })
            .await
            .unwrap();
        if watcher.line(Duration::from_millis(300)).await.is_some() {
            ready = true;
            break;
        }
    }
    assert!(ready, "virsh pool-event printed nothing");

    let name = "parity-pool";
    let pool = client
        .call::<procs::StoragePoolDefineXml>(&remote::StoragePoolDefineXmlArgs {
            xml: format!(
                "<pool type='dir'><name>{name}</name><target><path>/{name}</path></target></pool>"
            ),
            flags: 0,
        })
        .await
        .unwrap()
        .pool;
    let mut seen = vec![next_pool_event(&mut events, name).await];
    let listed = |out: String| {
        table(&out)
            .into_iter()
            .find(|r| r["Name"] == name)
            .map(|r| r["State"].clone())
    };
    assert_eq!(
        listed(virsh(&d, &["pool-list", "--all"]).await).as_deref(),
        Some("inactive")
    );
    client
        .call::<procs::StoragePoolCreate>(&remote::StoragePoolCreateArgs {
            pool: pool.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    seen.push(next_pool_event(&mut events, name).await);
    assert_eq!(
        listed(virsh(&d, &["pool-list", "--all"]).await).as_deref(),
        Some("active")
    );
    client
        .call::<procs::StoragePoolDestroy>(&remote::StoragePoolDestroyArgs { pool: pool.clone() })
        .await
        .unwrap();
    seen.push(next_pool_event(&mut events, name).await);
    assert_eq!(
        listed(virsh(&d, &["pool-list", "--all"]).await).as_deref(),
        Some("inactive")
    );
    client
        .call::<procs::StoragePoolUndefine>(&remote::StoragePoolUndefineArgs { pool })
        .await
        .unwrap();
    seen.push(next_pool_event(&mut events, name).await);
    assert_eq!(listed(virsh(&d, &["pool-list", "--all"]).await), None);
    assert_eq!(
        seen,
        [
            StoragePoolEventLifecycleType::DEFINED,
            StoragePoolEventLifecycleType::STARTED,
            StoragePoolEventLifecycleType::STOPPED,
            StoragePoolEventLifecycleType::UNDEFINED,
        ]
    );
    let marker = format!("for storage pool {name}");
    let printed: Vec<String> = watcher
        .lines_with(&marker, seen.len())
        .await
        .iter()
        .map(|l| after_colon(l, &marker))
        .collect();
    let ours: Vec<String> = seen
        .iter()
        .map(|e| {
            e.virsh_name()
                .unwrap_or_else(|| panic!("unknown event {e}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ours, printed);
    client.close().await;
}

#[tokio::test]
async fn networks_agree() {
    let Some(d) = Daemon::start("parity-networks") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let list = |client: Client| async move {
        client
            .call::<procs::ConnectListAllNetworks>(&remote::ConnectListAllNetworksArgs {
                need_results: 1024,
                flags: 0,
            })
            .await
            .unwrap()
            .nets
    };
    let nets = list(client.clone()).await;
    assert!(!nets.is_empty());
    assert_eq!(
        sorted(names(&virsh(&d, &["net-list", "--all", "--name"]).await)),
        sorted(nets.iter().map(|n| n.name.clone()).collect())
    );

    // `net-list --all` and `net-info` of every network, as the client sees it.
    let compare = |client: Client, rows: Vec<BTreeMap<String, String>>| async move {
        let nets = list(client.clone()).await;
        assert_eq!(rows.len(), nets.len(), "{rows:?}");
        for net in nets {
            let active = client
                .call::<procs::NetworkIsActive>(&remote::NetworkIsActiveArgs { net: net.clone() })
                .await
                .unwrap()
                .active;
            let persistent = client
                .call::<procs::NetworkIsPersistent>(&remote::NetworkIsPersistentArgs {
                    net: net.clone(),
                })
                .await
                .unwrap()
                .persistent;
            let autostart = client
                .call::<procs::NetworkGetAutostart>(&remote::NetworkGetAutostartArgs {
                    net: net.clone(),
                })
                .await
                .unwrap()
                .autostart;
            let row = rows
                .iter()
                .find(|r| r["Name"] == net.name)
                .unwrap_or_else(|| panic!("{} not in {rows:?}", net.name));
            assert_eq!(
                row["State"],
                if active != 0 { "active" } else { "inactive" }
            );
            assert_eq!(row["Autostart"], yes_no(autostart != 0));
            assert_eq!(row["Persistent"], yes_no(persistent != 0));
        }
    };
    compare(
        client.clone(),
        table(&virsh(&d, &["net-list", "--all"]).await),
    )
    .await;

    for net in &nets {
        let f = fields(&virsh(&d, &["net-info", &net.name]).await);
        assert_eq!(field(&f, "Name"), net.name);
        assert_eq!(field(&f, "UUID"), uuid(&net.uuid));
        let bridge = client
            .call::<procs::NetworkGetBridgeName>(&remote::NetworkGetBridgeNameArgs {
                net: net.clone(),
            })
            .await
            .unwrap()
            .name;
        assert_eq!(field(&f, "Bridge"), bridge);
        let ours = client
            .call::<procs::NetworkGetXmlDesc>(&remote::NetworkGetXmlDescArgs {
                net: net.clone(),
                flags: 0,
            })
            .await
            .unwrap()
            .xml;
        assert_eq!(
            xml(&virsh(&d, &["net-dumpxml", &net.name]).await),
            xml(&ours)
        );
    }

    // A new network through its lifecycle, with events on both sides.
    let mut events = client
        .network_events(NetworkEventID::LIFECYCLE, None)
        .await
        .unwrap();
    let mut watcher = Watcher::spawn(&d, &["net-event", "--event", "lifecycle", "--loop"]);
    let prime = "<network><name>parity-prime</name></network>";
    let mut ready = false;
    for _ in 0..50 {
        let n = client
            .call::<procs::NetworkDefineXml>(&remote::NetworkDefineXmlArgs { xml: prime.into() })
            .await
            .unwrap()
            .net;
        client
            .call::<procs::NetworkUndefine>(&remote::NetworkUndefineArgs { net: n })
            .await
            .unwrap();
        if watcher.line(Duration::from_millis(300)).await.is_some() {
            ready = true;
            break;
        }
    }
    assert!(ready, "virsh net-event printed nothing");

    let name = "parity-net";
    let net = client
        .call::<procs::NetworkDefineXml>(&remote::NetworkDefineXmlArgs {
            xml: format!(
                "<network><name>{name}</name><bridge name='virbr9'/>\
                 <ip address='192.168.150.1' netmask='255.255.255.0'/></network>"
            ),
        })
        .await
        .unwrap()
        .net;
    let mut seen = vec![next_network_event(&mut events, name).await];
    compare(
        client.clone(),
        table(&virsh(&d, &["net-list", "--all"]).await),
    )
    .await;
    client
        .call::<procs::NetworkCreate>(&remote::NetworkCreateArgs { net: net.clone() })
        .await
        .unwrap();
    seen.push(next_network_event(&mut events, name).await);
    let rows = table(&virsh(&d, &["net-list", "--all"]).await);
    assert!(rows
        .iter()
        .any(|r| r["Name"] == name && r["State"] == "active"));
    compare(client.clone(), rows).await;
    client
        .call::<procs::NetworkDestroy>(&remote::NetworkDestroyArgs { net: net.clone() })
        .await
        .unwrap();
    seen.push(next_network_event(&mut events, name).await);
    compare(
        client.clone(),
        table(&virsh(&d, &["net-list", "--all"]).await),
    )
    .await;
    client
        .call::<procs::NetworkUndefine>(&remote::NetworkUndefineArgs { net })
        .await
        .unwrap();
    seen.push(next_network_event(&mut events, name).await);
    let rows = table(&virsh(&d, &["net-list", "--all"]).await);
    assert!(rows.iter().all(|r| r["Name"] != name), "{rows:?}");
    compare(client.clone(), rows).await;
    assert_eq!(
        seen,
        [
            NetworkEventLifecycleType::DEFINED,
            NetworkEventLifecycleType::STARTED,
            NetworkEventLifecycleType::STOPPED,
            NetworkEventLifecycleType::UNDEFINED,
        ]
    );
    let marker = format!("for network {name}");
    let printed: Vec<String> = watcher
        .lines_with(&marker, seen.len())
        .await
        .iter()
        .map(|l| after_colon(l, &marker))
        .collect();
    let ours: Vec<String> = seen
        .iter()
        .map(|e| {
            e.virsh_name()
                .unwrap_or_else(|| panic!("unknown event {e}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ours, printed);
    assert_eq!(events.lost(), 0);

    // An unknown network: virsh prints the daemon's message.
    let err = client
        .call::<procs::NetworkLookupByName>(&remote::NetworkLookupByNameArgs {
            name: "no-such-net".into(),
        })
        .await
        .unwrap_err();
    let ClientError::Remote(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code.name(), Some("VIR_ERR_NO_NETWORK"));
    let printed = virsh_fails(&d, &["net-info", "no-such-net"], &[]).await;
    let message = e.message.clone().expect("a message");
    assert!(
        printed.lines().any(|l| l == format!("error: {message}")),
        "{printed:?} lacks {message:?}"
    );
    client.close().await;
}

#[tokio::test]
async fn screenshot_bytes_and_type() {
    let Some(d) = Daemon::start("parity-screenshot") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let dom = lookup(&client, "test").await;
    let (ret, mut stream) = client
        .call_stream::<procs::DomainScreenshot>(&remote::DomainScreenshotArgs {
            dom,
            screen: 0,
            flags: 0,
        })
        .await
        .unwrap();
    let mut ours = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut ours)
        .await
        .unwrap();
    assert!(!ours.is_empty());

    let file = d.dir.join("screenshot");
    let file = file.to_str().unwrap();
    let said = virsh(&d, &["screenshot", "test", file]).await;
    let theirs = std::fs::read(file).unwrap();
    assert_eq!(ours.len(), theirs.len());
    assert!(ours == theirs, "the screenshot's bytes differ");
    let (_, mime) = said
        .trim()
        .rsplit_once("with type of ")
        .unwrap_or_else(|| panic!("no type in {said:?}"));
    assert_eq!(ret.mime.as_deref(), Some(mime));
    // The connection stays usable after the stream.
    assert_eq!(all_domains(&client).await.len(), 1);
    client.close().await;
}

#[tokio::test]
async fn an_unknown_domain_is_reported_as_virsh_reports_it() {
    let Some(d) = Daemon::start("parity-unknown") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let name = "no-such-domain";
    let err = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs { name: name.into() })
        .await
        .unwrap_err();
    let ClientError::Remote(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code.0, 42, "VIR_ERR_NO_DOMAIN");
    assert_eq!(e.code.name(), Some("VIR_ERR_NO_DOMAIN"));

    // virsh replaces the daemon's message with its own; libvirt's log of
    // errors (level 4, to stderr) shows the daemon's message as virsh's
    // library received it.
    let printed = virsh_fails(
        &d,
        &["dominfo", name],
        &[("LIBVIRT_LOG_OUTPUTS", "4:stderr")],
    )
    .await;
    assert!(
        printed.contains(&format!("error: failed to get domain '{name}'")),
        "{printed}"
    );
    let marker = "virNetClientProgramDispatchError:";
    let line = printed
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no daemon error in {printed}"));
    let (_, rest) = line.split_once(marker).unwrap();
    let (_, daemon_message) = rest.split_once(" : ").expect("the message");
    assert_eq!(e.message.as_deref(), Some(daemon_message));
    assert_eq!(e.to_string(), daemon_message);
    client.close().await;
}

#[tokio::test]
async fn a_read_only_connection_reads_but_may_not_suspend() {
    let Some(d) = Daemon::start("parity-ro") else {
        return;
    };
    let client = Client::connect_read_only(&d.uri()).await.unwrap();
    let doms = all_domains(&client).await;
    assert_eq!(
        sorted(names(&virsh(&d, &["-r", "list", "--all", "--name"]).await)),
        sorted(doms.iter().map(|d| d.name.clone()).collect())
    );
    compare_dominfo(&d, &client, "test").await;
    let host = client
        .call::<procs::ConnectGetHostname>(&())
        .await
        .unwrap()
        .hostname;
    assert_eq!(virsh(&d, &["-r", "hostname"]).await.trim(), host);

    let dom = lookup(&client, "test").await;
    let err = client
        .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom: dom.clone() })
        .await
        .unwrap_err();
    let ClientError::Remote(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code.name(), Some("VIR_ERR_OPERATION_DENIED"));
    let printed = virsh_fails(&d, &["-r", "suspend", "test"], &[]).await;
    let message = e.message.clone().expect("a message");
    assert!(
        printed.lines().any(|l| l == format!("error: {message}")),
        "{printed:?} lacks {message:?}"
    );
    // Nothing changed.
    assert_eq!(state_of(&client, &dom).await, "running");
    assert_eq!(virsh(&d, &["domstate", "test"]).await.trim(), "running");
    client.close().await;
}

/// How virt-admin prints a typed parameter's value (vshGetTypedParamValue).
fn admin_value(v: &admin::TypedParamValue) -> String {
    match v {
        admin::TypedParamValue::Int(i) => i.to_string(),
        admin::TypedParamValue::Uint(u) => u.to_string(),
        admin::TypedParamValue::Llong(l) => l.to_string(),
        admin::TypedParamValue::Ullong(u) => u.to_string(),
        admin::TypedParamValue::Double(d) => format!("{d:.6}"),
        admin::TypedParamValue::Boolean(b) => yes_no(*b != 0).to_string(),
        admin::TypedParamValue::String(s) => s.clone(),
    }
}

fn admin_params(params: &[admin::TypedParam]) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|p| (p.field.clone(), admin_value(&p.value)))
        .collect()
}

/// virt-admin's names of `virClientTransport`.
fn transport(t: u32) -> &'static str {
    match t {
        0 => "unix",
        1 => "tcp",
        2 => "tls",
        _ => "unknown",
    }
}

#[tokio::test]
async fn admin_servers_clients_and_version() {
    let Some(d) = Daemon::start("parity-admin") else {
        return;
    };
    // One client of the libvirtd server, to be listed.
    let client = Client::connect(&d.uri()).await.unwrap();
    client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    let admin = AdminClient::connect(&d.admin_uri()).await.unwrap();

    let servers = admin
        .call::<aprocs::ConnectListServers>(&admin::ConnectListServersArgs {
            need_results: 64,
            flags: 0,
        })
        .await
        .unwrap()
        .servers;
    let rows = table(&virt_admin(&d, &["srv-list"]).await);
    let listed: Vec<&str> = rows.iter().map(|r| r["Name"].as_str()).collect();
    let ours: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(listed, ours);
    assert!(ours.contains(&"libvirtd"), "{ours:?}");

    let srv = admin::NonnullServer {
        name: "libvirtd".into(),
    };
    let clients = admin
        .call::<aprocs::ServerListClients>(&admin::ServerListClientsArgs {
            srv: srv.clone(),
            need_results: 1024,
            flags: 0,
        })
        .await
        .unwrap()
        .clients;
    assert!(!clients.is_empty(), "our own client is connected");
    let rows = table(&virt_admin(&d, &["client-list", "libvirtd"]).await);
    let mut theirs: Vec<(u64, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["Id"].parse().unwrap(),
                r["Transport"].clone(),
                parse_time(&r["Connected since"]),
            )
        })
        .collect();
    let mut ours: Vec<(u64, String, i64)> = clients
        .iter()
        .map(|c| (c.id, transport(c.transport).to_string(), c.timestamp))
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);

    // Every client's details, as `virt-admin client-info` prints them; one
    // of them is this process.
    let mut found_us = false;
    for c in &clients {
        let info = admin
            .call::<aprocs::ClientGetInfo>(&admin::ClientGetInfoArgs {
                clnt: c.clone(),
                flags: 0,
            })
            .await
            .unwrap();
        let params = admin_params(&info.params);
        let id = c.id.to_string();
        let f = fields(&virt_admin(&d, &["client-info", "libvirtd", &id]).await);
        assert_eq!(field(&f, "id"), id);
        assert_eq!(field(&f, "transport"), transport(c.transport));
        assert_eq!(parse_time(field(&f, "connection_time")), c.timestamp);
        for (k, v) in &params {
            assert_eq!(field(&f, k), v, "client-info {k}");
        }
        assert_eq!(f.len(), params.len() + 3, "{f:?} vs {params:?}");
        found_us |= params.get("unix_process_id") == Some(&std::process::id().to_string());
    }
    assert!(found_us, "this process is not among {clients:?}");

    // The server's pool and limits.
    let pool = admin
        .call::<aprocs::ServerGetThreadpoolParameters>(&admin::ServerGetThreadpoolParametersArgs {
            srv: srv.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    assert!(!pool.params.is_empty());
    let f = fields(&virt_admin(&d, &["srv-threadpool-info", "libvirtd"]).await);
    assert_eq!(f, admin_params(&pool.params));
    let limits = admin
        .call::<aprocs::ServerGetClientLimits>(&admin::ServerGetClientLimitsArgs {
            srv: srv.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    assert!(!limits.params.is_empty());
    let f = fields(&virt_admin(&d, &["srv-clients-info", "libvirtd"]).await);
    assert_eq!(f, admin_params(&limits.params));

    let v = admin
        .call::<aprocs::ConnectGetLibVersion>(&())
        .await
        .unwrap()
        .lib_ver;
    let printed = fields(&virt_admin(&d, &["version"]).await);
    assert_eq!(field(&printed, "Running against daemon"), version(v));
    admin.close().await;
    client.close().await;
}

#[test]
fn the_parsers_read_the_tools_output() {
    let rows = table(
        " Id   Name         State\n\
         -----------------------------\n\
         \x20-    parity-dom   shut off\n\
         \x201    test         running\n\n",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["Id"], "-");
    assert_eq!(rows[0]["State"], "shut off");
    assert_eq!(rows[1]["Name"], "test");
    let rows = table(
        " Id   Transport   Connected since\n\
         --------------------------------------------\n\
         \x2068   unix        2026-11-21 23:39:25+0000\n",
    );
    assert_eq!(rows[0]["Connected since"], "2026-11-21 23:39:25+0000");
    assert_eq!(parse_time("1970-01-01 00:00:00+0000"), 0);
    assert_eq!(parse_time("2001-09-09 01:46:40+0000"), 1_000_000_000);
    assert_eq!(parse_time("2001-09-09 03:46:40+0200"), 1_000_000_000);
    assert_eq!(parse_time("2001-09-08 20:16:40-0530"), 1_000_000_000);
    assert_eq!(parse_time("2024-02-29 12:00:00+0000"), 1_709_208_000);
    let f =
        fields("Id:             1\nSecurity DOI:   \nconnection_time: 2026-11-21 23:40:08+0000\n");
    assert_eq!(f["Id"], "1");
    assert_eq!(f["Security DOI"], "");
    assert_eq!(f["connection_time"], "2026-11-21 23:40:08+0000");
    assert_eq!(version(11_003_000), "11.3.0");
    assert_eq!(
        uuid(&[
            0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04, 0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e,
            0x19, 0x3f
        ]),
        "6695eb01-f6a4-8304-79aa-97f2502e193f"
    );
    assert_eq!(
        after_colon(
            "event 'lifecycle' for domain 'x': Stopped Destroyed",
            "for domain 'x'"
        ),
        "Stopped Destroyed"
    );
    assert_eq!(
        domain_event_words(
            DomainEventType::STOPPED,
            DomainEventDetail::new(DomainEventType::STOPPED, 1)
        ),
        "Stopped Destroyed"
    );
}
