//! What libvirt-proto's async clients are, for xdrgen's client methods
//! generator ([`xdrgen::codegen::client`]): which programs get methods on
//! which client type, the object handles, typed parameters, what streams
//! carry, which procedures pass file descriptors, and which `flags`
//! arguments take a flag set of the C API. The generator writes
//! `<module>_client.rs` next to the module of the program; this file only
//! configures it.
//!
//! Events are messages, not calls: the remote program's become typed event
//! enums instead (`remote_events.rs`), one per family of callbacks, their
//! fields typed as the C API's callbacks document them.
//!
//! Not generated: the keepalive program, and the calls the client makes
//! itself (authentication, `CONNECT_OPEN`, `CONNECT_CLOSE`).

use std::collections::BTreeMap;

use xdrgen::codegen::client::{
    self, ClientCode, ClientConfig, Fds, FlagArgs, Handle, TypedParams, TypedParamsConversion,
    ValueType,
};
use xdrgen::codegen::{GenOptions, ModuleLayout};
use xdrgen::ir::Spec as Ir;

use super::api::{function_key, rust_type_name, FlagParams};
use super::c_docs::{callback_key, ValueTypes};

/// Which client type a program's methods go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// `crate::client::Client` (a connection to the remote program).
    Client,
    /// `crate::client::AdminClient` (a daemon's admin socket).
    Admin,
}

impl ClientType {
    fn name(self) -> &'static str {
        match self {
            ClientType::Client => "Client",
            ClientType::Admin => "AdminClient",
        }
    }
}

/// The methods generated for one program module.
#[derive(Debug)]
pub struct Target {
    /// The generated module holding the program (`remote`, `qemu`, ...).
    pub module: &'static str,
    /// The type the methods are implemented on.
    pub client: ClientType,
    /// Written before every method name (`qemu_`).
    pub method_prefix: &'static str,
    /// Procedures (without the `X_PROC_` member prefix) that get no
    /// method, because the client runs them itself.
    pub skip: &'static [&'static str],
    /// Procedure name prefixes (after the member prefix) skipped likewise.
    pub skip_prefixes: &'static [&'static str],
    /// How the C API names this program's functions: a word after `vir`
    /// (`Adm` for `virAdmConnectOpen`) and a word after `Domain`
    /// (`Qemu` for `virDomainQemuMonitorCommand`), in lowercase.
    pub c_words: (&'static str, &'static str),
}

/// Every program that gets methods; the keepalive program (run by the
/// connection itself) and the lock and log managers (other daemons) do not.
pub const TARGETS: &[Target] = &[
    Target {
        module: "remote",
        client: ClientType::Client,
        method_prefix: "",
        // The opening handshake and `Client::close`.
        skip: &["CONNECT_OPEN", "CONNECT_CLOSE"],
        skip_prefixes: &["AUTH_"],
        c_words: ("", ""),
    },
    Target {
        module: "qemu",
        client: ClientType::Client,
        method_prefix: "qemu_",
        skip: &[],
        skip_prefixes: &[],
        c_words: ("", "qemu"),
    },
    Target {
        module: "lxc",
        client: ClientType::Client,
        method_prefix: "lxc_",
        skip: &[],
        skip_prefixes: &[],
        c_words: ("", "lxc"),
    },
    Target {
        module: "admin",
        client: ClientType::Admin,
        method_prefix: "",
        skip: &["CONNECT_OPEN", "CONNECT_CLOSE"],
        skip_prefixes: &[],
        c_words: ("adm", ""),
    },
];

/// Methods the client types define by hand; a generated name must not
/// meet one of them.
const HAND_WRITTEN: &[&str] = &[
    "call",
    "call_fds",
    "call_stream",
    "call_with_timeout",
    "close",
    "connect",
    "connect_read_only",
    "connect_with",
    "domain_events",
    "events",
    "from_parts",
    "is_closed",
    "network_events",
    "node_device_events",
    "register_domain_event",
    "register_network_event",
    "register_node_device_event",
    "register_qemu_monitor_event",
    "register_secret_event",
    "register_storage_pool_event",
    "request",
    "request_raw",
    "secret_events",
    "shutdown",
    "storage_pool_events",
];

/// The object handles of `Client` (`crate::client::Domain`, ...): the wire
/// identity each wraps, the handle type, and the word its procedures'
/// names use. A method whose first argument is one of these objects is
/// also a method of its handle.
const HANDLES: &[(&str, &str, &str)] = &[
    ("remote_nonnull_domain", "Domain", "domain"),
    ("remote_nonnull_network", "Network", "network"),
    ("remote_nonnull_network_port", "NetworkPort", "network_port"),
    ("remote_nonnull_nwfilter", "NwFilter", "nwfilter"),
    (
        "remote_nonnull_nwfilter_binding",
        "NwFilterBinding",
        "nwfilter_binding",
    ),
    ("remote_nonnull_interface", "Interface", "interface"),
    ("remote_nonnull_storage_pool", "StoragePool", "storage_pool"),
    ("remote_nonnull_storage_vol", "StorageVol", "storage_vol"),
    ("remote_nonnull_node_device", "NodeDevice", "node_device"),
    ("remote_nonnull_secret", "Secret", "secret"),
    (
        "remote_nonnull_domain_checkpoint",
        "DomainCheckpoint",
        "domain_checkpoint",
    ),
    (
        "remote_nonnull_domain_snapshot",
        "DomainSnapshot",
        "domain_snapshot",
    ),
];

/// Methods the handle types define by hand.
const HANDLE_HAND_WRITTEN: &[&str] = &["client", "from_wire", "into_wire", "wire"];

/// XDR names of the typed parameter structs, which a method takes as
/// `&TypedParams` and returns as `TypedParams`: `TypedParams` wraps a list
/// of the remote program's, and converts from and to the admin program's.
const TYPED_PARAM: &[(&str, TypedParamsConversion)] = &[
    ("remote_typed_param", TypedParamsConversion::Newtype),
    ("admin_typed_param", TypedParamsConversion::From),
];

/// What each stream procedure's byte stream carries, by procedure name;
/// others are described by their direction only.
const STREAMS: &[(&str, &str)] = &[
    (
        "REMOTE_PROC_DOMAIN_SCREENSHOT",
        "the image, in the format `mime` names",
    ),
    (
        "REMOTE_PROC_STORAGE_VOL_DOWNLOAD",
        "the volume's content (with holes when sparse)",
    ),
    (
        "REMOTE_PROC_STORAGE_VOL_UPLOAD",
        "the volume's new content (with holes when sparse)",
    ),
    (
        "REMOTE_PROC_DOMAIN_OPEN_CONSOLE",
        "the guest's console, both ways",
    ),
    (
        "REMOTE_PROC_DOMAIN_OPEN_CHANNEL",
        "the guest channel's data, both ways",
    ),
    (
        "REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL",
        "the migration data the source sends",
    ),
    (
        "REMOTE_PROC_DOMAIN_MIGRATE_PREPARE_TUNNEL3",
        "the migration data the source sends",
    ),
];

/// Procedures that pass file descriptors (`CALL_WITH_FDS`, not visible in
/// the `.x` files: libvirt's `remote_driver.c` makes them with `callFull`),
/// as (name, descriptors sent with the call, descriptors in the reply).
pub const FDS: &[(&str, bool, bool)] = &[
    ("REMOTE_PROC_DOMAIN_OPEN_GRAPHICS", true, false),
    ("REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD", false, true),
    ("REMOTE_PROC_DOMAIN_CREATE_XML_WITH_FILES", true, false),
    ("REMOTE_PROC_DOMAIN_CREATE_WITH_FILES", true, false),
    ("REMOTE_PROC_DOMAIN_FD_ASSOCIATE", true, false),
    ("QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES", true, true),
    ("LXC_PROC_DOMAIN_OPEN_NAMESPACE", false, true),
];

/// Getters whose count another call answers, as (getter, the call, the
/// count's name): virDomainGetSchedulerParameters takes the `nparams`
/// virDomainGetSchedulerType gives (libvirt's remote driver and virsh ask
/// for it first too).
const COUNT_FROM: &[(&str, &str, &str)] = &[
    (
        "REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS",
        "REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE",
        "nparams",
    ),
    (
        "REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS",
        "REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE",
        "nparams",
    ),
];

/// The generated module's name for a target (`remote_client`).
pub fn file_name(t: &Target) -> String {
    format!("{}_client", t.module)
}

/// The generated module's `//!` line.
pub fn module_doc(t: &Target) -> String {
    let client = t.client.name();
    format!(
        "Async methods of [`{client}`](crate::client::{client}), one per callable procedure of \
         the {} program (feature `client`).",
        t.module
    )
}

/// A line saying what a generated module holds.
pub fn summary(t: &Target, methods: usize) -> String {
    let client = t.client.name();
    let s = if methods == 1 { "" } else { "s" };
    format!(
        "The {} program: {methods} method{s} of `{client}`.",
        t.module
    )
}

impl Target {
    /// The keys ([`function_key`]) under which the C API may document the
    /// procedure whose name without its program prefix is `short`.
    fn c_function_keys(&self, short: &str) -> Vec<String> {
        let (after_vir, after_domain) = self.c_words;
        let mut keys = vec![format!("{after_vir}{}", function_key(short))];
        if let Some(rest) = short
            .strip_prefix("DOMAIN_")
            .filter(|_| !after_domain.is_empty())
        {
            keys.push(format!("domain{after_domain}{}", function_key(rest)));
        }
        keys
    }

    /// The generator's configuration for this target's program, generated
    /// with `options` (the program module's) from `ir`; its `flags`
    /// arguments typed as the C API's documentation (`flag_params`) says.
    pub fn config(
        &self,
        ir: &Ir,
        options: &GenOptions,
        flag_params: &FlagParams,
        values: &ValueTypes,
    ) -> ClientConfig {
        let client = self.client == ClientType::Client;
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ClientConfig {
            types_module: format!("super::{}", self.module),
            client_module: "crate::client".into(),
            client: self.client.name().into(),
            streams_and_fds: client,
            method_prefix: self.method_prefix.into(),
            skip: owned(self.skip),
            skip_prefixes: owned(self.skip_prefixes),
            hand_written: owned(HAND_WRITTEN),
            handles: HANDLES
                .iter()
                .filter(|_| client)
                .map(|(xdr, rust, word)| Handle {
                    xdr: (*xdr).into(),
                    rust: (*rust).into(),
                    word: (*word).into(),
                })
                .collect(),
            handle_hand_written: owned(HANDLE_HAND_WRITTEN),
            typed_params: Some(TypedParams {
                path: "crate::typed_params::TypedParams".into(),
                structs: TYPED_PARAM
                    .iter()
                    .map(|(xdr, c)| ((*xdr).to_owned(), *c))
                    .collect(),
            }),
            stream_contents: STREAMS
                .iter()
                .map(|(p, what)| ((*p).to_owned(), (*what).to_owned()))
                .collect(),
            fds: FDS
                .iter()
                .map(|(p, send, receive)| {
                    let fds = Fds {
                        send: *send,
                        receive: *receive,
                    };
                    ((*p).to_owned(), fds)
                })
                .collect(),
            count_from: COUNT_FROM
                .iter()
                .map(|(getter, procedure, count)| {
                    let from = client::CountFrom {
                        procedure: (*procedure).to_owned(),
                        count: (*count).to_owned(),
                    };
                    ((*getter).to_owned(), from)
                })
                .collect(),
            flag_module: "crate::api".into(),
            flag_args: self.flag_args(ir, options, flag_params),
            events: self.events(ir, options, values),
            ..self.values(ir, options, values)
        }
    }

    /// The typed values of each procedure's arguments and reply, its
    /// yes/no answer and the name of its typed result, by the C function
    /// that documents the procedure.
    fn values(&self, ir: &Ir, options: &GenOptions, values: &ValueTypes) -> ClientConfig {
        let mut out = ClientConfig::default();
        for program in ModuleLayout::new(ir, options).programs() {
            for p in program.versions.iter().flat_map(|v| &v.procedures) {
                let name = &p.procedure.name;
                let keys = self.c_function_keys(p.short);
                if let Some(documented) = keys.iter().find_map(|k| values.values.get(k)) {
                    let typed: BTreeMap<String, ValueType> = documented
                        .iter()
                        .filter_map(|(param, t)| {
                            Some((param.clone(), values.value_type(t, documented)?))
                        })
                        .collect();
                    // `flags` take flag sets only (`flag_args`).
                    let args = typed
                        .iter()
                        .filter(|(param, _)| *param != "flags")
                        .map(|(p, t)| (p.clone(), t.clone()))
                        .collect();
                    out.arg_values.insert(name.clone(), args);
                    out.reply_values.insert(name.clone(), typed);
                }
                if keys.iter().any(|k| values.bool_results.contains(k)) {
                    out.bool_replies.insert(name.clone());
                }
                // The C struct the function fills, or `DomainStateInfo` for
                // `DOMAIN_GET_STATE`.
                let result = keys
                    .iter()
                    .find_map(|k| values.result_structs.get(k))
                    .map(|s| rust_type_name(s))
                    .unwrap_or_else(|| {
                        format!(
                            "{}Info",
                            xdrgen::codegen::naming::upper_camel(&p.short.replacen("GET_", "", 1))
                        )
                    });
                out.reply_names.insert(name.clone(), result);
            }
        }
        out
    }

    /// The flag sets of each procedure's arguments, by the C function that
    /// documents the procedure (`DOMAIN_GET_XML_DESC` ↔
    /// `virDomainGetXMLDesc`), and why the others stay `u32`.
    fn flag_args(
        &self,
        ir: &Ir,
        options: &GenOptions,
        flag_params: &FlagParams,
    ) -> BTreeMap<String, FlagArgs> {
        let mut out = BTreeMap::new();
        for program in ModuleLayout::new(ir, options).programs() {
            for p in program.versions.iter().flat_map(|v| &v.procedures) {
                let keys = self.c_function_keys(p.short);
                let typed = keys
                    .iter()
                    .find_map(|k| flag_params.typed.get(k))
                    .map(|sets| {
                        sets.iter()
                            .map(|(param, set)| (param.clone(), rust_type_name(set)))
                            .collect()
                    })
                    .unwrap_or_default();
                let unused = keys.iter().any(|k| {
                    flag_params
                        .unused
                        .contains(&(k.clone(), "flags".to_owned()))
                });
                let documented = keys.iter().any(|k| flag_params.documented.contains(k));
                let why = if unused {
                    "not used yet (libvirt says pass 0)"
                } else if documented {
                    "no single flag set documented"
                } else {
                    "no C function documents it"
                };
                out.insert(
                    p.procedure.name.clone(),
                    FlagArgs {
                        typed,
                        untyped_reason: why.to_owned(),
                    },
                );
            }
        }
        out
    }
}

/// The methods of `target`'s program, as formatted Rust (after the
/// caller's preamble).
pub fn generate(
    target: &Target,
    ir: &Ir,
    options: &GenOptions,
    flag_params: &FlagParams,
    values: &ValueTypes,
) -> Result<ClientCode, String> {
    client::generate(
        ir,
        options,
        &target.config(ir, options, flag_params, values),
    )
}

/// A family of events: its `EventFamily` variant (`StoragePool`, also the
/// C API's word in `virStoragePoolEventID`), what it is about, the prefixes
/// of its messages' procedures, the registering method of `Client`, and
/// the word of its event ids (`VIR_<WORD>_EVENT_ID_<rest>`, naming each
/// message's callback) or, without ids, its one callback.
struct EventKind {
    family: &'static str,
    what: &'static str,
    prefixes: &'static [&'static str],
    method: &'static str,
    ids: Result<&'static str, &'static str>,
}

/// The programs whose messages become typed events (module, `Message`
/// variant) and their families.
const EVENTS: &[(&str, &str, &[EventKind])] = &[
    (
        "remote",
        "Remote",
        &[
            EventKind {
                family: "Domain",
                what: "The events of a domain",
                prefixes: &["DOMAIN_EVENT_CALLBACK_", "DOMAIN_EVENT_"],
                method: "domain_events",
                ids: Ok("DOMAIN"),
            },
            EventKind {
                family: "Network",
                what: "The events of a network",
                prefixes: &["NETWORK_EVENT_CALLBACK_", "NETWORK_EVENT_"],
                method: "network_events",
                ids: Ok("NETWORK"),
            },
            EventKind {
                family: "StoragePool",
                what: "The events of a storage pool",
                prefixes: &["STORAGE_POOL_EVENT_CALLBACK_", "STORAGE_POOL_EVENT_"],
                method: "storage_pool_events",
                ids: Ok("STORAGE_POOL"),
            },
            EventKind {
                family: "NodeDevice",
                what: "The events of a node device",
                prefixes: &["NODE_DEVICE_EVENT_CALLBACK_", "NODE_DEVICE_EVENT_"],
                method: "node_device_events",
                ids: Ok("NODE_DEVICE"),
            },
            EventKind {
                family: "Secret",
                what: "The events of a secret",
                prefixes: &["SECRET_EVENT_CALLBACK_", "SECRET_EVENT_"],
                method: "secret_events",
                ids: Ok("SECRET"),
            },
        ],
    ),
    (
        "qemu",
        "Qemu",
        &[EventKind {
            family: "QemuMonitor",
            what: "The QEMU monitor events of a domain",
            prefixes: &["DOMAIN_MONITOR_"],
            method: "qemu_monitor_events",
            ids: Err("virConnectDomainQemuMonitorEventCallback"),
        }],
    ),
];

impl Target {
    /// The typed events of this target's program: for each family, the
    /// messages of its prefixes, each with its callback (named by the
    /// comment of its event id, `VIR_<WORD>_EVENT_ID_<rest>`) and that
    /// callback's documented parameters.
    fn events(&self, ir: &Ir, options: &GenOptions, values: &ValueTypes) -> client::Events {
        let Some((_, variant, kinds)) = EVENTS.iter().find(|(m, _, _)| *m == self.module) else {
            return client::Events::default();
        };
        let layout = ModuleLayout::new(ir, options);
        let programs = layout.programs();
        let procedures: Vec<_> = programs
            .iter()
            .flat_map(|p| &p.versions)
            .flat_map(|v| &v.procedures)
            .collect();
        let families = kinds
            .iter()
            .map(|kind| {
                let messages = procedures
                    .iter()
                    .filter_map(|p| {
                        let rest = kind
                            .prefixes
                            .iter()
                            .find_map(|pre| p.short.strip_prefix(pre))?;
                        let message = match kind.ids {
                            Ok(word) => event_message(
                                values,
                                values.event_ids.get(&format!("VIR_{word}_EVENT_ID_{rest}")),
                                Some(rest),
                            ),
                            Err(callback) => {
                                event_message(values, Some(&callback.to_owned()), None)
                            }
                        };
                        Some((p.procedure.name.clone(), message))
                    })
                    .collect();
                let method = kind.method;
                client::EventFamily {
                    name: format!("{}Event", kind.family),
                    doc: format!(
                        "{}, one variant per kind: what the daemon sends to callbacks \
                         registered with [`Client::{method}`](crate::client::Client::{method}).",
                        kind.what
                    ),
                    family: kind.family.to_owned(),
                    prefixes: kind.prefixes.iter().map(|p| (*p).to_owned()).collect(),
                    id_type: kind
                        .ids
                        .ok()
                        .map(|_| rust_type_name(&format!("vir{}EventID", kind.family))),
                    messages,
                }
            })
            .collect();
        client::Events {
            message: "crate::dispatch::Message".into(),
            variant: (*variant).to_owned(),
            families,
        }
    }
}

/// What the C API says of an event sent to `callback`, registered for with
/// the event id's constant `constant` (`LIFECYCLE`) if it has one: the
/// callback's documented and typed parameters, by the fields' Rust names.
fn event_message(
    values: &ValueTypes,
    callback: Option<&String>,
    constant: Option<&str>,
) -> client::EventMessage {
    let Some((callback, key)) = callback.and_then(|c| Some((c, callback_key(c)?))) else {
        return client::EventMessage {
            id: constant.map(str::to_owned),
            ..client::EventMessage::default()
        };
    };
    let field = |param: &str| {
        xdrgen::codegen::naming::snake(param)
            .trim_start_matches("r#")
            .to_owned()
    };
    let field_docs = values
        .callbacks
        .get(&key)
        .map(|b| {
            b.params
                .iter()
                .map(|(param, doc)| (field(param), super::api::doc_text(doc)))
                .collect()
        })
        .unwrap_or_default();
    let documented = values.events.get(&key);
    let typed = documented
        .map(|documented| {
            documented
                .iter()
                .filter_map(|(param, c_type)| {
                    let vt = match values.value_type(c_type, documented)? {
                        ValueType::Dependent { ty, of } => {
                            ValueType::Dependent { ty, of: field(&of) }
                        }
                        other => other,
                    };
                    Some((field(param), vt))
                })
                .collect()
        })
        .unwrap_or_default();
    // `virConnectDomainEventPMWakeupCallback` spells `PMWakeup`.
    let spelling = callback
        .split_once("Event")
        .and_then(|(_, rest)| rest.strip_suffix("Callback"))
        .filter(|words| !words.is_empty())
        .map(str::to_owned);
    client::EventMessage {
        id: constant.map(str::to_owned),
        callback: Some(callback.clone()),
        spelling,
        field_docs,
        values: typed,
    }
}

/// The generated typed events' module name for a target (`remote_events`).
pub fn events_file_name(t: &Target) -> String {
    format!("{}_events", t.module)
}

/// The typed events' module `//!` line.
pub fn events_module_doc(t: &Target) -> String {
    format!(
        "Typed events of the {} program, one enum per family of callbacks, re-exported by \
         [`crate::client`] (feature `client`).",
        t.module
    )
}

/// A line saying what a typed events module holds.
pub fn events_summary(t: &Target, enums: &[(String, usize)]) -> String {
    let list: Vec<String> = enums
        .iter()
        .map(|(name, variants)| format!("`{name}` ({variants})"))
        .collect();
    format!(
        "The {} program's typed events: {}.",
        t.module,
        list.join(", ")
    )
}
