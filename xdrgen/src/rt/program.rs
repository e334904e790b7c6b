//! What generated procedure tables are made of.
//!
//! For each program the generator emits its number and version, a
//! `Procedure` enum, a static table of [`ProcedureInfo`], and one marker
//! type per procedure implementing [`RemoteProcedure`], so a caller can be
//! typed at compile time: `call::<remote::procs::DomainGetInfo>(args)`.

use super::{Codec, Decode, Encode};

/// Whether a procedure is called or only sent one way (an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcedureKind {
    /// A call with arguments and a reply.
    Call,
    /// A one-way message such as a libvirt event.
    Message,
}

/// libvirt's `@priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// May be handled by a high-priority worker.
    High,
    /// The default.
    Low,
}

/// libvirt's `@generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Generate {
    /// Client and server stubs generated.
    Both,
    /// Client stub only.
    Client,
    /// Server stub only.
    Server,
    /// Hand-written on both sides.
    None,
}

/// Which way a stream flows, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamDirection {
    /// `@readstream`: from the daemon to the client.
    Read,
    /// `@writestream`: from the client to the daemon.
    Write,
}

/// A procedure's stream (`@readstream` / `@writestream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamInfo {
    /// The direction.
    pub direction: StreamDirection,
    /// The stream's position in the C API's parameters.
    pub param: u32,
}

/// When an ACL check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclCondition {
    /// Always.
    Always,
    /// When any of the flags is set (`negated`: when none is).
    Flags {
        /// The `!` form.
        negated: bool,
        /// Flag names.
        flags: &'static [&'static str],
    },
    /// When an unsigned parameter equals a value.
    Param {
        /// The parameter.
        name: &'static str,
        /// The value (a constant's name or a number).
        value: &'static str,
    },
}

/// One `@acl` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AclRule {
    /// `connect`, `domain`, ... (`None` for `@acl: none`).
    pub object: Option<&'static str>,
    /// The permission checked.
    pub permission: &'static str,
    /// When it applies.
    pub condition: AclCondition,
}

/// One `@aclfilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AclFilter {
    /// The object kind.
    pub object: &'static str,
    /// The permission.
    pub permission: &'static str,
}

/// A row of a program's procedure table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcedureInfo {
    /// Its number.
    pub number: u32,
    /// Its name in the specification (e.g. `REMOTE_PROC_DOMAIN_GET_INFO`).
    pub name: &'static str,
    /// Call or message.
    pub kind: ProcedureKind,
    /// The XDR name of the argument type(s).
    pub args: &'static [&'static str],
    /// The XDR name of the reply type.
    pub ret: Option<&'static str>,
    /// The XDR name of the message type.
    pub message: Option<&'static str>,
    /// `@priority`.
    pub priority: Option<Priority>,
    /// `@generate`.
    pub generate: Option<Generate>,
    /// `@acl` rules.
    pub acl: &'static [AclRule],
    /// `@aclfilter` rules.
    pub acl_filter: &'static [AclFilter],
    /// `@readstream` / `@writestream`.
    pub stream: Option<StreamInfo>,
    /// `@sparseflag`.
    pub sparse_flag: Option<&'static str>,
}

/// `const` constructors, so a generated table has one short row per
/// procedure: `ProcedureInfo::new(16, "NAME", ProcedureKind::Call)` then
/// the parts that are not empty.
impl ProcedureInfo {
    /// A row with nothing but its number, name and kind.
    pub const fn new(number: u32, name: &'static str, kind: ProcedureKind) -> Self {
        ProcedureInfo {
            number,
            name,
            kind,
            args: &[],
            ret: None,
            message: None,
            priority: None,
            generate: None,
            acl: &[],
            acl_filter: &[],
            stream: None,
            sparse_flag: None,
        }
    }

    /// With these argument types.
    pub const fn args(mut self, args: &'static [&'static str]) -> Self {
        self.args = args;
        self
    }

    /// With this reply type.
    pub const fn ret(mut self, ret: &'static str) -> Self {
        self.ret = Some(ret);
        self
    }

    /// With this message type.
    pub const fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }

    /// With this `@priority`.
    pub const fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// With this `@generate`.
    pub const fn generate(mut self, generate: Generate) -> Self {
        self.generate = Some(generate);
        self
    }

    /// With these `@acl` rules.
    pub const fn acl(mut self, acl: &'static [AclRule]) -> Self {
        self.acl = acl;
        self
    }

    /// With these `@aclfilter` rules.
    pub const fn acl_filter(mut self, acl_filter: &'static [AclFilter]) -> Self {
        self.acl_filter = acl_filter;
        self
    }

    /// With a stream.
    pub const fn stream(mut self, direction: StreamDirection, param: u32) -> Self {
        self.stream = Some(StreamInfo { direction, param });
        self
    }

    /// With this `@sparseflag`.
    pub const fn sparse_flag(mut self, flag: &'static str) -> Self {
        self.sparse_flag = Some(flag);
        self
    }
}

impl AclRule {
    /// `@acl: none`.
    pub const NONE: AclRule = AclRule {
        object: None,
        permission: "none",
        condition: AclCondition::Always,
    };

    /// `@acl: object:permission`, checked always.
    pub const fn check(object: &'static str, permission: &'static str) -> Self {
        AclRule {
            object: Some(object),
            permission,
            condition: AclCondition::Always,
        }
    }

    /// The same check, only when `condition` holds.
    pub const fn when(mut self, condition: AclCondition) -> Self {
        self.condition = condition;
        self
    }
}

impl AclFilter {
    /// `@aclfilter: object:permission`.
    pub const fn new(object: &'static str, permission: &'static str) -> Self {
        AclFilter { object, permission }
    }
}

/// A procedure known at compile time: a generated marker type per
/// procedure implements it.
pub trait RemoteProcedure {
    /// The program number.
    const PROGRAM: u32;
    /// The program version.
    const VERSION: u32;
    /// The procedure number.
    const NUMBER: u32;
    /// Its table row.
    const INFO: &'static ProcedureInfo;
    /// What is sent: the arguments of a call, or the body of a message
    /// (`()` for none; for several arguments, rpcgen -N's argument struct).
    type Args;
    /// How [`RemoteProcedure::Args`] is encoded.
    type ArgsCodec: Codec<Value = Self::Args>;
    /// What a call's reply carries (`()` for none or for messages).
    type Ret;
    /// How [`RemoteProcedure::Ret`] is encoded.
    type RetCodec: Codec<Value = Self::Ret>;
}

impl Encode for () {
    const FIXED_LEN: Option<usize> = Some(0);
    fn encode(&self, _: &mut super::Writer<'_>) -> Result<(), super::Error> {
        Ok(())
    }
    fn encoded_len(&self) -> usize {
        0
    }
}

impl Decode for () {
    const MIN_LEN: usize = 0;
    fn decode(_: &mut super::Reader<'_>) -> Result<(), super::Error> {
        Ok(())
    }
}

macro_rules! tuples {
    ($(($($t:ident $i:tt),+)),*) => {$(
        impl<$($t: Codec),+> Codec for ($($t,)+) {
            type Value = ($($t::Value,)+);
            const MIN_LEN: usize = 0 $(+ $t::MIN_LEN)+;
            const FIXED_LEN: Option<usize> = super::sum_fixed(&[$($t::FIXED_LEN),+]);
            fn encode(v: &Self::Value, w: &mut super::Writer<'_>) -> Result<(), super::Error> {
                $($t::encode(&v.$i, w)?;)+
                Ok(())
            }
            fn len(v: &Self::Value) -> usize {
                0 $(+ $t::len(&v.$i))+
            }
            fn decode(r: &mut super::Reader<'_>) -> Result<Self::Value, super::Error> {
                Ok(($($t::decode(r)?,)+))
            }
        }
    )*};
}

// Several arguments of an RFC 5531 procedure travel one after the other.
tuples!((A 0, B 1), (A 0, B 1, C 2), (A 0, B 1, C 2, D 3));
