//! Running an external `cpp` and putting its output back in its files.
//!
//! cpp writes one stream with line markers (`# 12 "nis.x" 2`) saying which
//! file and line the next line comes from. Each file's lines are put back
//! at their line numbers, so a file of the map gets a text with its own
//! line structure (directives and skipped sections blank, macros
//! replaced) and each included file becomes a file of its own: a
//! diagnostic then names the file and line it came from.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};

use super::{CppOptions, CppOutput, RPCGEN_PREDEFINED};
use crate::diag::{Diagnostic, FileId, SourceMap};

/// Most output read from the command, in bytes.
const MAX_OUTPUT: u64 = 256 << 20;

/// Most lines held for all files together (no real spec comes close).
const MAX_LINES: usize = 1 << 22;

pub(super) fn run(
    sources: &mut SourceMap,
    command: &[String],
    options: &CppOptions,
    out: &mut CppOutput,
) {
    let Some((program, fixed_args)) = command.split_first() else {
        out.diagnostics.push(Diagnostic::error_without_location(
            "the external preprocessor command is empty",
        ));
        return;
    };
    let roots: Vec<FileId> = sources.files().map(|(id, _)| id).collect();
    let mut seen: HashMap<String, FileId> = HashMap::new();
    for (id, f) in sources.files() {
        seen.insert(f.name.clone(), id);
    }
    for root in roots {
        let name = sources.file(root).name.clone();
        let mut cmd = Command::new(program);
        cmd.args(fixed_args);
        for n in RPCGEN_PREDEFINED {
            cmd.arg(format!("-D{n}"));
        }
        for (n, body) in &options.defines {
            cmd.arg(format!("-D{n}={body}"));
        }
        for n in &options.undefines {
            cmd.arg(format!("-U{n}"));
        }
        for d in &options.include_dirs {
            cmd.arg("-I").arg(options.base_dir.join(d));
        }
        // Run from the base folder with the file named, so `#include "f"`
        // looks beside it and markers name it as given; an in-memory file
        // goes on standard input.
        if !options.base_dir.as_os_str().is_empty() {
            cmd.current_dir(&options.base_dir);
        }
        let on_disk = options.base_dir.join(&name).is_file();
        let input = if on_disk {
            cmd.arg(&name);
            None
        } else {
            cmd.arg("-");
            Some(sources.file(root).text.clone())
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let result = capture(cmd, &name, input);
        let output = match result {
            Ok(o) => o,
            Err(message) => {
                out.diagnostics
                    .push(Diagnostic::error_without_location(message));
                continue;
            }
        };
        for (file, text) in split(&output, &name) {
            if file == name {
                sources.replace_text(root, text);
            } else if !seen.contains_key(&file) && has_content(&text) {
                let id = sources.add(file.clone(), text);
                seen.insert(file.clone(), id);
                out.dependencies.push(options.base_dir.join(file));
            }
        }
    }
}

/// Runs `cmd` with `text` on its standard input, under `name` (GCC's cpp
/// names `-` as `<stdin>`; markers naming it are renamed).
fn capture(mut cmd: Command, name: &str, input: Option<String>) -> Result<String, String> {
    let program = format!("{:?}", cmd.get_program());
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the preprocessor {program}: {e}"))?;
    let mut stdin = child.stdin.take();
    // Written from a thread so a large file cannot deadlock against a
    // full output pipe.
    let writer = std::thread::spawn(move || {
        if let (Some(s), Some(text)) = (stdin.as_mut(), input) {
            let _ = std::io::Write::write_all(s, text.as_bytes());
        }
    });
    // Read from a thread too, to its end (keeping the first 64 KiB), so
    // that a preprocessor with much to say cannot block on a full pipe.
    let errors = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut e = e;
            let _ = (&mut e).take(64 << 10).read_to_end(&mut kept);
            let _ = std::io::copy(&mut e, &mut std::io::sink());
            kept
        })
    });
    let mut stdout = Vec::new();
    if let Some(o) = child.stdout.take() {
        let _ = o.take(MAX_OUTPUT + 1).read_to_end(&mut stdout);
    }
    if stdout.len() as u64 > MAX_OUTPUT {
        // It would block on the pipe no longer read.
        let _ = child.kill();
    }
    let stderr = errors.and_then(|t| t.join().ok()).unwrap_or_default();
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| format!("the preprocessor {program} failed: {e}"))?;
    if stdout.len() as u64 > MAX_OUTPUT {
        return Err(format!(
            "the preprocessor's output for `{name}` is larger than {MAX_OUTPUT} bytes"
        ));
    }
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() {
        return Err(format!(
            "the preprocessor {program} failed on `{name}` ({status}):\n{}",
            stderr.trim_end()
        ));
    }
    let stdout = super::decode_text(stdout);
    Ok(stdout.replace("\"<stdin>\"", &format!("{name:?}")))
}

/// The output's lines put back into their files, in first-seen order.
fn split(output: &str, root: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, Vec<&str>)> = Vec::new();
    // Each file's index in `files`: markers may name many files many times.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    let mut line = 1usize;
    let mut padded = 0usize;
    for text in output.lines() {
        if let Some((n, file)) = marker(text) {
            let idx = *index.entry(file.clone()).or_insert_with(|| {
                files.push((file, Vec::new()));
                files.len() - 1
            });
            current = Some(idx);
            line = n;
            continue;
        }
        let idx = match current {
            Some(i) => i,
            None => {
                let i = *index.entry(root.to_owned()).or_insert_with(|| {
                    files.push((root.to_owned(), Vec::new()));
                    files.len() - 1
                });
                current = Some(i);
                i
            }
        };
        let lines = &mut files[idx].1;
        if line == 0 {
            line = 1;
        }
        // Markers come from a program we do not control: bound the lines
        // they can make us hold.
        if line > MAX_LINES || padded + line.saturating_sub(lines.len()) > MAX_LINES {
            line += 1;
            continue;
        }
        if lines.len() < line {
            padded += line - lines.len();
            lines.resize(line, "");
        }
        // A file seen twice keeps its first text for each line.
        if lines[line - 1].is_empty() {
            lines[line - 1] = text;
        }
        line += 1;
    }
    files
        .into_iter()
        .filter(|(f, _)| !(f.starts_with('<') && f.ends_with('>')))
        .map(|(f, lines)| (f, lines.join("\n") + "\n"))
        .collect()
}

/// `# 12 "file" flags` or `#line 12 "file"`.
fn marker(line: &str) -> Option<(usize, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("line").unwrap_or(rest).trim_start();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n: usize = rest[..digits].parse().ok()?;
    let name = rest[digits..].trim_start().strip_prefix('"')?;
    let mut file = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some((n, file)),
            '\\' => file.push(chars.next()?),
            c => file.push(c),
        }
    }
    None
}

/// Whether a text holds anything but blanks and comments (cpp's implicit
/// `stdc-predef.h` holds only comments).
fn has_content(text: &str) -> bool {
    let mut in_comment = false;
    text.lines().any(|l| {
        let was = in_comment;
        let mut stripped = String::new();
        let mut rest = l;
        let mut inside = was;
        loop {
            if inside {
                match rest.find("*/") {
                    Some(e) => {
                        rest = &rest[e + 2..];
                        inside = false;
                    }
                    None => break,
                }
            } else {
                match rest.find("/*") {
                    Some(b) => {
                        stripped.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        inside = true;
                    }
                    None => {
                        stripped.push_str(rest);
                        break;
                    }
                }
            }
        }
        in_comment = inside;
        !stripped.trim().is_empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_put_lines_back_in_their_files() {
        let out = "# 0 \"a.x\"\n# 1 \"<built-in>\"\n# 1 \"a.x\"\nint a;\n\n# 5 \"b.x\" 1\nint b;\n# 3 \"a.x\" 2\nint c;\n";
        let files = split(out, "a.x");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, "a.x");
        assert_eq!(files[0].1, "int a;\n\nint c;\n");
        assert_eq!(files[1].0, "b.x");
        assert_eq!(files[1].1, "\n\n\n\nint b;\n");
    }

    #[test]
    fn markers_and_comment_only_texts() {
        assert_eq!(marker("# 12 \"x y.x\" 1 3"), Some((12, "x y.x".into())));
        assert_eq!(marker("#line 7 \"q\\\"\""), Some((7, "q\"".into())));
        assert_eq!(marker("#define X"), None);
        assert!(!has_content(
            "/* a\n b */\n\n// c? no: only block comments\n"
                .split("//")
                .next()
                .unwrap()
        ));
        assert!(has_content("/* a */ int x;"));
    }

    #[cfg(unix)]
    #[test]
    fn a_preprocessor_with_much_to_say_on_stderr_does_not_block() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "head -c 1000000 /dev/zero >&2; echo 'int a;'"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(capture(cmd, "a.x", None));
        });
        let out = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("it hung");
        assert_eq!(out.unwrap(), "int a;\n");
    }

    #[test]
    fn a_hostile_marker_does_not_allocate() {
        let files = split("# 4000000000 \"a.x\"\nint a;\n", "a.x");
        assert!(files.iter().all(|(_, t)| t.len() < 100));
    }
}
