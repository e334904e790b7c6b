//! Shared helpers for the workspace's end-to-end tests.
//!
//! The tests themselves live in `tests/tests/`. Helpers here find libvirt's
//! release tarballs (`LIBVIRT_TARBALLS`, default `../shared/libvirt` beside
//! the workspace) and unpack the files a test needs into a temporary folder,
//! name the specifications the round-trip, corpus and rpcgen tests cover
//! and load them ([`fixture_specs`]),
//! make random valid XDR of any type from the IR alone ([`random_xdr`]), and
//! check generated types against those bytes ([`codec_check`]).

pub mod codec_check;
pub mod fixture_specs;
pub mod libvirt_sources;
pub mod random_xdr;
