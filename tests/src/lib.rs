//! Shared helpers for the workspace's end-to-end tests.
//!
//! The tests themselves live in `tests/tests/`. Helpers here find libvirt's
//! release tarballs (`LIBVIRT_TARBALLS`, default `../shared/libvirt` beside
//! the workspace) and unpack the files a test needs into a temporary folder.

pub mod libvirt_sources;
