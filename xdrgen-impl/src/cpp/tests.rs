//! The built-in preprocessor on in-memory files.

use std::collections::HashMap;

use super::*;

/// Files by path, for `#include`.
struct Memory(HashMap<PathBuf, String>);

impl FileSystem for Memory {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn run(root: &str, others: &[(&str, &str)], options: &CppOptions) -> (SourceMap, CppOutput) {
    let mut sources = SourceMap::new();
    sources.add("dir/root.x", root);
    let fs = Memory(
        others
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect(),
    );
    let out = preprocess(&mut sources, options, &fs);
    (sources, out)
}

fn kept(sources: &SourceMap, id: u32) -> Vec<String> {
    sources
        .file(FileId(id))
        .parse_text()
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn conditionals_keep_the_taken_branch_byte_for_byte() {
    let text = "\
#ifdef RPC_HDR
%header
#endif
#ifndef RPC_SVC
int a;
#else
int b;
#endif
#if 0
int c;
#elif defined(RPC_XDR) && RPC_HDR == 1
int d;
#elif 1
int e;
#else
int f;
#endif
#if 0
#  if 1
int g;
#  endif
#  bogus directive in a skipped section
#else
int h;
#endif
";
    let (sources, out) = run(text, &[], &CppOptions::default());
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(kept(&sources, 0), ["%header", "int a;", "int d;", "int h;"]);
    let f = sources.file(FileId(0));
    assert_eq!(f.parse_text().len(), f.text.len());
    assert_eq!(
        f.parse_text().lines().count(),
        f.text.lines().count(),
        "line structure kept"
    );
}

#[test]
fn defines_undefs_and_options() {
    let text = "\
#define MAX 10
#define TWICE (MAX * 2)
#undef RPC_HDR
#ifndef RPC_HDR
int a;
#endif
#if TWICE == 20 && FROM_CLI == 3 && !defined(GONE)
int b;
#endif
";
    let options = CppOptions {
        defines: vec![("FROM_CLI".into(), "3".into()), ("GONE".into(), "1".into())],
        undefines: vec!["GONE".into()],
        ..CppOptions::default()
    };
    let (sources, out) = run(text, &[], &options);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(kept(&sources, 0), ["int a;", "int b;"]);
    let constants: Vec<(&str, i128)> = sources
        .macro_constants()
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .collect();
    assert_eq!(
        constants,
        [("FROM_CLI", 3), ("MAX", 10), ("RPC_XDR", 1), ("TWICE", 20)]
    );
    let max = &sources.macro_constants()[1];
    assert_eq!(sources.snippet(max.span.unwrap()), "MAX");
}

#[test]
fn includes_search_beside_the_file_then_the_include_dirs_once_each() {
    let options = CppOptions {
        include_dirs: vec![PathBuf::from("inc")],
        ..CppOptions::default()
    };
    let root = "#include \"a.x\"\n#include <b.x>\n#include \"a.x\"\nint root;\n";
    let (sources, out) = run(
        root,
        &[
            ("dir/a.x", "#include <b.x>\nint a;\n#define FROM_A 1\n"),
            ("inc/b.x", "#ifdef FROM_A\nint b_after_a;\n#endif\nint b;\n"),
            ("inc/a.x", "int wrong_a;\n"),
        ],
        &options,
    );
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let names: Vec<&str> = sources.files().map(|(_, f)| f.name.as_str()).collect();
    assert_eq!(names, ["dir/root.x", "dir/a.x", "inc/b.x"]);
    assert_eq!(
        out.dependencies,
        [PathBuf::from("dir/a.x"), PathBuf::from("inc/b.x")]
    );
    assert_eq!(kept(&sources, 0), ["int root;"]);
    assert_eq!(kept(&sources, 1), ["int a;"]);
    assert_eq!(
        kept(&sources, 2),
        ["int b;"],
        "read before FROM_A was defined"
    );
}

fn messages(out: &CppOutput, sources: &SourceMap) -> Vec<String> {
    out.diagnostics
        .iter()
        .map(|d| {
            let at = d
                .primary
                .as_ref()
                .map(|p| sources.location(p.span))
                .unwrap_or_default();
            format!("{at}: {}", d.message)
        })
        .collect()
}

#[test]
fn errors_point_at_the_directive_in_its_file() {
    let root = "\
#include \"missing.x\"
#include \"inc.x\"
#if 1 / 0
#endif
#else
#frob
#error stop here
#if 1
";
    let (sources, out) = run(
        root,
        &[("dir/inc.x", "\n  #ifdef\n#endif\n")],
        &CppOptions::default(),
    );
    assert_eq!(
        messages(&out, &sources),
        [
            "dir/root.x:1:1: cannot find `missing.x`",
            "dir/inc.x:2:3: `#ifdef` needs one macro name",
            "dir/root.x:3:1: division by zero in a preprocessor expression",
            "dir/root.x:5:1: `#else` without `#if`",
            "dir/root.x:6:1: unknown preprocessor directive `#frob`",
            "dir/root.x:7:1: #error stop here",
            "dir/root.x:8:1: unterminated conditional",
        ]
    );
}

#[test]
fn comments_and_continuations() {
    let root = "\
/* #if 0 is inside a comment
#if 0
*/
int a;
#if 1 /* a comment that
goes on */ && 2
int b;
#endif
#define LONG 1 + \\
  2
#if LONG == 3 // trailing
int c;
#endif
";
    let (sources, out) = run(root, &[], &CppOptions::default());
    assert!(out.diagnostics.is_empty(), "{:?}", messages(&out, &sources));
    let text = sources.file(FileId(0)).parse_text();
    assert!(
        text.contains("#if 0\n*/"),
        "the commented directive stays text"
    );
    assert_eq!(kept(&sources, 0)[3..], ["int a;", "int b;", "int c;"]);
}

#[test]
fn a_self_including_file_and_deep_nesting_end() {
    let (_, out) = run(
        "#include \"root.x\"\n",
        &[("dir/root.x", "x")],
        &CppOptions::default(),
    );
    assert!(out.diagnostics.is_empty(), "a file is read once");
    let chain: Vec<(String, String)> = (0..MAX_INCLUDE_DEPTH + 5)
        .map(|i| {
            (
                format!("dir/f{i}.x"),
                format!("#include \"f{}.x\"\n", i + 1),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = chain
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (_, out) = run("#include \"f0.x\"\n", &refs, &CppOptions::default());
    assert_eq!(out.diagnostics.len(), 1);
    assert!(out.diagnostics[0].message.contains("nested more than"));
}

#[test]
fn off_leaves_the_text_alone() {
    let options = CppOptions {
        preprocessor: Preprocessor::Off,
        ..CppOptions::default()
    };
    let (sources, out) = run("#if 0\nint a;\n#endif\n", &[], &options);
    assert!(out.diagnostics.is_empty());
    assert_eq!(
        sources.file(FileId(0)).parse_text(),
        "#if 0\nint a;\n#endif\n"
    );
}

#[test]
fn passthrough_defines_are_integer_constants() {
    let span = Span::new(FileId(0), 0, 40);
    let lines = [
        ("#define LM_MAXSTRLEN\t1024", span),
        ("#define MAXNAMELEN\tLM_MAXSTRLEN+1", span),
        ("#define F(x) x", span),
        ("#define TEXT \"abc\"", span),
        ("#include <rpc/types.h>", span),
        ("#defineX 3", span),
    ];
    let got: Vec<(String, i128)> = passthrough_defines(&lines)
        .into_iter()
        .map(|c| (c.name, c.value))
        .collect();
    assert_eq!(
        got,
        [
            ("LM_MAXSTRLEN".to_owned(), 1024),
            ("MAXNAMELEN".to_owned(), 1025)
        ]
    );
}

#[test]
fn included_bytes_are_bounded_in_all() {
    // Files each under the per-file bound, together over the total.
    let big = "x".repeat((MAX_TOTAL_INCLUDE_BYTES / 4 - 1) as usize);
    let files: Vec<(String, String)> = (0..6)
        .map(|i| (format!("dir/f{i}.x"), big.clone()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let root: String = (0..6).map(|i| format!("#include \"f{i}.x\"\n")).collect();
    let (sources, out) = run(&root, &refs, &CppOptions::default());
    // The fifth and sixth are refused, each with its error.
    assert_eq!(out.diagnostics.len(), 2);
    assert!(out
        .diagnostics
        .iter()
        .all(|d| d.message.contains("more than")));
    assert_eq!(sources.files().count(), 1 + 4);
    let total: usize = sources.files().skip(1).map(|(_, f)| f.text.len()).sum();
    assert!(total as u64 <= MAX_TOTAL_INCLUDE_BYTES);
}

/// `f` on another thread, failing the test rather than hanging it.
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("it hung")
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = std::env::temp_dir().join(format!("xdrgen-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("f.x");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo failed");
        return;
    }
    let path = fifo.clone();
    let e = within_seconds(move || OsFileSystem.read(&path)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_long_chain_of_macros_is_refused_not_a_stack_overflow() {
    let mut text = String::from("#define A0 1\n");
    for i in 1..=5000 {
        text.push_str(&format!("#define A{i} A{}\n", i - 1));
    }
    text.push_str("#if A5000\nint a;\n#endif\n");
    let (sources, out) = within_seconds(move || {
        let (sources, out) = run(&text, &[], &CppOptions::default());
        (sources, out)
    });
    let m = messages(&out, &sources);
    assert!(
        m.iter().any(|m| m.contains("nests deeper than 256")),
        "{m:?}"
    );
    // Within the limit, a chain still works.
    let constants: Vec<(&str, i128)> = sources
        .macro_constants()
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .filter(|(n, _)| *n == "A200")
        .collect();
    assert_eq!(constants, [("A200", 1)]);
}

#[test]
fn many_large_expansions_stop_at_the_runs_budget() {
    let mut text = String::from("#define M0 1\n");
    for k in 1..=15 {
        text.push_str(&format!("#define M{k} M{0} + M{0}\n", k - 1));
    }
    for _ in 0..2000 {
        text.push_str("#if M15\n#endif\n");
    }
    let (sources, out) = within_seconds(move || run(&text, &[], &CppOptions::default()));
    let m = messages(&out, &sources);
    assert!(m.iter().any(|m| m.contains("did more work")), "{m:?}");
}

#[test]
fn a_macro_without_an_integer_value_is_named_when_used_as_a_number() {
    let text = "#define NAME \"foo\"\n#define F(x) x\n#define EMPTY\n\
                typedef string a<NAME>;\ntypedef string b<F>;\ntypedef string c<EMPTY>;\n";
    let (sources, out) = run(text, &[], &CppOptions::default());
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let loaded = crate::ir::load(&sources, &crate::ir::Options::default());
    let found: Vec<(String, Vec<String>)> = loaded
        .diagnostics
        .0
        .iter()
        .map(|d| (d.message.clone(), d.notes.clone()))
        .collect();
    let notes = |s: &str| vec![s.to_owned()];
    assert_eq!(
        found,
        [
            (
                "macro `NAME` has no integer value".to_owned(),
                notes("its value is not an integer: unexpected `\"` in a preprocessor expression")
            ),
            (
                "macro `F` has no integer value".to_owned(),
                notes("it takes arguments")
            ),
            (
                "macro `EMPTY` has no integer value".to_owned(),
                notes("it is defined as nothing")
            ),
        ]
    );
}

#[test]
fn a_comment_spanning_lines_in_a_directive_is_one_space_as_in_c() {
    // As `cpp` reads it: `A` is `1 + 2`, and the `#if` is true.
    let text = "#define A /* x\ny\n*/ 1 /* a\n*/ + 2\nconst B = A;\n\
                #if 0 /*\n*/ || 1\nconst C = 3;\n#endif\n";
    let (sources, out) = run(text, &[], &CppOptions::default());
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert_eq!(kept(&sources, 0), ["const B = A;", "const C = 3;"]);
    let a = sources.macro_constants().iter().find(|c| c.name == "A");
    assert_eq!(a.map(|c| c.value), Some(3));
}
