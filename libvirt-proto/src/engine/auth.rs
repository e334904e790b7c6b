//! Authentication of a connection, without I/O.
//!
//! The client asks `AUTH_LIST` which methods the daemon requires, picks the
//! first of its wanted methods on offer, and runs it: nothing for `none`,
//! `AUTH_POLKIT` for polkit, and the `AUTH_SASL_INIT` / `_START` / `_STEP`
//! exchange for SASL through a pluggable [`SaslMechanism`], either given up
//! front or built by a [`SaslMechanismChooser`] from the mechanisms the
//! daemon lists in its `AUTH_SASL_INIT` reply.
//!
//! # Policy
//!
//! The client decides which methods are acceptable, never the daemon.
//! When none of the wanted methods is offered, authentication fails with
//! [`AuthError::NotOffered`] naming both lists, even when the daemon
//! offers `none`: a client that demands SASL (libvirt's `auth=sasl`) is
//! not talked out of it by a peer that could be an attacker stripping
//! authentication and its encryption. An empty list (libvirt's daemons
//! never send one, but libvirt's client reads it as "nothing to do") is
//! accepted only when `none` is among the wanted methods; libvirt's client
//! accepts it even when a method was demanded, this one is stricter.
//!
//! Everything a mechanism does (building it, which may read credentials
//! or ask a KDC for a ticket, and each step, which may derive keys) runs
//! as an [`AuthJob`] the caller takes with [`ClientAuth::take_job`] and
//! runs where blocking is harmless, so a slow or hostile exchange never
//! stalls the caller's I/O loop.
//!
//! [`ServerAuth`] is the daemon's side: it answers those calls, refuses
//! every other call until the client is authenticated, and refuses a
//! second authentication once it is.

use std::fmt;

use super::layer::SecurityLayer;
use super::{CallError, ClientEngine, EngineError, Event, ServerEngine};
use crate::dispatch::Call;
use crate::error::RemoteError;
use crate::frame::Header;
use crate::generated::error_codes::{ErrorDomain, ErrorNumber};
use crate::generated::remote::{self, program::procs, AuthType};

/// A way to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// No authentication.
    None,
    /// SASL.
    Sasl,
    /// polkit (local connections).
    Polkit,
}

impl From<AuthType> for AuthMethod {
    fn from(t: AuthType) -> Self {
        match t {
            AuthType::None => AuthMethod::None,
            AuthType::Sasl => AuthMethod::Sasl,
            AuthType::Polkit => AuthMethod::Polkit,
        }
    }
}

impl From<AuthMethod> for AuthType {
    fn from(m: AuthMethod) -> Self {
        match m {
            AuthMethod::None => AuthType::None,
            AuthMethod::Sasl => AuthType::Sasl,
            AuthMethod::Polkit => AuthType::Polkit,
        }
    }
}

/// The client's half of a SASL mechanism (e.g. SCRAM-SHA-256 or PLAIN from
/// a SASL crate).
pub trait SaslMechanism: Send {
    /// The mechanism's name, as the daemon lists it.
    fn name(&self) -> &str;
    /// The initial response, if the mechanism sends one.
    fn start(&mut self) -> Result<Option<Vec<u8>>, String>;
    /// The response to a server challenge (`None`: the server sent none).
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String>;
    /// Whether this side has finished the exchange. When the daemon says
    /// it is done, the mechanism must be too: a mechanism that
    /// authenticates the server (SCRAM's server signature) returns `false`
    /// until it has checked it, so a daemon that claims success early is
    /// not believed. The default, `true`, trusts the daemon.
    fn is_complete(&self) -> bool {
        true
    }
    /// The security layer the exchange negotiated, if any, taken once
    /// it is complete; the connection goes through it from then on.
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        None
    }
    /// The name the client authenticated as, once the exchange is done
    /// (what libvirtd checks `sasl_allowed_username_list` against).
    fn identity(&self) -> Option<String> {
        None
    }
}

/// Builds the SASL mechanism once the daemon has said which it offers.
///
/// The chooser sees the daemon's list (from `AUTH_SASL_INIT`, in the
/// daemon's order) and returns the mechanism to run, typically the
/// strongest it supports, or says why none fits (none in common, a
/// mechanism that needs a secure channel on an insecure one, no
/// credentials). Its error ends authentication as is.
pub trait SaslMechanismChooser: Send {
    /// Picks and builds a mechanism among `offered`.
    fn choose(&mut self, offered: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError>;

    /// As [`SaslMechanismChooser::choose`], but the chooser may hand back
    /// a job that builds the mechanism and may block (Kerberos asking its
    /// KDC for a ticket, reading a credentials file, say), for the caller
    /// to run away from its I/O loop (see [`ClientAuth::take_job`]). The
    /// default builds at once with `choose`.
    fn choose_deferred(&mut self, offered: &[&str]) -> Result<MechanismChoice, AuthError> {
        self.choose(offered).map(MechanismChoice::Ready)
    }

    /// The [`MechanismJob`] of [`SaslMechanismChooser::choose_deferred`]
    /// failed with `error`: another mechanism among `offered` to try
    /// instead, or the error to report (the default).
    fn deferred_failed(
        &mut self,
        offered: &[&str],
        error: AuthError,
    ) -> Result<Box<dyn SaslMechanism>, AuthError> {
        let _ = offered;
        Err(error)
    }

    /// The daemon refused `AUTH_SASL_INIT`, so it offered no mechanism at
    /// all (libvirtd does when none of its mechanisms meets the security
    /// it requires on the connection): the error to report, which may
    /// explain what the chooser knows about the connection. The default
    /// reports the refusal as is ([`AuthError::Call`]).
    fn init_refused(&mut self, refusal: CallError) -> AuthError {
        AuthError::Call(Box::new(refusal))
    }
}

/// Builds a SASL mechanism; may block.
pub type MechanismJob = Box<dyn FnOnce() -> Result<Box<dyn SaslMechanism>, AuthError> + Send>;

/// What a [`SaslMechanismChooser`] decided.
pub enum MechanismChoice {
    /// The mechanism, built.
    Ready(Box<dyn SaslMechanism>),
    /// A job that builds it and may block.
    Deferred(MechanismJob),
}

impl fmt::Debug for MechanismChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MechanismChoice::Ready(m) => write!(f, "Ready({})", m.name()),
            MechanismChoice::Deferred(_) => f.write_str("Deferred"),
        }
    }
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthError {
    /// None of the wanted methods is offered.
    NotOffered {
        /// What the daemon offers.
        offered: Vec<AuthMethod>,
        /// What the client would accept.
        wanted: Vec<AuthMethod>,
    },
    /// SASL is wanted but no mechanism was given, or the daemon does not
    /// offer it (or none that may be used); why.
    Mechanism(String),
    /// The mechanism itself failed; its message.
    Sasl(String),
    /// The mechanism needs credentials (a user name and password) and
    /// none are available; where they were looked for.
    NoCredentials(String),
    /// The application's credentials callback failed; its message.
    CredentialsCallback(String),
    /// The auth file with the SASL credentials cannot be used.
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    AuthFile(crate::client::auth_conf::AuthConfigError),
    /// The daemon refused.
    Call(Box<CallError>),
    /// A reply was malformed.
    Engine(EngineError),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NotOffered { offered, wanted } => f.write_str(&not_offered(offered, wanted)),
            AuthError::Mechanism(m) => write!(f, "SASL mechanism: {m}"),
            AuthError::Sasl(m) => write!(f, "SASL: {m}"),
            AuthError::NoCredentials(m) => f.write_str(m),
            AuthError::CredentialsCallback(m) => write!(f, "credentials callback: {m}"),
            #[cfg(feature = "client")]
            AuthError::AuthFile(_) => f.write_str("cannot read the SASL credentials"),
            AuthError::Call(_) => f.write_str("authentication refused"),
            AuthError::Engine(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// The refusal is boxed; the source is the [`CallError`] itself, not its
/// `Box` (`downcast_ref::<CallError>()` finds it).
impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "client")]
            AuthError::AuthFile(e) => Some(e),
            AuthError::Call(e) => Some(&**e),
            AuthError::Engine(e) => e.source(),
            AuthError::NotOffered { .. }
            | AuthError::Mechanism(_)
            | AuthError::Sasl(_)
            | AuthError::NoCredentials(_)
            | AuthError::CredentialsCallback(_) => None,
        }
    }
}

fn not_offered(offered: &[AuthMethod], wanted: &[AuthMethod]) -> String {
    if offered.is_empty() {
        format!(
            "authentication failed: the daemon offers no authentication method, but \
             {wanted:?} was requested"
        )
    } else {
        format!(
            "authentication failed: the daemon offers {offered:?}, but only {wanted:?} may be used"
        )
    }
}

/// Where the exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    NotStarted,
    List,
    Polkit,
    SaslInit,
    /// Waiting for the job building the mechanism.
    Building,
    /// Waiting for the job computing the initial response.
    Starting,
    SaslStart,
    SaslStep,
    /// Waiting for the job answering a challenge; `complete`: the daemon
    /// said it was done with that challenge.
    Stepping {
        complete: bool,
    },
    Done,
}

/// Work of the exchange that may block: building the SASL mechanism (which
/// may read a credentials file or ask a KDC for a ticket) or one of its
/// steps (SCRAM's key derivation, a GSSAPI context step). Run it where
/// blocking is harmless (a blocking thread; inline in a blocking client),
/// then hand its output to [`ClientAuth::finish_job`].
pub struct AuthJob(Box<dyn FnOnce() -> AuthJobOutput + Send>);

impl AuthJob {
    fn step(
        mut mech: Box<dyn SaslMechanism>,
        f: impl FnOnce(&mut dyn SaslMechanism) -> Result<Option<Vec<u8>>, String> + Send + 'static,
    ) -> AuthJob {
        AuthJob(Box::new(move || {
            let r = f(mech.as_mut());
            AuthJobOutput(JobOutput::Stepped(mech, r))
        }))
    }

    /// Does the work.
    pub fn run(self) -> AuthJobOutput {
        (self.0)()
    }
}

impl fmt::Debug for AuthJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthJob")
    }
}

/// What an [`AuthJob`] produced.
pub struct AuthJobOutput(JobOutput);

enum JobOutput {
    Built(Result<Box<dyn SaslMechanism>, AuthError>),
    /// The mechanism back, with its answer.
    Stepped(Box<dyn SaslMechanism>, Result<Option<Vec<u8>>, String>),
    Failed(AuthError),
}

impl AuthJobOutput {
    /// The job could not run to its end (it panicked, or its thread was
    /// cancelled): authentication fails with `reason`.
    pub fn lost(reason: impl Into<String>) -> Self {
        AuthJobOutput(JobOutput::Failed(AuthError::Sasl(reason.into())))
    }
}

impl fmt::Debug for AuthJobOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.0 {
            JobOutput::Built(_) => "AuthJobOutput::Built",
            JobOutput::Stepped(..) => "AuthJobOutput::Stepped",
            JobOutput::Failed(_) => "AuthJobOutput::Failed",
        })
    }
}

/// The progress of [`ClientAuth`].
#[derive(Debug, Clone, PartialEq)]
pub enum AuthStatus {
    /// Waiting for the daemon.
    InProgress,
    /// Authenticated (with this method).
    Done(AuthMethod),
    /// Failed.
    Failed(AuthError),
}

/// The client's side of authentication.
pub struct ClientAuth {
    wanted: Vec<AuthMethod>,
    /// The mechanism: given up front, or built by `chooser`.
    sasl: Option<Box<dyn SaslMechanism>>,
    chooser: Option<Box<dyn SaslMechanismChooser>>,
    /// Work for the caller to run, until it takes it.
    job: Option<AuthJob>,
    /// The daemon's mechanism list, while the mechanism is being built.
    mechlist: String,
    stage: Stage,
    serial: u32,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("wanted", &self.wanted)
            .field("sasl", &self.sasl.as_ref().map(|m| m.name().to_owned()))
            .field("chooser", &self.chooser.is_some())
            .field("stage", &self.stage)
            .finish()
    }
}

fn to_wire(bytes: Option<Vec<u8>>) -> (i32, Vec<i8>) {
    match bytes {
        None => (1, Vec::new()),
        Some(b) => (0, b.into_iter().map(|x| x as i8).collect()),
    }
}

fn from_wire(nil: i32, data: &[i8]) -> Option<Vec<u8>> {
    (nil == 0).then(|| data.iter().map(|&x| x as u8).collect())
}

/// The mechanisms of an `AUTH_SASL_INIT` reply (libvirt separates them
/// with spaces or commas).
fn split_mechlist(mechlist: &str) -> Vec<&str> {
    mechlist
        .split([' ', ','])
        .filter(|m| !m.is_empty())
        .collect()
}

impl ClientAuth {
    /// Accepts the methods in `wanted` (in order of preference); SASL needs
    /// a mechanism.
    pub fn new(wanted: Vec<AuthMethod>, sasl: Option<Box<dyn SaslMechanism>>) -> Self {
        ClientAuth {
            wanted,
            sasl,
            chooser: None,
            job: None,
            mechlist: String::new(),
            stage: Stage::NotStarted,
            serial: 0,
        }
    }

    /// Accepts the methods in `wanted`; for SASL, `chooser` builds the
    /// mechanism from the daemon's list.
    pub fn with_chooser(wanted: Vec<AuthMethod>, chooser: Box<dyn SaslMechanismChooser>) -> Self {
        ClientAuth {
            wanted,
            sasl: None,
            chooser: Some(chooser),
            job: None,
            mechlist: String::new(),
            stage: Stage::NotStarted,
            serial: 0,
        }
    }

    /// Sends `AUTH_LIST`.
    pub fn start(&mut self, engine: &mut ClientEngine) -> Result<(), EngineError> {
        self.serial = engine.call::<procs::AuthList>(&())?;
        self.stage = Stage::List;
        Ok(())
    }

    /// Whether `event` is a reply to one of this exchange's calls.
    pub fn owns(&self, event: &Event) -> bool {
        matches!(event, Event::Reply { serial, .. } if *serial == self.serial && self.stage != Stage::Done)
    }

    /// The work the exchange waits for, if any: run it where blocking is
    /// harmless ([`AuthJob::run`]), then pass its output to
    /// [`ClientAuth::finish_job`]. Check after every
    /// [`ClientAuth::handle`] and [`ClientAuth::finish_job`] that leaves
    /// the exchange in progress.
    pub fn take_job(&mut self) -> Option<AuthJob> {
        self.job.take()
    }

    /// Continues with what the [`AuthJob`] produced.
    pub fn finish_job(&mut self, engine: &mut ClientEngine, output: AuthJobOutput) -> AuthStatus {
        let r = match (self.stage, output.0) {
            (_, JobOutput::Failed(e)) if self.stage != Stage::Done => Err(e),
            (Stage::Building, JobOutput::Built(built)) => self.built(built),
            (Stage::Starting, JobOutput::Stepped(m, r)) => {
                self.sasl = Some(m);
                self.started(engine, r)
            }
            (Stage::Stepping { complete }, JobOutput::Stepped(m, r)) => {
                self.sasl = Some(m);
                self.stepped(engine, complete, r)
            }
            // Not what this stage waits for (a job run twice, or after
            // the exchange ended): nothing changes.
            _ => return AuthStatus::InProgress,
        };
        match r {
            Ok(status) => status,
            Err(e) => self.fail(e),
        }
    }

    /// The mechanism is built (or the chooser's fallback, if not).
    fn built(
        &mut self,
        built: Result<Box<dyn SaslMechanism>, AuthError>,
    ) -> Result<AuthStatus, AuthError> {
        let mechlist = std::mem::take(&mut self.mechlist);
        let mech = built.or_else(|e| match self.chooser.as_mut() {
            Some(chooser) => chooser.deferred_failed(&split_mechlist(&mechlist), e),
            None => Err(e),
        })?;
        self.sasl = Some(mech);
        self.start_job(&mechlist)
    }

    /// Advances with a reply that [`ClientAuth::owns`].
    pub fn handle(&mut self, engine: &mut ClientEngine, event: Event) -> AuthStatus {
        let Event::Reply { result, .. } = event else {
            return AuthStatus::InProgress;
        };
        let body = match result {
            Ok(b) => b,
            Err(e) => {
                let error = match (self.stage, self.chooser.as_mut()) {
                    (Stage::SaslInit, Some(chooser)) => chooser.init_refused(e),
                    _ => AuthError::Call(Box::new(e)),
                };
                return self.fail(error);
            }
        };
        match self.advance(engine, &body) {
            Ok(status) => status,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: AuthError) -> AuthStatus {
        self.stage = Stage::Done;
        AuthStatus::Failed(e)
    }

    fn done(&mut self, m: AuthMethod) -> AuthStatus {
        self.stage = Stage::Done;
        AuthStatus::Done(m)
    }

    /// Has the mechanism, which must be among the daemon's `mechlist`,
    /// compute its initial response.
    fn start_job(&mut self, mechlist: &str) -> Result<AuthStatus, AuthError> {
        let mech = self
            .sasl
            .take()
            .ok_or(AuthError::Mechanism("none given".into()))?;
        let name = mech.name().to_owned();
        if !split_mechlist(mechlist)
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&name))
        {
            return Err(AuthError::Mechanism(format!(
                "the daemon offers {mechlist}, not {name}"
            )));
        }
        self.job = Some(AuthJob::step(mech, |m| m.start()));
        self.stage = Stage::Starting;
        Ok(AuthStatus::InProgress)
    }

    /// Sends `AUTH_SASL_START` with the initial response.
    fn started(
        &mut self,
        engine: &mut ClientEngine,
        response: Result<Option<Vec<u8>>, String>,
    ) -> Result<AuthStatus, AuthError> {
        let (nil, data) = to_wire(response.map_err(AuthError::Sasl)?);
        let args = remote::AuthSaslStartArgs {
            mech: self.mechanism()?.name().into(),
            nil,
            data,
        };
        self.serial = engine
            .call::<procs::AuthSaslStart>(&args)
            .map_err(AuthError::Engine)?;
        self.stage = Stage::SaslStart;
        Ok(AuthStatus::InProgress)
    }

    /// Sends the answer to a challenge, or ends the exchange when the
    /// daemon said it was done.
    fn stepped(
        &mut self,
        engine: &mut ClientEngine,
        complete: bool,
        answer: Result<Option<Vec<u8>>, String>,
    ) -> Result<AuthStatus, AuthError> {
        let answer = answer.map_err(AuthError::Sasl)?;
        if complete {
            if answer.is_some_and(|r| !r.is_empty()) {
                // Its answer would never be read (and with a security
                // layer, both sides would disagree on what was
                // negotiated).
                return Err(AuthError::Sasl(format!(
                    "the daemon ended the {} exchange while the client had more to say",
                    self.mechanism()?.name()
                )));
            }
            return self.complete(engine);
        }
        let (nil, data) = to_wire(answer);
        let args = remote::AuthSaslStepArgs { nil, data };
        self.serial = engine
            .call::<procs::AuthSaslStep>(&args)
            .map_err(AuthError::Engine)?;
        self.stage = Stage::SaslStep;
        Ok(AuthStatus::InProgress)
    }

    /// The daemon is done: authenticated if the mechanism is too.
    fn complete(&mut self, engine: &mut ClientEngine) -> Result<AuthStatus, AuthError> {
        let mech = self
            .sasl
            .as_mut()
            .ok_or(AuthError::Mechanism("none given".into()))?;
        if !mech.is_complete() {
            return Err(AuthError::Sasl(format!(
                "the daemon ended the {} exchange before it was complete (the server was not \
                 authenticated)",
                mech.name()
            )));
        }
        if let Some(layer) = mech.security_layer() {
            engine.set_security_layer(layer);
        }
        Ok(self.done(AuthMethod::Sasl))
    }

    fn mechanism(&self) -> Result<&dyn SaslMechanism, AuthError> {
        self.sasl
            .as_deref()
            .ok_or(AuthError::Mechanism("none given".into()))
    }

    fn advance(&mut self, engine: &mut ClientEngine, body: &[u8]) -> Result<AuthStatus, AuthError> {
        match self.stage {
            Stage::List => {
                let list = engine
                    .decode_reply::<procs::AuthList>(body)
                    .map_err(AuthError::Engine)?;
                let offered: Vec<AuthMethod> =
                    list.types.into_iter().map(AuthMethod::from).collect();
                // Nothing asked for: fine only if nothing was demanded.
                if offered.is_empty() && self.wanted.contains(&AuthMethod::None) {
                    return Ok(self.done(AuthMethod::None));
                }
                let Some(&method) = self.wanted.iter().find(|m| offered.contains(m)) else {
                    return Err(AuthError::NotOffered {
                        offered,
                        wanted: self.wanted.clone(),
                    });
                };
                match method {
                    AuthMethod::None => Ok(self.done(AuthMethod::None)),
                    AuthMethod::Polkit => {
                        self.serial = engine
                            .call::<procs::AuthPolkit>(&())
                            .map_err(AuthError::Engine)?;
                        self.stage = Stage::Polkit;
                        Ok(AuthStatus::InProgress)
                    }
                    AuthMethod::Sasl => {
                        if self.sasl.is_none() && self.chooser.is_none() {
                            return Err(AuthError::Mechanism("no SASL mechanism was given".into()));
                        }
                        self.serial = engine
                            .call::<procs::AuthSaslInit>(&())
                            .map_err(AuthError::Engine)?;
                        self.stage = Stage::SaslInit;
                        Ok(AuthStatus::InProgress)
                    }
                }
            }
            Stage::Polkit => {
                let r = engine
                    .decode_reply::<procs::AuthPolkit>(body)
                    .map_err(AuthError::Engine)?;
                if r.complete != 0 {
                    Ok(self.done(AuthMethod::Polkit))
                } else {
                    Err(AuthError::Call(Box::new(CallError::Remote(
                        RemoteError::new(
                            ErrorNumber::ERR_AUTH_FAILED,
                            ErrorDomain::AUTH,
                            "polkit authentication did not complete",
                        ),
                    ))))
                }
            }
            Stage::SaslInit => {
                let r = engine
                    .decode_reply::<procs::AuthSaslInit>(body)
                    .map_err(AuthError::Engine)?;
                if let Some(chooser) = self.chooser.as_mut() {
                    match chooser.choose_deferred(&split_mechlist(&r.mechlist))? {
                        MechanismChoice::Ready(m) => self.sasl = Some(m),
                        MechanismChoice::Deferred(build) => {
                            self.job = Some(AuthJob(Box::new(move || {
                                AuthJobOutput(JobOutput::Built(build()))
                            })));
                            self.mechlist = r.mechlist.0;
                            self.stage = Stage::Building;
                            return Ok(AuthStatus::InProgress);
                        }
                    }
                }
                self.start_job(&r.mechlist)
            }
            Stage::SaslStart | Stage::SaslStep => {
                let (complete, nil, data) = if self.stage == Stage::SaslStart {
                    let r = engine
                        .decode_reply::<procs::AuthSaslStart>(body)
                        .map_err(AuthError::Engine)?;
                    (r.complete, r.nil, r.data)
                } else {
                    let r = engine
                        .decode_reply::<procs::AuthSaslStep>(body)
                        .map_err(AuthError::Engine)?;
                    (r.complete, r.nil, r.data)
                };
                let complete = complete != 0;
                let challenge = from_wire(nil, &data);
                if complete && challenge.is_none() {
                    return self.complete(engine);
                }
                // When the daemon is done, the mechanism still checks its
                // final message (e.g. SCRAM's server signature).
                let mech = self
                    .sasl
                    .take()
                    .ok_or(AuthError::Mechanism("none given".into()))?;
                self.job = Some(AuthJob::step(mech, move |m| m.step(challenge.as_deref())));
                self.stage = Stage::Stepping { complete };
                Ok(AuthStatus::InProgress)
            }
            Stage::NotStarted
            | Stage::Building
            | Stage::Starting
            | Stage::Stepping { .. }
            | Stage::Done => Ok(AuthStatus::InProgress),
        }
    }
}

/// One step of a server-side SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslServerStep {
    /// Send this challenge (or none) and wait for the next response.
    Continue(Option<Vec<u8>>),
    /// Authenticated; send this final data (or none).
    Done(Option<Vec<u8>>),
}

/// The daemon's half of a SASL mechanism.
pub trait SaslServer: Send {
    /// The mechanisms offered, space separated.
    fn mechanisms(&self) -> String;
    /// Starts `mechanism` with the client's initial response.
    fn start(&mut self, mechanism: &str, response: Option<&[u8]>)
        -> Result<SaslServerStep, String>;
    /// Continues with the client's next response.
    fn step(&mut self, response: Option<&[u8]>) -> Result<SaslServerStep, String>;
    /// The security layer negotiated, if any, taken once the exchange is
    /// done; the connection goes through it after the final reply.
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        None
    }
    /// The name the client authenticated as, once the exchange is done
    /// (what libvirtd checks `sasl_allowed_username_list` against).
    fn identity(&self) -> Option<String> {
        None
    }
}

/// The daemon's side of authentication.
///
/// As libvirtd: `AUTH_LIST` names the method (`none` once authenticated),
/// SASL goes `AUTH_SASL_INIT`, `AUTH_SASL_START`, then `AUTH_SASL_STEP`s,
/// and any other call before success is refused with libvirt's
/// "authentication required". Stricter than libvirtd: an exchange that
/// fails is over ([`ServerAuthOutcome::Failed`]: the connection is to end
/// once the refusal is out, as libvirt's client ends it), so a client
/// cannot try password after password on one connection.
pub struct ServerAuth {
    method: AuthMethod,
    sasl: Option<Box<dyn SaslServer>>,
    polkit: Option<Box<dyn FnMut() -> bool + Send>>,
    authenticated: bool,
    /// Where a SASL exchange is.
    sasl_stage: SaslStage,
    /// Whether a SASL exchange must end with a security layer.
    layer_required: bool,
    /// The mechanism is out, doing an [`AuthWork`].
    working: bool,
    /// The exchange failed while the mechanism was out: its work's call
    /// is refused too when it comes back.
    failed_while_working: bool,
}

/// Where a server's SASL exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SaslStage {
    /// Nothing asked yet: `AUTH_SASL_INIT` comes first.
    Idle,
    /// The mechanisms were listed: `AUTH_SASL_START` comes next.
    Listed,
    /// Started: `AUTH_SASL_STEP`s until done.
    Stepping,
}

impl fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAuth")
            .field("method", &self.method)
            .field("authenticated", &self.authenticated)
            .finish()
    }
}

/// The daemon's refusal of an authentication call, as libvirtd words it.
fn auth_failed(message: &str) -> RemoteError {
    RemoteError::new(ErrorNumber::ERR_AUTH_FAILED, ErrorDomain::AUTH, message)
}

/// What [`ServerAuth::handle_call`] did with a call.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerAuthOutcome {
    /// An authentication call, answered.
    Answered,
    /// An authentication call that failed, refused: the exchange is over,
    /// and the connection is to end once the refusal is written.
    Failed,
    /// A call refused because the client is not authenticated yet.
    Refused,
    /// Not an authentication call and the client may make it: the server
    /// handles it.
    Pass,
}

/// What [`ServerAuth::begin`] made of a call.
#[derive(Debug)]
pub enum AuthBegin {
    /// Dealt with at once.
    Done(ServerAuthOutcome),
    /// The mechanism has work to do for it (a SASL step, a polkit check):
    /// [`AuthWork::run`] it where blocking does no harm, then hand what
    /// it returns to [`ServerAuth::finish`], which answers the call.
    Work(AuthWork),
}

/// A mechanism's work for one authentication call, taken out of its
/// [`ServerAuth`] (which answers nothing else meanwhile).
pub struct AuthWork {
    header: Header,
    job: Job,
}

enum Job {
    /// A SASL start (with the mechanism's name) or step, with the
    /// client's response.
    Sasl {
        server: Box<dyn SaslServer>,
        start: Option<String>,
        response: Option<Vec<u8>>,
    },
    Polkit(Box<dyn FnMut() -> bool + Send>),
}

/// What an [`AuthWork`] found, for [`ServerAuth::finish`].
pub struct AuthWorkDone {
    header: Header,
    /// Back to the [`ServerAuth`] it came from.
    mechanism: Mechanism,
    result: JobResult,
}

enum Mechanism {
    Sasl(Box<dyn SaslServer>),
    Polkit(Box<dyn FnMut() -> bool + Send>),
}

enum JobResult {
    Sasl {
        step: Result<SaslServerStep, String>,
        start: bool,
    },
    Polkit {
        allowed: bool,
    },
}

impl AuthWork {
    /// Runs the mechanism: the password check, the polkit question, or
    /// whatever the step involves, as long as it takes.
    pub fn run(self) -> AuthWorkDone {
        let (mechanism, result) = match self.job {
            Job::Sasl {
                mut server,
                start,
                response,
            } => {
                let step = match &start {
                    Some(name) => server.start(name, response.as_deref()),
                    None => server.step(response.as_deref()),
                };
                let start = start.is_some();
                (Mechanism::Sasl(server), JobResult::Sasl { step, start })
            }
            Job::Polkit(mut check) => {
                let allowed = check();
                (Mechanism::Polkit(check), JobResult::Polkit { allowed })
            }
        };
        AuthWorkDone {
            header: self.header,
            mechanism,
            result,
        }
    }
}

impl fmt::Debug for AuthWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthWork")
            .field("serial", &self.header.serial)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthWorkDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthWorkDone")
            .field("serial", &self.header.serial)
            .finish_non_exhaustive()
    }
}

impl ServerAuth {
    fn new(method: AuthMethod, authenticated: bool) -> Self {
        ServerAuth {
            method,
            sasl: None,
            polkit: None,
            authenticated,
            sasl_stage: SaslStage::Idle,
            layer_required: false,
            working: false,
            failed_while_working: false,
        }
    }

    /// Requires nothing.
    pub fn none() -> Self {
        ServerAuth::new(AuthMethod::None, true)
    }

    /// Requires SASL through `server`.
    pub fn sasl(server: Box<dyn SaslServer>) -> Self {
        ServerAuth {
            sasl: Some(server),
            ..ServerAuth::new(AuthMethod::Sasl, false)
        }
    }

    /// Whether a SASL exchange that ends without a security layer fails
    /// (libvirtd requires one where the transport protects nothing: its
    /// minimum SASL strength of 56 on plain TCP).
    pub fn with_security_layer_required(mut self, required: bool) -> Self {
        self.layer_required = required;
        self
    }

    /// Requires polkit; `check` decides.
    pub fn polkit(check: Box<dyn FnMut() -> bool + Send>) -> Self {
        ServerAuth {
            polkit: Some(check),
            ..ServerAuth::new(AuthMethod::Polkit, false)
        }
    }

    /// Whether the client may make ordinary calls.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// The name the client authenticated as with SASL
    /// ([`SaslServer::identity`]), once authenticated.
    pub fn identity(&self) -> Option<String> {
        self.sasl
            .as_ref()
            .filter(|_| self.authenticated)
            .and_then(|s| s.identity())
    }

    /// Refuses an authentication call: the exchange has failed.
    fn fail(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
        message: &str,
    ) -> Result<ServerAuthOutcome, EngineError> {
        self.sasl_stage = SaslStage::Idle;
        self.failed_while_working |= self.working;
        engine.reply_error(header, auth_failed(message))?;
        Ok(ServerAuthOutcome::Failed)
    }

    /// Answers authentication calls and refuses others before success,
    /// running the mechanism's work for the call right here (see
    /// [`ServerAuth::begin`] to run it elsewhere).
    pub fn handle_call(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
        call: &Call,
    ) -> Result<ServerAuthOutcome, EngineError> {
        match self.begin(engine, header, call)? {
            AuthBegin::Done(outcome) => Ok(outcome),
            AuthBegin::Work(work) => self.finish(engine, work.run()),
        }
    }

    /// Like [`ServerAuth::handle_call`], except that a call needing the
    /// mechanism's work (a SASL start or step, a polkit check) comes back
    /// as [`AuthBegin::Work`], so that a slow check (a password hash, a
    /// question to polkit) can run off the connection's I/O. Until that
    /// work is [finished](ServerAuth::finish), another authentication
    /// call fails the exchange (and the work's call is refused when it
    /// comes back). Work that never comes back (its mechanism panicked)
    /// leaves the exchange unable to go on: the connection is to end.
    pub fn begin(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
        call: &Call,
    ) -> Result<AuthBegin, EngineError> {
        use remote::program::Call as C;
        let Call::Remote(call) = call else {
            return self.gate(engine, header).map(AuthBegin::Done);
        };
        let authenticating = matches!(
            call,
            C::AuthPolkit(()) | C::AuthSaslInit(()) | C::AuthSaslStart(_) | C::AuthSaslStep(_)
        );
        if authenticating && self.authenticated {
            // As libvirt's daemon: once authenticated, the connection's
            // method is `none`, and starting over is an error (a second
            // exchange could replace the negotiated security layer).
            engine.reply_error(
                header,
                auth_failed("authentication failed: already authenticated"),
            )?;
            return Ok(AuthBegin::Done(ServerAuthOutcome::Answered));
        }
        if authenticating && self.working {
            // A client waits for each step's answer before the next.
            return self
                .fail(engine, header, "authentication step out of turn")
                .map(AuthBegin::Done);
        }
        let job = match call {
            C::AuthList(()) => {
                let method = if self.authenticated {
                    AuthMethod::None
                } else {
                    self.method
                };
                let ret = remote::AuthListRet {
                    types: vec![method.into()],
                };
                engine.reply(header, &ret)?;
                return Ok(AuthBegin::Done(ServerAuthOutcome::Answered));
            }
            C::AuthPolkit(()) => match (self.polkit.is_some(), self.method) {
                (true, AuthMethod::Polkit) => Job::Polkit(self.polkit.take().expect("checked")),
                _ => {
                    return self
                        .fail(engine, header, "polkit authentication is not offered")
                        .map(AuthBegin::Done)
                }
            },
            C::AuthSaslInit(()) => {
                let outcome = match (&self.sasl, self.sasl_stage) {
                    (Some(s), SaslStage::Idle) => {
                        let mechlist = s.mechanisms().into();
                        engine.reply(header, &remote::AuthSaslInitRet { mechlist })?;
                        self.sasl_stage = SaslStage::Listed;
                        Ok(ServerAuthOutcome::Answered)
                    }
                    (Some(_), _) => self.fail(engine, header, "SASL initialised twice"),
                    (None, _) => self.fail(engine, header, "SASL authentication is not offered"),
                };
                return outcome.map(AuthBegin::Done);
            }
            C::AuthSaslStart(a) => match (self.sasl.is_some(), self.sasl_stage) {
                (true, SaslStage::Listed) => Job::Sasl {
                    server: self.sasl.take().expect("checked"),
                    start: Some(a.mech.0.clone()),
                    response: from_wire(a.nil, &a.data),
                },
                (true, _) => return self.refuse_step(engine, header, "SASL start out of turn"),
                (false, _) => {
                    return self.refuse_step(engine, header, "SASL authentication is not offered")
                }
            },
            C::AuthSaslStep(a) => match (self.sasl.is_some(), self.sasl_stage) {
                (true, SaslStage::Stepping) => Job::Sasl {
                    server: self.sasl.take().expect("checked"),
                    start: None,
                    response: from_wire(a.nil, &a.data),
                },
                (true, _) => return self.refuse_step(engine, header, "SASL step before start"),
                (false, _) => {
                    return self.refuse_step(engine, header, "SASL authentication is not offered")
                }
            },
            _ => return self.gate(engine, header).map(AuthBegin::Done),
        };
        self.working = true;
        Ok(AuthBegin::Work(AuthWork {
            header: *header,
            job,
        }))
    }

    /// Answers the call an [`AuthWork`] was for with what it found.
    pub fn finish(
        &mut self,
        engine: &mut ServerEngine,
        done: AuthWorkDone,
    ) -> Result<ServerAuthOutcome, EngineError> {
        self.working = false;
        match done.mechanism {
            Mechanism::Sasl(server) => self.sasl = Some(server),
            Mechanism::Polkit(check) => self.polkit = Some(check),
        }
        let header = &done.header;
        if std::mem::take(&mut self.failed_while_working) {
            return self.fail(
                engine,
                header,
                "authentication failed: the exchange is over",
            );
        }
        match done.result {
            JobResult::Polkit { allowed: true } => {
                self.authenticated = true;
                engine.reply(header, &remote::AuthPolkitRet { complete: 1 })?;
                Ok(ServerAuthOutcome::Answered)
            }
            JobResult::Polkit { allowed: false } => self.fail(
                engine,
                header,
                "authentication failed: polkit denied the request",
            ),
            JobResult::Sasl { step, start } => self.sasl_reply(engine, header, step, start),
        }
    }

    /// Refuses a SASL start or step that cannot go on.
    fn refuse_step(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
        why: &str,
    ) -> Result<AuthBegin, EngineError> {
        self.fail(engine, header, &format!("authentication failed: {why}"))
            .map(AuthBegin::Done)
    }

    /// Lets a call through once authenticated, or refuses it as libvirtd
    /// does (`VIR_ERR_RPC`, not an authentication error, for older
    /// clients' sake).
    fn gate(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
    ) -> Result<ServerAuthOutcome, EngineError> {
        if self.authenticated {
            Ok(ServerAuthOutcome::Pass)
        } else {
            engine.reply_error(
                header,
                RemoteError::new(
                    ErrorNumber::ERR_RPC,
                    ErrorDomain::RPC,
                    "authentication required",
                ),
            )?;
            Ok(ServerAuthOutcome::Refused)
        }
    }

    fn sasl_reply(
        &mut self,
        engine: &mut ServerEngine,
        header: &Header,
        step: Result<SaslServerStep, String>,
        start: bool,
    ) -> Result<ServerAuthOutcome, EngineError> {
        let (complete, data) = match step {
            Ok(SaslServerStep::Continue(d)) => (0, d),
            Ok(SaslServerStep::Done(d)) => (1, d),
            Err(m) => return self.fail(engine, header, &format!("authentication failed: {m}")),
        };
        // Taken now, so that an exchange needing a layer fails before it
        // is told it succeeded.
        let layer = if complete == 1 {
            self.sasl.as_mut().and_then(|s| s.security_layer())
        } else {
            None
        };
        if complete == 1 && layer.is_none() && self.layer_required {
            return self.fail(
                engine,
                header,
                "authentication failed: the mechanism gives no security layer, which a \
                 connection that is neither local nor TLS requires",
            );
        }
        if data
            .as_ref()
            .is_some_and(|d| d.len() > remote::AUTH_SASL_DATA_MAX as usize)
        {
            // As libvirtd: more than the protocol carries is a failure.
            return self.fail(
                engine,
                header,
                "authentication failed: the mechanism's data is too large",
            );
        }
        let (nil, data) = to_wire(data);
        let sent = if start {
            engine.reply(
                header,
                &remote::AuthSaslStartRet {
                    complete,
                    nil,
                    data,
                },
            )
        } else {
            engine.reply(
                header,
                &remote::AuthSaslStepRet {
                    complete,
                    nil,
                    data,
                },
            )
        };
        if let Err(e) = sent {
            // The call is answered whatever happens.
            let _ = self.fail(
                engine,
                header,
                "authentication failed: the reply cannot be sent",
            );
            return Err(e);
        }
        if complete == 1 {
            self.authenticated = true;
            self.sasl_stage = SaslStage::Idle;
            // The layer starts after the final reply, which is queued.
            if let Some(layer) = layer {
                engine.set_security_layer(layer);
            }
        } else {
            self.sasl_stage = SaslStage::Stepping;
        }
        Ok(ServerAuthOutcome::Answered)
    }
}
