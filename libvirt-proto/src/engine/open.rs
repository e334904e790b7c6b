//! Opening a connection the way libvirt's client does, without I/O:
//! authenticate, ask whether the daemon speaks keepalive
//! (`CONNECT_SUPPORTS_FEATURE`) and start it if so, then `CONNECT_OPEN`
//! with the URI and flags.

use std::time::{Duration, Instant};

use super::auth::{AuthJob, AuthJobOutput, AuthStatus, ClientAuth};
use super::{AuthError, CallError, ClientEngine, EngineError, Event, FEATURE_PROGRAM_KEEPALIVE};
use crate::generated::remote::{self, program::procs};

/// libvirt's `VIR_CONNECT_RO`: open read-only.
pub const CONNECT_RO: u32 = 1;

/// Why opening failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OpenError {
    /// Authentication failed.
    Auth(AuthError),
    /// A call of the handshake failed.
    Call(Box<CallError>),
    /// A reply was malformed, or the engine is closed.
    Engine(EngineError),
}

/// Every variant is transparent: the error it holds says what failed.
impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Auth(e) => std::fmt::Display::fmt(e, f),
            OpenError::Call(e) => std::fmt::Display::fmt(e, f),
            OpenError::Engine(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Auth(e) => e.source(),
            OpenError::Call(e) => e.source(),
            OpenError::Engine(e) => e.source(),
        }
    }
}

/// The progress of an [`Opener`].
#[derive(Debug, Clone, PartialEq)]
pub enum OpenStatus {
    /// Waiting for the daemon.
    InProgress,
    /// Open; `keepalive` says whether keepalive was started.
    Open {
        /// Whether the daemon speaks keepalive (and it is now running).
        keepalive: bool,
    },
    /// Failed.
    Failed(OpenError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Auth,
    Feature,
    Open,
    Done,
}

/// Drives the opening handshake over a [`ClientEngine`].
#[derive(Debug)]
pub struct Opener {
    auth: ClientAuth,
    name: Option<String>,
    flags: u32,
    keepalive: Option<(Duration, u32)>,
    stage: Stage,
    serial: u32,
}

impl Opener {
    /// Opens `name` (a URI such as `qemu:///system`, or `None` for the
    /// daemon's default) with `flags` (e.g. [`CONNECT_RO`]); keepalive with
    /// `keepalive` = (interval, count) when the daemon supports it.
    pub fn new(
        auth: ClientAuth,
        name: Option<String>,
        flags: u32,
        keepalive: Option<(Duration, u32)>,
    ) -> Self {
        Opener {
            auth,
            name,
            flags,
            keepalive,
            stage: Stage::Auth,
            serial: 0,
        }
    }

    /// Starts: sends the first authentication call.
    pub fn start(&mut self, engine: &mut ClientEngine) -> Result<(), EngineError> {
        self.auth.start(engine)
    }

    /// Authentication work that may block, when there is some (see
    /// [`ClientAuth::take_job`]): run it where blocking is harmless and
    /// pass its output to [`Opener::finish_job`]. Check after every call
    /// that leaves the handshake in progress.
    pub fn take_job(&mut self) -> Option<AuthJob> {
        self.auth.take_job()
    }

    /// Continues with what the [`AuthJob`] produced.
    pub fn finish_job(&mut self, engine: &mut ClientEngine, output: AuthJobOutput) -> OpenStatus {
        let status = self.auth.finish_job(engine, output);
        match self.after_auth(engine, status) {
            Ok(s) => s,
            Err(e) => {
                self.stage = Stage::Done;
                OpenStatus::Failed(e)
            }
        }
    }

    /// Whether `event` belongs to the handshake.
    pub fn owns(&self, event: &Event) -> bool {
        match self.stage {
            Stage::Auth => self.auth.owns(event),
            Stage::Feature | Stage::Open => {
                matches!(event, Event::Reply { serial, .. } if *serial == self.serial)
            }
            Stage::Done => false,
        }
    }

    /// Advances with an event that [`Opener::owns`].
    pub fn handle(&mut self, engine: &mut ClientEngine, event: Event, now: Instant) -> OpenStatus {
        match self.advance(engine, event, now) {
            Ok(s) => s,
            Err(e) => {
                self.stage = Stage::Done;
                OpenStatus::Failed(e)
            }
        }
    }

    /// Goes on from an authentication status: the feature probe or
    /// `CONNECT_OPEN` once authenticated.
    fn after_auth(
        &mut self,
        engine: &mut ClientEngine,
        status: AuthStatus,
    ) -> Result<OpenStatus, OpenError> {
        match status {
            AuthStatus::InProgress => Ok(OpenStatus::InProgress),
            AuthStatus::Failed(e) => Err(OpenError::Auth(e)),
            AuthStatus::Done(_) => {
                if self.keepalive.is_some() {
                    let args = remote::ConnectSupportsFeatureArgs {
                        feature: FEATURE_PROGRAM_KEEPALIVE,
                    };
                    self.serial = engine
                        .call::<procs::ConnectSupportsFeature>(&args)
                        .map_err(OpenError::Engine)?;
                    self.stage = Stage::Feature;
                } else {
                    self.send_open(engine)?;
                }
                Ok(OpenStatus::InProgress)
            }
        }
    }

    fn advance(
        &mut self,
        engine: &mut ClientEngine,
        event: Event,
        now: Instant,
    ) -> Result<OpenStatus, OpenError> {
        match self.stage {
            Stage::Auth => {
                let status = self.auth.handle(engine, event);
                self.after_auth(engine, status)
            }
            Stage::Feature => {
                let body = reply_body(event)?;
                let ret = engine
                    .decode_reply::<procs::ConnectSupportsFeature>(&body)
                    .map_err(OpenError::Engine)?;
                if let (true, Some((interval, count))) = (ret.supported != 0, self.keepalive) {
                    engine.enable_keepalive(interval, count, now);
                } else {
                    self.keepalive = None;
                }
                self.send_open(engine)?;
                Ok(OpenStatus::InProgress)
            }
            Stage::Open => {
                reply_body(event)?;
                self.stage = Stage::Done;
                Ok(OpenStatus::Open {
                    keepalive: self.keepalive.is_some(),
                })
            }
            Stage::Done => Ok(OpenStatus::InProgress),
        }
    }

    fn send_open(&mut self, engine: &mut ClientEngine) -> Result<(), OpenError> {
        let args = remote::ConnectOpenArgs {
            name: remote::RemoteString(self.name.clone().map(Into::into)),
            flags: self.flags,
        };
        self.serial = engine
            .call::<procs::ConnectOpen>(&args)
            .map_err(OpenError::Engine)?;
        self.stage = Stage::Open;
        Ok(())
    }
}

fn reply_body(event: Event) -> Result<Vec<u8>, OpenError> {
    match event {
        Event::Reply { result: Ok(b), .. } => Ok(b),
        Event::Reply { result: Err(e), .. } => Err(OpenError::Call(Box::new(e))),
        _ => Ok(Vec::new()),
    }
}
