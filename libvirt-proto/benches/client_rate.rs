//! Calls per second of the async client against a running daemon, for
//! `cargo xtask bench` (which starts a private `libvirtd` and compares
//! with libvirt's C library through python3-libvirt).
//!
//! ```text
//! cargo bench -p libvirt-proto --features client --bench client_rate -- \
//!     URI [--seconds S] [--warmup S] [--rounds N] [--tasks N] [--domain NAME]
//!     [--daemon-pid PID] [--max-in-flight N] [--connections N]
//! ```
//!
//! Every measurement runs for a fixed time; one line per round and
//! measurement goes to standard output: `rate <procedure> <tasks> <calls>
//! <seconds> <calls per second> <client CPU seconds> <daemon CPU seconds>`
//! (CPU time from `/proc`, user and system; the daemon's is 0 without
//! `--daemon-pid`).
//! Everything runs on one current-thread tokio runtime with one [`Client`]
//! shared by every task; `--max-in-flight` sets how many calls it sends
//! before their replies (by default 4, one fewer than libvirtd's
//! `max_client_requests`).
//!
//! For reference, right after each of the client's measurements, the same
//! calls are made through the sans-IO [`ClientEngine`] alone on a blocking
//! socket, with no runtime, no channels and no tasks: one thread keeps 1 or
//! `--tasks` calls pending (the engine holds back those beyond its default
//! of 4 unless `--max-in-flight` says otherwise). These lines start with
//! `engine` instead of `rate`. They show what the daemon gives a client
//! that costs next to nothing. The engine negotiates keepalive as the
//! client does, so the daemon does the same work for both.
//!
//! Last, `--connections` engines (4 by default), each on its own
//! connection and thread and together keeping `--tasks` calls pending,
//! measure the daemon's ceiling: the most calls per second it serves on
//! this machine to clients that cost next to nothing. These lines start
//! with `ceiling`. Like libvirt's C library without an event loop, they do
//! not ask the daemon for keepalive.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use libvirt_proto::client::{Client, ClientError};
use libvirt_proto::engine::auth::{AuthMethod, ClientAuth};
use libvirt_proto::engine::keepalive::{DEFAULT_COUNT, DEFAULT_INTERVAL};
use libvirt_proto::engine::open::{OpenStatus, Opener};
use libvirt_proto::engine::{ClientEngine, Event};
use libvirt_proto::remote::program::procs::{
    ConnectGetLibVersion, DomainGetInfo, DomainLookupByName,
};
use libvirt_proto::remote::{DomainGetInfoArgs, DomainLookupByNameArgs};

struct Options {
    uri: String,
    seconds: f64,
    warmup: f64,
    rounds: usize,
    tasks: usize,
    domain: String,
    daemon_pid: Option<u32>,
    max_in_flight: Option<usize>,
    connections: usize,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        uri: String::new(),
        seconds: 3.0,
        warmup: 0.5,
        rounds: 1,
        tasks: 16,
        domain: "test".into(),
        daemon_pid: None,
        max_in_flight: None,
        connections: 4,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            // Passed by `cargo bench` to every bench target.
            "--bench" => {}
            "--seconds" => o.seconds = num(&value("--seconds")?)?,
            "--warmup" => o.warmup = num(&value("--warmup")?)?,
            "--rounds" => o.rounds = num(&value("--rounds")?)?,
            "--tasks" => o.tasks = num(&value("--tasks")?)?,
            "--domain" => o.domain = value("--domain")?,
            "--daemon-pid" => o.daemon_pid = Some(num(&value("--daemon-pid")?)?),
            "--max-in-flight" => o.max_in_flight = Some(num(&value("--max-in-flight")?)?),
            "--connections" => o.connections = num(&value("--connections")?)?,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => o.uri = s.to_string(),
        }
    }
    if o.uri.is_empty() {
        return Err(
            "usage: client_rate URI [--seconds S] [--warmup S] [--rounds N] \
                    [--tasks N] [--domain NAME] [--daemon-pid PID] \
                    [--max-in-flight N] [--connections N]"
                .into(),
        );
    }
    Ok(o)
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// CPU time (user and system) a process has used, in seconds, from
/// `/proc/<pid>/stat` (in clock ticks of 1/100 s); 0 when unknown.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses: state is
    // the first, utime the 12th, stime the 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// What a measurement calls.
#[derive(Clone)]
enum Proc {
    LibVersion,
    DomainInfo(DomainGetInfoArgs),
}

impl Proc {
    fn name(&self) -> &'static str {
        match self {
            Proc::LibVersion => "connect_get_lib_version",
            Proc::DomainInfo(_) => "domain_get_info",
        }
    }

    async fn call(&self, client: &Client) -> Result<(), ClientError> {
        match self {
            Proc::LibVersion => client.call::<ConnectGetLibVersion>(&()).await.map(drop),
            Proc::DomainInfo(args) => client.call::<DomainGetInfo>(args).await.map(drop),
        }
    }
}

/// Calls `proc` from `tasks` tasks until `seconds` have passed; the calls
/// made and the time they took (up to the last reply).
async fn measure(
    client: &Client,
    proc: &Proc,
    tasks: usize,
    seconds: f64,
) -> Result<(u64, f64), ClientError> {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let client = client.clone();
        let proc = proc.clone();
        handles.push(tokio::spawn(async move {
            let mut calls = 0u64;
            while Instant::now() < end {
                proc.call(&client).await?;
                calls += 1;
            }
            Ok::<u64, ClientError>(calls)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.expect("benchmark task panicked")?;
    }
    Ok((total, start.elapsed().as_secs_f64()))
}

/// The sans-IO engine alone on a blocking Unix socket.
struct Raw {
    sock: UnixStream,
    engine: ClientEngine,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Raw {
    /// Connects to the socket of `uri` and opens it as the client does
    /// (auth none, `CONNECT_OPEN`), with the client's default keepalive
    /// when `keepalive` (the engine answers the daemon's pings but sends
    /// none: nothing here runs its timer).
    fn connect(uri: &str, max_in_flight: Option<usize>, keepalive: bool) -> Result<Raw, String> {
        let parsed = libvirt_proto::uri::ConnectUri::parse(uri).map_err(|e| e.to_string())?;
        let path = parsed
            .params
            .socket
            .clone()
            .ok_or("the engine-only measurement needs a URI with socket=")?;
        let mut raw = Raw {
            sock: UnixStream::connect(&path).map_err(|e| format!("{path}: {e}"))?,
            engine: ClientEngine::new(Instant::now()),
            buf: vec![0; 256 * 1024],
            out: Vec::new(),
        };
        let mut opener = Opener::new(
            ClientAuth::new(vec![AuthMethod::None], None),
            Some(parsed.remote_name()),
            0,
            keepalive.then_some((DEFAULT_INTERVAL, DEFAULT_COUNT)),
        );
        opener.start(&mut raw.engine).map_err(|e| e.to_string())?;
        loop {
            raw.exchange()?;
            while let Some(e) = raw.engine.poll_event() {
                if !opener.owns(&e) {
                    continue;
                }
                match opener.handle(&mut raw.engine, e, Instant::now()) {
                    OpenStatus::InProgress => {}
                    OpenStatus::Open { .. } => {
                        if let Some(n) = max_in_flight {
                            raw.engine.set_max_in_flight(n);
                        }
                        return Ok(raw);
                    }
                    OpenStatus::Failed(e) => return Err(e.to_string()),
                }
            }
        }
    }

    /// Writes what the engine has to send in one write, then reads once.
    fn exchange(&mut self) -> Result<(), String> {
        self.out.clear();
        while let Some(t) = self.engine.poll_transmit() {
            self.out.extend_from_slice(&t.bytes);
        }
        if !self.out.is_empty() {
            self.sock.write_all(&self.out).map_err(|e| e.to_string())?;
        }
        let n = self.sock.read(&mut self.buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the daemon closed the connection".into());
        }
        self.engine.handle_input(&self.buf[..n], Instant::now());
        Ok(())
    }

    fn start(&mut self, proc: &Proc) -> Result<(), String> {
        match proc {
            Proc::LibVersion => self.engine.call::<ConnectGetLibVersion>(&()),
            Proc::DomainInfo(args) => self.engine.call::<DomainGetInfo>(args),
        }
        .map(drop)
        .map_err(|e| e.to_string())
    }

    fn decode(&self, proc: &Proc, body: &[u8]) -> Result<(), String> {
        match proc {
            Proc::LibVersion => self
                .engine
                .decode_reply::<ConnectGetLibVersion>(body)
                .map(drop),
            Proc::DomainInfo(_) => self.engine.decode_reply::<DomainGetInfo>(body).map(drop),
        }
        .map_err(|e| e.to_string())
    }

    /// Keeps `depth` calls of `proc` pending until `seconds` have passed;
    /// the calls made and the time they took.
    fn measure(&mut self, proc: &Proc, depth: usize, seconds: f64) -> Result<(u64, f64), String> {
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let (mut pending, mut done) = (0, 0u64);
        loop {
            if Instant::now() < end {
                while pending < depth {
                    self.start(proc)?;
                    pending += 1;
                }
            }
            if pending == 0 {
                return Ok((done, start.elapsed().as_secs_f64()));
            }
            self.exchange()?;
            while let Some(e) = self.engine.poll_event() {
                if let Event::Reply { result, .. } = e {
                    self.decode(proc, &result.map_err(|e| e.to_string())?)?;
                    pending -= 1;
                    done += 1;
                }
            }
        }
    }
}

/// CPU time of this process and of the daemon when a measurement began.
struct CpuMark {
    me: f64,
    daemon: f64,
    daemon_pid: String,
}

impl CpuMark {
    fn now(o: &Options) -> CpuMark {
        let daemon_pid = o.daemon_pid.map_or("-".to_string(), |p| p.to_string());
        CpuMark {
            me: cpu_seconds("self"),
            daemon: cpu_seconds(&daemon_pid),
            daemon_pid,
        }
    }

    /// Prints the measurement's line.
    fn report(self, kind: &str, proc: &Proc, tasks: usize, (calls, secs): (u64, f64)) {
        let me = cpu_seconds("self") - self.me;
        let daemon = cpu_seconds(&self.daemon_pid) - self.daemon;
        println!(
            "{kind} {} {tasks} {calls} {secs:.6} {:.1} {me:.2} {daemon:.2}",
            proc.name(),
            calls as f64 / secs
        );
    }
}

/// The client's measurements, each followed by the engine's with as many
/// calls pending as the client had tasks, so both meet the machine in the
/// same state; the procedures, for the ceiling's.
async fn client_and_engine_rounds(o: &Options) -> Result<Vec<Proc>, String> {
    let report = |e: ClientError| libvirt_proto::error::Report::new(&e).to_string();
    let mut options = libvirt_proto::client::ConnectOptions::default();
    if let Some(n) = o.max_in_flight {
        options = options.with_max_in_flight(n);
    }
    let client = Client::connect_with(&o.uri, options)
        .await
        .map_err(report)?;
    let dom = client
        .call::<DomainLookupByName>(&DomainLookupByNameArgs {
            name: o.domain.clone().into(),
        })
        .await
        .map_err(report)?
        .dom;
    let procs = vec![
        Proc::LibVersion,
        Proc::DomainInfo(DomainGetInfoArgs { dom }),
    ];
    // With keepalive, as the client has it: libvirtd then resets a timer
    // for every message it receives, work it must do for both alike.
    // The engine blocks this thread while it measures; the client's
    // driver, idle then, catches up on keepalive afterwards.
    let mut raw = Raw::connect(&o.uri, o.max_in_flight, true)?;
    let shapes = [1, o.tasks];
    for proc in &procs {
        for &tasks in &shapes {
            measure(&client, proc, tasks, o.warmup)
                .await
                .map_err(report)?;
            raw.measure(proc, tasks, o.warmup)?;
        }
    }
    for _ in 0..o.rounds {
        for proc in &procs {
            for &tasks in &shapes {
                let mark = CpuMark::now(o);
                let result = measure(&client, proc, tasks, o.seconds)
                    .await
                    .map_err(report)?;
                mark.report("rate", proc, tasks, result);
                let mark = CpuMark::now(o);
                let result = raw.measure(proc, tasks, o.seconds)?;
                mark.report("engine", proc, tasks, result);
            }
        }
    }
    client.close().await;
    Ok(procs)
}

/// The daemon's ceiling: `--connections` engines, each on its own
/// connection and thread, together keeping `--tasks` calls pending.
fn ceiling_rounds(o: &Options, procs: &[Proc]) -> Result<(), String> {
    let connections = o.connections.max(1);
    let depth = o.tasks.div_ceil(connections).max(1);
    let mut raws = (0..connections)
        .map(|_| Raw::connect(&o.uri, o.max_in_flight, false))
        .collect::<Result<Vec<_>, _>>()?;
    // Every engine measures for the same time, so their rates add up.
    let all = |raws: &mut [Raw], proc: &Proc, seconds: f64| -> Result<(u64, f64), String> {
        std::thread::scope(|s| {
            let runs: Vec<_> = raws
                .iter_mut()
                .map(|raw| s.spawn(move || raw.measure(proc, depth, seconds)))
                .collect();
            let (mut calls, mut secs) = (0, 0.0f64);
            for run in runs {
                let (c, t) = run.join().expect("benchmark thread panicked")?;
                calls += c;
                secs = secs.max(t);
            }
            Ok((calls, secs))
        })
    };
    for proc in procs {
        all(&mut raws, proc, o.warmup)?;
    }
    for _ in 0..o.rounds {
        for proc in procs {
            let mark = CpuMark::now(o);
            let result = all(&mut raws, proc, o.seconds)?;
            mark.report("ceiling", proc, o.tasks, result);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("client_rate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt
        .block_on(client_and_engine_rounds(&o))
        .and_then(|procs| ceiling_rounds(&o, &procs));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client_rate: {e}");
            ExitCode::FAILURE
        }
    }
}
