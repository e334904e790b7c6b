//! Which kind of callback an event belongs to.

use crate::dispatch::Message;
use crate::generated::qemu;

/// The kinds of events libvirt registers callbacks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFamily {
    /// Domain events (`virConnectDomainEventRegisterAny`).
    Domain,
    /// Network events.
    Network,
    /// Storage pool events.
    StoragePool,
    /// Node device events.
    NodeDevice,
    /// Secret events.
    Secret,
    /// QEMU monitor events (`virConnectDomainQemuMonitorEventRegister`).
    QemuMonitor,
}

impl EventFamily {
    /// The family and callback id of an event sent to a registered
    /// callback; `None` for events of the legacy, callback-less API.
    pub fn of(m: &Message) -> Option<(EventFamily, i32)> {
        match m {
            Message::Remote(r) => {
                let id = r.callback_id()?;
                let name = r.procedure().info().name;
                let family = [
                    ("REMOTE_PROC_DOMAIN_EVENT_", EventFamily::Domain),
                    ("REMOTE_PROC_NETWORK_EVENT_", EventFamily::Network),
                    ("REMOTE_PROC_STORAGE_POOL_EVENT_", EventFamily::StoragePool),
                    ("REMOTE_PROC_NODE_DEVICE_EVENT_", EventFamily::NodeDevice),
                    ("REMOTE_PROC_SECRET_EVENT_", EventFamily::Secret),
                ]
                .into_iter()
                .find(|(prefix, _)| name.starts_with(prefix))?
                .1;
                Some((family, id))
            }
            Message::Qemu(qemu::program::Message::DomainMonitorEvent(e)) => {
                Some((EventFamily::QemuMonitor, e.callback_id))
            }
            _ => None,
        }
    }
}
