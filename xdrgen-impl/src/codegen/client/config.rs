//! What the caller says about the client the methods are generated for:
//! plain data, filled by the caller.

use std::collections::{BTreeMap, BTreeSet};

/// How to generate the client methods of one spec's program.
///
/// Procedures are named as the spec names them (`REMOTE_PROC_DOMAIN_GET_INFO`)
/// except in [`skip`](ClientConfig::skip) and
/// [`skip_prefixes`](ClientConfig::skip_prefixes), which take the name
/// without the program's member prefix (`CONNECT_OPEN`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// The path of the module [`generate_source`](crate::codegen::generate_source)
    /// made for the spec, as seen from the client methods' module
    /// (`super::remote`). The two modules are siblings: the paths of
    /// [extern modules](crate::codegen::ExternModule) (relative to the
    /// types' module) are used as they are.
    pub types_module: String,
    /// The module of the client type, `ClientError`, `ByteStream` and the
    /// handle types (`crate::client`).
    pub client_module: String,
    /// The type the methods are implemented on (`Client`).
    pub client: String,
    /// Whether the client type has `call_stream` and `call_fds`: without
    /// them, a stream or descriptor procedure is an error.
    pub streams_and_fds: bool,
    /// Written before every method name (`qemu_`).
    pub method_prefix: String,
    /// Procedures (without the member prefix) that get no method, because
    /// the client runs them itself.
    pub skip: Vec<String>,
    /// Procedure name prefixes (after the member prefix) skipped likewise.
    pub skip_prefixes: Vec<String>,
    /// Methods the client type defines by hand; a generated method may
    /// not take one of these names.
    pub hand_written: Vec<String>,
    /// The object handles.
    pub handles: Vec<Handle>,
    /// Methods the handle types define by hand.
    pub handle_hand_written: Vec<String>,
    /// The typed parameter lists, if the client has a type for them.
    pub typed_params: Option<TypedParams>,
    /// What the byte stream of a `@readstream` / `@writestream` procedure
    /// carries, by procedure, for its method's documentation (others are
    /// described by their direction only).
    pub stream_contents: BTreeMap<String, String>,
    /// Procedures that pass file descriptors, which the `.x` files do not
    /// show.
    pub fds: BTreeMap<String, Fds>,
    /// The module of the flag-set types that
    /// [`flag_args`](ClientConfig::flag_args) names (`crate::api`).
    pub flag_module: String,
    /// Arguments that take a flag set instead of a `u32`, by procedure.
    pub flag_args: BTreeMap<String, FlagArgs>,
    /// Number arguments that take a typed value of
    /// [`flag_module`](ClientConfig::flag_module) (`impl Into<Type>`), by
    /// procedure and field (the Rust name without `r#`).
    pub arg_values: BTreeMap<String, BTreeMap<String, ValueType>>,
    /// Reply fields returned as typed values, by procedure and field. A
    /// reply with such a field, or with a C string (`char name[N]`),
    /// comes back as a typed result: the one field's value, or a struct
    /// named by [`reply_names`](ClientConfig::reply_names).
    pub reply_values: BTreeMap<String, BTreeMap<String, ValueType>>,
    /// Procedures whose one-field `int` reply says yes (1) or no (0):
    /// their methods return `bool`.
    pub bool_replies: BTreeSet<String>,
    /// The name of each typed result struct, by procedure (`DomainInfo`);
    /// a typed reply of several fields without one is an error.
    pub reply_names: BTreeMap<String, String>,
    /// Getters whose count argument another procedure's reply gives, by
    /// procedure (`REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS`, whose
    /// `nparams` `REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE` returns): the
    /// method asks for the count first, and the caller gives none.
    pub count_from: BTreeMap<String, CountFrom>,
    /// The typed events of the program's messages, as enums of
    /// [`ClientCode::events`](super::ClientCode::events); none when it has
    /// no families.
    pub events: Events,
}

/// The typed events of a program: one enum per family of event messages,
/// implementing the client module's `Event` trait.
///
/// The client module ([`ClientConfig::client_module`]) provides the trait
/// `Event` (`const FAMILY: EventFamily` and
/// `fn from_message(client: &Client, message: Message) -> Result<Self, Message>`)
/// and the enum `EventFamily` whose variants [`EventFamily::family`] names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    /// The type events arrive as, which `Event::from_message` takes
    /// (`crate::dispatch::Message`).
    pub message: String,
    /// Its variant holding a message of this program, the program's
    /// `Message` enum (`Remote`).
    pub variant: String,
    /// The families, an enum each.
    pub families: Vec<EventFamily>,
}

/// One family of events: the messages sent to the callbacks of one kind of
/// registration, as the variants of one enum.
///
/// A message of the program is the family's when its name (without the
/// member prefix) starts with one of [`prefixes`](EventFamily::prefixes)
/// and its struct starts with `int callbackID`, libvirt's mark of an event
/// sent to a registered callback. Its variant is named by the rest of the
/// name (`DOMAIN_EVENT_CALLBACK_LIFECYCLE` → `Lifecycle`); its fields are the
/// message's without the callback id, those of a nested `msg` struct in its
/// place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFamily {
    /// The enum (`DomainEvent`).
    pub name: String,
    /// The enum's documentation (Markdown), one line or several.
    pub doc: String,
    /// The variant of the client module's `EventFamily` (`Domain`).
    pub family: String,
    /// Name prefixes of the family's messages, the longest first
    /// (`DOMAIN_EVENT_CALLBACK_`, `DOMAIN_EVENT_`).
    pub prefixes: Vec<String>,
    /// The type of [`ClientConfig::flag_module`] naming the events one
    /// registers for (`DomainEventID`): with it, the enum gets an
    /// `event_id()` and every message needs an [`EventMessage::id`].
    pub id_type: Option<String>,
    /// What the caller knows of each message, by procedure
    /// (`REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE`).
    pub messages: BTreeMap<String, EventMessage>,
}

/// Where a getter's count comes from (see [`ClientConfig::count_from`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountFrom {
    /// The procedure answering the count
    /// (`REMOTE_PROC_DOMAIN_GET_SCHEDULER_TYPE`); its arguments are
    /// arguments of the getter by the same names.
    pub procedure: String,
    /// The count: a field of its reply and an argument of the getter, by
    /// the same name (`nparams`).
    pub count: String,
}

/// What the caller knows of one event message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMessage {
    /// The constant of [`EventFamily::id_type`] registering for it
    /// (`LIFECYCLE`).
    pub id: Option<String>,
    /// The C callback it is delivered to (`virConnectDomainEventCallback`),
    /// for the documentation.
    pub callback: Option<String>,
    /// The C API's spelling of the event's words (`PMWakeup` for a
    /// procedure `..._PMWAKEUP`): the variant is named from it when it has
    /// the procedure name's letters and more word breaks (`PmWakeup`, not
    /// `Pmwakeup`).
    pub spelling: Option<String>,
    /// Documentation (Markdown) of the fields, by the message's field name
    /// (the Rust name without `r#`; a nested `msg`'s fields by their own).
    pub field_docs: BTreeMap<String, String>,
    /// Number fields as typed values of [`ClientConfig::flag_module`], by
    /// field name as in [`field_docs`](EventMessage::field_docs); a
    /// [`ValueType::Dependent`] names a sibling field likewise.
    pub values: BTreeMap<String, ValueType>,
}

/// How a number on the wire becomes a typed value, a type of
/// [`ClientConfig::flag_module`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// A newtype over `i32` with `From<i32>` and a public `.0`
    /// (`DomainState`).
    Enum(String),
    /// A flag set with `from_bits_retain(u32)` and `bits()`.
    Flags(String),
    /// A number that is 0 or 1 (`autostart`), as `bool`.
    Bool,
    /// A value typed by a sibling field's typed value:
    /// `Type::new(sibling, value)` (a lifecycle event's detail, typed by
    /// its event).
    Dependent {
        /// The type (`DomainEventDetail`).
        ty: String,
        /// The sibling field (`event`), itself an [`Enum`](ValueType::Enum).
        of: String,
    },
}

/// An object handle of the client (`Domain`): a client and the wire
/// identity of an object, with a method for each procedure whose first
/// argument is that object.
///
/// The handle type must have `from_wire(client, wire)`, and fields `client`
/// and `wire` the methods can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The XDR struct of the wire identity (`remote_nonnull_domain`).
    pub xdr: String,
    /// The handle type, in [`ClientConfig::client_module`] (`Domain`).
    pub rust: String,
    /// The word the object's procedures use (`domain`): dropped from the
    /// handle's method names (`domain_get_info` → `get_info`) and, with `_`
    /// as spaces, named in their documentation.
    pub word: String,
}

/// The client's type for lists of typed parameters, which methods take by
/// reference and return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedParams {
    /// Its path (`crate::typed_params::TypedParams`).
    pub path: String,
    /// The XDR structs of a typed parameter, a list of which is a typed
    /// parameter list, and how the type converts from and to such a list.
    pub structs: Vec<(String, TypedParamsConversion)>,
}

/// How the typed-parameter type converts from and to a list of one XDR
/// struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedParamsConversion {
    /// The type wraps the list: `params.0.clone()` in, `TypedParams(list)`
    /// out.
    Newtype,
    /// By `From`: `params.into()` in (from a reference),
    /// `TypedParams::from(list)` out.
    From,
}

/// Which way a procedure passes file descriptors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fds {
    /// Descriptors go with the call: the method takes `fds: Vec<OwnedFd>`.
    pub send: bool,
    /// Descriptors come with the reply: the method returns them.
    pub receive: bool,
}

/// The flag-set arguments of one procedure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagArgs {
    /// Parameter (the field's Rust name without `r#`) → flag-set type in
    /// [`ClientConfig::flag_module`]; a `u32` field named here takes
    /// `impl Into<Set>` and passes its `bits()`.
    pub typed: BTreeMap<String, String>,
    /// Why a `flags` argument not in `typed` stays a `u32`, for
    /// [`ClientCode::untyped_flags`](super::ClientCode::untyped_flags).
    pub untyped_reason: String,
}
