//! The generated per-procedure methods of `Client` and `AdminClient`
//! against a real, private `libvirtd` serving `test:///default`. Without
//! `libvirtd` the tests say so and pass.

#![cfg(feature = "client")]

mod common;

use std::os::fd::OwnedFd;

use common::Daemon;
use tokio::io::AsyncReadExt;

use libvirt_proto::api::{ConnectListAllDomainsFlags, DomainState, DomainStateReason};
use libvirt_proto::client::{AdminClient, ByteStream, Client, ClientError, Domain, DomainInfo};
use libvirt_proto::remote::program::procs;
use libvirt_proto::typed_params::TypedParams;
use libvirt_proto::{admin, remote};

/// `name : value` lines of virsh and virt-admin, trimmed.
fn field(output: &str, name: &str) -> Option<String> {
    output.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    })
}

#[tokio::test]
async fn methods_agree_with_typed_calls_and_virsh() {
    let Some(d) = Daemon::start("methods") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();

    // No arguments, one-field reply: the field itself.
    let version: u64 = client.connect_get_lib_version().await.unwrap();
    let typed = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    assert_eq!(version, typed.lib_ver);
    assert!(version >= 9_000_000, "{version}");
    assert_eq!(client.connect_get_type().await.unwrap(), "TEST");

    // `Option<&str>` argument.
    assert!(client.connect_get_max_vcpus(None).await.unwrap() > 0);

    // `&str` argument; an object comes back as its handle, which
    // dereferences to the wire identity other methods take.
    let dom: Domain = client.domain_lookup_by_name("test").await.unwrap();
    assert_eq!(dom.name, "test");
    // A reply with a C enum is a typed result.
    let info: DomainInfo = client.domain_get_info(&dom).await.unwrap();
    let dominfo = d.virsh(&["dominfo", "test"]);
    assert_eq!(
        field(&dominfo, "Max memory").unwrap(),
        format!("{} KiB", info.max_mem)
    );
    assert_eq!(
        field(&dominfo, "CPU(s)").unwrap(),
        info.nr_virt_cpu.to_string()
    );
    assert_eq!(info.state, DomainState::RUNNING);
    assert_eq!(field(&dominfo, "State").as_deref(), info.state.virsh_name());
    // The reason's type depends on the state, as virsh prints it.
    let state = dom.get_state(0).await.unwrap();
    assert_eq!(state.state, DomainState::RUNNING);
    assert!(matches!(state.reason, DomainStateReason::Running(_)));
    assert_eq!(
        d.virsh(&["domstate", "--reason", "test"]).trim(),
        format!(
            "{} ({})",
            state.state.virsh_name().unwrap(),
            state.reason.virsh_name().unwrap()
        )
    );
    // Yes/no answers are `bool`.
    assert!(dom.is_active().await.unwrap());
    assert_eq!(
        field(&dominfo, "Autostart").unwrap(),
        if dom.get_autostart().await.unwrap() {
            "enable"
        } else {
            "disable"
        }
    );
    // A `bool` argument, and a yes/no answer `specs/libvirt.toml` types
    // (libvirt documents it as a "flag").
    let pool = client
        .storage_pool_lookup_by_name("default-pool")
        .await
        .unwrap();
    for on in [true, false] {
        pool.set_autostart(on).await.unwrap();
        assert_eq!(pool.get_autostart().await.unwrap(), on);
        assert_eq!(
            field(&d.virsh(&["pool-info", "default-pool"]), "Autostart").unwrap(),
            if on { "yes" } else { "no" }
        );
    }
    // A C string is a `String`.
    let node = client.node_get_info().await.unwrap();
    assert_eq!(
        field(&d.virsh(&["nodeinfo"]), "CPU model").unwrap(),
        node.model
    );

    // Getters asked for by count are one call: node CPU statistics, as
    // `virsh nodecpustats` prints them (the test driver's are fixed).
    let stats = client.node_get_cpu_stats(-1, 0).await.unwrap();
    let stat = |name: &str| stats.iter().find(|s| s.field == name).map(|s| s.value);
    assert_eq!(stats.len(), 4, "{stats:?}");
    let out = d.virsh(&["nodecpustats"]);
    assert_eq!(field(&out, "user"), stat("user").map(|v| v.to_string()));
    assert_eq!(field(&out, "system"), stat("kernel").map(|v| v.to_string()));
    assert_eq!(field(&out, "idle"), stat("idle").map(|v| v.to_string()));
    // The domain's total CPU time, as `virsh cpu-stats --total` (seconds
    // with nanoseconds).
    let total = dom.get_cpu_stats(-1, 1, 0).await.unwrap();
    let cpu_time = total.get_ullong("cpu_time").unwrap().unwrap();
    let out = d.virsh(&["cpu-stats", "test", "--total"]);
    let printed = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("cpu_time"))
        .map(|v| v.trim().trim_end_matches("seconds").trim().to_owned());
    assert_eq!(
        printed,
        Some(format!(
            "{}.{:09}",
            cpu_time / 1_000_000_000,
            cpu_time % 1_000_000_000
        )),
        "{out}"
    );
    // Disk errors: one per disk of the test driver's domain, as virsh
    // lists them.
    let errors = dom.get_disk_errors(0).await.unwrap();
    let out = d.virsh(&["domblkerror", "test"]);
    if errors.is_empty() {
        assert!(out.contains("No errors found"), "{out}");
    }
    for e in &errors {
        assert!(field(&out, &e.disk).is_some(), "{} not in {out}", e.disk);
    }

    // A typed flag set: the active domains are virsh's `list`, and the
    // inactive ones are the others of `list --all`.
    let names = |r: remote::ConnectListAllDomainsRet| -> Vec<String> {
        let mut n: Vec<String> = r.domains.into_iter().map(|d| d.name.0).collect();
        n.sort();
        n
    };
    let virsh_names = |args: &[&str]| -> Vec<String> {
        let mut n: Vec<String> = d
            .virsh(args)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        n.sort();
        n
    };
    let active = client
        .connect_list_all_domains(1, ConnectListAllDomainsFlags::ACTIVE)
        .await
        .unwrap();
    assert_eq!(names(active), virsh_names(&["list", "--name"]));
    let inactive = client
        .connect_list_all_domains(1, ConnectListAllDomainsFlags::INACTIVE)
        .await
        .unwrap();
    assert_eq!(
        names(inactive),
        virsh_names(&["list", "--name", "--inactive"])
    );
    let all = client
        .connect_list_all_domains(1, ConnectListAllDomainsFlags::empty())
        .await
        .unwrap();
    assert_eq!(names(all), virsh_names(&["list", "--name", "--all"]));

    // A fixed-size opaque argument by value.
    let same = client.domain_lookup_by_uuid(dom.uuid.0).await.unwrap();
    assert_eq!(same, dom);

    // Handles: the object's procedures as its methods, lists of handles.
    assert_eq!(
        dom.get_info().await.unwrap().max_mem,
        info.max_mem,
        "the handle calls the same procedure"
    );
    assert_eq!(
        dom.get_xml_desc(0).await.unwrap(),
        client.domain_get_xml_desc(&dom, 0).await.unwrap()
    );
    let listed = client
        .list_all_domains(ConnectListAllDomainsFlags::ACTIVE)
        .await
        .unwrap();
    let mut listed_names: Vec<String> = listed.iter().map(|d| d.name.to_string()).collect();
    listed_names.sort();
    assert_eq!(listed_names, virsh_names(&["list", "--name"]));
    assert!(listed.contains(&dom));
    let pools = client.list_all_storage_pools(0).await.unwrap();
    for pool in &pools {
        let mut vols: Vec<String> = pool
            .list_all_volumes(0)
            .await
            .unwrap()
            .iter()
            .map(|v| v.name.to_string())
            .collect();
        vols.sort();
        let virsh = d.virsh(&["vol-list", "--pool", &pool.name]);
        let mut expected: Vec<String> = virsh
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        expected.sort();
        assert_eq!(vols, expected, "volumes of pool {}", pool.name);
    }
    assert!(!pools.is_empty(), "test:///default has a pool");

    // A list of strings.
    let names: Vec<String> = client
        .connect_list_defined_domains(remote::DOMAIN_LIST_MAX as i32)
        .await
        .unwrap();
    assert!(!names.contains(&"test".to_owned()), "{names:?}");

    // An unknown name is an ordinary error of the daemon.
    match client.domain_lookup_by_name("nope").await {
        Err(ClientError::Remote(e)) => assert_eq!(e.code.0, 42),
        other => panic!("{other:?}"),
    }
    client.close().await;
}

#[tokio::test]
async fn typed_parameters_both_ways() {
    let Some(d) = Daemon::start("methods-tp") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let dom = client.domain_lookup_by_name("test").await.unwrap();

    let kind = client.domain_get_scheduler_type(&dom).await.unwrap();
    let schedinfo = d.virsh(&["schedinfo", "test"]);
    assert_eq!(field(&schedinfo, "Scheduler").unwrap(), kind.r#type.0);

    // A one-field reply of typed parameters comes back as `TypedParams`;
    // their count is asked for first, with the scheduler's type.
    let params: TypedParams = client.domain_get_scheduler_parameters(&dom).await.unwrap();
    assert_eq!(params.len(), usize::try_from(kind.nparams).unwrap());
    let weight = params.get_uint("weight").unwrap().expect("weight");
    assert_eq!(field(&schedinfo, "weight").unwrap(), weight.to_string());

    // `&TypedParams` as an argument (the test driver keeps the blkio
    // weight, and ignores a new scheduler weight).
    let weight = TypedParams::new().with_uint("weight", 321).unwrap();
    client
        .domain_set_blkio_parameters(&dom, &weight, 0)
        .await
        .unwrap();
    assert_eq!(
        field(&d.virsh(&["blkiotune", "test"]), "weight").unwrap(),
        "321"
    );
    // libvirt's "ask for the count, then the values" getters are one
    // method returning the values.
    let blkio = client.domain_get_blkio_parameters(&dom, 0).await.unwrap();
    assert_eq!(blkio.get_uint("weight").unwrap(), Some(321));
    let tune = dom.get_block_io_tune(Some("vda"), 0).await.unwrap();
    assert_eq!(tune.get_ullong("total_bytes_sec").unwrap(), Some(0));
    client.close().await;
}

#[tokio::test]
async fn what_the_driver_lacks_is_unsupported() {
    let Some(d) = Daemon::start("methods-nosup") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    match client.node_get_sev_info(0).await {
        Err(ClientError::Unsupported(e)) => {
            assert!(e.to_string().contains("virNodeGetSEVInfo"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // The qemu program's methods go to the same connection.
    let dom = client.domain_lookup_by_name("test").await.unwrap();
    match client.qemu_domain_monitor_command(&dom, "info", 0).await {
        Err(ClientError::Unsupported(_)) => {}
        other => panic!("{other:?}"),
    }
    // The connection is fine afterwards.
    assert!(client.connect_get_lib_version().await.is_ok());
    client.close().await;
}

#[tokio::test]
async fn a_stream_method_returns_the_reply_and_the_stream() {
    let Some(d) = Daemon::start("methods-stream") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let dom = client.domain_lookup_by_name("test").await.unwrap();
    let (mime, mut stream): (Option<String>, ByteStream) =
        client.domain_screenshot(&dom, 0, 0).await.unwrap();
    let mut image = Vec::new();
    stream.read_to_end(&mut image).await.unwrap();
    assert_eq!(mime.as_deref(), Some("image/png"));
    assert!(image.starts_with(b"\x89PNG"), "{:?}", &image[..8]);
    client.close().await;
}

#[tokio::test]
async fn admin_methods() {
    let Some(d) = Daemon::start("methods-admin") else {
        return;
    };
    let admin = AdminClient::connect(&d.admin_uri()).await.unwrap();
    let servers = admin.connect_list_servers(16, 0).await.unwrap();
    let mut names: Vec<&str> = servers.servers.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "libvirtd"]);
    let listed = d.virt_admin(&["srv-list"]);
    assert!(listed.contains("libvirtd"), "{listed}");

    let srv: admin::NonnullServer = admin.connect_lookup_server("libvirtd", 0).await.unwrap();
    let pool: TypedParams = admin
        .server_get_threadpool_parameters(&srv, 0)
        .await
        .unwrap();
    let printed = d.virt_admin(&["srv-threadpool-info", "libvirtd"]);
    let max = pool.get_uint("maxWorkers").unwrap().expect("maxWorkers");
    assert_eq!(field(&printed, "maxWorkers").unwrap(), max.to_string());

    // Typed parameters into the admin program's own wire type.
    let set = TypedParams::new().with_uint("maxWorkers", max + 1).unwrap();
    admin
        .server_set_threadpool_parameters(&srv, &set, 0)
        .await
        .unwrap();
    let pool = admin
        .server_get_threadpool_parameters(&srv, 0)
        .await
        .unwrap();
    assert_eq!(pool.get_uint("maxWorkers").unwrap(), Some(max + 1));

    assert!(admin.connect_get_lib_version().await.unwrap() >= 9_000_000);
    admin.close().await;
}

/// The signatures the naming and argument rules give; compiled, not run.
#[allow(dead_code)]
async fn signatures(
    c: &Client,
    a: &AdminClient,
    dom: &remote::NonnullDomain,
    vol: &remote::NonnullStorageVol,
    srv: &admin::NonnullServer,
    p: &TypedParams,
    fds: Vec<OwnedFd>,
) {
    let _: Result<u64, ClientError> = c.connect_get_lib_version().await;
    let _: Result<String, ClientError> = c.domain_get_xml_desc(dom, 0).await;
    let _: Result<(), ClientError> = c.domain_set_scheduler_parameters(dom, p).await;
    let _: Result<TypedParams, ClientError> = c.domain_get_scheduler_parameters(dom).await;
    let _: Result<Domain, ClientError> = c.domain_create_xml_with_files("<domain/>", 0, fds).await;
    let _: Result<(), ClientError> = c.domain_set_vcpu(dom, "1-2", true, 0).await;
    let _: Result<(), ClientError> = c.domain_pin_vcpu(dom, 0, &[0xff]).await;
    let _: Result<i32, ClientError> = c.domain_fsfreeze(dom, &["/", "/boot"], 0).await;
    let _: Result<ByteStream, ClientError> = c.storage_vol_download(vol, 0, 0, 0).await;
    let _: Result<ByteStream, ClientError> = c.domain_open_console(dom, None, 0).await;
    let _: Result<Vec<OwnedFd>, ClientError> = c.domain_open_graphics_fd(dom, 0, 0).await;
    let _: Result<String, ClientError> = c.qemu_domain_monitor_command(dom, "info", 0).await;
    let _: Result<Vec<OwnedFd>, ClientError> = c.lxc_domain_open_namespace(dom, 0).await;
    let _: Result<TypedParams, ClientError> = a.server_get_client_limits(srv, 0).await;
    let _: Result<(), ClientError> = a.connect_set_logging_outputs(Some("1:stderr"), 0).await;
    let _: Result<admin::ConnectGetLoggingOutputsRet, ClientError> =
        a.connect_get_logging_outputs(0).await;
}
