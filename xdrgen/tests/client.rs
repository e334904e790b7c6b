//! The client methods generator (`xdrgen::codegen::client`) on the
//! fixtures of `tests/fixtures/client/`: `remote.x`, a small program in
//! libvirt's style, and `qemu.x`, a program using `remote.x`'s types as an
//! extern module. Each program's methods, and the remote program's typed
//! events, are snapshotted; the other tests name what the snapshots show.

use std::collections::BTreeMap;
use xdrgen::codegen::client::{
    self, ClientCode, ClientConfig, Fds, FlagArgs, Handle, TypedParams, TypedParamsConversion,
    ValueType,
};
use xdrgen::codegen::GenOptions;

#[path = "common/specs.rs"]
mod specs;
use specs::{load_spec, qemu_fixture, squeeze};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A client like libvirt-proto's, for the program generated into
/// `super::<module>`.
fn config(module: &str, method_prefix: &str) -> ClientConfig {
    let flags = |typed: &[(&str, &str)], why: &str| FlagArgs {
        typed: typed
            .iter()
            .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
            .collect(),
        untyped_reason: why.to_owned(),
    };
    ClientConfig {
        types_module: format!("super::{module}"),
        client_module: "crate::client".into(),
        client: "Client".into(),
        streams_and_fds: true,
        method_prefix: method_prefix.into(),
        skip: strings(&["CONNECT_OPEN", "CONNECT_CLOSE"]),
        skip_prefixes: strings(&["AUTH_"]),
        hand_written: strings(&["call", "call_fds", "call_stream", "close", "connect"]),
        handles: vec![Handle {
            xdr: "remote_nonnull_domain".into(),
            rust: "Domain".into(),
            word: "domain".into(),
        }],
        handle_hand_written: strings(&["client", "from_wire", "wire"]),
        typed_params: Some(TypedParams {
            path: "crate::typed_params::TypedParams".into(),
            structs: vec![("remote_typed_param".into(), TypedParamsConversion::Newtype)],
        }),
        stream_contents: BTreeMap::from([(
            "REMOTE_PROC_DOMAIN_SCREENSHOT".to_owned(),
            "the image, in the format `mime` names".to_owned(),
        )]),
        fds: BTreeMap::from([
            (
                "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS".to_owned(),
                Fds {
                    send: true,
                    receive: false,
                },
            ),
            (
                "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD".to_owned(),
                Fds {
                    send: false,
                    receive: true,
                },
            ),
            (
                "QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES".to_owned(),
                Fds {
                    send: true,
                    receive: true,
                },
            ),
        ]),
        flag_module: "crate::api".into(),
        flag_args: BTreeMap::from([
            (
                "REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS".to_owned(),
                flags(&[("flags", "ConnectListAllDomainsFlags")], ""),
            ),
            (
                "REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS".to_owned(),
                flags(&[("flags", "DomainModificationImpact")], ""),
            ),
            (
                "REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS".to_owned(),
                flags(&[], "no single flag set documented"),
            ),
            (
                "REMOTE_PROC_DOMAIN_TUNE".to_owned(),
                flags(&[("type", "DomainXMLFlags")], ""),
            ),
            (
                "QEMU_PROC_DOMAIN_MONITOR_COMMAND".to_owned(),
                flags(&[("flags", "DomainQemuMonitorCommandFlags")], ""),
            ),
        ]),
        // A reply's enum makes a typed result; an `int` answer is a `bool`.
        reply_values: BTreeMap::from([(
            "REMOTE_PROC_DOMAIN_GET_INFO".to_owned(),
            BTreeMap::from([("state".to_owned(), ValueType::Enum("DomainState".into()))]),
        )]),
        reply_names: BTreeMap::from([(
            "REMOTE_PROC_DOMAIN_GET_INFO".to_owned(),
            "DomainInfo".to_owned(),
        )]),
        bool_replies: ["REMOTE_PROC_CONNECT_SUPPORTS_AUTH".to_owned()].into(),
        count_from: BTreeMap::from([(
            "REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS".to_owned(),
            client::CountFrom {
                procedure: "REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE".into(),
                count: "nparams".into(),
            },
        )]),
        // Typed events have a test of their own.
        ..ClientConfig::default()
    }
}

/// The remote program's methods.
fn remote() -> ClientCode {
    remote_with(&config("remote", ""))
}

fn remote_with(config: &ClientConfig) -> ClientCode {
    let spec = load_spec(&["client/remote.x"], Some("remote"));
    let options = GenOptions {
        strip_prefix: Some("remote".into()),
        ..GenOptions::default()
    };
    client::generate(&spec, &options, config).unwrap()
}

/// The qemu program's methods, `remote.x` being an extern module.
fn qemu() -> ClientCode {
    let (spec, options) = qemu_fixture();
    client::generate(&spec, &options, &config("qemu", "qemu_")).unwrap()
}

#[test]
fn client_methods_match_their_snapshots() {
    let r = remote();
    insta::assert_snapshot!("remote", r.body);
    let q = qemu();
    insta::assert_snapshot!("qemu", q.body);
}

#[test]
fn one_method_per_call_with_idiomatic_parameters() {
    let g = remote();
    let text = squeeze(&g.body);
    // CONNECT_OPEN and AUTH_* are the client's own; events are messages;
    // 15 calls, and `list_all_domains` besides.
    assert_eq!(g.methods, 16, "{}", g.body);
    assert!(!text.contains("fn connect_open"));
    assert!(!text.contains("fn auth_list"));
    assert!(!text.contains("event_lifecycle"));

    assert!(
        text.contains(
            "pub async fn domain_get_info( &self, dom: &remote::NonnullDomain, ) \
             -> Result<DomainInfo, ClientError>"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pub async fn domain_tune( &self, dom: Option<&remote::NonnullDomain>, \
             disk: Option<&str>, names: &[&str], cookie: &[u8], uuid: [u8; 16], \
             params: &TypedParams, r#type: impl Into<api::DomainXMLFlags>, ) \
             -> Result<TypedParams, ClientError>"
        ),
        "{text}"
    );
    assert!(text.contains(".map(|r| TypedParams(r.params))"), "{text}");
    assert!(
        text.contains(
            "pub async fn connect_get_lib_version(&self) -> Result<u64, ClientError> \
             { self.call::<procs::ConnectGetLibVersion>(&()).await.map(|r| r.lib_ver) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pub async fn connect_supports_auth( &self, auth: remote::AuthType, ) \
             -> Result<bool, ClientError>"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "-> Result<(Option<String>, ByteStream), ClientError> { let args = \
             remote::DomainScreenshotArgs { dom: dom.clone(), screen, flags, }; \
             let (ret, stream) = self.call_stream::<procs::DomainScreenshot>(&args).await?; \
             Ok((ret.mime.0.map(|x| x.0), stream)) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "/// Calls [`REMOTE_PROC_DOMAIN_GET_INFO`](procs::DomainGetInfo) (procedure 5)."
        ),
        "{text}"
    );
    assert!(
        text.contains("use crate::client::{Client, ClientError, ByteStream, Domain};"),
        "{text}"
    );
    assert!(text.contains("use std::os::fd::OwnedFd;"), "{text}");
}

#[test]
fn a_documented_flag_set_types_its_argument() {
    let g = remote();
    let text = squeeze(&g.body);
    assert_eq!(g.typed_flags, 3);
    assert!(text.contains("use crate::api;"), "{text}");
    assert!(text.contains("r#type: r#type.into().bits(),"), "{text}");
    assert!(
        text.contains("flags: impl Into<api::DomainModificationImpact>,"),
        "{text}"
    );
    // Flags no flag set is given for stay `u32`, with the caller's reason.
    assert_eq!(
        g.untyped_flags,
        [
            "REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS: no single flag set documented",
            "REMOTE_PROC_DOMAIN_SCREENSHOT: no flag set given",
            "REMOTE_PROC_DOMAIN_UPLOAD: no flag set given",
            "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS: no flag set given",
            "REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD: no flag set given",
            "REMOTE_PROC_DOMAIN_GET_DISK_ERRORS: no flag set given",
        ]
    );
    // Without flag sets (and typed values) every `flags` is a `u32` and
    // nothing is imported.
    let plain = remote_with(&ClientConfig {
        flag_args: BTreeMap::new(),
        reply_values: BTreeMap::new(),
        ..config("remote", "")
    });
    assert_eq!(plain.typed_flags, 0);
    assert!(!plain.body.contains("api"), "{}", plain.body);
}

#[test]
fn counted_getters_are_one_call() {
    let text = squeeze(&remote().body);
    // Asked for with a maximum of 0, then with the count the daemon gave
    // (converted: `int` in the reply, `unsigned int` in the arguments).
    assert!(
        text.contains(
            "pub async fn domain_get_disk_errors( &self, dom: &remote::NonnullDomain, \
             flags: u32, ) -> Result<Vec<remote::DomainDiskError>, ClientError> { \
             let maxerrors = 0;"
        ),
        "{text}"
    );
    assert!(
        text.contains("if ret.errors.len() >= usize::try_from(ret.nerrors).unwrap_or(0) {"),
        "{text}"
    );
    assert!(
        text.contains("args.maxerrors = ret.nerrors.try_into().unwrap_or_default();"),
        "{text}"
    );
    // A count another procedure answers (`count_from`).
    assert!(
        text.contains(
            "flags: impl Into<api::DomainModificationImpact>, ) -> Result<TypedParams, \
             ClientError> { let count_args = remote::DomainGetSchedulerTypeArgs { \
             dom: dom.clone(), }; let nparams = self \
             .call::<procs::DomainGetSchedulerType>(&count_args) .await? .nparams;"
        ),
        "{text}"
    );
}

#[test]
fn an_objects_procedures_are_methods_of_its_handle() {
    let text = squeeze(&remote().body);
    // The object word is dropped; the wire identity is passed on.
    assert!(
        text.contains(
            "impl Domain { /// [`Client::domain_get_info`](crate::client::Client::domain_get_info) \
             on this domain. pub async fn get_info(&self) -> Result<DomainInfo, \
             ClientError> { self.client.domain_get_info(&self.wire).await }"
        ),
        "{text}"
    );
    // The screenshot's first argument is a domain too.
    assert!(
        text.contains(
            "pub async fn screenshot( &self, screen: u32, flags: u32, ) \
             -> Result<(Option<String>, ByteStream), ClientError> \
             { self.client.domain_screenshot(&self.wire, screen, flags).await }"
        ),
        "{text}"
    );
    // An optional object (`remote_domain`) is not a handle's.
    assert!(!text.contains("pub async fn tune("), "{text}");
    // A lookup returns the handle; a list of all, handles.
    assert!(
        text.contains(
            "-> Result<Domain, ClientError> { let args = remote::DomainLookupByNameArgs \
             { name: remote::NonnullString(name.to_owned()), }; \
             self.call::<procs::DomainLookupByName>(&args) \
             .await .map(|r| Domain::from_wire(self.clone(), r.dom)) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pub async fn list_all_domains( &self, flags: impl Into<api::ConnectListAllDomainsFlags>, ) \
             -> Result<Vec<Domain>, ClientError> { self.connect_list_all_domains(1, flags) \
             .await .map(|r| { r .domains .into_iter() .map(|w| Domain::from_wire(self.clone(), w)) \
             .collect() }) }"
        ),
        "{text}"
    );
}

#[test]
fn extern_types_are_named_by_their_module() {
    let g = qemu();
    let text = squeeze(&g.body);
    assert!(text.contains("use super::qemu::program::procs;"), "{text}");
    assert!(text.contains("use super::{remote, qemu};"), "{text}");
    assert!(
        text.contains(
            "pub async fn qemu_domain_monitor_command( &self, dom: &remote::NonnullDomain, \
             cmd: &str, flags: impl Into<api::DomainQemuMonitorCommandFlags>, ) \
             -> Result<String, ClientError> { let args = qemu::DomainMonitorCommandArgs"
        ),
        "{text}"
    );
    // The handle's method drops the object word after the prefix.
    assert!(
        text.contains("pub async fn qemu_monitor_command("),
        "{text}"
    );
    assert_eq!(g.methods, 2);
}

#[test]
fn what_the_client_cannot_do_is_an_error() {
    let no_streams = ClientConfig {
        streams_and_fds: false,
        ..config("remote", "")
    };
    let spec = load_spec(&["client/remote.x"], Some("remote"));
    let options = GenOptions {
        strip_prefix: Some("remote".into()),
        ..GenOptions::default()
    };
    let e = client::generate(&spec, &options, &no_streams).unwrap_err();
    assert!(e.contains("has no streams or descriptors"), "{e}");

    let taken = ClientConfig {
        hand_written: strings(&["domain_suspend"]),
        ..config("remote", "")
    };
    let e = client::generate(&spec, &options, &taken).unwrap_err();
    assert_eq!(
        e,
        "REMOTE_PROC_DOMAIN_SUSPEND: method name `domain_suspend` is already taken"
    );
}

/// Typed events of the domain family: `DOMAIN_EVENT_CALLBACK_*` and the
/// newer `DOMAIN_EVENT_*` messages with a callback id.
fn events() -> client::Events {
    let values = |list: &[(&str, client::ValueType)]| {
        list.iter()
            .map(|(f, v)| ((*f).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    client::Events {
        message: "crate::dispatch::Message".into(),
        variant: "Remote".into(),
        families: vec![client::EventFamily {
            name: "DomainEvent".into(),
            doc: "Domain events.\n\nOne variant per message.".into(),
            family: "Domain".into(),
            prefixes: strings(&["DOMAIN_EVENT_CALLBACK_", "DOMAIN_EVENT_"]),
            id_type: Some("DomainEventID".into()),
            messages: BTreeMap::from([
                (
                    "REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE".to_owned(),
                    client::EventMessage {
                        id: Some("LIFECYCLE".into()),
                        callback: Some("virConnectDomainEventCallback".into()),
                        spelling: None,
                        field_docs: BTreeMap::from([(
                            "event".to_owned(),
                            "The specific \\<event\\> which occurred".to_owned(),
                        )]),
                        values: values(&[
                            ("event", client::ValueType::Enum("DomainEventType".into())),
                            (
                                "detail",
                                client::ValueType::Dependent {
                                    ty: "DomainEventDetail".into(),
                                    of: "event".into(),
                                },
                            ),
                        ]),
                    },
                ),
                (
                    "REMOTE_PROC_DOMAIN_EVENT_CALLBACK_TUNABLE".to_owned(),
                    client::EventMessage {
                        id: Some("TUNABLE".into()),
                        callback: None,
                        // Not the procedure's letters: not used.
                        spelling: Some("Tuning".into()),
                        field_docs: BTreeMap::new(),
                        values: values(&[
                            ("flags", client::ValueType::Flags("TunableFlags".into())),
                            ("type", client::ValueType::Enum("TunableType".into())),
                        ]),
                    },
                ),
                (
                    "REMOTE_PROC_DOMAIN_EVENT_CALLBACK_PMWAKEUP".to_owned(),
                    client::EventMessage {
                        id: Some("PMWAKEUP".into()),
                        callback: Some("virConnectDomainEventPMWakeupCallback".into()),
                        spelling: Some("PMWakeup".into()),
                        field_docs: BTreeMap::new(),
                        values: BTreeMap::new(),
                    },
                ),
            ]),
        }],
    }
}

fn remote_events() -> client::EventCode {
    remote_with(&ClientConfig {
        events: events(),
        ..config("remote", "")
    })
    .events
    .expect("typed events")
}

#[test]
fn event_messages_become_typed_events() {
    let e = remote_events();
    insta::assert_snapshot!("remote_events", e.body);
    assert_eq!(e.enums, [("DomainEvent".to_owned(), 3)]);
    let text = squeeze(&e.body);
    // The callback id is dropped, the nested message flattened, the object
    // a handle named by its word, the numbers typed.
    assert!(
        text.contains(
            "Message::Remote( remote::program::Message::DomainEventCallbackLifecycle(m), ) \
             => { Ok(Self::Lifecycle { domain: Domain::from_wire(client.clone(), m.msg.dom), \
             event: api::DomainEventType::from(m.msg.event), \
             detail: api::DomainEventDetail::new( api::DomainEventType::from(m.msg.event), \
             m.msg.detail, ), }) }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Tunable { /// The domain the event is about. domain: Domain, \
             /// The message's `params`. params: TypedParams, \
             /// The message's `path`. path: Option<String>, \
             /// The message's `flags`. flags: api::TunableFlags, \
             /// The message's `type`. r#type: api::TunableType, }"
        ),
        "{text}"
    );
    assert!(
        text.contains("flags: api::TunableFlags::from_bits_retain(m.flags),"),
        "{text}"
    );
    // Word breaks from the C API's spelling, when it has the same letters.
    assert!(text.contains(" PmWakeup { "), "{text}");
    // The legacy message without a callback id has no variant.
    assert!(!text.contains("DomainEventLifecycle(m)"), "{text}");
    assert!(
        text.contains(
            "impl Event for DomainEvent { const FAMILY: EventFamily = EventFamily::Domain;"
        ),
        "{text}"
    );
    assert!(
        text.contains("pub fn event_id(&self) -> api::DomainEventID"),
        "{text}"
    );
    assert!(text.contains("pub fn domain(&self) -> &Domain"), "{text}");
    assert!(
        text.contains("use crate::client::{Client, Event, EventFamily, Domain};"),
        "{text}"
    );
    assert!(text.contains("use crate::dispatch::Message;"), "{text}");
    // Without families there are none.
    assert_eq!(remote().events, None);
}

#[test]
fn typed_events_refuse_what_they_cannot_type() {
    let spec = load_spec(&["client/remote.x"], Some("remote"));
    let options = GenOptions {
        strip_prefix: Some("remote".into()),
        ..GenOptions::default()
    };
    let with = |events: client::Events| {
        client::generate(
            &spec,
            &options,
            &ClientConfig {
                events,
                ..config("remote", "")
            },
        )
        .unwrap_err()
    };
    let mut unknown = events();
    unknown.families[0]
        .messages
        .get_mut("REMOTE_PROC_DOMAIN_EVENT_CALLBACK_TUNABLE")
        .unwrap()
        .values
        .insert("reason".into(), client::ValueType::Enum("X".into()));
    assert_eq!(
        with(unknown),
        "REMOTE_PROC_DOMAIN_EVENT_CALLBACK_TUNABLE: no field `reason` to type"
    );
    let mut not_a_number = events();
    not_a_number.families[0]
        .messages
        .get_mut("REMOTE_PROC_DOMAIN_EVENT_CALLBACK_TUNABLE")
        .unwrap()
        .values
        .insert("path".into(), client::ValueType::Enum("X".into()));
    assert!(with(not_a_number).contains("field `path` cannot be typed"));
    let mut none = events();
    none.families[0].prefixes = strings(&["NETWORK_EVENT_"]);
    assert_eq!(
        with(none),
        "event family `DomainEvent`: no message with a callback id starts with NETWORK_EVENT_"
    );
}
