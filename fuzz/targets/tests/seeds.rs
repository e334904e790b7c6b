//! The generated seeds of `fuzz/seeds/`: real frames, engine scripts,
//! URIs, `auth.conf` files, typed parameter lists, built here with the
//! crate's own encoders. This test fails when a committed seed differs
//! from what it generates; `FUZZ_WRITE_SEEDS=1 cargo test -p
//! fuzz-targets --test seeds` rewrites them. (Seeds not named here, such
//! as the certificates of `tls_certs` and the `.x` files of
//! `parse_resolve`, are written by hand.)

use std::path::{Path, PathBuf};

use libvirt_proto::frame::{Frame, Header};
use libvirt_proto::remote::{self, program::Procedure as P};
use libvirt_proto::typed_params::TypedParams;
use libvirt_proto::virnet::{MessageStatus, MessageType};
use libvirt_proto::{admin, keepalive, qemu, xdr};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn header(program: u32, procedure: i32, kind: MessageType, serial: u32) -> Header {
    Header {
        program,
        version: 1,
        procedure,
        kind,
        serial,
        status: MessageStatus::Ok,
    }
}

fn frame<T: xdr::Encode + ?Sized>(h: Header, body: &T) -> Vec<u8> {
    Frame::with_body(h, body).unwrap().encode()
}

fn rem(procedure: P, kind: MessageType, serial: u32) -> Header {
    header(remote::program::NUMBER, procedure as i32, kind, serial)
}

fn dom() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "demo".into(),
        uuid: remote::Uuid(*b"0123456789abcdef"),
        id: 3,
    }
}

fn error_body() -> Vec<u8> {
    let e = libvirt_proto::error::RemoteError::new(
        libvirt_proto::error_codes::ErrorNumber::ERR_NO_DOMAIN,
        libvirt_proto::error_codes::ErrorDomain::QEMU,
        "Domain not found",
    );
    xdr::to_bytes(&libvirt_proto::virnet::MessageError::from(e)).unwrap()
}

/// Real frames, one of each kind.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    use MessageType as K;
    let mut out = vec![
        (
            "call-connect-get-lib-version",
            frame(rem(P::ConnectGetLibVersion, K::Call, 1), &()),
        ),
        (
            "reply-connect-get-lib-version",
            frame(
                rem(P::ConnectGetLibVersion, K::Reply, 1),
                &remote::ConnectGetLibVersionRet {
                    lib_ver: 11_003_000,
                },
            ),
        ),
        (
            "call-domain-lookup-by-name",
            frame(
                rem(P::DomainLookupByName, K::Call, 2),
                &remote::DomainLookupByNameArgs {
                    name: "demo".into(),
                },
            ),
        ),
        (
            "call-connect-open",
            frame(
                rem(P::ConnectOpen, K::Call, 3),
                &remote::ConnectOpenArgs {
                    name: remote::RemoteString(Some("qemu:///system".into())),
                    flags: 0,
                },
            ),
        ),
        (
            "message-domain-event-lifecycle",
            frame(
                rem(P::DomainEventLifecycle, K::Message, 0),
                &remote::DomainEventLifecycleMsg {
                    dom: dom(),
                    event: 2,
                    detail: 0,
                },
            ),
        ),
        (
            "call-domain-screenshot",
            frame(
                rem(P::DomainScreenshot, K::Call, 4),
                &remote::DomainScreenshotArgs {
                    dom: dom(),
                    screen: 0,
                    flags: 0,
                },
            ),
        ),
        (
            "call-qemu-monitor-command",
            frame(
                header(
                    qemu::program::NUMBER,
                    qemu::program::Procedure::DomainMonitorCommand as i32,
                    K::Call,
                    5,
                ),
                &qemu::DomainMonitorCommandArgs {
                    dom: dom(),
                    cmd: "{\"execute\":\"query-status\"}".into(),
                    flags: 0,
                },
            ),
        ),
        (
            "call-admin-list-servers",
            frame(
                header(
                    admin::program::NUMBER,
                    admin::program::Procedure::ConnectListServers as i32,
                    K::Call,
                    6,
                ),
                &admin::ConnectListServersArgs {
                    need_results: 10,
                    flags: 0,
                },
            ),
        ),
        (
            "ping",
            frame(
                header(
                    keepalive::program::NUMBER,
                    keepalive::program::Procedure::Ping as i32,
                    K::Message,
                    0,
                ),
                &(),
            ),
        ),
    ];
    let mut err = Frame::new(rem(P::DomainLookupByName, K::Reply, 2), error_body());
    err.header.status = MessageStatus::Error;
    out.push(("reply-error-no-domain", err.encode()));
    let mut data = Frame::new(
        rem(P::DomainScreenshot, K::Stream, 4),
        b"\x89PNG\r\n".to_vec(),
    );
    data.header.status = MessageStatus::Continue;
    out.push(("stream-data", data.encode()));
    let mut hole = Frame::with_body(
        rem(P::StorageVolUpload, K::StreamHole, 7),
        &libvirt_proto::virnet::StreamHole {
            length: 1 << 20,
            flags: 0,
        },
    )
    .unwrap();
    hole.header.status = MessageStatus::Continue;
    out.push(("stream-hole", hole.encode()));
    out.push((
        "stream-end",
        Frame::new(rem(P::DomainScreenshot, K::Stream, 4), Vec::new()).encode(),
    ));
    let mut fds = Frame::new(rem(P::DomainOpenGraphicsFd, K::CallWithFds, 8), vec![0; 0]);
    fds.body = xdr::to_bytes(&remote::DomainOpenGraphicsFdArgs {
        dom: dom(),
        idx: 0,
        flags: 0,
    })
    .unwrap();
    fds.num_fds = 1;
    out.push(("call-with-fds-open-graphics-fd", fds.encode()));
    out
}

/// Builds a script for the engine targets (see their op codes).
#[derive(Default)]
struct Script(Vec<u8>);

impl Script {
    fn b(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn short(mut self, bytes: &[u8]) -> Self {
        self.0.push(bytes.len() as u8);
        self.0.extend_from_slice(bytes);
        self
    }
    fn long(mut self, bytes: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    fn u16(self, v: u16) -> Self {
        self.b(&v.to_be_bytes())
    }
}

/// client_engine: a call (selector: 0 lib version, 1 screenshot, 2
/// upload; stream: 0 none, 1 read, 2 write).
fn c_call(s: Script, proc_sel: u8, stream: u8) -> Script {
    s.b(&[0, proc_sel, stream, 0]).short(&[])
}

/// client_engine: a frame for the call picked (kind and status codes of
/// the target).
fn c_frame(s: Script, pick: u8, kind: u8, status: u8, procedure: P, body: &[u8]) -> Script {
    s.b(&[2, pick, kind, status])
        .u16(procedure as u16)
        .b(&[0])
        .long(body)
}

fn client_engine() -> Vec<(&'static str, Vec<u8>)> {
    let lib = 11_003_000u64.to_be_bytes();
    let mime = xdr::to_bytes(&remote::DomainScreenshotRet {
        mime: remote::RemoteString(Some("image/png".into())),
    })
    .unwrap();
    let ping = frames().into_iter().find(|(n, _)| *n == "ping").unwrap().1;
    let event = frames()
        .into_iter()
        .find(|(n, _)| *n == "message-domain-event-lifecycle")
        .unwrap()
        .1;
    let seeds = [
        (
            "call-reply",
            c_frame(
                c_call(Script::default(), 0, 0),
                0,
                1,
                0,
                P::ConnectGetLibVersion,
                &lib,
            )
            .b(&[15]),
        ),
        (
            "call-error-reply-eof",
            c_frame(
                c_call(Script::default(), 0, 0),
                0,
                1,
                1,
                P::ConnectGetLibVersion,
                &error_body(),
            )
            .b(&[15, 1]),
        ),
        (
            "read-stream",
            c_frame(
                c_frame(
                    c_frame(
                        c_frame(
                            c_call(Script::default(), 1, 1),
                            0,
                            1,
                            0,
                            P::DomainScreenshot,
                            &mime,
                        ),
                        0,
                        3,
                        2,
                        P::DomainScreenshot,
                        b"\x89PNG",
                    ),
                    0,
                    3,
                    2,
                    P::DomainScreenshot,
                    b"",
                ),
                0,
                3,
                0,
                P::DomainScreenshot,
                b"",
            )
            .b(&[15]),
        ),
        (
            "write-stream",
            c_frame(
                c_call(Script::default(), 2, 2),
                0,
                1,
                0,
                P::StorageVolUpload,
                b"",
            )
            .b(&[10, 0, 0])
            .short(b"data")
            .b(&[10, 0, 1])
            .b(&[0, 0, 16, 0])
            .b(&[10, 0, 2])
            .then(|s| c_frame(s, 0, 3, 0, P::StorageVolUpload, b""))
            .b(&[15]),
        ),
        (
            "keepalive-ping-pong-timeout",
            Script::default()
                .b(&[8, 20, 3, 5])
                .long(&ping)
                .b(&[7])
                .u16(200)
                .b(&[7])
                .u16(200)
                .b(&[15, 7])
                .u16(2000)
                .b(&[7])
                .u16(2000),
        ),
        (
            "in-flight-limit-abandon",
            c_call(
                c_call(
                    c_call(c_call(Script::default().b(&[11, 1]), 0, 0), 0, 0),
                    0,
                    0,
                ),
                0,
                0,
            )
            .b(&[9, 1])
            .then(|s| c_frame(s, 0, 1, 0, P::ConnectGetLibVersion, &lib))
            .then(|s| c_frame(s, 2, 1, 0, P::ConnectGetLibVersion, &lib))
            .b(&[15]),
        ),
        (
            "event-and-unknown-serial",
            Script::default()
                .b(&[5])
                .long(&event)
                .then(|s| c_frame(s, 250, 1, 0, P::ConnectGetLibVersion, &lib)),
        ),
        (
            "security-layer",
            c_frame(
                c_call(Script::default().b(&[13, 0x5a, 16]), 0, 0),
                0,
                1,
                0,
                P::ConnectGetLibVersion,
                &lib,
            )
            .b(&[15]),
        ),
        (
            "reply-with-fds",
            c_call(Script::default().b(&[6, 2]), 0, 0)
                .b(&[2, 0, 5, 0])
                .u16(P::ConnectGetLibVersion as u16)
                .b(&[0])
                .long(&lib)
                .b(&[2, 15]),
        ),
    ];
    seeds.into_iter().map(|(n, s)| (n, s.0)).collect()
}

impl Script {
    fn then(self, f: impl FnOnce(Script) -> Script) -> Script {
        f(self)
    }
}

/// server_engine: a call (procedure selector of the target).
fn s_call(s: Script, serial: u8, proc_sel: u8, body: &[u8]) -> Script {
    s.b(&[0, serial, proc_sel]).short(body).b(&[0])
}

fn server_engine() -> Vec<(&'static str, Vec<u8>)> {
    let open = xdr::to_bytes(&remote::ConnectOpenArgs {
        name: remote::RemoteString(Some("qemu:///system".into())),
        flags: 0,
    })
    .unwrap();
    let start = |data: &[u8]| {
        xdr::to_bytes(&remote::AuthSaslStartArgs {
            mech: "PLAIN".into(),
            nil: 0,
            data: data.iter().map(|&b| b as i8).collect(),
        })
        .unwrap()
    };
    let step = |data: &[u8]| {
        xdr::to_bytes(&remote::AuthSaslStepArgs {
            nil: 0,
            data: data.iter().map(|&b| b as i8).collect(),
        })
        .unwrap()
    };
    let shot = xdr::to_bytes(&remote::DomainScreenshotArgs {
        dom: dom(),
        screen: 0,
        flags: 0,
    })
    .unwrap();
    let upload = xdr::to_bytes(&remote::StorageVolUploadArgs {
        vol: remote::NonnullStorageVol {
            pool: "default".into(),
            name: "disk.img".into(),
            key: "/var/lib/libvirt/images/disk.img".into(),
        },
        offset: 0,
        length: 4,
        flags: 0,
    })
    .unwrap();
    let seeds = [
        (
            "none-open",
            s_call(
                s_call(s_call(Script::default().b(&[0]), 1, 0, b""), 2, 5, &open),
                3,
                8,
                b"",
            )
            .b(&[0]),
        ),
        (
            "polkit-allowed",
            s_call(
                s_call(s_call(Script::default().b(&[1, 1]), 1, 0, b""), 2, 4, b""),
                3,
                5,
                &open,
            )
            .b(&[0]),
        ),
        (
            "sasl-continue-done",
            s_call(
                s_call(
                    s_call(s_call(Script::default().b(&[2]), 1, 0, b""), 2, 1, b""),
                    3,
                    2,
                    &start(&[0, 7]),
                ),
                4,
                3,
                &step(&[1]),
            )
            .then(|s| s_call(s, 5, 5, &open))
            .b(&[0]),
        ),
        (
            "sasl-layer",
            s_call(
                s_call(s_call(Script::default().b(&[3, 15]), 1, 0, b""), 2, 1, b""),
                3,
                2,
                &start(&[1]),
            )
            .then(|s| s_call(s, 4, 5, &open))
            .b(&[0]),
        ),
        (
            "refused-before-auth",
            s_call(s_call(Script::default().b(&[2]), 1, 5, &open), 2, 8, b""),
        ),
        (
            "read-stream",
            s_call(Script::default().b(&[0]), 9, 6, &shot)
                .b(&[0])
                .b(&[7, 0, 0])
                .short(b"\x89PNG")
                .b(&[7, 0, 0, 0])
                .b(&[3, 0, 3, 0])
                .u16(P::DomainScreenshot as u16)
                .b(&[0])
                .long(b""),
        ),
        (
            "write-stream",
            s_call(Script::default().b(&[0]), 9, 7, &upload)
                .b(&[0])
                .b(&[3, 0, 3, 2])
                .u16(P::StorageVolUpload as u16)
                .b(&[0])
                .long(b"data")
                .b(&[3, 0, 6, 2])
                .u16(P::StorageVolUpload as u16)
                .b(&[0])
                .long(
                    &xdr::to_bytes(&libvirt_proto::virnet::StreamHole {
                        length: 8,
                        flags: 0,
                    })
                    .unwrap(),
                )
                .b(&[3, 0, 3, 0])
                .u16(P::StorageVolUpload as u16)
                .b(&[0])
                .long(b""),
        ),
        (
            "keepalive",
            Script::default()
                .b(&[0, 6, 0, 20, 2])
                .u16(100)
                .b(&[6, 2])
                .u16(500)
                .b(&[6, 2])
                .u16(500),
        ),
    ];
    seeds.into_iter().map(|(n, s)| (n, s.0)).collect()
}

fn client_auth_open() -> Vec<(&'static str, Vec<u8>)> {
    // Op 0 with a selector below 0xf0: a well-formed reply to the last call.
    let ok = |s: Script, values: &[u8]| s.b(&[0, 0]).b(values);
    let seeds = [
        (
            "none-keepalive-open",
            ok(
                ok(
                    ok(
                        Script::default().b(&[0b100, 0]).short(b"").b(&[1, 1]),
                        &[1, 0],
                    ),
                    &[1],
                ),
                &[],
            ),
        ),
        (
            "polkit",
            ok(
                ok(
                    Script::default().b(&[0b010, 0]).short(b"").b(&[0, 0]),
                    &[1, 2],
                ),
                &[1],
            ),
        ),
        (
            "sasl-given-mechanism",
            ok(
                ok(
                    ok(
                        ok(
                            Script::default()
                                .b(&[0b001, 0])
                                .short(&[2, 7, 2, 9, 0])
                                .b(&[0, 1]),
                            &[1, 1],
                        ),
                        &[2, 0, 1, 0],
                    )
                    .b(&[8]),
                    &[0, 0, 2, 1, 2],
                )
                .b(&[8]),
                &[1, 1, 0],
            )
            .b(&[8])
            .then(|s| ok(s, &[])),
        ),
        (
            "sasl-chooser-deferred-layer",
            ok(
                ok(
                    Script::default()
                        .b(&[0b0011_1001, 1])
                        .short(&[1, 1])
                        .b(&[0, 0]),
                    &[1, 1],
                ),
                &[2, 1, 0, 1],
            )
            .b(&[8, 8])
            .then(|s| ok(s, &[1, 1, 0]))
            .b(&[8])
            .then(|s| ok(s, &[])),
        ),
        (
            "sasl-chooser-lost-job",
            ok(
                ok(
                    Script::default()
                        .b(&[0b0011_0001, 0])
                        .short(&[0])
                        .b(&[0, 0]),
                    &[1, 1],
                ),
                &[1, 0, 0],
            )
            .b(&[9]),
        ),
        (
            "error-reply",
            Script::default().b(&[0b111, 0]).short(b"").b(&[0, 0, 4]),
        ),
        (
            "eof",
            Script::default().b(&[0b001, 0]).short(b"").b(&[0, 0, 6]),
        ),
    ];
    seeds.into_iter().map(|(n, s)| (n, s.0)).collect()
}

fn sasl_layer() -> Vec<(&'static str, Vec<u8>)> {
    let all = frames();
    let pick = |n: &str| all.iter().find(|(m, _)| *m == n).unwrap().1.clone();
    let packets = |max: u8, chunk: u8, plain: &[u8], piece: usize| {
        let mut v = vec![max, chunk];
        for p in plain.chunks(piece) {
            v.extend_from_slice(&(p.len() as u32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    };
    let stream: Vec<u8> = [
        pick("ping"),
        pick("message-domain-event-lifecycle"),
        pick("stream-data"),
    ]
    .concat();
    let mut too_long = packets(4, 255, &pick("ping"), 28);
    too_long.extend_from_slice(&1000u32.to_be_bytes());
    let mut refused = packets(40, 7, &pick("ping"), 28);
    refused.extend_from_slice(&[0, 0, 0, 3, 0xde, 0xad, 0]);
    // A message with a descriptor, its byte outside the layer, a PING.
    let mut fd_byte = packets(40, 3, &pick("call-with-fds-open-graphics-fd"), 17);
    fd_byte.push(0);
    fd_byte.extend_from_slice(&packets(40, 0, &pick("ping"), 28)[2..]);
    vec![
        ("one-packet-per-frame", packets(40, 255, &pick("ping"), 28)),
        ("frames-across-packets", packets(20, 5, &stream, 17)),
        ("packet-too-long", too_long),
        ("packet-refused", refused),
        ("descriptor-byte-in-clear", fd_byte),
    ]
}

fn frame_decoder() -> Vec<(&'static str, Vec<u8>)> {
    let all = frames();
    let mut stream: Vec<u8> = all.iter().flat_map(|(_, f)| f.clone()).collect();
    let mut big = Frame::new(
        rem(P::StorageVolUpload, MessageType::Stream, 7),
        vec![0x5a; 20_000],
    );
    big.header.status = MessageStatus::Continue;
    let big = big.encode();
    let mut out = vec![
        ("all-kinds-whole", [&[0u8][..], &stream].concat()),
        (
            "all-kinds-in-small-chunks",
            [&[3u8, 0, 6, 40][..], &stream].concat(),
        ),
        (
            "large-frame-in-pieces",
            [&[2u8, 50, 200][..], &big, &all[0].1].concat(),
        ),
    ];
    stream.truncate(stream.len() - 3);
    out.push(("truncated", [&[1u8, 9][..], &stream].concat()));
    let mut bad = all[0].1.clone();
    bad[0..4].copy_from_slice(&27u32.to_be_bytes());
    out.push(("length-too-short", [&[0u8][..], &all[1].1, &bad].concat()));
    out
}

fn typed_params() -> Vec<(&'static str, Vec<u8>)> {
    let p = TypedParams::new()
        .with_int("cpu_shares", -1)
        .unwrap()
        .with_uint("vcpu_quota", 2)
        .unwrap()
        .with_llong("period", -5)
        .unwrap()
        .with_ullong("limit", u64::MAX)
        .unwrap()
        .with_double("ratio", 0.5)
        .unwrap()
        .with_boolean("enabled", true)
        .unwrap()
        .with_string("name", "demo")
        .unwrap();
    let mut list = p.clone();
    list.add_string_list("name", &["a", "b"]).unwrap();
    let remote = |p: &TypedParams| {
        let v = xdr::to_bytes(&remote::DomainGetSchedulerParametersRet {
            params: p.0.clone(),
        })
        .unwrap();
        [&[0u8][..], &v].concat()
    };
    let admin_list: Vec<admin::TypedParam> = (&p).into();
    let admin = [
        &[1u8][..],
        &xdr::to_bytes(&admin::ServerGetThreadpoolParametersRet { params: admin_list }).unwrap(),
    ]
    .concat();
    vec![
        ("remote-every-type", remote(&p)),
        ("remote-string-list", remote(&list)),
        ("remote-empty", remote(&TypedParams::new())),
        ("admin-every-type", admin),
    ]
}

fn uri() -> Vec<(&'static str, Vec<u8>)> {
    let uris = [
        ("local", "qemu:///system"),
        ("session", "qemu:///session"),
        ("test", "test:///default"),
        ("tls-ipv6-port", "qemu+tls://[fe80::1]:16514/system?pkipath=/etc/pki&no_verify=1"),
        ("tcp-sasl", "qemu+tcp://host.example/system?auth=sasl.scram-sha-256&authfile=/a.conf"),
        ("unix-socket", "test+unix:///default?socket=/tmp/a%20b/sock&mode=direct"),
        (
            "ssh-everything",
            "qemu+ssh://alice@host.example:2222/system?keyfile=/k&known_hosts=/kh&known_hosts_verify=auto&no_tty=1&netcat=/usr/bin/nc&socket=/run/s&proxy=netcat",
        ),
        ("ssh-native-name", "qemu+ssh://h/system?proxy=native&name=qemu%3A%2F%2F%2Fsession"),
        ("ssh-auto-quotes", "qemu+libssh2://o%27brien@h/system?socket=/tmp/it%27s%20here&command=/usr/bin/ssh"),
        ("ext", "qemu+ext:///system?command=/usr/bin/helper"),
    ];
    uris.into_iter()
        .map(|(n, u)| (n, u.as_bytes().to_vec()))
        .collect()
}

fn auth_conf() -> Vec<(&'static str, Vec<u8>)> {
    let files = [
        (
            "libvirt-docs-example",
            "[credentials-test]\nauthname=fred\npassword=123456\n\n[auth-libvirt-test1.example.com]\ncredentials=test\n\n[auth-libvirt-default]\ncredentials=test\n",
        ),
        (
            "escapes-comments-crlf",
            "# comment\r\n  [credentials-x]  \r\nusername = a\\sb\\tc\r\npassword=p\\\\w \r\nrealm[fr_FR.UTF-8]=r\r\n[auth-libvirt-localhost]\r\ncredentials=x\r\n",
        ),
        (
            "missing-credentials-group",
            "[auth-libvirt-default]\ncredentials=nope\n[auth-libvirt-h]\nother=1\n",
        ),
        ("bad-escape", "[credentials-c]\npassword=a\\qb\n[auth-libvirt-default]\ncredentials=c\n"),
    ];
    files
        .into_iter()
        .map(|(n, f)| (n, f.as_bytes().to_vec()))
        .collect()
}

fn libvirt_conf() -> Vec<(&'static str, Vec<u8>)> {
    let files = [
        (
            "libvirt-conf-example",
            "#\n# This can be used to setup URI aliases\n#\nuri_aliases = [\n  \"hail=qemu+ssh://root@hail.cloud.example.com/system\",\n  \"sleet=qemu+ssh://root@sleet.cloud.example.com/system\",\n]\n\nuri_default = \"qemu:///system\"\nremote_mode = \"direct\"\nremote_proxy = \"netcat\"\n",
        ),
        (
            "every-syntax",
            "a = 'one' # c\r\nb=\"two\"; c = -3 ;d=+4\ne = [ [1, 'x'],\n  \"\"\"long\nstring\"\"\", ]\nuri_default = 'hail'\n",
        ),
        (
            "malformed-alias",
            "uri_aliases = ['good=test:///default', 'bad!=x', 'noequals']\nuri_default = 1\n",
        ),
    ];
    files
        .into_iter()
        .map(|(n, f)| (n, f.as_bytes().to_vec()))
        .collect()
}

/// The `.x` seeds of `parse_resolve` and `rich.x`, for `codegen`.
fn codegen() -> Vec<Seed> {
    let mut out = vec![(
        "rich.x".to_owned(),
        std::fs::read(fuzz_dir().join("rich.x")).unwrap(),
    )];
    let dir = fuzz_dir().join("seeds/parse_resolve");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(f).unwrap()));
    }
    out
}

/// A seed's file name and bytes.
type Seed = (String, Vec<u8>);

#[test]
fn seeds_are_current() {
    let named = |v: Vec<(&'static str, Vec<u8>)>| -> Vec<Seed> {
        v.into_iter()
            .map(|(n, b)| (format!("{n}.bin"), b))
            .collect()
    };
    let named_txt = |v: Vec<(&'static str, Vec<u8>)>, ext: &str| -> Vec<Seed> {
        v.into_iter()
            .map(|(n, b)| (format!("{n}.{ext}"), b))
            .collect()
    };
    let all: Vec<(&str, Vec<Seed>)> = vec![
        ("dispatch_decode", named(frames())),
        ("frame_decoder", named(frame_decoder())),
        ("client_engine", named(client_engine())),
        ("server_engine", named(server_engine())),
        ("client_auth_open", named(client_auth_open())),
        ("sasl_layer", named(sasl_layer())),
        ("typed_params", named(typed_params())),
        ("uri", named_txt(uri(), "txt")),
        ("auth_conf", named_txt(auth_conf(), "conf")),
        ("libvirt_conf", named_txt(libvirt_conf(), "conf")),
        ("codegen", codegen()),
    ];
    let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, seeds) in all {
        let dir = fuzz_dir().join("seeds").join(target);
        for (name, bytes) in seeds {
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale seeds (FUZZ_WRITE_SEEDS=1 rewrites them): {stale:#?}"
    );
}
