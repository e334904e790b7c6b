//! Byte-level agreement with the C that the system's `rpcgen` writes.
//!
//! For each specification `rpcgen` accepts (the single-file `ok/` fixtures
//! and the rpcsvc specs of a stock Debian machine), the test builds
//! `rpcgen -c` / `rpcgen -h`'s C with the system's `cc` against libtirpc,
//! with a small driver that decodes a value of a named type with its
//! `xdr_<type>` routine and encodes it again. Random valid encodings of
//! every type, made from the IR by the independent oracle
//! ([`integration_tests::random_xdr`]; strings without NUL, which C's
//! `char *` cannot hold), go through it: the C must accept
//! each one whole and give back the same bytes. The round-trip tests check
//! the generated Rust against the same oracle (every type of every `ok/`
//! fixture), so the Rust and the C agree on those bytes both ways.
//!
//! Without `rpcgen`, `cc` or libtirpc's headers the test says so and
//! passes; `.ci/install-libvirt` installs them (rpcsvc-proto,
//! libtirpc-dev).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use integration_tests::fixture_specs::{load_files, ok_fixtures, rpcsvc_specs};
use integration_tests::random_xdr::{Limits, Oracle};
use xdrgen::ir::Spec;

/// Random values per type.
const SEEDS: u64 = 24;

/// The driver: reads `type hex` lines, answers with the re-encoding's hex
/// or a word saying what failed.
const DRIVER: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rpc/rpc.h>
#include "spec.h"

struct xdrgen_entry { const char *name; xdrproc_t proc; size_t size; };
static struct xdrgen_entry xdrgen_table[] = {
TABLE
    { 0, 0, 0 }
};

static int nibble(char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

int main(void) {
    static char line[1 << 20];
    static unsigned char in[1 << 19], out[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        char *hex = strchr(line, ' ');
        struct xdrgen_entry *e;
        size_t n = 0, i;
        void *value;
        XDR x, y;
        if (!hex) { puts("BAD-LINE"); fflush(stdout); continue; }
        *hex++ = 0;
        for (e = xdrgen_table; e->name && strcmp(e->name, line) != 0; e++) {}
        if (!e->name) { puts("NO-TYPE"); fflush(stdout); continue; }
        while (hex[0] && hex[0] != '\n' && hex[1]) {
            in[n++] = (unsigned char)(nibble(hex[0]) << 4 | nibble(hex[1]));
            hex += 2;
        }
        value = calloc(1, e->size);
        xdrmem_create(&x, (char *)in, (u_int)n, XDR_DECODE);
        if (!e->proc(&x, value)) { puts("DECODE-FAILED"); fflush(stdout); free(value); continue; }
        if (xdr_getpos(&x) != n) { puts("NOT-ALL-READ"); fflush(stdout); continue; }
        xdrmem_create(&y, (char *)out, sizeof out, XDR_ENCODE);
        if (!e->proc(&y, value)) { puts("ENCODE-FAILED"); fflush(stdout); continue; }
        for (i = 0; i < xdr_getpos(&y); i++) printf("%02x", out[i]);
        putchar('\n');
        fflush(stdout);
        xdr_free(e->proc, value);
        free(value);
    }
    return 0;
}
"#;

fn tools_present() -> bool {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    runs("rpcgen", "--version")
        && runs("cc", "--version")
        && Path::new("/usr/include/tirpc/rpc/rpc.h").exists()
}

/// Builds rpcgen's C for `spec` with the driver in `dir`; the driver's path
/// and the types it knows, or `None` when rpcgen refuses the spec or its C
/// does not build.
fn build_driver(spec: &Path, dir: &Path) -> Option<(PathBuf, Vec<String>)> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(spec, dir.join("spec.x")).unwrap();
    for (flag, out) in [("-h", "spec.h"), ("-c", "spec_xdr.c")] {
        let ok = Command::new("rpcgen")
            .args([flag, "spec.x", "-o", out])
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
    }
    // The types rpcgen declares an `xdr_<type>` routine for.
    let header = std::fs::read_to_string(dir.join("spec.h")).unwrap();
    let mut types: Vec<String> = header
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("extern")?.trim();
            let rest = rest.strip_prefix("bool_t")?.trim();
            let name = rest.strip_prefix("xdr_")?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            Some(name)
        })
        .collect();
    types.sort();
    types.dedup();
    let mut table = String::new();
    for t in &types {
        writeln!(table, "    {{ \"{t}\", (xdrproc_t)xdr_{t}, sizeof({t}) }},").unwrap();
    }
    std::fs::write(dir.join("driver.c"), DRIVER.replace("TABLE", &table)).unwrap();
    let out = Command::new("cc")
        .args([
            "-w",
            "-I/usr/include/tirpc",
            // BSD's RCS-id macro, which crypt.x's C uses.
            "-D__FBSDID(s)=",
            "-o",
            "driver",
            "driver.c",
            "spec_xdr.c",
            "-ltirpc",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    if !out.status.success() {
        // rpcgen's own output, not ours: said, and not compared.
        eprintln!(
            "rpcgen's C for {} does not build; not compared:\n{}",
            spec.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some((dir.join("driver"), types))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs every type of `spec` through the C driver; the disagreements.
fn compare(spec_path: &Path, spec: &Spec, driver: &Path, c_types: &[String]) -> Vec<String> {
    let oracle = Oracle::with_limits(
        spec,
        Limits {
            c_strings: true,
            ..Limits::default()
        },
    );
    let mut child = Command::new(driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut problems = Vec::new();
    let mut compared = 0;
    for t in &spec.types {
        if !c_types.contains(&t.name) {
            continue;
        }
        for seed in 0..SEEDS {
            let Some(e) = oracle.encode(&t.name, seed) else {
                continue;
            };
            writeln!(stdin, "{} {}", t.name, hex(&e.bytes)).unwrap();
            stdin.flush().unwrap();
            let mut answer = String::new();
            stdout.read_line(&mut answer).unwrap();
            let answer = answer.trim();
            compared += 1;
            if answer != hex(&e.bytes) {
                problems.push(format!(
                    "{} {} seed {seed}: sent {}, C gave {answer}",
                    spec_path.display(),
                    t.name,
                    hex(&e.bytes)
                ));
                break;
            }
        }
    }
    drop(stdin);
    let _ = child.wait();
    assert!(
        compared > 0 || c_types.is_empty(),
        "{}: no type compared",
        spec_path.display()
    );
    problems
}

/// The specs compared: the single-file `ok/` fixtures and the system's
/// rpcsvc specs.
fn specs() -> Vec<PathBuf> {
    ok_fixtures()
        .into_iter()
        .filter(|s| s.files.len() == 1)
        .map(|s| s.files[0].clone())
        .chain(rpcsvc_specs())
        .collect()
}

#[test]
fn rpcgens_c_reads_and_writes_the_same_bytes() {
    if !tools_present() {
        eprintln!(
            "skipped: needs rpcgen, cc and libtirpc's headers \
             (apt-get install rpcsvc-proto libtirpc-dev gcc)"
        );
        return;
    }
    let scratch = std::env::temp_dir().join(format!("rpcgen-interop-{}", std::process::id()));
    let mut problems = Vec::new();
    let mut specs_compared = 0;
    let mut types_compared = 0;
    for (i, path) in specs().iter().enumerate() {
        let Ok((_, spec)) = load_files(std::slice::from_ref(path)) else {
            continue;
        };
        let Some((driver, c_types)) = build_driver(path, &scratch.join(i.to_string())) else {
            continue;
        };
        specs_compared += 1;
        types_compared += spec
            .types
            .iter()
            .filter(|t| c_types.contains(&t.name))
            .count();
        problems.extend(compare(path, &spec, &driver, &c_types));
    }
    println!("rpcgen interop: {specs_compared} specs, {types_compared} types, {SEEDS} values each");
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(specs_compared > 0, "no spec was compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
