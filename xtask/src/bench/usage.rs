//! What a command cost, measured by `xtask/bench/rusage.py`: wall time,
//! CPU time (user and system) and peak resident memory.

use std::path::Path;
use std::process::Command;

/// What one run cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub wall: f64,
    pub cpu: f64,
    pub rss_mib: f64,
}

/// `program args...` wrapped in `rusage.py` (found under `root`).
pub fn command(root: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(super::PYTHON);
    cmd.arg(root.join("xtask/bench/rusage.py")).arg(program);
    cmd
}

/// Runs a command made by [`command`] and reads its usage line; `what`
/// names it in errors.
pub fn measure(cmd: Command, what: &str) -> Result<Usage, String> {
    let text = super::measure(cmd, what)?;
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rusage "))
        .ok_or_else(|| format!("{what}: no usage line"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|x| {
            x.parse()
                .map_err(|_| format!("{what}: bad usage line {line}"))
        })
        .collect::<Result<_, _>>()?;
    let [wall, cpu, rss_kib] = f[..] else {
        return Err(format!("{what}: bad usage line {line}"));
    };
    Ok(Usage {
        wall,
        cpu,
        rss_mib: rss_kib / 1024.0,
    })
}
