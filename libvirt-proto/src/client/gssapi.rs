//! The SASL GSSAPI mechanism (Kerberos V5, RFC 4752) with its security
//! layer, on the system's MIT Kerberos library.
//!
//! libvirtd accepts SASL over plain tcp only with a mechanism whose
//! security layer gives at least 56 bits (`tcp_min_ssf`), which in
//! practice means GSSAPI with confidentiality: Kerberos authenticates
//! both sides and then encrypts every byte. This is what `virsh -c
//! qemu+tcp://host/system` does with `auth_tcp = "sasl"` and Cyrus's
//! `mech_list: gssapi`.
//!
//! `libgssapi_krb5.so.2` (Debian's `libgssapi-krb5-2`, already present
//! wherever libvirt's own client is installed) is loaded when the
//! mechanism is first used, so programs that never use Kerberos neither
//! link nor load it. The credentials are the user's Kerberos tickets
//! (`kinit`, `KRB5CCNAME`); the service asked for is `libvirt@HOST`, HOST
//! being the URI's host, as with libvirt.
//!
//! The exchange: GSS-API context tokens until the context is established
//! (with mutual authentication, so the daemon proves itself too), then
//! the daemon's wrapped offer of security layers and maximum packet size,
//! and the client's wrapped choice. Over plain tcp the client insists on
//! confidentiality; over a transport libvirt counts as secure (tls, a
//! Unix socket, ssh) it takes no layer when offered, since the channel
//! already protects the bytes.

// Calling a C library is unsafe by nature; every block says why it holds.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr};
use std::fmt;
use std::ptr;
use std::sync::OnceLock;

use crate::engine::auth::SaslMechanism;
use crate::engine::layer::SecurityLayer;

/// The mechanism's name as the daemon lists it.
const NAME: &str = "GSSAPI";

/// Security layer bits of RFC 4752's offer and choice.
const LAYER_NONE: u8 = 1;
const LAYER_INTEGRITY: u8 = 2;
const LAYER_CONFIDENTIALITY: u8 = 4;

/// The largest packet this side accepts from the daemon (Cyrus SASL's
/// default buffer size).
const MAX_RECEIVE: u32 = 65536;

/// The raw GSS-API (RFC 2744) as MIT Kerberos exports it.
mod ffi {
    use std::ffi::{c_int, c_void};

    pub type Status = u32;

    #[repr(C)]
    pub struct Buffer {
        pub length: usize,
        pub value: *mut c_void,
    }

    impl Buffer {
        pub const EMPTY: Buffer = Buffer {
            length: 0,
            value: std::ptr::null_mut(),
        };

        /// A buffer borrowing `bytes` (GSS-API never writes input buffers).
        pub fn borrow(bytes: &[u8]) -> Buffer {
            Buffer {
                length: bytes.len(),
                value: bytes.as_ptr() as *mut c_void,
            }
        }
    }

    #[repr(C)]
    pub struct Oid {
        pub length: u32,
        pub elements: *const c_void,
    }

    pub type Name = *mut c_void;
    pub type Context = *mut c_void;

    pub const COMPLETE: Status = 0;
    pub const CONTINUE_NEEDED: Status = 1;
    /// Routine and calling errors live in the high 16 bits.
    pub const ERROR_MASK: Status = 0xffff_0000;

    pub const MUTUAL_FLAG: u32 = 2;
    pub const REPLAY_FLAG: u32 = 4;
    pub const SEQUENCE_FLAG: u32 = 8;
    pub const CONF_FLAG: u32 = 16;
    pub const INTEG_FLAG: u32 = 32;

    pub const GSS_CODE: c_int = 1;
    pub const MECH_CODE: c_int = 2;

    /// 1.2.840.113554.1.2.1.4, GSS_C_NT_HOSTBASED_SERVICE.
    pub const HOSTBASED_SERVICE: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
    /// 1.2.840.113554.1.2.2, Kerberos V5.
    pub const KRB5_MECH: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";

    pub type ImportName =
        unsafe extern "C" fn(*mut Status, *const Buffer, *const Oid, *mut Name) -> Status;
    pub type ReleaseName = unsafe extern "C" fn(*mut Status, *mut Name) -> Status;
    #[allow(clippy::type_complexity)]
    pub type InitSecContext = unsafe extern "C" fn(
        *mut Status,
        *mut c_void,
        *mut Context,
        Name,
        *const Oid,
        u32,
        u32,
        *const c_void,
        *const Buffer,
        *mut *const Oid,
        *mut Buffer,
        *mut u32,
        *mut u32,
    ) -> Status;
    pub type DeleteSecContext =
        unsafe extern "C" fn(*mut Status, *mut Context, *mut Buffer) -> Status;
    pub type Wrap = unsafe extern "C" fn(
        *mut Status,
        Context,
        c_int,
        u32,
        *const Buffer,
        *mut c_int,
        *mut Buffer,
    ) -> Status;
    pub type Unwrap = unsafe extern "C" fn(
        *mut Status,
        Context,
        *const Buffer,
        *mut Buffer,
        *mut c_int,
        *mut u32,
    ) -> Status;
    pub type WrapSizeLimit =
        unsafe extern "C" fn(*mut Status, Context, c_int, u32, u32, *mut u32) -> Status;
    pub type ReleaseBuffer = unsafe extern "C" fn(*mut Status, *mut Buffer) -> Status;
    pub type DisplayStatus = unsafe extern "C" fn(
        *mut Status,
        Status,
        c_int,
        *const Oid,
        *mut u32,
        *mut Buffer,
    ) -> Status;

    // The dynamic loader (in glibc's libc since 2.34, libdl before).
    extern "C" {
        pub fn dlopen(filename: *const std::ffi::c_char, flag: c_int) -> *mut c_void;
        pub fn dlsym(handle: *mut c_void, symbol: *const std::ffi::c_char) -> *mut c_void;
        pub fn dlerror() -> *mut std::ffi::c_char;
    }
    pub const RTLD_NOW: c_int = 2;
}

/// The GSS-API functions this mechanism uses, from the loaded library.
struct Gss {
    import_name: ffi::ImportName,
    release_name: ffi::ReleaseName,
    init_sec_context: ffi::InitSecContext,
    delete_sec_context: ffi::DeleteSecContext,
    wrap: ffi::Wrap,
    unwrap: ffi::Unwrap,
    wrap_size_limit: ffi::WrapSizeLimit,
    release_buffer: ffi::ReleaseBuffer,
    display_status: ffi::DisplayStatus,
}

/// The library names tried, in order.
const LIBRARIES: [&CStr; 2] = [c"libgssapi_krb5.so.2", c"libgssapi_krb5.so"];

/// The GSS-API library, loaded on first use and kept for the process.
fn gss() -> Result<&'static Gss, String> {
    static GSS: OnceLock<Result<Gss, String>> = OnceLock::new();
    GSS.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Gss, String> {
    let mut handle = ptr::null_mut();
    let mut why = Vec::new();
    for name in LIBRARIES {
        // SAFETY: a NUL-terminated name; loading MIT Kerberos runs only
        // its own initialisers.
        handle = unsafe { ffi::dlopen(name.as_ptr(), ffi::RTLD_NOW) };
        if !handle.is_null() {
            break;
        }
        // SAFETY: dlerror returns NULL or a NUL-terminated message.
        let e = unsafe { ffi::dlerror() };
        if !e.is_null() {
            // SAFETY: as above; copied before the next dl call.
            why.push(unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned());
        }
    }
    if handle.is_null() {
        return Err(format!(
            "GSSAPI needs MIT Kerberos' libgssapi_krb5.so.2 (Debian: libgssapi-krb5-2): {}",
            why.join("; ")
        ));
    }
    // SAFETY: each field's type spells out the C signature RFC 2744
    // gives the function of that name.
    unsafe {
        Ok(Gss {
            import_name: symbol(handle, c"gss_import_name")?,
            release_name: symbol(handle, c"gss_release_name")?,
            init_sec_context: symbol(handle, c"gss_init_sec_context")?,
            delete_sec_context: symbol(handle, c"gss_delete_sec_context")?,
            wrap: symbol(handle, c"gss_wrap")?,
            unwrap: symbol(handle, c"gss_unwrap")?,
            wrap_size_limit: symbol(handle, c"gss_wrap_size_limit")?,
            release_buffer: symbol(handle, c"gss_release_buffer")?,
            display_status: symbol(handle, c"gss_display_status")?,
        })
    }
}

/// The function `name` of the library `handle`, as a `T`.
///
/// # Safety
///
/// `T` must be a function pointer type matching the symbol's C signature.
unsafe fn symbol<T: Copy>(handle: *mut c_void, name: &CStr) -> Result<T, String> {
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: a live handle and a NUL-terminated name.
    let p = unsafe { ffi::dlsym(handle, name.as_ptr()) };
    if p.is_null() {
        return Err(format!("libgssapi_krb5 lacks {}", name.to_string_lossy()));
    }
    // SAFETY: a non-null code address, of the type the caller vouches for.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
}

impl Gss {
    /// The library's text for a major/minor status pair.
    fn describe(&self, what: &str, major: ffi::Status, minor: ffi::Status) -> String {
        let mut parts = Vec::new();
        let mech = krb5_oid();
        for (code, kind) in [(major, ffi::GSS_CODE), (minor, ffi::MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut more = 0u32;
            // Bounded: a misbehaving library cannot loop us forever.
            for _ in 0..8 {
                let mut text = ffi::Buffer::EMPTY;
                let mut m = 0;
                // SAFETY: valid out-pointers; the buffer is released below.
                let r = unsafe {
                    (self.display_status)(&mut m, code, kind, &mech, &mut more, &mut text)
                };
                if r & ffi::ERROR_MASK != 0 {
                    break;
                }
                parts.push(String::from_utf8_lossy(self.take(&mut text).as_slice()).into_owned());
                if more == 0 {
                    break;
                }
            }
        }
        if parts.is_empty() {
            format!("{what} failed (GSS-API status {major:#x}/{minor})")
        } else {
            format!("{what}: {}", parts.join(": "))
        }
    }

    /// Copies a library-allocated buffer and releases it.
    fn take(&self, buffer: &mut ffi::Buffer) -> Vec<u8> {
        if buffer.value.is_null() {
            return Vec::new();
        }
        let bytes = if buffer.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library filled `buffer` with `length` readable
            // bytes.
            unsafe { std::slice::from_raw_parts(buffer.value as *const u8, buffer.length) }.to_vec()
        };
        let mut minor = 0;
        // SAFETY: a buffer the library allocated, released once.
        unsafe { (self.release_buffer)(&mut minor, buffer) };
        bytes
    }
}

fn krb5_oid() -> ffi::Oid {
    ffi::Oid {
        length: ffi::KRB5_MECH.len() as u32,
        elements: ffi::KRB5_MECH.as_ptr().cast(),
    }
}

/// An imported service name.
struct Name {
    gss: &'static Gss,
    handle: ffi::Name,
}

// SAFETY: as for `Context`.
unsafe impl Send for Name {}

impl Drop for Name {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: a name this value owns, released once.
        unsafe { (self.gss.release_name)(&mut minor, &mut self.handle) };
    }
}

/// An established or establishing security context.
struct Context {
    gss: &'static Gss,
    handle: ffi::Context,
}

// SAFETY: MIT's context handles are plain heap objects without thread
// affinity; the connection uses its context from one task at a time.
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            let mut minor = 0;
            // SAFETY: a context this value owns, deleted once.
            unsafe { (self.gss.delete_sec_context)(&mut minor, &mut self.handle, ptr::null_mut()) };
        }
    }
}

impl Context {
    /// The most plaintext whose token fits in `max_token` bytes.
    fn wrap_size_limit(&self, confidential: bool, max_token: u32) -> Result<usize, String> {
        let (mut minor, mut limit) = (0, 0u32);
        // SAFETY: an established context and a valid out-pointer.
        let major = unsafe {
            (self.gss.wrap_size_limit)(
                &mut minor,
                self.handle,
                c_int::from(confidential),
                0,
                max_token,
                &mut limit,
            )
        };
        if major & ffi::ERROR_MASK != 0 {
            return Err(self.gss.describe("gss_wrap_size_limit", major, minor));
        }
        if limit == 0 {
            return Err(format!(
                "GSSAPI: nothing fits in the daemon's {max_token}-byte security layer packets"
            ));
        }
        Ok(limit as usize)
    }

    fn wrap(&self, data: &[u8], confidential: bool) -> Result<Vec<u8>, String> {
        let (mut minor, mut conf_state) = (0, 0);
        let mut out = ffi::Buffer::EMPTY;
        let input = ffi::Buffer::borrow(data);
        // SAFETY: an established context, valid buffers and out-pointers.
        let major = unsafe {
            (self.gss.wrap)(
                &mut minor,
                self.handle,
                c_int::from(confidential),
                0,
                &input,
                &mut conf_state,
                &mut out,
            )
        };
        let token = self.gss.take(&mut out);
        if major & ffi::ERROR_MASK != 0 {
            return Err(self.gss.describe("gss_wrap", major, minor));
        }
        if confidential && conf_state == 0 {
            return Err("gss_wrap did not encrypt".into());
        }
        Ok(token)
    }

    /// The message in `token`, and whether it was encrypted. A token
    /// replayed, out of order or after a gap is refused: the bytes travel
    /// over an ordered stream, so any of these means tampering (the
    /// library still decrypts such tokens and only flags them).
    fn unwrap(&self, token: &[u8]) -> Result<(Vec<u8>, bool), String> {
        let (mut minor, mut conf_state, mut qop) = (0, 0, 0);
        let mut out = ffi::Buffer::EMPTY;
        let input = ffi::Buffer::borrow(token);
        // SAFETY: an established context, valid buffers and out-pointers.
        let major = unsafe {
            (self.gss.unwrap)(
                &mut minor,
                self.handle,
                &input,
                &mut out,
                &mut conf_state,
                &mut qop,
            )
        };
        let message = self.gss.take(&mut out);
        if major & ffi::ERROR_MASK != 0 {
            return Err(self.gss.describe("gss_unwrap", major, minor));
        }
        if major != ffi::COMPLETE {
            return Err(format!(
                "gss_unwrap: a token replayed, reordered or after a gap (status {major:#x})"
            ));
        }
        Ok((message, conf_state != 0))
    }
}

/// Where the exchange stands.
enum Stage {
    /// Exchanging context tokens.
    Context,
    /// Context established; waiting for the daemon's layer offer.
    Offer,
    /// The choice is sent; nothing more to do.
    Done,
}

/// The client side of SASL GSSAPI for one connection.
pub(crate) struct Gssapi {
    gss: &'static Gss,
    target: String,
    name: Name,
    context: Context,
    /// The first context token, made when the mechanism was built (so a
    /// missing ticket is known before the exchange starts).
    first: Option<Vec<u8>>,
    stage: Stage,
    /// Over plain tcp: only confidentiality will do.
    need_confidentiality: bool,
    /// The layer chosen, with the most plaintext one packet to the daemon
    /// carries.
    layer: Option<(u8, usize)>,
}

impl fmt::Debug for Gssapi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gssapi")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Gssapi {
    /// Starts a context for the `libvirt` service on `host` with the
    /// user's default Kerberos credentials. Fails (so another mechanism
    /// may be tried) when the library is missing or the user has no
    /// usable ticket for the service.
    pub(crate) fn new(host: &str, need_confidentiality: bool) -> Result<Gssapi, String> {
        let gss = gss()?;
        let target = format!("libvirt@{host}");
        let mut handle: ffi::Name = ptr::null_mut();
        let mut minor = 0;
        let nt = ffi::Oid {
            length: ffi::HOSTBASED_SERVICE.len() as u32,
            elements: ffi::HOSTBASED_SERVICE.as_ptr().cast(),
        };
        let input = ffi::Buffer::borrow(target.as_bytes());
        // SAFETY: valid buffers and out-pointers; `Name` releases it.
        let major = unsafe { (gss.import_name)(&mut minor, &input, &nt, &mut handle) };
        if major & ffi::ERROR_MASK != 0 {
            return Err(gss.describe(&format!("GSSAPI: the name {target}"), major, minor));
        }
        let mut mech = Gssapi {
            gss,
            target,
            name: Name { gss, handle },
            context: Context {
                gss,
                handle: ptr::null_mut(),
            },
            first: None,
            stage: Stage::Context,
            need_confidentiality,
            layer: None,
        };
        mech.first = Some(mech.init(None)?);
        Ok(mech)
    }

    /// One `gss_init_sec_context` round: the token to send. Moves on to
    /// waiting for the layer offer once the context is established.
    fn init(&mut self, input: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let mut minor = 0;
        let mut out = ffi::Buffer::EMPTY;
        let input = input.map(ffi::Buffer::borrow);
        let mech = krb5_oid();
        let (mut actual, mut flags, mut time) = (ptr::null(), 0u32, 0u32);
        let wanted = ffi::MUTUAL_FLAG
            | ffi::REPLAY_FLAG
            | ffi::SEQUENCE_FLAG
            | ffi::CONF_FLAG
            | ffi::INTEG_FLAG;
        // SAFETY: valid pointers throughout; the context handle is ours
        // and updated in place; the output buffer is released by `take`.
        let major = unsafe {
            (self.gss.init_sec_context)(
                &mut minor,
                ptr::null_mut(),
                &mut self.context.handle,
                self.name.handle,
                &mech,
                wanted,
                0,
                ptr::null(),
                input
                    .as_ref()
                    .map_or(ptr::null(), |b| b as *const ffi::Buffer),
                &mut actual,
                &mut out,
                &mut flags,
                &mut time,
            )
        };
        let token = self.gss.take(&mut out);
        if major & ffi::ERROR_MASK != 0 {
            return Err(self.gss.describe(
                &format!("GSSAPI: a Kerberos context with {}", self.target),
                major,
                minor,
            ));
        }
        match major & 0xffff {
            ffi::COMPLETE => {
                if flags & ffi::MUTUAL_FLAG == 0 {
                    return Err("GSSAPI: the daemon was not authenticated (no mutual \
                                authentication)"
                        .into());
                }
                let mut needed = ffi::INTEG_FLAG | ffi::SEQUENCE_FLAG | ffi::REPLAY_FLAG;
                if self.need_confidentiality {
                    needed |= ffi::CONF_FLAG;
                }
                if flags & needed != needed {
                    return Err(format!(
                        "GSSAPI: the context lacks protections this connection needs \
                         (flags {flags:#x}, wanted {needed:#x})"
                    ));
                }
                self.stage = Stage::Offer;
            }
            ffi::CONTINUE_NEEDED => {}
            other => {
                return Err(format!(
                    "GSSAPI: unexpected supplementary status {other:#x}"
                ))
            }
        }
        Ok(token)
    }

    /// The reply to the daemon's wrapped layer offer.
    fn choose_layer(&mut self, offer: &[u8]) -> Result<Vec<u8>, String> {
        let (offer, _) = self.context.unwrap(offer)?;
        let [layers, a, b, c] = offer[..] else {
            return Err(format!(
                "GSSAPI: the daemon's security layer offer is {} bytes, not 4",
                offer.len()
            ));
        };
        let server_max = u32::from_be_bytes([0, a, b, c]);
        let Some(pick) = pick_layer(layers, self.need_confidentiality) else {
            return Err(format!(
                "GSSAPI: the daemon offers security layers {layers:#04x}, without the \
                 confidentiality plain tcp needs"
            ));
        };
        let max = if pick == LAYER_NONE { 0 } else { MAX_RECEIVE };
        if pick != LAYER_NONE {
            let limit = self
                .context
                .wrap_size_limit(pick == LAYER_CONFIDENTIALITY, server_max)?;
            self.layer = Some((pick, limit));
        }
        let [_, x, y, z] = max.to_be_bytes();
        // No authorization identity: act as the authenticated principal.
        self.context.wrap(&[pick, x, y, z], false)
    }
}

/// The layer to take among the daemon's `offered` bits: confidentiality
/// when it is needed (plain tcp), else none when offered (the channel
/// protects the bytes already), else the strongest.
fn pick_layer(offered: u8, need_confidentiality: bool) -> Option<u8> {
    let has = |layer: u8| offered & layer != 0;
    if need_confidentiality {
        has(LAYER_CONFIDENTIALITY).then_some(LAYER_CONFIDENTIALITY)
    } else {
        [LAYER_NONE, LAYER_CONFIDENTIALITY, LAYER_INTEGRITY]
            .into_iter()
            .find(|&layer| has(layer))
    }
}

impl SaslMechanism for Gssapi {
    fn name(&self) -> &str {
        NAME
    }

    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(self.first.take().unwrap_or_default()))
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        let challenge = challenge.unwrap_or_default();
        match self.stage {
            Stage::Context => self.init(Some(challenge)).map(Some),
            Stage::Offer => {
                let reply = self.choose_layer(challenge)?;
                self.stage = Stage::Done;
                Ok(Some(reply))
            }
            Stage::Done if challenge.is_empty() => Ok(None),
            Stage::Done => Err("GSSAPI: the daemon sent data after the exchange".into()),
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        let (layer, max_plaintext) = self.layer.take()?;
        let context = std::mem::replace(
            &mut self.context,
            Context {
                gss: self.gss,
                handle: ptr::null_mut(),
            },
        );
        Some(Box::new(GssLayer {
            context,
            confidential: layer == LAYER_CONFIDENTIALITY,
            max_plaintext,
        }))
    }
}

/// The security layer of an established context.
struct GssLayer {
    context: Context,
    confidential: bool,
    max_plaintext: usize,
}

impl SecurityLayer for GssLayer {
    fn max_plaintext(&self) -> usize {
        self.max_plaintext
    }

    fn max_packet(&self) -> usize {
        MAX_RECEIVE as usize
    }

    fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        self.context.wrap(plaintext, self.confidential)
    }

    fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, String> {
        let (message, encrypted) = self.context.unwrap(packet)?;
        if self.confidential && !encrypted {
            // A downgrade: refuse what was negotiated away.
            return Err("an unencrypted packet on an encrypted connection".into());
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidentiality_is_required_where_needed_and_avoided_where_not() {
        let all = LAYER_NONE | LAYER_INTEGRITY | LAYER_CONFIDENTIALITY;
        // Plain tcp: only confidentiality will do.
        assert_eq!(pick_layer(all, true), Some(LAYER_CONFIDENTIALITY));
        assert_eq!(pick_layer(LAYER_NONE | LAYER_INTEGRITY, true), None);
        assert_eq!(pick_layer(0, true), None);
        // A secure channel: no layer when offered, else the strongest.
        assert_eq!(pick_layer(all, false), Some(LAYER_NONE));
        assert_eq!(
            pick_layer(LAYER_INTEGRITY | LAYER_CONFIDENTIALITY, false),
            Some(LAYER_CONFIDENTIALITY)
        );
        assert_eq!(pick_layer(LAYER_INTEGRITY, false), Some(LAYER_INTEGRITY));
        // Bits this client does not know are ignored.
        assert_eq!(pick_layer(0xf8, false), None);
    }
}
