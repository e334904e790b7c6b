//! A fake hypervisor daemon on the server framework: two domains in
//! memory that `virsh` can list, start, destroy and watch, with lifecycle
//! events to every registered callback, written as the typed
//! `RemoteService` (a method per procedure it answers). A starting point
//! for a test rig that needs a libvirt daemon without a hypervisor.
//!
//! ```sh
//! cargo run -p libvirt-proto --features server --example fake_daemon -- /tmp/fake-sock
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' list --all
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' start beta
//! virsh -c 'test+unix:///default?socket=/tmp/fake-sock' event --event lifecycle --loop
//! ```
//!
//! Or over plain TCP (no authentication, nothing encrypted: for a test
//! network only):
//!
//! ```sh
//! cargo run -p libvirt-proto --features server --example fake_daemon -- tcp:127.0.0.1:16509
//! virsh -c 'test+tcp://127.0.0.1:16509/default' list --all
//! ```

use std::process::ExitCode;
use std::sync::Mutex;

use libvirt_proto::api::{
    ConnectListAllDomainsFlags, DomainEventID, DomainEventStartedDetailType,
    DomainEventStoppedDetailType, DomainEventType, DomainState,
};
use libvirt_proto::dispatch::Message;
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::{ErrorDomain, ErrorNumber};
use libvirt_proto::remote::{self, program};
use libvirt_proto::server::{
    unsupported_procedure, LxcService, Peer, QemuService, RemoteService, Server, ServerOptions,
    Typed,
};

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

/// libvirt's error for an operation a domain's state does not allow.
fn invalid(what: &str) -> RemoteError {
    error(
        ErrorNumber::ERR_OPERATION_INVALID,
        format!("Requested operation is not valid: {what}"),
    )
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One method per procedure this daemon answers; every other one gets
/// libvirt's "not supported" error, as from a driver that lacks it.
impl RemoteService for Fake {
    async fn connect_open(&self, _: &Peer, _: remote::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_supports_feature(
        &self,
        _: &Peer,
        args: remote::ConnectSupportsFeatureArgs,
    ) -> Result<remote::ConnectSupportsFeatureRet, RemoteError> {
        Ok(remote::ConnectSupportsFeatureRet {
            supported: i32::from(args.feature == REMOTE_EVENT_CALLBACK),
        })
    }

    async fn connect_get_type(&self, _: &Peer) -> Result<remote::ConnectGetTypeRet, RemoteError> {
        Ok(remote::ConnectGetTypeRet {
            r#type: "Fake".into(),
        })
    }

    async fn connect_get_hostname(
        &self,
        _: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        Ok(remote::ConnectGetHostnameRet {
            hostname: "fake-host".into(),
        })
    }

    async fn connect_list_all_domains(
        &self,
        _: &Peer,
        args: remote::ConnectListAllDomainsArgs,
    ) -> Result<remote::ConnectListAllDomainsRet, RemoteError> {
        let flags = ConnectListAllDomainsFlags::from_bits_truncate(args.flags);
        let both = ConnectListAllDomainsFlags::ACTIVE | ConnectListAllDomainsFlags::INACTIVE;
        let wanted = |d: &Domain| match (flags & both, d.id) {
            (f, Some(_)) if f == ConnectListAllDomainsFlags::INACTIVE => false,
            (f, None) if f == ConnectListAllDomainsFlags::ACTIVE => false,
            _ => true,
        };
        let state = self.state();
        let domains: Vec<_> = state
            .domains
            .iter()
            .filter(|d| wanted(d))
            .map(handle)
            .collect();
        Ok(remote::ConnectListAllDomainsRet {
            ret: domains.len() as u32,
            domains,
        })
    }

    async fn domain_lookup_by_name(
        &self,
        _: &Peer,
        args: remote::DomainLookupByNameArgs,
    ) -> Result<remote::DomainLookupByNameRet, RemoteError> {
        let mut state = self.state();
        let dom = handle(state.domain(&args.name).map_err(|e| *e)?);
        Ok(remote::DomainLookupByNameRet { dom })
    }

    // libvirt's client looks a domain up again after starting it.
    async fn domain_lookup_by_uuid(
        &self,
        _: &Peer,
        args: remote::DomainLookupByUuidArgs,
    ) -> Result<remote::DomainLookupByUuidRet, RemoteError> {
        let state = self.state();
        let found = state.domains.iter().find(|d| d.uuid[..] == args.uuid[..]);
        let dom = found.map(handle).ok_or_else(|| {
            error(
                ErrorNumber::ERR_NO_DOMAIN,
                "Domain not found: no domain with matching uuid".into(),
            )
        })?;
        Ok(remote::DomainLookupByUuidRet { dom })
    }

    async fn domain_get_state(
        &self,
        _: &Peer,
        args: remote::DomainGetStateArgs,
    ) -> Result<remote::DomainGetStateRet, RemoteError> {
        let mut state = self.state();
        let d = state.domain(&args.dom.name).map_err(|e| *e)?;
        let running = if d.id.is_some() {
            DomainState::RUNNING
        } else {
            DomainState::SHUTOFF
        };
        Ok(remote::DomainGetStateRet {
            state: running.0,
            reason: 1,
        })
    }

    async fn domain_create(
        &self,
        _: &Peer,
        args: remote::DomainCreateArgs,
    ) -> Result<(), RemoteError> {
        let mut state = self.state();
        let id = state.next_id;
        let d = state.domain(&args.dom.name).map_err(|e| *e)?;
        if d.id.is_some() {
            return Err(invalid("domain is already running"));
        }
        d.id = Some(id);
        let dom = handle(d);
        state.next_id += 1;
        state.tell(
            dom,
            DomainEventType::STARTED,
            DomainEventStartedDetailType::BOOTED.0,
        );
        Ok(())
    }

    async fn domain_destroy(
        &self,
        _: &Peer,
        args: remote::DomainDestroyArgs,
    ) -> Result<(), RemoteError> {
        let mut state = self.state();
        let d = state.domain(&args.dom.name).map_err(|e| *e)?;
        if d.id.take().is_none() {
            return Err(invalid("domain is not running"));
        }
        let dom = handle(d);
        state.tell(
            dom,
            DomainEventType::STOPPED,
            DomainEventStoppedDetailType::DESTROYED.0,
        );
        Ok(())
    }

    async fn connect_domain_event_callback_register_any(
        &self,
        peer: &Peer,
        args: remote::ConnectDomainEventCallbackRegisterAnyArgs,
    ) -> Result<remote::ConnectDomainEventCallbackRegisterAnyRet, RemoteError> {
        if args.event_id != DomainEventID::LIFECYCLE.0 {
            return Err(unsupported_procedure(
                remote::program::NUMBER,
                remote::program::Procedure::ConnectDomainEventCallbackRegisterAny as i32,
            ));
        }
        let mut state = self.state();
        let id = state.next_callback;
        state.next_callback += 1;
        state.callbacks.push(Callback {
            peer: peer.clone(),
            id,
        });
        Ok(remote::ConnectDomainEventCallbackRegisterAnyRet { callback_id: id })
    }

    async fn connect_domain_event_callback_deregister_any(
        &self,
        _: &Peer,
        args: remote::ConnectDomainEventCallbackDeregisterAnyArgs,
    ) -> Result<(), RemoteError> {
        self.state().callbacks.retain(|c| c.id != args.callback_id);
        Ok(())
    }
}

// No calls of the qemu and lxc programs.
impl QemuService for Fake {}
impl LxcService for Fake {}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(place) = std::env::args().nth(1) else {
        eprintln!("usage: fake_daemon SOCKET | tcp:ADDRESS:PORT");
        return ExitCode::from(2);
    };
    let server = Server::new(Typed(Fake::new()), ServerOptions::default());
    let served = match place.strip_prefix("tcp:") {
        Some(address) => match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                println!("serving a fake hypervisor on tcp {address}");
                server.serve_tcp(listener).await
            }
            Err(e) => {
                eprintln!("cannot listen on {address}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => match tokio::net::UnixListener::bind(&place) {
            Ok(listener) => {
                println!("serving a fake hypervisor on {place}");
                server.serve_unix(listener).await
            }
            Err(e) => {
                eprintln!("cannot listen on {place}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accepting failed: {e}");
            ExitCode::FAILURE
        }
    }
}
