//! Object handles: a libvirt object (domain, network, storage pool, ...)
//! together with the connection it lives on.
//!
//! A handle is the object's wire identity (its name and UUID, as the
//! daemon sent them) and a [`Client`]; its methods are the procedures whose
//! first argument is that object, named as libvirt's C API names them
//! without `vir` and the object word (`virDomainGetInfo` →
//! [`Domain::get_info`]). They are generated with the client's methods
//! (`src/generated/*_client.rs`). Lookups and `*_list_all_*` calls return
//! handles; a handle dereferences to its wire identity, so it can be passed
//! wherever a method takes `&remote::NonnullDomain` and the like.

use std::ops::Deref;

use super::Client;
use crate::generated::remote;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $wire:ty, $what:literal) => {
        handle!($(#[$doc])* $name, $wire, $what, |a: &$wire, b: &$wire| a == b);
    };
    ($(#[$doc:meta])* $name:ident, $wire:ty, $what:literal, $same:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            pub(crate) client: Client,
            pub(crate) wire: $wire,
        }

        impl $name {
            #[doc = concat!("The ", $what, " `wire` on the connection of `client`.")]
            pub fn from_wire(client: Client, wire: $wire) -> Self {
                Self { client, wire }
            }

            #[doc = concat!("The ", $what, "'s wire identity.")]
            pub fn wire(&self) -> &$wire {
                &self.wire
            }

            #[doc = concat!("The ", $what, "'s wire identity, without the connection.")]
            pub fn into_wire(self) -> $wire {
                self.wire
            }

            #[doc = concat!("The connection the ", $what, " is reached through.")]
            pub fn client(&self) -> &Client {
                &self.client
            }
        }

        impl Deref for $name {
            type Target = $wire;

            fn deref(&self) -> &$wire {
                &self.wire
            }
        }

        impl PartialEq for $name {
            /// The same object (the connection is not compared).
            fn eq(&self, other: &Self) -> bool {
                ($same)(&self.wire, &other.wire)
            }
        }
    };
}

handle!(
    /// A domain (virtual machine). Two are equal when their name and UUID
    /// are: the id the daemon sends changes as the domain starts and stops.
    Domain,
    remote::NonnullDomain,
    "domain",
    |a: &remote::NonnullDomain, b: &remote::NonnullDomain| a.name == b.name && a.uuid == b.uuid
);
handle!(
    /// A virtual network.
    Network, remote::NonnullNetwork, "network"
);
handle!(
    /// A port of a virtual network.
    NetworkPort, remote::NonnullNetworkPort, "network port"
);
handle!(
    /// A network filter.
    NwFilter, remote::NonnullNwfilter, "network filter"
);
handle!(
    /// A network filter's binding to a port.
    NwFilterBinding, remote::NonnullNwfilterBinding, "network filter binding"
);
handle!(
    /// A host network interface.
    Interface, remote::NonnullInterface, "interface"
);
handle!(
    /// A storage pool.
    StoragePool, remote::NonnullStoragePool, "storage pool"
);
handle!(
    /// A storage volume.
    StorageVol, remote::NonnullStorageVol, "storage volume"
);
handle!(
    /// A host device.
    NodeDevice, remote::NonnullNodeDevice, "node device"
);
handle!(
    /// A secret.
    Secret, remote::NonnullSecret, "secret"
);
handle!(
    /// A checkpoint of a domain.
    DomainCheckpoint, remote::NonnullDomainCheckpoint, "domain checkpoint"
);
handle!(
    /// A snapshot of a domain.
    DomainSnapshot, remote::NonnullDomainSnapshot, "domain snapshot"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_the_same_whatever_its_id() {
        // A client whose driver is gone: equality never reaches it.
        let (commands, _) = tokio::sync::mpsc::unbounded_channel();
        let connection = super::super::driver::Connection {
            commands,
            drained: Default::default(),
            ended: Default::default(),
            pool: Default::default(),
        };
        let client = Client::from_parts(connection, Default::default());
        let wire = |id| remote::NonnullDomain {
            name: "vm".into(),
            uuid: [1; 16].into(),
            id,
        };
        let running = Domain::from_wire(client.clone(), wire(5));
        assert_eq!(running, Domain::from_wire(client.clone(), wire(-1)));
        let mut other = wire(5);
        other.uuid = [2; 16].into();
        assert_ne!(running, Domain::from_wire(client, other));
    }
}
