//! libvirt's configuration file syntax, as its client library reads
//! `libvirt.conf` and `libvirt-admin.conf` (`virconf.c`).
//!
//! A file is a list of `name = value` statements, separated by line ends
//! or `;`, with `#` comments. A name starts with an ASCII letter and goes
//! on with letters, digits and `_`. A value is a string (`"..."` or
//! `'...'` on one line, or `"""..."""` over several, without escapes), an
//! integer (`42`, `+42`, `-42`, at most `i64::MAX` in size), or a list of
//! values in `[...]`, comma separated, over as many lines as it likes (but
//! without comments inside). When a name is set twice, the first value
//! counts. The file is read as bytes, as libvirt reads it (a Latin-1
//! comment is no error), but a string value must be UTF-8. Files larger
//! than libvirt's limit (10 MiB) are refused; no more than that is read.
//! Stricter than libvirt, so is a file of more than [`MAX_CONF_VALUES`]
//! values, which bounds the memory a parsed file takes.
//! A file that cannot be seen (missing, or in a folder this user cannot
//! search) is no file, as for libvirt; one that is there but cannot be read
//! is an error, and so is anything but a regular file (where libvirt would
//! wait for a FIFO's writer).
//!
//! ```
//! use libvirt_proto::conf::Conf;
//!
//! let conf = Conf::parse("uri_default = \"qemu:///system\"  # the local daemon\n\
//!                         uri_aliases = [\n  \"hail=qemu+ssh://root@hail/system\",\n]\n").unwrap();
//! assert_eq!(conf.string("uri_default").unwrap(), Some("qemu:///system"));
//! assert_eq!(conf.string_list("uri_aliases").unwrap().unwrap(), ["hail=qemu+ssh://root@hail/system"]);
//! assert!(conf.string("uri_aliases").is_err()); // a list, not a string
//! assert!(Conf::parse("uri_default = qemu:///system").is_err()); // unquoted
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::local_file::{read_regular, LocalFileError};

/// The largest file read (libvirt's `MAX_CONFIG_FILE_SIZE`).
pub const MAX_CONF_FILE: u64 = 10 * 1024 * 1024;

/// The deepest nesting of lists accepted, empty ones included (libvirt
/// has no limit but its stack).
pub const MAX_LIST_DEPTH: usize = 64;

/// The most values a file may hold, settings, lists and list items
/// counted alike (libvirt has no limit). A value takes some 30 to 90
/// bytes parsed, so a file of the largest size holding only tiny values
/// (`a=1` on each line) would take several hundred MiB without it; real
/// files hold a few dozen.
pub const MAX_CONF_VALUES: usize = 100_000;

/// A value of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A bracketed list.
    List(Vec<Value>),
}

/// A parsed configuration file: its statements in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conf {
    /// Where it was read from, for messages.
    path: Option<PathBuf>,
    entries: Vec<(String, Value)>,
}

/// Why a configuration file cannot be used.
#[derive(Debug, Clone)]
pub struct ConfError {
    /// The file, when the text came from one.
    pub path: Option<PathBuf>,
    /// What is wrong.
    pub kind: ConfErrorKind,
}

/// What is wrong with a configuration file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfErrorKind {
    /// The file exists but cannot be read.
    Read(Arc<std::io::Error>),
    /// Larger than [`MAX_CONF_FILE`].
    TooLarge,
    /// Bad syntax at a line (from 1): what the parser expected.
    Syntax {
        /// The line.
        line: usize,
        /// What was wrong there.
        reason: &'static str,
    },
    /// A setting of the wrong type, and the type it must have.
    WrongType {
        /// The setting.
        name: String,
        /// `"a string"`, `"a string list"`.
        expected: &'static str,
    },
    /// A string setting with a value it cannot take (`remote_mode =
    /// "fast"`).
    UnknownValue {
        /// The setting.
        name: String,
        /// Its value.
        value: String,
    },
    /// An entry of `uri_aliases` that is not `alias=URI` with an alias of
    /// `A-Z a-z 0-9 _ -`.
    MalformedAlias {
        /// The entry.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        match &self.kind {
            ConfErrorKind::Read(_) => f.write_str("cannot read the configuration file"),
            ConfErrorKind::TooLarge => {
                write!(f, "configuration file larger than {MAX_CONF_FILE} bytes")
            }
            ConfErrorKind::Syntax { line, reason } => write!(f, "line {line}: {reason}"),
            ConfErrorKind::WrongType { name, expected } => {
                write!(f, "expected {expected} for `{name}`")
            }
            ConfErrorKind::UnknownValue { name, value } => {
                write!(f, "unknown value `{value}` for `{name}`")
            }
            ConfErrorKind::MalformedAlias { entry, reason } => {
                write!(f, "malformed `uri_aliases` entry `{entry}`: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfErrorKind::Read(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl Conf {
    /// Parses configuration text.
    pub fn parse(text: &str) -> Result<Conf, ConfError> {
        Conf::parse_bytes(text.as_bytes())
    }

    /// Parses a configuration file's bytes.
    pub fn parse_bytes(text: &[u8]) -> Result<Conf, ConfError> {
        let entries = Parser {
            s: text,
            pos: 0,
            line: 1,
            values: 0,
        }
        .statements()
        .map_err(|(line, reason)| ConfError {
            path: None,
            kind: ConfErrorKind::Syntax { line, reason },
        })?;
        Ok(Conf {
            path: None,
            entries,
        })
    }

    /// Reads and parses the file at `path`; `None` when there is no file
    /// there (libvirt then goes on without one).
    pub fn read(path: &Path) -> Result<Option<Conf>, ConfError> {
        let error = |kind| ConfError {
            path: Some(path.to_path_buf()),
            kind,
        };
        // libvirt asks `access(F_OK)` first: whatever it cannot see is no
        // file.
        if std::fs::metadata(path).is_err() {
            return Ok(None);
        }
        let bytes = read_regular(path, MAX_CONF_FILE).map_err(|e| {
            error(match e {
                LocalFileError::TooLarge => ConfErrorKind::TooLarge,
                other => ConfErrorKind::Read(Arc::new(other.into_io(MAX_CONF_FILE))),
            })
        })?;
        let mut conf = Conf::parse_bytes(&bytes).map_err(|e| error(e.kind))?;
        conf.path = Some(path.to_path_buf());
        Ok(Some(conf))
    }

    /// Where the configuration was read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The value of `name`: its first setting.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The string `name`, if set; an error when it is set to something
    /// else.
    pub fn string(&self, name: &str) -> Result<Option<&str>, ConfError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    /// The list of strings `name`, if set; an error when it is set to
    /// something else (a single string included, as libvirt reads
    /// `uri_aliases`).
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<&str>>, ConfError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::List(items) = value else {
            return Err(self.wrong_type(name, "a string list"));
        };
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(self.wrong_type(name, "a string list")),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn wrong_type(&self, name: &str, expected: &'static str) -> ConfError {
        self.error(ConfErrorKind::WrongType {
            name: name.to_owned(),
            expected,
        })
    }

    /// An error about this configuration.
    pub(crate) fn error(&self, kind: ConfErrorKind) -> ConfError {
        ConfError {
            path: self.path.clone(),
            kind,
        }
    }
}

type Syntax<T> = Result<T, (usize, &'static str)>;

/// The parser, on bytes as libvirt's is; every multi-byte UTF-8 sequence
/// can only be inside a string or a comment.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
    /// Values made so far (see [`MAX_CONF_VALUES`]).
    values: usize,
}

fn is_eol(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn fail<T>(&self, reason: &'static str) -> Syntax<T> {
        Err((self.line, reason))
    }

    /// Counts one more value against [`MAX_CONF_VALUES`].
    fn count_value(&mut self) -> Syntax<()> {
        self.values += 1;
        if self.values > MAX_CONF_VALUES {
            return self.fail("too many values");
        }
        Ok(())
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    fn skip_blanks_and_eols(&mut self) {
        while let Some(c) = self.peek().filter(|&c| is_blank(c) || is_eol(c)) {
            self.line += usize::from(c == b'\n');
            self.pos += 1;
        }
    }

    fn skip_to_eol(&mut self) {
        while self.peek().is_some_and(|c| !is_eol(c)) {
            self.pos += 1;
        }
    }

    fn statements(mut self) -> Syntax<Vec<(String, Value)>> {
        let mut entries = Vec::new();
        while self.pos < self.s.len() {
            if let Some(entry) = self.statement()? {
                entries.push(entry);
            }
            self.separator()?;
        }
        Ok(entries)
    }

    /// A comment (`None`) or a setting.
    fn statement(&mut self) -> Syntax<Option<(String, Value)>> {
        self.skip_blanks_and_eols();
        if self.peek() == Some(b'#') {
            self.skip_to_eol();
            return Ok(None);
        }
        let name = self.name()?;
        self.skip_blanks();
        if self.peek() != Some(b'=') {
            return self.fail("expecting an assignment");
        }
        self.pos += 1;
        let value = self.value()?;
        self.skip_blanks();
        if self.peek() == Some(b'#') {
            self.skip_to_eol();
        }
        Ok(Some((name, value)))
    }

    fn separator(&mut self) -> Syntax<()> {
        self.skip_blanks();
        match self.peek() {
            None => {}
            Some(c) if is_eol(c) => self.skip_blanks_and_eols(),
            Some(b';') => {
                self.pos += 1;
                self.skip_blanks_and_eols();
            }
            Some(_) => return self.fail("expecting a separator"),
        }
        Ok(())
    }

    fn name(&mut self) -> Syntax<String> {
        self.skip_blanks();
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return self.fail("expecting a name");
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        Ok(self.ascii(start, self.pos))
    }

    /// The ASCII text between two positions.
    fn ascii(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(&self.s[start..end]).into_owned()
    }

    /// A string value between two positions, which must be UTF-8.
    fn utf8(&self, start: usize, end: usize) -> Syntax<String> {
        match std::str::from_utf8(&self.s[start..end]) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.fail("string is not UTF-8"),
        }
    }

    fn value(&mut self) -> Syntax<Value> {
        // Lists nest; each level is a frame of this loop rather than a
        // call, and the depth is bounded, so that neither parsing nor
        // dropping a file of brackets can overflow the stack.
        let mut open: Vec<Vec<Value>> = Vec::new();
        loop {
            self.skip_blanks();
            // Each value, and each list when it opens.
            self.count_value()?;
            let mut done = match self.peek() {
                None => return self.fail("expecting a value"),
                Some(b'"' | b'\'') => Value::String(self.string()?),
                Some(b'[') => {
                    if open.len() == MAX_LIST_DEPTH {
                        return self.fail("lists nested too deeply");
                    }
                    self.pos += 1;
                    self.skip_blanks_and_eols();
                    if self.peek().is_some_and(|c| c != b']') {
                        open.push(Vec::new());
                        continue;
                    }
                    Value::List(self.close_list(Vec::new())?)
                }
                Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                    Value::Integer(self.integer()?)
                }
                Some(_) => return self.fail("expecting a value"),
            };
            // Hand the finished value to the list it is in, and close each
            // list that ends with it.
            loop {
                let Some(mut items) = open.pop() else {
                    return Ok(done);
                };
                items.push(done);
                self.skip_blanks_and_eols();
                match self.peek() {
                    Some(b']') => done = Value::List(self.close_list(items)?),
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_blanks_and_eols();
                        if self.peek() == Some(b']') {
                            done = Value::List(self.close_list(items)?);
                        } else {
                            open.push(items);
                            break;
                        }
                    }
                    None => return self.fail("list is not closed with ]"),
                    Some(_) => return self.fail("expecting a separator in list"),
                }
            }
        }
    }

    /// At the `]` of a list (or the end of the text).
    fn close_list(&mut self, items: Vec<Value>) -> Syntax<Vec<Value>> {
        if self.peek() != Some(b']') {
            return self.fail("list is not closed with ]");
        }
        self.pos += 1;
        Ok(items)
    }

    fn string(&mut self) -> Syntax<String> {
        let rest = &self.s[self.pos..];
        // libvirt takes `"""` as a long string only with more than six
        // bytes left.
        if rest.len() > 6 && rest.starts_with(b"\"\"\"") {
            let start = self.pos + 3;
            let Some(len) = self.s[start..].windows(3).position(|w| w == b"\"\"\"") else {
                return self.fail("unterminated string");
            };
            let end = start + len;
            let value = self.utf8(start, end)?;
            self.line += self.s[start..end].iter().filter(|&&c| c == b'\n').count();
            self.pos = end + 3;
            return Ok(value);
        }
        let quote = rest[0];
        let start = self.pos + 1;
        self.pos = start;
        while self.peek().is_some_and(|c| c != quote && !is_eol(c)) {
            self.pos += 1;
        }
        if self.peek() != Some(quote) {
            return self.fail("unterminated string");
        }
        let value = self.utf8(start, self.pos)?;
        self.pos += 1;
        Ok(value)
    }

    fn integer(&mut self) -> Syntax<i64> {
        let negative = self.peek() == Some(b'-');
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return self.fail("unterminated number");
        }
        let mut n: i64 = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(d - b'0')))
            {
                Some(n) => n,
                None => return self.fail("numeric overflow in conf value"),
            };
            self.pos += 1;
        }
        Ok(if negative { -n } else { n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, Value)> {
        Conf::parse(text).unwrap().entries
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn syntax(text: &str) -> (usize, &'static str) {
        match Conf::parse(text).unwrap_err().kind {
            ConfErrorKind::Syntax { line, reason } => (line, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statements_values_and_comments() {
        let text = "# libvirt.conf\n\n  a = 'one' # why\nb=\"two\"; c = -3 ;d=+4\n\
                    e = [ \"x\",\n   'y',\n]\nf = []\ng = [[1, 2], \"z\"]\nh = \"\"\"long\n\"text\"\"\"\n";
        assert_eq!(
            parse(text),
            vec![
                ("a".into(), s("one")),
                ("b".into(), s("two")),
                ("c".into(), Value::Integer(-3)),
                ("d".into(), Value::Integer(4)),
                ("e".into(), Value::List(vec![s("x"), s("y")])),
                ("f".into(), Value::List(vec![])),
                (
                    "g".into(),
                    Value::List(vec![
                        Value::List(vec![Value::Integer(1), Value::Integer(2)]),
                        s("z")
                    ])
                ),
                ("h".into(), s("long\n\"text")),
            ]
        );
        assert_eq!(parse(""), vec![]);
        assert_eq!(parse("# only a comment"), vec![]);
    }

    #[test]
    fn the_first_setting_counts() {
        let conf = Conf::parse("a = 'first'\na = 'second'\n").unwrap();
        assert_eq!(conf.string("a").unwrap(), Some("first"));
        assert_eq!(conf.string("b").unwrap(), None);
    }

    #[test]
    fn typed_getters_refuse_other_types() {
        let conf = Conf::parse("s = 'x'\nn = 1\nl = ['a', 1]\nok = ['a']").unwrap();
        assert!(conf.string("n").is_err());
        assert!(conf.string("ok").is_err());
        assert!(conf.string_list("s").is_err());
        assert!(conf.string_list("l").is_err());
        assert_eq!(conf.string_list("ok").unwrap().unwrap(), ["a"]);
        assert_eq!(
            conf.string("n").unwrap_err().to_string(),
            "expected a string for `n`"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(syntax("a = b"), (1, "expecting a value"));
        assert_eq!(syntax("\n\na 'x'"), (3, "expecting an assignment"));
        assert_eq!(syntax("a = 'x' b = 'y'"), (1, "expecting a separator"));
        assert_eq!(syntax("a = 'x\n'"), (1, "unterminated string"));
        assert_eq!(
            syntax("a = \"\"\"never closed\"\" "),
            (1, "unterminated string")
        );
        assert_eq!(syntax("a = [1 2]"), (1, "expecting a separator in list"));
        assert_eq!(syntax("a = [1,\n2"), (2, "list is not closed with ]"));
        assert_eq!(syntax("a = [\n# no comments\n]"), (2, "expecting a value"));
        assert_eq!(syntax("a = -"), (1, "unterminated number"));
        assert_eq!(
            syntax("a = 9223372036854775808"),
            (1, "numeric overflow in conf value")
        );
        assert_eq!(syntax("1a = 2"), (1, "expecting a name"));
        // Only blanks: libvirt asks for a name there too.
        assert_eq!(syntax("\n \n"), (3, "expecting a name"));
        assert_eq!(syntax("a ="), (1, "expecting a value"));
    }

    #[test]
    fn the_number_of_values_is_bounded() {
        let settings = |n: usize| (0..n).map(|i| format!("a{i}=1\n")).collect::<String>();
        assert!(Conf::parse(&settings(MAX_CONF_VALUES)).is_ok());
        assert_eq!(
            syntax(&settings(MAX_CONF_VALUES + 1)),
            (MAX_CONF_VALUES + 1, "too many values")
        );
        // A list of n items is n + 1 values.
        let list = |n: usize| format!("a = [{}]", vec!["1"; n].join(","));
        assert!(Conf::parse(&list(MAX_CONF_VALUES - 1)).is_ok());
        assert_eq!(syntax(&list(MAX_CONF_VALUES)), (1, "too many values"));
        let empty_lists = |n: usize| format!("a = [{}]", vec!["[]"; n].join(","));
        assert_eq!(
            syntax(&empty_lists(MAX_CONF_VALUES)),
            (1, "too many values")
        );
    }

    #[test]
    fn list_depth_is_bounded() {
        let nested = |depth: usize| format!("a = {}1{}", "[".repeat(depth), "]".repeat(depth));
        let conf = Conf::parse(&nested(MAX_LIST_DEPTH)).unwrap();
        let mut v = conf.get("a").unwrap();
        let mut seen = 0;
        while let Value::List(items) = v {
            seen += 1;
            v = &items[0];
        }
        assert_eq!((seen, v), (MAX_LIST_DEPTH, &Value::Integer(1)));
        assert_eq!(
            syntax(&nested(MAX_LIST_DEPTH + 1)),
            (1, "lists nested too deeply")
        );
        let empty = |depth: usize| format!("a = {}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(Conf::parse(&empty(MAX_LIST_DEPTH)).is_ok());
        assert_eq!(
            syntax(&empty(MAX_LIST_DEPTH + 1)),
            (1, "lists nested too deeply")
        );
        assert_eq!(
            syntax(&format!("a = {}", "[".repeat(200_000))),
            (1, "lists nested too deeply")
        );
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir().join(format!("conf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Conf::read(&dir.join("missing.conf")).unwrap().is_none());
        let path = dir.join("libvirt.conf");
        std::fs::write(&path, "uri_default = 1\n").unwrap();
        let conf = Conf::read(&path).unwrap().unwrap();
        let e = conf.string("uri_default").unwrap_err();
        assert_eq!(e.path.as_deref(), Some(path.as_path()));
        // Bytes that are not UTF-8 only matter in a string.
        std::fs::write(&path, b"# caf\xe9\na = 'x'\n").unwrap();
        let conf = Conf::read(&path).unwrap().unwrap();
        assert_eq!(conf.string("a").unwrap(), Some("x"));
        std::fs::write(&path, b"a = 'caf\xe9'\n").unwrap();
        assert!(matches!(
            Conf::read(&path).unwrap_err().kind,
            ConfErrorKind::Syntax {
                line: 1,
                reason: "string is not UTF-8"
            }
        ));
        // What cannot be seen is no file: below a file, say.
        assert!(Conf::read(&path.join("below")).unwrap().is_none());
        // A folder is there but cannot be read as a file.
        assert!(matches!(
            Conf::read(&dir).unwrap_err().kind,
            ConfErrorKind::Read(_)
        ));
        std::fs::write(&path, vec![b'#'; MAX_CONF_FILE as usize + 1]).unwrap();
        assert!(matches!(
            Conf::read(&path).unwrap_err().kind,
            ConfErrorKind::TooLarge
        ));
        // Only a regular file: a FIFO would block the reader.
        let fifo = dir.join("fifo.conf");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = crate::error::Report::new(&Conf::read(&fifo).unwrap_err()).to_string();
        assert!(
            e.ends_with("cannot read the configuration file: a FIFO, not a regular file"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
