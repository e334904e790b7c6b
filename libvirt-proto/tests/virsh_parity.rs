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

use common::virsh::{
    after_colon, domain_event_words, next_event, renamed, virsh, virsh_fails, virt_admin, Watcher,
};
use common::Daemon;

use libvirt_proto::api::{
    ClientTransport, ConnectListAllDomainsFlags, ConnectListAllNetworksFlags,
    ConnectListAllStoragePoolsFlags, DomainEventDetail, DomainEventID, DomainEventType,
    DomainState, DomainXMLFlags, NetworkEventID, NetworkEventLifecycleType, NetworkXMLFlags,
    StoragePoolCreateFlags, StoragePoolDefineFlags, StoragePoolEventID,
    StoragePoolEventLifecycleType, StoragePoolState, StorageXMLFlags,
};
use libvirt_proto::client::{
    AdminClient, Client, ClientError, Domain, DomainEvent, DomainStateInfo, Events, Network,
    NetworkEvent, StoragePoolEvent,
};
use libvirt_proto::error_codes::ErrorNumber;
use libvirt_proto::remote::TypedParamValue;
use libvirt_proto::typed_params::TypedParams;

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

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// virsh's word for whether a pool or network is active.
fn active_word(active: bool) -> &'static str {
    if active {
        "active"
    } else {
        "inactive"
    }
}

/// XML as compared: the tools add a newline to what the daemon returns.
fn xml(s: &str) -> &str {
    s.trim_end_matches('\n')
}

/// virsh's word for a domain state (`domstate`, `list`, `dominfo`).
fn state_word(state: DomainState) -> &'static str {
    state
        .virsh_name()
        .unwrap_or_else(|| panic!("virsh has no word for domain state {state}"))
}

/// `virsh domstate --reason`: "running (booted)"; the reason is typed by
/// the state, as in libvirt's C API.
fn state_and_reason(s: &DomainStateInfo) -> String {
    assert_eq!(s.reason.of(), s.state, "the reason is typed by its state");
    let reason = s
        .reason
        .virsh_name()
        .unwrap_or_else(|| panic!("virsh has no word for reason {:?}", s.reason));
    format!("{} ({reason})", state_word(s.state))
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

async fn lookup(client: &Client, name: &str) -> Domain {
    client
        .domain_lookup_by_name(name)
        .await
        .unwrap_or_else(|e| panic!("lookup of {name}: {e}"))
}

async fn all_domains(client: &Client) -> Vec<Domain> {
    client
        .list_all_domains(ConnectListAllDomainsFlags::empty())
        .await
        .unwrap()
}

/// `virsh domstate` and `virsh domstate --reason` of `dom` against the
/// client's state and reason; the client's answer.
async fn compare_state(d: &Daemon, dom: &Domain) -> DomainStateInfo {
    let s = dom.get_state(0).await.unwrap();
    assert_eq!(
        virsh(d, &["domstate", &dom.name]).await.trim(),
        state_word(s.state),
        "domstate {}",
        dom.name
    );
    assert_eq!(
        virsh(d, &["domstate", "--reason", &dom.name]).await.trim(),
        state_and_reason(&s),
        "domstate --reason {}",
        dom.name
    );
    s
}

/// `virsh dominfo NAME` against the client's answers for that domain.
async fn compare_dominfo(d: &Daemon, client: &Client, name: &str) {
    let dom = lookup(client, name).await;
    let f = fields(&virsh(d, &["dominfo", name]).await);
    let info = dom.get_info().await.unwrap();
    let id = if dom.id == -1 {
        "-".to_string()
    } else {
        dom.id.to_string()
    };
    assert_eq!(field(&f, "Id"), id, "Id of {name}");
    assert_eq!(field(&f, "Name"), dom.name.0);
    assert_eq!(field(&f, "UUID"), uuid(&dom.uuid));
    assert_eq!(field(&f, "OS Type"), dom.get_os_type().await.unwrap());
    assert_eq!(field(&f, "State"), state_word(info.state));
    assert_eq!(field(&f, "CPU(s)"), info.nr_virt_cpu.to_string());
    let max = if info.max_mem == u64::from(u32::MAX) {
        "no limit".to_string()
    } else {
        format!("{} KiB", info.max_mem)
    };
    assert_eq!(field(&f, "Max memory"), max);
    assert_eq!(field(&f, "Used memory"), format!("{} KiB", info.memory));
    assert_eq!(
        field(&f, "Persistent"),
        yes_no(dom.is_persistent().await.unwrap())
    );
    // virsh prints the autostart line only when the call succeeds.
    match dom.get_autostart().await {
        Ok(a) => assert_eq!(field(&f, "Autostart"), if a { "enable" } else { "disable" }),
        Err(_) => assert!(!f.contains_key("Autostart"), "{f:?}"),
    }
    assert_eq!(
        field(&f, "Managed save"),
        yes_no(dom.has_managed_save_image(0).await.unwrap())
    );
    let sec = client.node_get_security_model().await.unwrap();
    if !sec.model.is_empty() {
        assert_eq!(field(&f, "Security model"), sec.model);
        assert_eq!(field(&f, "Security DOI"), sec.doi);
    }
}

/// `virsh list --all` (names, ids, states) and each domain's `domstate`
/// (with and without `--reason`), `domuuid` and `dominfo`, against the
/// client's answers.
async fn compare_list(d: &Daemon, client: &Client) {
    let doms = all_domains(client).await;
    assert!(!doms.is_empty());
    let ours = sorted(doms.iter().map(|d| d.name.to_string()).collect());
    assert_eq!(
        sorted(names(&virsh(d, &["list", "--all", "--name"]).await)),
        ours
    );

    let rows = table(&virsh(d, &["list", "--all"]).await);
    assert_eq!(rows.len(), doms.len(), "{rows:?}");
    for dom in &doms {
        let row = rows
            .iter()
            .find(|r| r["Name"] == dom.name.0)
            .unwrap_or_else(|| panic!("{} not in {rows:?}", dom.name));
        let id = if dom.id == -1 {
            "-".to_string()
        } else {
            dom.id.to_string()
        };
        assert_eq!(row["Id"], id);
        let state = compare_state(d, dom).await;
        assert_eq!(row["State"], state_word(state.state));
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
    next_event(events, &format!("lifecycle event of {name}"), |e| match e {
        DomainEvent::Lifecycle {
            domain,
            event,
            detail,
        } if domain.name == name => Some((event, detail)),
        _ => None,
    })
    .await
}

/// The next lifecycle event of network `name`.
async fn next_network_event(
    events: &mut Events<NetworkEvent>,
    name: &str,
) -> NetworkEventLifecycleType {
    next_event(
        events,
        &format!("lifecycle event of network {name}"),
        |e| match e {
            NetworkEvent::Lifecycle { network, event, .. } if network.name == name => Some(event),
            _ => None,
        },
    )
    .await
}

/// The next lifecycle event of storage pool `name`.
async fn next_pool_event(
    events: &mut Events<StoragePoolEvent>,
    name: &str,
) -> StoragePoolEventLifecycleType {
    next_event(
        events,
        &format!("lifecycle event of pool {name}"),
        |e| match e {
            StoragePoolEvent::Lifecycle {
                storage_pool,
                event,
                ..
            } if storage_pool.name == name => Some(event),
            _ => None,
        },
    )
    .await
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
    let lib = client.connect_get_lib_version().await.unwrap();
    assert_eq!(field(&v, "Running against daemon"), version(lib));
    // virsh's own library is the same installation as the daemon.
    assert_eq!(
        field(&v, "Using library"),
        format!("libvirt {}", version(lib))
    );
    let ty = client.connect_get_type().await.unwrap();
    assert_eq!(
        field(&v, "Using API"),
        format!("{ty} {}", version(lib)),
        "virConnectGetType and the library version"
    );
    let hv = client.connect_get_version().await.unwrap();
    assert_eq!(
        field(&v, "Running hypervisor"),
        format!("{ty} {}", version(hv))
    );

    let host = client.connect_get_hostname().await.unwrap();
    assert_eq!(virsh(&d, &["hostname"]).await.trim(), host);

    let caps = client.connect_get_capabilities().await.unwrap();
    assert!(caps.contains("<capabilities>"), "{caps}");
    assert_eq!(xml(&virsh(&d, &["capabilities"]).await), xml(&caps));

    let n = fields(&virsh(&d, &["nodeinfo"]).await);
    let info = client.node_get_info().await.unwrap();
    assert_eq!(field(&n, "CPU model"), info.model);
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
        (DomainXMLFlags::empty(), None),
        (DomainXMLFlags::INACTIVE, Some("--inactive")),
        (DomainXMLFlags::SECURE, Some("--security-info")),
    ] {
        let ours = test.get_xml_desc(flags).await.unwrap();
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
    let t = &test;
    watcher
        .wait_ready("virsh event", || async move {
            t.suspend().await.unwrap();
            t.resume().await.unwrap();
        })
        .await;

    // A new domain from the test domain's XML: another name, no uuid.
    let name = "parity-dom";
    let base = test.get_xml_desc(DomainXMLFlags::INACTIVE).await.unwrap();
    let new_xml = renamed(&base, "test", name);
    assert!(!new_xml.contains("<uuid>") && new_xml.contains(name));

    let dom = client.domain_define_xml(&new_xml).await.unwrap();
    assert_eq!(dom.name, name);
    assert_ne!(dom.uuid, test.uuid);
    assert_ne!(dom, test);
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
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::SHUTOFF);
    compare_list(&d, &client).await;

    dom.create().await.unwrap();
    check(
        "start",
        next_domain_event(&mut events, name).await,
        DomainEventType::STARTED,
    );
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::RUNNING);
    compare_list(&d, &client).await;

    dom.suspend().await.unwrap();
    check(
        "suspend",
        next_domain_event(&mut events, name).await,
        DomainEventType::SUSPENDED,
    );
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::PAUSED);

    dom.resume().await.unwrap();
    check(
        "resume",
        next_domain_event(&mut events, name).await,
        DomainEventType::RESUMED,
    );
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::RUNNING);

    dom.destroy().await.unwrap();
    check(
        "destroy",
        next_domain_event(&mut events, name).await,
        DomainEventType::STOPPED,
    );
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::SHUTOFF);

    dom.undefine().await.unwrap();
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
    let gone = client.domain_lookup_by_name(name).await.unwrap_err();
    assert_eq!(gone.code(), Some(ErrorNumber::ERR_NO_DOMAIN), "{gone:?}");
    assert!(!names(&virsh(&d, &["list", "--all", "--name"]).await).contains(&name.to_string()));

    // virsh saw the same events, with the same details.
    let printed = watcher
        .said(&format!("for domain '{name}'"), seen.len())
        .await;
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
        .list_all_storage_pools(ConnectListAllStoragePoolsFlags::empty())
        .await
        .unwrap();
    assert!(!pools.is_empty());
    assert_eq!(
        sorted(names(&virsh(&d, &["pool-list", "--all", "--name"]).await)),
        sorted(pools.iter().map(|p| p.name.to_string()).collect())
    );
    let rows = table(&virsh(&d, &["pool-list", "--all"]).await);
    assert_eq!(rows.len(), pools.len(), "{rows:?}");
    for pool in &pools {
        let active = pool.is_active().await.unwrap();
        let autostart = pool.get_autostart().await.unwrap();
        let row = rows.iter().find(|r| r["Name"] == pool.name.0).unwrap();
        assert_eq!(row["State"], active_word(active));
        assert_eq!(row["Autostart"], yes_no(autostart));

        let f = fields(&virsh(&d, &["pool-info", "--bytes", &pool.name]).await);
        let info = pool.get_info().await.unwrap();
        assert_eq!(field(&f, "Name"), pool.name.0);
        assert_eq!(field(&f, "UUID"), uuid(&pool.uuid));
        let state = info
            .state
            .virsh_name()
            .unwrap_or_else(|| panic!("virsh has no word for pool state {}", info.state));
        assert_eq!(field(&f, "State"), state);
        assert_eq!(
            field(&f, "Persistent"),
            yes_no(pool.is_persistent().await.unwrap())
        );
        assert_eq!(field(&f, "Autostart"), yes_no(autostart));
        if info.state == StoragePoolState::RUNNING || info.state == StoragePoolState::DEGRADED {
            assert_eq!(field(&f, "Capacity"), info.capacity.to_string());
            assert_eq!(field(&f, "Allocation"), info.allocation.to_string());
            assert_eq!(field(&f, "Available"), info.available.to_string());
        }
        let ours = pool.get_xml_desc(StorageXMLFlags::empty()).await.unwrap();
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
    let c = &client;
    watcher
        .wait_ready("virsh pool-event", || async move {
            let p = c
                .storage_pool_define_xml(prime, StoragePoolDefineFlags::empty())
                .await
                .unwrap();
            p.undefine().await.unwrap();
        })
        .await;

    let name = "parity-pool";
    let pool = client
        .storage_pool_define_xml(
            &format!(
                "<pool type='dir'><name>{name}</name><target><path>/{name}</path></target></pool>"
            ),
            StoragePoolDefineFlags::empty(),
        )
        .await
        .unwrap();
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
    pool.create(StoragePoolCreateFlags::empty()).await.unwrap();
    seen.push(next_pool_event(&mut events, name).await);
    assert_eq!(
        listed(virsh(&d, &["pool-list", "--all"]).await).as_deref(),
        Some("active")
    );
    pool.destroy().await.unwrap();
    seen.push(next_pool_event(&mut events, name).await);
    assert_eq!(
        listed(virsh(&d, &["pool-list", "--all"]).await).as_deref(),
        Some("inactive")
    );
    pool.undefine().await.unwrap();
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
    let printed = watcher
        .said(&format!("for storage pool {name}"), seen.len())
        .await;
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

async fn networks(client: &Client) -> Vec<Network> {
    client
        .list_all_networks(ConnectListAllNetworksFlags::empty())
        .await
        .unwrap()
}

/// `net-list --all` (`rows`) against every network as the client sees it.
async fn compare_net_list(client: &Client, rows: Vec<BTreeMap<String, String>>) {
    let nets = networks(client).await;
    assert_eq!(rows.len(), nets.len(), "{rows:?}");
    for net in nets {
        let row = rows
            .iter()
            .find(|r| r["Name"] == net.name.0)
            .unwrap_or_else(|| panic!("{} not in {rows:?}", net.name));
        assert_eq!(row["State"], active_word(net.is_active().await.unwrap()));
        assert_eq!(row["Autostart"], yes_no(net.get_autostart().await.unwrap()));
        assert_eq!(
            row["Persistent"],
            yes_no(net.is_persistent().await.unwrap())
        );
    }
}

#[tokio::test]
async fn networks_agree() {
    let Some(d) = Daemon::start("parity-networks") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let nets = networks(&client).await;
    assert!(!nets.is_empty());
    assert_eq!(
        sorted(names(&virsh(&d, &["net-list", "--all", "--name"]).await)),
        sorted(nets.iter().map(|n| n.name.to_string()).collect())
    );

    // `net-list --all` and `net-info` of every network, as the client sees it.
    compare_net_list(&client, table(&virsh(&d, &["net-list", "--all"]).await)).await;
    for net in &nets {
        let f = fields(&virsh(&d, &["net-info", &net.name]).await);
        assert_eq!(field(&f, "Name"), net.name.0);
        assert_eq!(field(&f, "UUID"), uuid(&net.uuid));
        assert_eq!(field(&f, "Bridge"), net.get_bridge_name().await.unwrap());
        let ours = net.get_xml_desc(NetworkXMLFlags::empty()).await.unwrap();
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
    let c = &client;
    watcher
        .wait_ready("virsh net-event", || async move {
            let n = c.network_define_xml(prime).await.unwrap();
            n.undefine().await.unwrap();
        })
        .await;

    let name = "parity-net";
    let net = client
        .network_define_xml(&format!(
            "<network><name>{name}</name><bridge name='virbr9'/>\
             <ip address='192.168.150.1' netmask='255.255.255.0'/></network>"
        ))
        .await
        .unwrap();
    let mut seen = vec![next_network_event(&mut events, name).await];
    compare_net_list(&client, table(&virsh(&d, &["net-list", "--all"]).await)).await;
    net.create().await.unwrap();
    seen.push(next_network_event(&mut events, name).await);
    let rows = table(&virsh(&d, &["net-list", "--all"]).await);
    assert!(rows
        .iter()
        .any(|r| r["Name"] == name && r["State"] == "active"));
    compare_net_list(&client, rows).await;
    net.destroy().await.unwrap();
    seen.push(next_network_event(&mut events, name).await);
    compare_net_list(&client, table(&virsh(&d, &["net-list", "--all"]).await)).await;
    net.undefine().await.unwrap();
    seen.push(next_network_event(&mut events, name).await);
    let rows = table(&virsh(&d, &["net-list", "--all"]).await);
    assert!(rows.iter().all(|r| r["Name"] != name), "{rows:?}");
    compare_net_list(&client, rows).await;
    assert_eq!(
        seen,
        [
            NetworkEventLifecycleType::DEFINED,
            NetworkEventLifecycleType::STARTED,
            NetworkEventLifecycleType::STOPPED,
            NetworkEventLifecycleType::UNDEFINED,
        ]
    );
    let printed = watcher
        .said(&format!("for network {name}"), seen.len())
        .await;
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
        .network_lookup_by_name("no-such-net")
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
    let (mime, mut stream) = dom.screenshot(0, 0).await.unwrap();
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
    let (_, printed) = said
        .trim()
        .rsplit_once("with type of ")
        .unwrap_or_else(|| panic!("no type in {said:?}"));
    assert_eq!(mime.as_deref(), Some(printed));
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
    let err = client.domain_lookup_by_name(name).await.unwrap_err();
    let ClientError::Remote(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code, ErrorNumber::ERR_NO_DOMAIN);
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
        sorted(doms.iter().map(|d| d.name.to_string()).collect())
    );
    compare_dominfo(&d, &client, "test").await;
    let host = client.connect_get_hostname().await.unwrap();
    assert_eq!(virsh(&d, &["-r", "hostname"]).await.trim(), host);

    let dom = lookup(&client, "test").await;
    let err = dom.suspend().await.unwrap_err();
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
    assert_eq!(compare_state(&d, &dom).await.state, DomainState::RUNNING);
    client.close().await;
}

/// How virt-admin prints a typed parameter's value (vshGetTypedParamValue).
fn admin_value(v: &TypedParamValue) -> String {
    match v {
        TypedParamValue::Int(i) => i.to_string(),
        TypedParamValue::Uint(u) => u.to_string(),
        TypedParamValue::Llong(l) => l.to_string(),
        TypedParamValue::Ullong(u) => u.to_string(),
        TypedParamValue::Double(d) => format!("{d:.6}"),
        TypedParamValue::Boolean(b) => yes_no(*b != 0).to_string(),
        TypedParamValue::String(s) => s.to_string(),
    }
}

fn admin_params(params: &TypedParams) -> BTreeMap<String, String> {
    params
        .0
        .iter()
        .map(|p| (p.field.to_string(), admin_value(&p.value)))
        .collect()
}

/// virt-admin's word for a client's transport.
fn transport(t: u32) -> &'static str {
    let t = ClientTransport::from(i32::try_from(t).expect("a transport"));
    t.virsh_name()
        .unwrap_or_else(|| panic!("virt-admin has no word for transport {t}"))
}

#[tokio::test]
async fn admin_servers_clients_and_version() {
    let Some(d) = Daemon::start("parity-admin") else {
        return;
    };
    // One client of the libvirtd server, to be listed.
    let client = Client::connect(&d.uri()).await.unwrap();
    client.connect_get_lib_version().await.unwrap();
    let admin = AdminClient::connect(&d.admin_uri()).await.unwrap();

    let servers = admin.connect_list_servers(64, 0).await.unwrap().servers;
    let rows = table(&virt_admin(&d, &["srv-list"]).await);
    let listed: Vec<&str> = rows.iter().map(|r| r["Name"].as_str()).collect();
    let ours: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(listed, ours);
    assert!(ours.contains(&"libvirtd"), "{ours:?}");

    let srv = admin.connect_lookup_server("libvirtd", 0).await.unwrap();
    assert_eq!(srv.name, "libvirtd");
    let clients = admin
        .server_list_clients(&srv, 1024, 0)
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
        let params = admin_params(&admin.client_get_info(c, 0).await.unwrap());
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
        .server_get_threadpool_parameters(&srv, 0)
        .await
        .unwrap();
    assert!(!pool.is_empty());
    let f = fields(&virt_admin(&d, &["srv-threadpool-info", "libvirtd"]).await);
    assert_eq!(f, admin_params(&pool));
    let limits = admin.server_get_client_limits(&srv, 0).await.unwrap();
    assert!(!limits.is_empty());
    let f = fields(&virt_admin(&d, &["srv-clients-info", "libvirtd"]).await);
    assert_eq!(f, admin_params(&limits));

    let v = admin.connect_get_lib_version().await.unwrap();
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
    assert_eq!(
        renamed(
            "<domain><name>test</name><uuid>6695eb01</uuid><x/></domain>",
            "test",
            "copy"
        ),
        "<domain><name>copy</name><x/></domain>"
    );
}
