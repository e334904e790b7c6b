//! The stream rows of `cargo xtask bench`: a storage volume downloaded and
//! uploaded through this client (`libvirt-proto/benches/stream_rate.rs`:
//! `ByteStream` and `tokio::io::copy` to and from a file) and through
//! `virsh vol-download` / `vol-upload`, on the same private daemon, in
//! turns. Each transfer runs under `xtask/bench/rusage.py`, which reports
//! its wall time, CPU time and peak resident memory.
//!
//! The volume and the files live in memory (`/dev/shm`) when the machine
//! has one: on disk, write-back makes single transfers vary by 2x, which
//! hides the clients' difference.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::usage::{self, Usage};
use super::{median, print_table};

/// The pool and volume the transfers use.
const POOL: &str = "bench";
const VOLUME: &str = "v.img";

/// Targets: this client at least as fast as virsh, and its peak memory
/// below 64 MiB whatever the volume's size.
const SPEED_TARGET: f64 = 1.0;
const RSS_TARGET_MIB: f64 = 64.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Ours,
    /// This client through `send_file` / `recv_file`.
    OursFile,
    Virsh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Download,
    Upload,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

/// Where the pool and the files go: `/dev/shm` when it exists, else the
/// temporary folder.
pub fn scratch_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("xtask-bench-streams-{}", std::process::id()))
}

/// The path of the built `stream_rate` bench program.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "bench",
            "--quiet",
            "-p",
            "libvirt-proto",
            "--features",
            "client",
            "--bench",
            "stream_rate",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("building libvirt-proto's stream_rate bench failed".into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.contains("\"name\":\"stream_rate\""))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
        .ok_or_else(|| "cargo did not name the stream_rate executable".into())
}

/// Runs `rounds` rounds of a `mib` MiB volume both ways, through the bench
/// program `bin` and through virsh, against the daemon at `socket`;
/// prints the table.
pub fn run(
    root: &Path,
    bin: &Path,
    socket: &Path,
    dir: &Path,
    mib: u64,
    rounds: usize,
) -> Result<(), String> {
    let uri = format!("storage+unix:///system?socket={}", socket.display());
    println!();
    println!("Streams, in {}:", dir.display());
    let pool_dir = dir.join("pool");
    std::fs::create_dir_all(&pool_dir).map_err(|e| e.to_string())?;
    virsh(
        &uri,
        &[
            "pool-create-as",
            POOL,
            "dir",
            "--target",
            &pool_dir.to_string_lossy(),
        ],
    )?;
    virsh(
        &uri,
        &[
            "vol-create-as",
            POOL,
            VOLUME,
            &format!("{mib}M"),
            "--format",
            "raw",
        ],
    )?;
    let source = dir.join("source.bin");
    write_source(&source, mib)?;
    let received = dir.join("received.bin");

    let mut samples: BTreeMap<(Direction, Side), Vec<Usage>> = BTreeMap::new();
    for round in 0..rounds {
        eprintln!("xtask bench: stream round {} of {rounds}", round + 1);
        // Upload first, so the download reads back what was sent; the
        // sides take turns going first.
        for direction in [Direction::Upload, Direction::Download] {
            let mut sides = [Side::Ours, Side::OursFile, Side::Virsh];
            if round % 2 == 1 {
                sides.reverse();
            }
            for side in sides {
                let file = match direction {
                    Direction::Upload => &source,
                    Direction::Download => &received,
                };
                let cmd = match side {
                    Side::Ours | Side::OursFile => {
                        let mode = match side {
                            Side::OursFile => format!("{}-file", direction.name()),
                            _ => direction.name().to_string(),
                        };
                        let mut cmd = usage::command(root, bin);
                        cmd.args([&uri, POOL, VOLUME, &mode]).arg(file);
                        cmd
                    }
                    Side::Virsh => {
                        let verb = format!("vol-{}", direction.name());
                        let mut cmd = usage::command(root, "virsh");
                        cmd.args(["-c", &uri, &verb, "--pool", POOL, VOLUME])
                            .arg(file);
                        cmd
                    }
                };
                let what = format!("the {side:?} {}", direction.name());
                let cost = usage::measure(cmd, &what)?;
                if direction == Direction::Download {
                    if round == 0 && !same_file(&source, &received)? {
                        return Err(format!(
                            "the {side:?} download differs from what was uploaded"
                        ));
                    }
                    let _ = std::fs::remove_file(&received);
                }
                samples.entry((direction, side)).or_default().push(cost);
            }
        }
    }

    println!();
    println!(
        "Streams: a {mib} MiB raw volume in a directory pool, {rounds} round(s); medians \
         (wall time, CPU time user + system, peak resident memory)"
    );
    println!();
    let mut rows = vec![vec![
        "transfer".to_string(),
        "this client".into(),
        "virsh".into(),
        "speed vs virsh".into(),
        "CPU vs virsh".into(),
        format!("target (>= {SPEED_TARGET}x, < {RSS_TARGET_MIB} MiB)"),
    ]];
    let rows_measured = [
        (Direction::Download, Side::Ours),
        (Direction::Upload, Side::Ours),
        (Direction::Download, Side::OursFile),
        (Direction::Upload, Side::OursFile),
    ];
    for (direction, side) in rows_measured {
        let get = |side| samples.get(&(direction, side)).cloned().unwrap_or_default();
        let (ours, theirs) = (get(side), get(Side::Virsh));
        let m = |v: &[Usage], f: fn(&Usage) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
        let (oc, tc) = (m(&ours, |u| u.cpu), m(&theirs, |u| u.cpu));
        let peak = ours.iter().map(|u| u.rss_mib).fold(0.0, f64::max);
        // The median of the rounds' ratios: both sides of a round ran
        // back to back, on the machine as it was then.
        let speed = median(
            &ours
                .iter()
                .zip(&theirs)
                .map(|(o, t)| t.wall / o.wall)
                .collect::<Vec<_>>(),
        );
        let met = speed >= SPEED_TARGET && peak < RSS_TARGET_MIB;
        let how = match (side, direction) {
            (Side::OursFile, Direction::Download) => "recv_file",
            (Side::OursFile, Direction::Upload) => "send_file",
            _ => "tokio::fs",
        };
        rows.push(vec![
            format!("{mib} MiB {}, {how}", direction.name()),
            cell(&ours, m),
            cell(&theirs, m),
            format!("{speed:.2}x"),
            format!("{:.2}x", oc / tc),
            if met { "met".into() } else { "MISSED".into() },
        ]);
    }
    print_table(&rows, &[0, 5]);
    println!();
    println!(
        "speed: virsh's time over this client's (above 1 is faster), the median of the \
         rounds' ratios; CPU: this client's CPU \
         time over virsh's"
    );
    let (misplaced, aligned) = copy_rates(&source)?;
    println!(
        "Kernel copy from the page cache (the source file, 1 MiB reads): {misplaced:.1} GB/s \
         into a buffer 16 bytes past a page boundary (where glibc puts a mapped allocation, \
         tokio::fs::File's read buffer among them), {aligned:.1} GB/s into one {ALIGNED_AT} \
         bytes past"
    );
    let _ = virsh(&uri, &["pool-destroy", POOL]);
    Ok(())
}

/// Median wall time (with the range of the rounds), CPU time and peak
/// memory.
fn cell(v: &[Usage], m: impl Fn(&[Usage], fn(&Usage) -> f64) -> f64) -> String {
    let walls = v.iter().map(|u| u.wall);
    let (lo, hi) = walls.fold((f64::MAX, 0.0f64), |(lo, hi), w| (lo.min(w), hi.max(w)));
    format!(
        "{:.2} s ({lo:.2}–{hi:.2}), {:.2} s CPU, {:.0} MiB",
        m(v, |u| u.wall),
        m(v, |u| u.cpu),
        m(v, |u| u.rss_mib)
    )
}

/// Where [`copy_rates`]' second buffer starts in its page: a cache line.
const ALIGNED_AT: usize = 64;

/// How fast the kernel copies `file`'s cached pages into a buffer that
/// starts 16 bytes into a page, and into one [`ALIGNED_AT`] bytes in, in
/// GB/s (the best of three passes over up to 256 MiB each). Some CPUs
/// copy several times slower when the destination sits just past the
/// source's offset within a page.
fn copy_rates(file: &Path) -> Result<(f64, f64), String> {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    const CHUNK: usize = 1 << 20;
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let len = f
        .metadata()
        .map_err(|e| e.to_string())?
        .len()
        .min(256 << 20);
    let mut area = vec![0u8; CHUNK + 2 * PAGE];
    let page = area.as_ptr().align_offset(PAGE).min(PAGE);
    let mut rate = |at: usize| -> Result<f64, String> {
        let buf = &mut area[page + at..page + at + CHUNK];
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut pos = 0;
            while pos < len {
                match f.read_at(buf, pos).map_err(|e| e.to_string())? {
                    0 => break,
                    n => pos += n as u64,
                }
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok(len as f64 / best / 1e9)
    };
    Ok((rate(16)?, rate(ALIGNED_AT)?))
}

fn virsh(uri: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("virsh")
        .args(["-c", uri])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run virsh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "virsh {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A file of `mib` MiB of pseudo-random bytes (the transfer neither
/// compresses nor skips zeros, but a disk might).
fn write_source(path: &Path, mib: u64) -> Result<(), String> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).map_err(|e| e.to_string())?;
    }
    f.flush().map_err(|e| e.to_string())
}

fn same_file(a: &Path, b: &Path) -> Result<bool, String> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()));
    let (mut a, mut b) = (
        std::io::BufReader::new(open(a)?),
        std::io::BufReader::new(open(b)?),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]).map_err(|e| e.to_string())? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}
