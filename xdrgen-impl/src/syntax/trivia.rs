//! Comments and the whitespace between tokens.
//!
//! Comments are collected in one pass over the file before parsing, so the
//! parser can skip them without state and attach them to nodes afterwards by
//! position: a node's leading comments are those between the previous token
//! and the node, except one on the previous token's own line (that one
//! trails the previous token).

use crate::diag::{FileId, Span};
use crate::syntax::ast::Comment;

/// Every comment of `text` in order. `%` and `#` lines (at the start of a
/// line, after optional blanks) are not scanned: their text is not XDR. An
/// unterminated `/*` runs to the end of the file; the parser reports it.
pub fn scan_comments(file: FileId, text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut at_line_start = true;
    while pos < bytes.len() {
        let b = bytes[pos];
        if at_line_start && (b == b'%' || b == b'#') {
            pos = logical_line_end(bytes, pos);
            continue;
        }
        if b == b'/' && bytes.get(pos + 1) == Some(&b'*') {
            let end = find(text, pos + 2, "*/").map_or(bytes.len(), |e| e + 2);
            out.push(comment(file, text, pos, end));
            pos = end;
            at_line_start = false;
            continue;
        }
        if b == b'/' && bytes.get(pos + 1) == Some(&b'/') {
            let end = line_end(bytes, pos);
            out.push(comment(file, text, pos, end));
            pos = end;
            continue;
        }
        if b == b'\n' {
            at_line_start = true;
        } else if b != b' ' && b != b'\t' && b != b'\r' {
            at_line_start = false;
        }
        pos += 1;
    }
    out
}

fn comment(file: FileId, text: &str, start: usize, end: usize) -> Comment {
    Comment {
        span: Span::new(file, start, end),
        raw: text.get(start..end).unwrap_or_default().to_owned(),
    }
}

/// The end of a `%` or `#` line starting at `from`: a line ending in `\`
/// goes on to the next, since rpcgen reads its specs through cpp, which
/// joins such lines first.
pub(crate) fn logical_line_end(bytes: &[u8], from: usize) -> usize {
    let mut end = line_end(bytes, from);
    while end < bytes.len() && bytes[from..end].trim_ascii_end().ends_with(b"\\") {
        end = line_end(bytes, end + 1);
    }
    end
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

fn find(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.get(from..)?.find(needle).map(|p| from + p)
}

/// Length of the blanks and comments at the start of `s`, or the offset of
/// an unterminated `/*` as the error.
pub fn skip(s: &str) -> Result<usize, usize> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        match (bytes.get(pos), bytes.get(pos + 1)) {
            (Some(b'/'), Some(b'*')) => match find(s, pos + 2, "*/") {
                Some(e) => pos = e + 2,
                None => return Err(pos),
            },
            (Some(b'/'), Some(b'/')) => pos = line_end(bytes, pos),
            _ => return Ok(pos),
        }
    }
}

/// Like [`skip`] for the text from `from` on, also skipping rpcgen `%`
/// lines (a `%` first on its line, after optional blanks).
pub fn skip_with_passthrough(text: &str, from: usize) -> Result<usize, usize> {
    let bytes = text.as_bytes();
    let mut pos = from;
    loop {
        pos += skip(&text[pos..]).map_err(|e| pos - from + e)?;
        if bytes.get(pos) != Some(&b'%') {
            return Ok(pos - from);
        }
        let line_start = bytes[..pos]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        if !bytes[line_start..pos]
            .iter()
            .all(|&b| b == b' ' || b == b'\t')
        {
            return Ok(pos - from);
        }
        pos = logical_line_end(bytes, pos);
    }
}

/// The comments that lead a node: those in `comments` lying between
/// `from` (the end of the previous token) and `to` (the node's start),
/// minus any that begin on the previous token's line.
pub fn leading(text: &str, comments: &[Comment], from: usize, to: usize) -> Vec<Comment> {
    let first = comments.partition_point(|c| (c.span.start as usize) < from);
    let prev = text[..from.min(text.len())]
        .trim_end_matches([' ', '\t', '\r'])
        .chars()
        .last();
    let own_line_start = from == 0 || matches!(prev, None | Some('\n' | '{'));
    comments[first..]
        .iter()
        .take_while(|c| (c.span.end as usize) <= to)
        .filter(|c| {
            own_line_start
                || text
                    .get(from..c.span.start as usize)
                    .is_some_and(|gap| gap.contains('\n'))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_block_and_line_comments_but_not_percent_lines() {
        let text = "%/* not a comment\n/* a */ int x; // b\n  # /* nor this\n";
        let c = scan_comments(FileId(0), text);
        let raws: Vec<&str> = c.iter().map(|c| c.raw.as_str()).collect();
        assert_eq!(raws, ["/* a */", "// b"]);
    }

    #[test]
    fn percent_lines_are_skipped_only_at_a_line_start() {
        let text = "{\n  %#define X 1\n% more\n int a; %x";
        assert_eq!(
            skip_with_passthrough(text, 1),
            Ok(text.find("int").unwrap() - 1)
        );
        let at = text.rfind('%').unwrap();
        assert_eq!(skip_with_passthrough(text, at - 1), Ok(1));
        assert_eq!(skip_with_passthrough("\n%x\n /* a", 0), Err(5));
    }

    #[test]
    fn skip_reports_unterminated_comment() {
        assert_eq!(skip("  /* a */ // b\n x"), Ok(16));
        assert_eq!(skip("  /* a "), Err(2));
    }

    #[test]
    fn trailing_comment_belongs_to_previous_line() {
        let text = "int a; /* trails a */\n/* leads b */\nint b;";
        let c = scan_comments(FileId(0), text);
        let lead = leading(text, &c, 6, text.find("int b").unwrap());
        assert_eq!(lead.len(), 1);
        assert_eq!(lead[0].raw, "/* leads b */");
    }
}
