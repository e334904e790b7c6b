//! The service trait generator (`xdrgen::codegen::server`) on the client
//! generator's fixtures (`tests/fixtures/client/`: `remote.x` in libvirt's
//! style and `qemu.x` using its types as an extern module) and on
//! `tests/fixtures/ok/rpcgen.x`, a plain RFC 5531 program with
//! several-argument procedures. Each trait is snapshotted; the other tests
//! name what the snapshots show.

use std::collections::BTreeMap;

use xdrgen::codegen::server::{self, Fds, ServerCode, ServerConfig};
use xdrgen::codegen::GenOptions;

#[path = "common/specs.rs"]
mod specs;
use specs::{load_spec, qemu_fixture, squeeze};

/// A server like libvirt-proto's, for the program generated into
/// `super::<module>`.
fn config(module: &str, trait_name: &str, method_prefix: &str) -> ServerConfig {
    ServerConfig {
        program: String::new(),
        version: None,
        types_module: format!("super::{module}"),
        trait_name: trait_name.into(),
        supertraits: "Send + Sync + 'static".into(),
        method_prefix: method_prefix.into(),
        peer: "crate::server::Peer".into(),
        error: "crate::error::RemoteError".into(),
        unsupported: "crate::server::unsupported_procedure".into(),
        stream: "crate::server::ServerStream".into(),
        fd: "std::os::fd::OwnedFd".into(),
        fds: BTreeMap::from([
            (
                "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS".to_owned(),
                fds(true, false),
            ),
            (
                "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD".to_owned(),
                fds(false, true),
            ),
            (
                "QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES".to_owned(),
                fds(true, true),
            ),
        ]),
        skip: vec!["CONNECT_CLOSE".into()],
        skip_prefixes: vec!["AUTH_".into()],
    }
}

fn fds(send: bool, receive: bool) -> Fds {
    Fds { send, receive }
}

fn remote_with(config: &ServerConfig) -> Result<ServerCode, String> {
    let spec = load_spec(&["client/remote.x"], Some("remote"));
    let options = GenOptions {
        strip_prefix: Some("remote".into()),
        ..GenOptions::default()
    };
    server::generate(&spec, &options, config)
}

fn remote() -> ServerCode {
    remote_with(&config("remote", "RemoteService", "")).unwrap()
}

fn qemu() -> ServerCode {
    let (spec, options) = qemu_fixture();
    server::generate(&spec, &options, &config("qemu", "QemuService", "qemu_")).unwrap()
}

fn rpcgen() -> ServerCode {
    let spec = load_spec(&["ok/rpcgen.x"], None);
    let config = ServerConfig {
        program: String::new(),
        version: None,
        types_module: "super::messages".into(),
        trait_name: "MessageService".into(),
        supertraits: String::new(),
        method_prefix: String::new(),
        peer: "crate::rpc::Caller".into(),
        error: "crate::rpc::Refusal".into(),
        unsupported: "crate::rpc::proc_unavail".into(),
        stream: String::new(),
        fd: String::new(),
        fds: BTreeMap::new(),
        skip: Vec::new(),
        skip_prefixes: Vec::new(),
    };
    server::generate(&spec, &GenOptions::default(), &config).unwrap()
}

#[test]
fn service_traits_match_their_snapshots() {
    insta::assert_snapshot!("remote", remote().body);
    insta::assert_snapshot!("qemu", qemu().body);
    insta::assert_snapshot!("rpcgen", rpcgen().body);
}

#[test]
fn one_method_per_call_with_a_refusing_default() {
    let r = remote();
    let text = squeeze(&r.body);
    let calls = text.matches("fn ").count() - 1; // `dispatch` aside
    assert_eq!(r.methods, calls, "{text}");
    assert!(
        text.contains(
            "fn domain_get_info( &self, peer: &Peer, args: remote::DomainGetInfoArgs, ) \
             -> impl Future<Output = Result<remote::DomainGetInfoRet, RemoteError>> + Send { \
             let _ = (peer, args); async { Err(unsupported_procedure(remote::program::NUMBER, 5)) } }"
        ),
        "{text}"
    );
    // No arguments: no `args`; no reply: `()`.
    assert!(
        text.contains(
            "fn connect_get_lib_version( &self, peer: &Peer, ) -> impl Future< Output = \
             Result<remote::ConnectGetLibVersionRet, RemoteError>, > + Send { let _ = peer;"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "fn domain_suspend( &self, peer: &Peer, args: remote::DomainSuspendArgs, ) \
             -> impl Future<Output = Result<(), RemoteError>> + Send"
        ),
        "{text}"
    );
    assert!(
        text.starts_with(
            "use super::remote; use crate::server::{Peer, unsupported_procedure, ServerStream}; \
             use crate::error::RemoteError; use std::os::fd::OwnedFd; use std::future::Future;"
        ),
        "{text}"
    );
    assert!(
        text.contains("pub trait RemoteService: Send + Sync + 'static {"),
        "{text}"
    );
}

#[test]
fn skipped_procedures_have_no_method_but_a_refusing_arm() {
    let text = squeeze(&remote().body);
    assert!(!text.contains("fn auth_list"), "{text}");
    assert!(
        text.contains(
            "Call::AuthList(_) => Err(unsupported_procedure(remote::program::NUMBER, 2)),"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "The procedures the server answers itself, or cannot serve, have no method; \
             `dispatch` refuses them."
        ),
        "{text}"
    );
}

#[test]
fn dispatch_wraps_each_methods_result_in_its_reply() {
    let text = squeeze(&remote().body);
    assert!(
        text.contains(
            "Call::DomainGetInfo(args) => { S::domain_get_info(service, peer, args) .await \
             .map(|ret| (Reply::DomainGetInfo(ret), Vec::new())) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Call::ConnectGetLibVersion(()) => { S::connect_get_lib_version(service, peer) \
             .await .map(|ret| (Reply::ConnectGetLibVersion(ret), Vec::new())) }"
        ),
        "{text}"
    );
}

#[test]
fn a_stream_procedure_takes_the_stream() {
    let text = squeeze(&remote().body);
    assert!(
        text.contains(
            "fn domain_screenshot( &self, peer: &Peer, args: remote::DomainScreenshotArgs, \
             stream: ServerStream, )"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Call::DomainScreenshot(args) => { match stream { Some(stream) => { \
             S::domain_screenshot(service, peer, args, stream) .await \
             .map(|ret| (Reply::DomainScreenshot(ret), Vec::new())) } \
             None => Err(unsupported_procedure(remote::program::NUMBER, 12)), } }"
        ),
        "{text}"
    );
    let no_streams = ServerConfig {
        stream: String::new(),
        ..config("remote", "RemoteService", "")
    };
    let e = remote_with(&no_streams).unwrap_err();
    assert!(
        e.contains("REMOTE_PROC_DOMAIN_SCREENSHOT: a stream procedure"),
        "{e}"
    );
}

#[test]
fn a_program_beside_an_extern_module_names_its_own_types() {
    let text = squeeze(&qemu().body);
    assert!(text.starts_with("use super::qemu;"), "{text}");
    assert!(
        text.contains("fn qemu_domain_monitor_command( &self, peer: &Peer, args: qemu::DomainMonitorCommandArgs,"),
        "{text}"
    );
}

#[test]
fn plain_rpcgen_programs_get_a_trait_too() {
    let text = squeeze(&rpcgen().body);
    assert!(text.contains("pub trait MessageService {"), "{text}");
    // Several arguments arrive as the argument struct rpcgen -N encodes.
    assert!(
        text.contains("fn add( &self, peer: &Caller, args: messages::"),
        "{text}"
    );
    assert!(text.contains("fn ping(&self, peer: &Caller)"), "{text}");
    // Without descriptors, a reply is only wrapped in its variant.
    assert!(
        text.contains(".await.map(Reply::Ping)") || text.contains(".await .map(Reply::Ping)"),
        "{text}"
    );
}

/// `server/edge.x` with `skip` and the method prefix `prefix`.
fn edge(prefix: &str, skip: &[&str]) -> ServerCode {
    let spec = load_spec(&["server/edge.x"], Some("edge"));
    let options = GenOptions {
        strip_prefix: Some("edge".into()),
        ..GenOptions::default()
    };
    let config = ServerConfig {
        skip: skip.iter().map(|s| (*s).to_owned()).collect(),
        skip_prefixes: Vec::new(),
        ..config("edge", "EdgeService", prefix)
    };
    server::generate(&spec, &options, &config).unwrap()
}

#[test]
fn keyword_names_make_valid_code() {
    let text = squeeze(&edge("", &[]).body);
    assert!(text.contains("fn r#type( &self, peer: &Peer, )"), "{text}");
    assert!(
        text.contains("Call::Type(()) => { S::r#type(service, peer).await"),
        "{text}"
    );
    // A prefix makes the name no keyword.
    let text = squeeze(&edge("edge_", &[]).body);
    assert!(
        text.contains("fn edge_type( &self, peer: &Peer, )"),
        "{text}"
    );
}

#[test]
fn a_program_whose_streams_are_skipped_takes_its_stream_unused() {
    let text = squeeze(&edge("", &["UPLOAD"]).body);
    assert!(!text.contains("fn upload"), "{text}");
    assert!(
        text.contains("let _ = stream; drop(fds); match call {"),
        "{text}"
    );
    // Nothing left at all: every parameter taken, no `Reply` or `Future`.
    let text = squeeze(&edge("", &["TYPE", "UPLOAD"]).body);
    assert!(
        text.contains(
            "use edge::program::Call; let _ = (service, peer, stream); drop(fds); match call {"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Reply}") && !text.contains("Future"),
        "{text}"
    );
}

#[test]
fn what_cannot_be_generated_is_an_error() {
    let bad_path = ServerConfig {
        peer: "not a path".into(),
        ..config("remote", "RemoteService", "")
    };
    assert!(remote_with(&bad_path).unwrap_err().contains("not a path"));
    let generic = ServerConfig {
        error: "crate::Error<u8>".into(),
        ..config("remote", "RemoteService", "")
    };
    assert!(remote_with(&generic)
        .unwrap_err()
        .contains("does not end in a plain name"));
    let bad_prefix = config("remote", "RemoteService", "a-");
    assert!(remote_with(&bad_prefix)
        .unwrap_err()
        .contains("is not a method name"));
    let spec = load_spec(&["ok/program.x"], None);
    let e =
        server::generate(&spec, &GenOptions::default(), &config("directory", "D", "")).unwrap_err();
    assert!(e.contains("several versions"), "{e}");
}

#[test]
fn descriptor_procedures_take_and_return_descriptors() {
    let text = squeeze(&remote().body);
    // Sent with the call: taken after the arguments.
    assert!(
        text.contains(
            "fn domain_open_graphics( &self, peer: &Peer, args: remote::DomainOpenGraphicsArgs, \
             fds: Vec<OwnedFd>, ) -> impl Future<Output = Result<(), RemoteError>> + Send { \
             let _ = (peer, args, fds);"
        ),
        "{text}"
    );
    // Passed back with the reply: returned beside it, and `dispatch`
    // returns them.
    assert!(
        text.contains(
            "fn domain_open_graphics_fd( &self, peer: &Peer, args: remote::DomainOpenGraphicsFdArgs, \
             ) -> impl Future<Output = Result<((), Vec<OwnedFd>), RemoteError>> + Send"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Call::DomainOpenGraphicsFd(args) => { S::domain_open_graphics_fd(service, peer, args) \
             .await .map(|(ret, fds)| (Reply::DomainOpenGraphicsFd(ret), fds)) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Call::DomainOpenGraphics(args) => { S::domain_open_graphics(service, peer, args, fds) \
             .await .map(|ret| (Reply::DomainOpenGraphics(ret), Vec::new())) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "stream: Option<ServerStream>, fds: Vec<OwnedFd>, ) -> Result<(remote::program::Reply, \
             Vec<OwnedFd>), RemoteError> {"
        ),
        "{text}"
    );
    // Those of a procedure that takes none are closed before its method
    // runs.
    assert!(
        text.contains(
            "let fds = match &call { Call::DomainOpenGraphics(_) => fds, _ => { drop(fds); Vec::new() } };"
        ),
        "{text}"
    );
    // Both ways.
    let text = squeeze(&qemu().body);
    assert!(
        text.contains(
            "args: qemu::DomainMonitorCommandWithFilesArgs, fds: Vec<OwnedFd>, ) -> impl Future< \
             Output = Result< (qemu::DomainMonitorCommandWithFilesRet, Vec<OwnedFd>), RemoteError, \
             >, > + Send"
        ),
        "{text}"
    );
    // Without a descriptor type, `dispatch` takes none and a descriptor
    // procedure is an error.
    let none = ServerConfig {
        fd: String::new(),
        ..config("remote", "RemoteService", "")
    };
    let e = remote_with(&none).unwrap_err();
    assert!(
        e.contains("REMOTE_PROC_DOMAIN_OPEN_GRAPHICS: passes file descriptors"),
        "{e}"
    );
    let none = ServerConfig {
        fds: BTreeMap::new(),
        ..none
    };
    let text = squeeze(&remote_with(&none).unwrap().body);
    assert!(!text.contains("OwnedFd"), "{text}");
    assert!(
        text.contains(") -> Result<remote::program::Reply, RemoteError> {"),
        "{text}"
    );
}

#[test]
fn a_program_with_several_versions_gets_a_trait_per_version() {
    let spec = load_spec(&["ok/program.x"], None);
    let generate = |config: &ServerConfig| server::generate(&spec, &GenOptions::default(), config);
    let version = |n: u32| ServerConfig {
        version: Some(n),
        ..config("directory", &format!("DirectoryV{n}"), "")
    };
    let v1 = generate(&version(1)).unwrap();
    let v2 = generate(&version(2)).unwrap();
    insta::assert_snapshot!("directory_v1", v1.body);
    // Version 2 is compiled and served by `generated.rs` from a copy.
    let compiled = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/server/directory_v2.rs"
    ))
    .unwrap();
    assert!(
        compiled == v2.body,
        "tests/fixtures/server/directory_v2.rs is not what the generator makes now: \
         write this there:\n{}",
        v2.body
    );
    assert_eq!((v1.methods, v2.methods), (2, 4));
    let (v1, v2) = (squeeze(&v1.body), squeeze(&v2.body));
    assert!(v1.contains("pub trait DirectoryV1"), "{v1}");
    assert!(!v1.contains("fn rename"), "{v1}");
    assert!(v2.contains("fn rename( &self, peer: &Peer, args:"), "{v2}");
    // Each dispatches its own version's calls.
    assert!(
        v1.contains("call: directory::directory_prog::directory_v1::Call,"),
        "{v1}"
    );
    assert!(
        v2.contains("call: directory::directory_prog::directory_v2::Call,"),
        "{v2}"
    );
    // Without a pick, or with one the spec lacks, the choices are named.
    let e = generate(&config("directory", "D", "")).unwrap_err();
    assert!(
        e.contains("program DIRECTORY_PROG has several versions (1, 2); name the one"),
        "{e}"
    );
    let e = generate(&version(3)).unwrap_err();
    assert!(
        e.contains("program DIRECTORY_PROG has no version 3 (it has 1, 2)"),
        "{e}"
    );
    let other = ServerConfig {
        program: "MOUNTPROG".into(),
        ..version(1)
    };
    let e = generate(&other).unwrap_err();
    assert!(
        e.contains("the spec has no program `MOUNTPROG` (it has DIRECTORY_PROG)"),
        "{e}"
    );
    let named = ServerConfig {
        program: "DIRECTORY_PROG".into(),
        ..version(2)
    };
    assert_eq!(squeeze(&generate(&named).unwrap().body), v2);
}
