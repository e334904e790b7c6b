//! `cargo xtask bench`: calls per second of `libvirt-proto`'s async client
//! against libvirt's own C library (through python3-libvirt), both talking
//! to one private `libvirtd` serving `test:///default`.
//!
//! The Rust side is the bench target `libvirt-proto/benches/client_rate.rs`
//! (built in release mode by `cargo bench`), the C side the script
//! `xtask/bench/c_client_rate.py`. Both make the same calls for a fixed
//! time, sequentially and from several tasks or threads sharing one
//! connection, after a warm-up. The two programs run in turn, one round
//! each at a time, so a busy moment of the machine does not land on one
//! side only; the tables show the median round and the range, and each
//! ratio is the median of the rounds' ratios.

pub mod codegen;
mod streams;
mod usage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The Python with the `libvirt` module (a `python3` on `PATH` may be a
/// pyenv shim without it).
const PYTHON: &str = "/usr/bin/python3";

/// The procedures measured, in table order.
const PROCEDURES: &[&str] = &["connect_get_lib_version", "domain_get_info"];

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone)]
pub struct Args {
    seconds: f64,
    warmup: f64,
    rounds: usize,
    tasks: usize,
    rust_only: bool,
    /// Volume size of the stream rows, MiB (0: none).
    stream_mib: u64,
    /// The call rows.
    calls: bool,
}

impl Args {
    /// Parses the arguments after `bench`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args {
            seconds: 3.0,
            warmup: 1.0,
            rounds: 5,
            tasks: 16,
            rust_only: false,
            stream_mib: 1024,
            calls: true,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("{arg} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--seconds" => a.seconds = number(&value()?)?,
                "--warmup" => a.warmup = number(&value()?)?,
                "--rounds" => a.rounds = number(&value()?)?,
                "--tasks" => a.tasks = number(&value()?)?,
                "--rust-only" => a.rust_only = true,
                "--stream-mib" => a.stream_mib = number(&value()?)?,
                "--streams-only" => a.calls = false,
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        if a.rounds == 0 || a.tasks < 2 || a.seconds <= 0.0 {
            return Err(
                "--rounds must be at least 1, --tasks at least 2, --seconds above 0".into(),
            );
        }
        Ok(a)
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: `{s}`"))
}

/// A private `libvirtd`, killed when dropped.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Daemon {
    /// Starts `libvirtd` with its own configuration, sockets and pid file
    /// in `dir`.
    ///
    /// A daemon running as root keeps its drivers' pid files in
    /// `/run/libvirt` whatever its configuration says, so a second one
    /// (another private daemon of a test, say) fails to start. As root the
    /// daemon therefore gets a mount namespace of its own with an empty
    /// `/run/libvirt`, when `unshare` allows it.
    fn start(dir: &Path) -> Result<Daemon, String> {
        let _ = std::fs::remove_dir_all(dir);
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
        let conf = dir.join("libvirtd.conf");
        std::fs::write(
            &conf,
            format!(
                "unix_sock_dir = \"{}\"\nauth_unix_ro = \"none\"\nauth_unix_rw = \"none\"\n\
                 unix_sock_rw_perms = \"0700\"\nlisten_tls = 0\nlisten_tcp = 0\n",
                run.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let libvirtd = libvirtd();
        let mut cmd = if is_root() && private_run_dir_works() {
            let mut c = Command::new("unshare");
            c.args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mkdir -p /run/libvirt && mount -t tmpfs tmpfs /run/libvirt && exec \"$0\" \"$@\"",
                libvirtd,
            ]);
            c
        } else {
            Command::new(libvirtd)
        };
        let log = dir.join("libvirtd.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = cmd
            .arg("-f")
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("libvirtd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {libvirtd} (install libvirt-daemon): {e}"))?;
        let mut daemon = Daemon {
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !daemon.socket().exists() {
            let exited = daemon.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "libvirtd {}:\n{}",
                    match exited {
                        Some(s) => format!("exited at start ({s})"),
                        None => "did not create its socket within 20 s".into(),
                    },
                    tail.join("\n")
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(daemon)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock")
    }

    fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.socket().display())
    }

    fn version() -> String {
        Command::new(libvirtd())
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.split_whitespace().last().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    }
}

/// `/usr/sbin/libvirtd`, else the one on `PATH`.
fn libvirtd() -> &'static str {
    if Path::new("/usr/sbin/libvirtd").exists() {
        "/usr/sbin/libvirtd"
    } else {
        "libvirtd"
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether `unshare` can give a process a private mount namespace here.
fn private_run_dir_works() -> bool {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `/usr/bin/python3` can import `libvirt`.
fn python_has_libvirt() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import libvirt"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure the C side can run: installs python3-libvirt when root.
fn prepare_python() -> bool {
    if python_has_libvirt() {
        return true;
    }
    eprintln!("xtask bench: {PYTHON} cannot import the `libvirt` module (python3-libvirt)");
    if !is_root() {
        eprintln!("xtask bench: not root; install python3-libvirt to compare with the C library");
        return false;
    }
    eprintln!("xtask bench: apt-get install -y python3-libvirt");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "python3-libvirt"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok && python_has_libvirt() {
        true
    } else {
        eprintln!("xtask bench: could not install python3-libvirt");
        false
    }
}

/// The least share of the engine-alone rate the async client keeps with
/// many calls pending.
const DRIVER_TARGET: f64 = 0.95;

/// Connections of the daemon-ceiling measurement.
const CEILING_CONNECTIONS: usize = 4;

/// One round of one measurement.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Calls per second.
    rate: f64,
    /// CPU time of the client per call, µs.
    client_us: f64,
    /// CPU time of the daemon per call, µs.
    daemon_us: f64,
}

/// The rounds of each measurement: (procedure, concurrency).
type Rates = BTreeMap<(String, usize), Vec<Sample>>;

/// Parses `<kind> <procedure> <tasks> <calls> <seconds> <rate> <client CPU
/// s> <daemon CPU s>` lines of one kind (`rate`, or `engine` for the
/// engine alone).
fn collect(output: &str, kind: &str, into: &mut Rates) -> Result<(), String> {
    let mut seen = 0;
    for line in output.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() != Some(&kind) {
            continue;
        }
        let [_, name, tasks, calls, _secs, rate, client_cpu, daemon_cpu] = f[..] else {
            return Err(format!("unexpected line: {line}"));
        };
        let calls: f64 = number(calls)?;
        let per_call =
            |cpu: &str| -> Result<f64, String> { Ok(number::<f64>(cpu)? * 1e6 / calls.max(1.0)) };
        into.entry((name.to_string(), number(tasks)?))
            .or_default()
            .push(Sample {
                rate: number(rate)?,
                client_us: per_call(client_cpu)?,
                daemon_us: per_call(daemon_cpu)?,
            });
        seen += 1;
    }
    if seen == 0 {
        return Err(format!("no `{kind}` measurements in the output:\n{output}"));
    }
    Ok(())
}

/// Runs a measuring program; its standard output.
fn measure(mut cmd: Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{what}: output not UTF-8"))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `12345.6` as `12,346`.
fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The median rate with the range of the rounds.
fn cell(v: Option<&Vec<Sample>>) -> String {
    let rates: Vec<f64> = v
        .map(|v| v.iter().map(|s| s.rate).collect())
        .unwrap_or_default();
    match rates.len() {
        0 => "-".into(),
        1 => grouped(rates[0]),
        _ => {
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!(
                "{} ({}–{})",
                grouped(median(&rates)),
                grouped(lo),
                grouped(hi)
            )
        }
    }
}

/// The median rate of a measurement's rounds.
fn rate(v: Option<&Vec<Sample>>) -> Option<f64> {
    v.filter(|v| !v.is_empty())
        .map(|v| median(&v.iter().map(|s| s.rate).collect::<Vec<_>>()))
}

/// The median of the rounds' ratios of `a`'s rate to `b`'s. Each round
/// measures both sides back to back, so a round the machine was slow for
/// counts against both; the ratio of the two medians would pair a fast
/// round of one side with a slow round of the other.
fn paired_ratio(a: Option<&Vec<Sample>>, b: Option<&Vec<Sample>>) -> Option<f64> {
    let ratios: Vec<f64> = a?.iter().zip(b?).map(|(a, b)| a.rate / b.rate).collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

/// Median CPU µs per call of the client and of the daemon.
fn cpu_cell(v: Option<&Vec<Sample>>) -> String {
    match v {
        Some(v) if !v.is_empty() => {
            let c: Vec<f64> = v.iter().map(|s| s.client_us).collect();
            let d: Vec<f64> = v.iter().map(|s| s.daemon_us).collect();
            format!("{:.0} + {:.0}", median(&c), median(&d))
        }
        _ => "-".into(),
    }
}

/// Prints rows as aligned columns; columns in `left` are left-aligned.
fn print_table(rows: &[Vec<String>], left: &[usize]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, w))| {
                let pad = " ".repeat(w - s.chars().count());
                if left.contains(&i) {
                    format!("{s}{pad}")
                } else {
                    format!("{pad}{s}")
                }
            })
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the comparison and prints the table.
pub fn run(root: &Path, args: &Args) -> Result<(), String> {
    let stream_bench = if args.stream_mib > 0 {
        eprintln!("xtask bench: building the stream program (release)");
        Some(streams::build(root)?)
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    let daemon = Daemon::start(&dir)?;
    if args.calls {
        calls(root, args, &daemon)?;
    }
    if let Some(bin) = stream_bench {
        let files = streams::scratch_dir();
        let r = streams::run(
            root,
            &bin,
            &daemon.socket(),
            &files,
            args.stream_mib,
            args.rounds,
        );
        let _ = std::fs::remove_dir_all(&files);
        r?;
    }
    Ok(())
}

/// The call rows: rates of this client, the C library, the engine alone
/// and the daemon's ceiling.
fn calls(root: &Path, args: &Args, daemon: &Daemon) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let bench_args = [
        "bench",
        "--quiet",
        "-p",
        "libvirt-proto",
        "--features",
        "client",
        "--bench",
        "client_rate",
    ];
    eprintln!("xtask bench: building the Rust side (release)");
    let built = Command::new(&cargo)
        .current_dir(root)
        .args(bench_args)
        .arg("--no-run")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("building libvirt-proto's client_rate bench failed".into());
    }
    let with_c = !args.rust_only && prepare_python();
    let script = root.join("xtask/bench/c_client_rate.py");

    let uri = daemon.uri();
    let common = [
        "--daemon-pid".to_string(),
        daemon.child.id().to_string(),
        "--seconds".to_string(),
        args.seconds.to_string(),
        "--warmup".to_string(),
        args.warmup.to_string(),
        "--rounds".to_string(),
        "1".to_string(),
        "--tasks".to_string(),
        args.tasks.to_string(),
    ];
    let load_before = load_average();
    let mut rust = Rates::new();
    let mut c = Rates::new();
    let mut engine = Rates::new();
    let mut ceiling = Rates::new();
    for round in 1..=args.rounds {
        eprintln!("xtask bench: round {round} of {}", args.rounds);
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root)
            .args(bench_args)
            .arg("--")
            .arg(&uri)
            .args(&common)
            .args(["--connections", &CEILING_CONNECTIONS.to_string()]);
        let out = measure(cmd, "the Rust client")?;
        collect(&out, "rate", &mut rust)?;
        collect(&out, "engine", &mut engine)?;
        collect(&out, "ceiling", &mut ceiling)?;
        if with_c {
            let mut cmd = Command::new(PYTHON);
            cmd.arg(&script).arg(&uri).args(&common);
            collect(&measure(cmd, "the python3-libvirt script")?, "rate", &mut c)?;
        }
    }
    let load_after = load_average();

    println!();
    println!(
        "libvirtd {} serving test:///default, one connection per client, {} round(s) of {} s \
         per measurement after {} s of warm-up",
        Daemon::version(),
        args.rounds,
        args.seconds,
        args.warmup
    );
    println!(
        "calls per second, median (range); {} cores, load average {load_before} before, \
         {load_after} after",
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    let measurements: Vec<(&str, usize)> = PROCEDURES
        .iter()
        .flat_map(|p| [(*p, 1), (*p, args.tasks)])
        .collect();
    let label = |p: &str, n: usize| {
        if n == 1 {
            format!("{p}, 1 task")
        } else {
            format!("{p}, {n} tasks")
        }
    };
    let mut rows = vec![vec![
        "measurement".to_string(),
        "this client".into(),
        "C library (python3-libvirt)".into(),
        "Rust / C".into(),
        "target".into(),
    ]];
    for &(p, n) in &measurements {
        let key = (p.to_string(), n);
        let (r, cc) = (rust.get(&key), c.get(&key));
        let ratio = paired_ratio(r, cc);
        let target = if n == 1 { 1.0 } else { 2.0 };
        rows.push(vec![
            label(p, n),
            cell(r),
            cell(cc),
            ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            match ratio {
                None => format!(">= {target}x: -"),
                Some(x) if x >= target => format!(">= {target}x: met"),
                Some(_) => format!(">= {target}x: MISSED"),
            },
        ]);
    }
    print_table(&rows, &[0, 4]);
    println!();
    println!(
        "Where the time goes: CPU µs per call, client + daemon (medians; /proc, 10 ms ticks), \
         and libvirt-proto's"
    );
    println!(
        "sans-IO engine alone on a blocking socket (no runtime, one thread keeping 1 or {} \
         calls pending):",
        args.tasks
    );
    println!();
    let mut rows = vec![vec![
        "measurement".to_string(),
        "this client".into(),
        "C library".into(),
        "engine alone, calls/s".into(),
        "engine alone, CPU".into(),
        "daemon ceiling".into(),
    ]];
    for &(p, n) in &measurements {
        let key = (p.to_string(), n);
        rows.push(vec![
            label(p, n),
            cpu_cell(rust.get(&key)),
            cpu_cell(c.get(&key)),
            cell(engine.get(&key)),
            cpu_cell(engine.get(&key)),
            if n == 1 {
                String::new()
            } else {
                cell(ceiling.get(&key))
            },
        ]);
    }
    print_table(&rows, &[0]);
    println!();
    println!(
        "The async driver's cost: this client's rate against the engine alone on the same \
         daemon, {} calls pending",
        args.tasks
    );
    println!();
    let mut rows = vec![vec![
        "measurement".to_string(),
        "this client".into(),
        "engine alone".into(),
        "client / engine".into(),
        format!("target (>= {DRIVER_TARGET}x)"),
    ]];
    for p in PROCEDURES {
        let key = (p.to_string(), args.tasks);
        let (r, e) = (rust.get(&key), engine.get(&key));
        let ratio = paired_ratio(r, e);
        rows.push(vec![
            label(p, args.tasks),
            cell(r),
            cell(e),
            ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            match ratio {
                Some(x) if x >= DRIVER_TARGET => "met".into(),
                Some(_) => "MISSED".into(),
                None => "-".into(),
            },
        ]);
    }
    print_table(&rows, &[0, 4]);
    println!();
    println!(
        "The daemon ceiling: {CEILING_CONNECTIONS} engines on as many connections and threads, \
         {} calls pending in all (at most {} on each, as this client sends by default);",
        args.tasks,
        libvirt_proto::engine::DEFAULT_MAX_IN_FLIGHT
    );
    println!("the most the daemon serves on this machine to such clients when they cost next to nothing.");
    for p in PROCEDURES {
        let key = (p.to_string(), args.tasks);
        if let (Some(top), Some(theirs)) = (rate(ceiling.get(&key)), rate(c.get(&key))) {
            println!(
                "{p}: ceiling {} calls/s = {:.2}x the C library's {}-thread rate{}",
                grouped(top),
                top / theirs,
                args.tasks,
                if top < theirs {
                    "; below the C library, which sends all its calls at once: \
                     with more calls in hand the daemon serves a connection faster here"
                } else if top < 2.0 * theirs {
                    "; a 2x target is out of reach for any client on this machine"
                } else {
                    ""
                }
            );
        }
    }
    if !with_c {
        println!();
        if args.rust_only {
            println!("(--rust-only: the C side did not run)");
        } else {
            println!("(the C side did not run: {PYTHON} has no `libvirt` module)");
        }
    }
    Ok(())
}
