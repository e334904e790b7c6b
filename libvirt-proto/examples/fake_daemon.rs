//! A fake hypervisor daemon on the server framework: two domains in
//! memory that `virsh` can list, start, destroy and watch, with lifecycle
//! events to every registered callback. A starting point for a test rig
//! that needs a libvirt daemon without a hypervisor.
//!
//! ```sh
//! cargo run -p libvirt-proto --features server --example fake_daemon -- /tmp/fake-sock
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' list --all
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' start beta
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' event --event lifecycle --loop
//! ```

use std::process::ExitCode;
use std::sync::Mutex;

use libvirt_proto::api::{
    ConnectListAllDomainsFlags, DomainEventID, DomainEventStartedDetailType,
    DomainEventStoppedDetailType, DomainEventType, DomainState,
};
use libvirt_proto::dispatch::{Call, Message, Reply};
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::{ErrorDomain, ErrorNumber};
use libvirt_proto::remote::{self, program};
use libvirt_proto::server::{unsupported, Peer, Server, ServerOptions, Service};

/// libvirt's `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`: callbacks
/// registered with their own ids.
const REMOTE_EVENT_CALLBACK: i32 = 14;

struct Domain {
    name: &'static str,
    uuid: [u8; 16],
    /// The id while running.
    id: Option<i32>,
}

/// A registered lifecycle callback.
struct Callback {
    peer: Peer,
    id: i32,
}

#[derive(Default)]
struct State {
    domains: Vec<Domain>,
    callbacks: Vec<Callback>,
    next_callback: i32,
    next_id: i32,
}

struct Fake {
    state: Mutex<State>,
}

impl Fake {
    fn new() -> Fake {
        let domain = |name, n, id| Domain {
            name,
            uuid: [n; 16],
            id,
        };
        Fake {
            state: Mutex::new(State {
                domains: vec![domain("alpha", 1, Some(1)), domain("beta", 2, None)],
                next_callback: 1,
                next_id: 2,
                ..State::default()
            }),
        }
    }
}

fn handle(d: &Domain) -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: d.name.into(),
        uuid: d.uuid.into(),
        id: d.id.unwrap_or(-1),
    }
}

fn error(code: ErrorNumber, message: String) -> RemoteError {
    RemoteError::new(code, ErrorDomain::DOM, message)
}

impl State {
    /// The domain named `name`, or libvirt's error for none.
    fn domain(&mut self, name: &str) -> Result<&mut Domain, Box<RemoteError>> {
        self.domains
            .iter_mut()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                Box::new(error(
                    ErrorNumber::ERR_NO_DOMAIN,
                    format!("Domain not found: no domain with matching name '{name}'"),
                ))
            })
    }

    /// Tells every callback that `dom` went through `event`; callbacks of
    /// clients that are gone are forgotten.
    fn tell(&mut self, dom: remote::NonnullDomain, event: DomainEventType, detail: i32) {
        self.callbacks.retain(|c| !c.peer.is_gone());
        for c in &self.callbacks {
            let msg = remote::DomainEventCallbackLifecycleMsg {
                callback_id: c.id,
                msg: remote::DomainEventLifecycleMsg {
                    dom: dom.clone(),
                    event: event.0,
                    detail,
                },
            };
            let message = Message::Remote(program::Message::DomainEventCallbackLifecycle(msg));
            // A client too slow to take it misses it, as with libvirtd.
            let _ = c.peer.try_send_event(message);
        }
    }
}

impl Service for Fake {
    async fn call(&self, peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
        use program::Call as C;
        use program::Reply as R;
        let Call::Remote(call) = call else {
            return Err(unsupported(&call));
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Reply::Remote(match call {
            C::ConnectOpen(_) => R::ConnectOpen(()),
            C::ConnectSupportsFeature(f) => {
                R::ConnectSupportsFeature(remote::ConnectSupportsFeatureRet {
                    supported: i32::from(f.feature == REMOTE_EVENT_CALLBACK),
                })
            }
            C::ConnectGetType(()) => R::ConnectGetType(remote::ConnectGetTypeRet {
                r#type: "Fake".into(),
            }),
            C::ConnectGetHostname(()) => R::ConnectGetHostname(remote::ConnectGetHostnameRet {
                hostname: "fake-host".into(),
            }),
            C::ConnectListAllDomains(a) => {
                let flags = ConnectListAllDomainsFlags::from_bits_truncate(a.flags);
                let both =
                    ConnectListAllDomainsFlags::ACTIVE | ConnectListAllDomainsFlags::INACTIVE;
                let wanted = |d: &Domain| match (flags & both, d.id) {
                    (f, Some(_)) if f == ConnectListAllDomainsFlags::INACTIVE => false,
                    (f, None) if f == ConnectListAllDomainsFlags::ACTIVE => false,
                    _ => true,
                };
                let domains: Vec<_> = state
                    .domains
                    .iter()
                    .filter(|d| wanted(d))
                    .map(handle)
                    .collect();
                R::ConnectListAllDomains(remote::ConnectListAllDomainsRet {
                    ret: domains.len() as u32,
                    domains,
                })
            }
            C::DomainLookupByName(a) => {
                let dom = handle(state.domain(&a.name).map_err(|e| *e)?);
                R::DomainLookupByName(remote::DomainLookupByNameRet { dom })
            }
            // libvirt's client looks a domain up again after starting it.
            C::DomainLookupByUuid(a) => {
                let found = state.domains.iter().find(|d| d.uuid[..] == a.uuid[..]);
                let dom = found.map(handle).ok_or_else(|| {
                    error(
                        ErrorNumber::ERR_NO_DOMAIN,
                        "Domain not found: no domain with matching uuid".into(),
                    )
                })?;
                R::DomainLookupByUuid(remote::DomainLookupByUuidRet { dom })
            }
            C::DomainGetState(a) => {
                let d = state.domain(&a.dom.name).map_err(|e| *e)?;
                let running = if d.id.is_some() {
                    DomainState::RUNNING
                } else {
                    DomainState::SHUTOFF
                };
                R::DomainGetState(remote::DomainGetStateRet {
                    state: running.0,
                    reason: 1,
                })
            }
            C::DomainCreate(a) => {
                let id = state.next_id;
                let d = state.domain(&a.dom.name).map_err(|e| *e)?;
                if d.id.is_some() {
                    return Err(error(
                        ErrorNumber::ERR_OPERATION_INVALID,
                        "Requested operation is not valid: domain is already running".into(),
                    ));
                }
                d.id = Some(id);
                let dom = handle(d);
                state.next_id += 1;
                state.tell(
                    dom,
                    DomainEventType::STARTED,
                    DomainEventStartedDetailType::BOOTED.0,
                );
                R::DomainCreate(())
            }
            C::DomainDestroy(a) => {
                let d = state.domain(&a.dom.name).map_err(|e| *e)?;
                if d.id.take().is_none() {
                    return Err(error(
                        ErrorNumber::ERR_OPERATION_INVALID,
                        "Requested operation is not valid: domain is not running".into(),
                    ));
                }
                let dom = handle(d);
                state.tell(
                    dom,
                    DomainEventType::STOPPED,
                    DomainEventStoppedDetailType::DESTROYED.0,
                );
                R::DomainDestroy(())
            }
            C::ConnectDomainEventCallbackRegisterAny(a)
                if a.event_id == DomainEventID::LIFECYCLE.0 =>
            {
                let id = state.next_callback;
                state.next_callback += 1;
                state.callbacks.push(Callback {
                    peer: peer.clone(),
                    id,
                });
                R::ConnectDomainEventCallbackRegisterAny(
                    remote::ConnectDomainEventCallbackRegisterAnyRet { callback_id: id },
                )
            }
            C::ConnectDomainEventCallbackDeregisterAny(a) => {
                state.callbacks.retain(|c| c.id != a.callback_id);
                R::ConnectDomainEventCallbackDeregisterAny(())
            }
            other => return Err(unsupported(&Call::Remote(other))),
        }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fake_daemon SOCKET");
        return ExitCode::from(2);
    };
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("serving a fake hypervisor on {path}");
    let server = Server::new(Fake::new(), ServerOptions::default());
    match server.serve_unix(listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accepting failed: {e}");
            ExitCode::FAILURE
        }
    }
}
