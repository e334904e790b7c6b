//! Loading a specification from files on disk, as both front ends (the
//! CLI and `xdr_include!`) do: read the files, run the preprocessor, then
//! parse and resolve.

use std::io;
use std::path::{Path, PathBuf};

use crate::cpp::{self, CppOptions, OsFileSystem};
use crate::diag::SourceMap;
use crate::ir::{self, Loaded, Options, RpcgenPreset};

/// Largest `.x` file read, in bytes (libvirt's largest is about 250 KB).
pub const MAX_SPEC_BYTES: u64 = cpp::MAX_INCLUDE_BYTES;

/// A specification loaded from files.
#[derive(Debug)]
pub struct LoadedFiles {
    /// The files: those named, then those they include.
    pub sources: SourceMap,
    /// The result of parsing and resolving, with the preprocessor's
    /// diagnostics among the others.
    pub loaded: Loaded,
    /// Every file read through `#include`, for rebuild tracking.
    pub dependencies: Vec<PathBuf>,
}

/// A file that could not be read.
#[derive(Debug)]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Reads `paths` (relative to [`CppOptions::base_dir`], and named in
/// diagnostics as given), preprocesses them and loads them as one
/// specification.
pub fn load_paths(
    paths: &[PathBuf],
    options: &Options,
    rpcgen: RpcgenPreset,
    cpp_options: &CppOptions,
) -> Result<LoadedFiles, ReadError> {
    let mut sources = SourceMap::new();
    for path in paths {
        let text = read_spec(&cpp_options.base_dir.join(path))?;
        sources.add(path.display().to_string(), text);
    }
    let cpp = cpp::preprocess(&mut sources, cpp_options, &OsFileSystem);
    let loaded = ir::load_preprocessed(&sources, options, rpcgen, cpp.diagnostics);
    Ok(LoadedFiles {
        sources,
        loaded,
        dependencies: cpp.dependencies,
    })
}

/// Reads one `.x` file: a regular file of at most [`MAX_SPEC_BYTES`].
pub fn read_spec(path: &Path) -> Result<String, ReadError> {
    cpp::read_bounded(path, MAX_SPEC_BYTES).map_err(|error| ReadError {
        path: path.to_path_buf(),
        error,
    })
}
