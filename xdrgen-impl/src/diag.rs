//! Source files, spans and diagnostics.
//!
//! Every node of the AST and IR carries a [`Span`]: a file and a byte range in
//! it. A [`Diagnostic`] points at spans; [`SourceMap::render`] turns a list of
//! them into text with `file:line:col`, the source line and a caret, using
//! `codespan-reporting`.

use std::fmt;
use std::ops::Range;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files;
use codespan_reporting::term;
use serde::{Deserialize, Serialize};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// A span covering `start..end` in `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: clamp_u32(start),
            end: clamp_u32(end.max(start)),
        }
    }

    /// The byte range as `usize`s.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (usually the path as given).
    pub name: String,
    /// The file's text.
    pub text: String,
    line_starts: Vec<usize>,
    /// The text the parser reads when preprocessing changed it (see
    /// [`SourceFile::parse_text`]).
    preprocessed: Option<String>,
}

impl SourceFile {
    /// The text the parser reads: the file as the preprocessor left it
    /// (directives and skipped sections blanked, byte for byte, so spans
    /// stay valid in [`SourceFile::text`]), or the text itself.
    pub fn parse_text(&self) -> &str {
        self.preprocessed.as_deref().unwrap_or(&self.text)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// An integer constant a preprocessor macro defines (`#define MAX 255`),
/// usable by a spec where nothing else defines the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroConstant {
    /// The macro's name.
    pub name: String,
    /// Its body's value.
    pub value: i128,
    /// The name in its `#define`; `None` for predefined and `-D` macros.
    pub span: Option<Span>,
}

/// A macro that is not an integer constant (it takes arguments, or its
/// body is a string or nothing xdrgen can evaluate), kept to explain a
/// spec that uses its name as a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroWithoutValue {
    /// The macro's name.
    pub name: String,
    /// Why it has no value.
    pub why: String,
    /// The name in its `#define`; `None` for predefined and `-D` macros.
    pub span: Option<Span>,
}

/// The set of files a specification was loaded from, as the preprocessor
/// left them.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    macro_constants: Vec<MacroConstant>,
    macros_without_value: Vec<MacroWithoutValue>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let text = text.into();
        self.files.push(SourceFile {
            name: name.into(),
            line_starts: line_starts(&text),
            text,
            preprocessed: None,
        });
        FileId(clamp_u32(self.files.len() - 1))
    }

    /// Sets the text the parser reads for a file; it must have the same
    /// length and line structure as the file's text.
    pub fn set_parse_text(&mut self, id: FileId, text: String) {
        debug_assert_eq!(text.len(), self.file(id).text.len());
        self.files[id.0 as usize].preprocessed = Some(text);
    }

    /// Replaces a file's text (an external preprocessor's output for it).
    pub fn replace_text(&mut self, id: FileId, text: String) {
        let f = &mut self.files[id.0 as usize];
        f.line_starts = line_starts(&text);
        f.text = text;
        f.preprocessed = None;
    }

    /// Records a constant defined by a macro.
    pub fn add_macro_constant(&mut self, constant: MacroConstant) {
        self.macro_constants.push(constant);
    }

    /// The constants macros define, for names nothing else defines.
    pub fn macro_constants(&self) -> &[MacroConstant] {
        &self.macro_constants
    }

    /// Records a macro that defines no constant.
    pub fn add_macro_without_value(&mut self, m: MacroWithoutValue) {
        self.macros_without_value.push(m);
    }

    /// The macros that define no constant, to explain their names' use
    /// as numbers.
    pub fn macros_without_value(&self) -> &[MacroWithoutValue] {
        &self.macros_without_value
    }

    /// The file with this id.
    ///
    /// # Panics
    /// If the id was not returned by this map's [`SourceMap::add`].
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// All files with their ids, in the order they were added.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(clamp_u32(i)), f))
    }

    /// `name:line:col` of the start of a span.
    pub fn location(&self, span: Span) -> String {
        let file = self.file(span.file);
        let (line, col) = file.line_col(span.start as usize);
        format!("{}:{}:{}", file.name, line, col)
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file)
            .text
            .get(span.range())
            .unwrap_or_default()
    }

    /// Renders diagnostics as plain text (no colour), the source line and a
    /// caret under each labelled span.
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        let mut out = term::termcolor::NoColor::new(Vec::new());
        self.emit(&mut out, diagnostics);
        String::from_utf8_lossy(&out.into_inner()).into_owned()
    }

    /// Renders diagnostics to a terminal writer (which may use colour).
    pub fn emit(&self, out: &mut dyn term::termcolor::WriteColor, diagnostics: &[Diagnostic]) {
        let config = term::Config::default();
        for d in diagnostics {
            let rendered = d.to_codespan();
            if let Err(e) = term::emit_to_write_style(out, &config, self, &rendered) {
                // Only a failing writer gets here; say so rather than lose the message.
                let _ = writeln!(out, "{}: {} (could not render: {e})", d.severity, d.message);
            }
        }
    }
}

impl<'a> files::Files<'a> for SourceMap {
    type FileId = usize;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<&'a str, files::Error> {
        self.files
            .get(id)
            .map(|f| f.name.as_str())
            .ok_or(files::Error::FileMissing)
    }
    fn source(&'a self, id: usize) -> Result<&'a str, files::Error> {
        self.files
            .get(id)
            .map(|f| f.text.as_str())
            .ok_or(files::Error::FileMissing)
    }
    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, files::Error> {
        let f = self.files.get(id).ok_or(files::Error::FileMissing)?;
        Ok(f.line_starts.partition_point(|&s| s <= byte_index) - 1)
    }
    fn line_range(&'a self, id: usize, line_index: usize) -> Result<Range<usize>, files::Error> {
        let f = self.files.get(id).ok_or(files::Error::FileMissing)?;
        let start = *f
            .line_starts
            .get(line_index)
            .ok_or(files::Error::LineTooLarge {
                given: line_index,
                max: f.line_starts.len() - 1,
            })?;
        let end = f
            .line_starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(f.text.len());
        Ok(start..end)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the specification is still usable.
    Warning,
    /// The specification cannot be used.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A span with a short message shown beside the caret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// An error or warning about a specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline.
    pub message: String,
    /// The main location. `None` only for problems that come from options
    /// rather than from a file (e.g. a `--define` naming nothing).
    pub primary: Option<Label>,
    /// Related locations, such as an earlier definition.
    pub secondary: Vec<Label>,
    /// Extra lines of explanation.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, Some(span), message)
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, Some(span), message)
    }

    /// An error that no file location explains (it comes from the options).
    pub fn error_without_location(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, None, message)
    }

    fn new(severity: Severity, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            primary: span.map(|span| Label {
                span,
                message: String::new(),
            }),
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Sets the text shown at the primary caret.
    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        if let Some(p) = &mut self.primary {
            p.message = message.into();
        }
        self
    }

    /// Adds a secondary location.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn to_codespan(&self) -> cs::Diagnostic<usize> {
        let d = match self.severity {
            Severity::Error => cs::Diagnostic::error(),
            Severity::Warning => cs::Diagnostic::warning(),
        };
        let mut labels = Vec::new();
        if let Some(p) = &self.primary {
            labels.push(
                cs::Label::primary(p.span.file.0 as usize, p.span.range()).with_message(&p.message),
            );
        }
        for s in &self.secondary {
            labels.push(
                cs::Label::secondary(s.span.file.0 as usize, s.span.range())
                    .with_message(&s.message),
            );
        }
        d.with_message(&self.message)
            .with_labels(labels)
            .with_notes(self.notes.clone())
    }
}

/// Diagnostics collected by a pass, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    /// Keeps the first `max` diagnostics and adds one saying how many were
    /// dropped (an error if any dropped one was).
    pub fn truncate(&mut self, max: usize) {
        if self.0.len() <= max {
            return;
        }
        let dropped = self.0.split_off(max);
        let errors = dropped.iter().any(Diagnostic::is_error);
        let mut d = Diagnostic::error_without_location(format!(
            "{} more diagnostics not shown",
            dropped.len()
        ));
        if !errors {
            d.severity = Severity::Warning;
        }
        self.0.push(d);
    }

    /// Sorts by file and position, keeping the order of equal positions.
    pub fn sort(&mut self) {
        self.0
            .sort_by_key(|d| d.primary.as_ref().map(|l| (l.span.file, l.span.start)));
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.0.extend(iter)
    }
}
