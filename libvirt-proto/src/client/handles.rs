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
            /// The same object: equal wire identities (the connection is
            /// not compared).
            fn eq(&self, other: &Self) -> bool {
                self.wire == other.wire
            }
        }
    };
}

handle!(
    /// A domain (virtual machine).
    Domain, remote::NonnullDomain, "domain"
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
