//! The error type of `ferry-core`, and `Problem`, one located complaint about
//! user input (file, document index, field path, message, suggestion).
//!
//! Loaders collect every problem they find rather than stopping at the first,
//! so a user fixes a file in one pass; `Problems` carries the whole list.

use std::fmt;
use std::path::PathBuf;

/// Errors raised by `ferry-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input had one or more problems; each names where it is.
    #[error("{0}")]
    Invalid(Problems),
    /// A name that is not an RFC 1123 DNS label.
    #[error("{}", dns_label_message(name, *too_long))]
    DnsLabel { name: String, too_long: bool },
    /// A label selector clause (`-l`, `labelSelector`) that does not parse.
    #[error("selector clause `{clause}`{reason}")]
    Selector {
        clause: String,
        /// ` has no key`, `: expected a set like (a,b)`.
        reason: &'static str,
    },
    /// `passwordEnv` names a variable that is not set.
    #[error("environment variable {var} (passwordEnv) is not set")]
    PasswordEnv { var: String },
    /// `passwordFile` cannot be read.
    #[error("cannot read passwordFile {}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Credentials name neither a variable nor a file.
    #[error("credentials need passwordEnv or passwordFile")]
    NoPassword,
    /// An `imageTag` template that does not expand.
    #[error("{}", template_message(template, *problem))]
    Template {
        template: String,
        problem: TemplateProblem,
    },
    /// A TLS hostname that is neither an IP address nor a DNS name.
    #[error(
        "`{0}` is neither an IP address nor a DNS name (letters, digits, `-` and `.`; no port, no wildcard)"
    )]
    Hostname(String),
}

/// What is wrong with an `imageTag` template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateProblem {
    /// The template is empty.
    Empty,
    /// A `{` has no matching `}`.
    Unclosed,
    /// A `{placeholder}` that is not in [`crate::app_spec::TEMPLATE_VARS`]; the
    /// byte range of its name inside the template.
    UnknownPlaceholder(usize, usize),
}

fn template_message(template: &str, problem: TemplateProblem) -> String {
    match problem {
        TemplateProblem::Empty => "must not be empty".into(),
        TemplateProblem::Unclosed => format!("unclosed `{{` in `{template}`"),
        TemplateProblem::UnknownPlaceholder(start, end) => format!(
            "unknown placeholder `{{{}}}`; use one of {{sha7}}, {{sha}}, {{branch}}, {{semver}}",
            &template[start..end]
        ),
    }
}

fn dns_label_message(name: &str, too_long: bool) -> String {
    if name.is_empty() {
        "must not be empty".into()
    } else if too_long {
        format!("`{name}` is longer than 63 characters")
    } else {
        format!(
            "`{name}` is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    }
}

/// One problem in user input, located as precisely as the loader can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the input came from (`<stdin>`, `<built-in>` when not a file).
    pub file: String,
    /// Zero-based index of the YAML document in a multi-document file.
    pub document: Option<usize>,
    /// `kind/name` of the object, once known.
    pub object: Option<String>,
    /// Dotted field path inside the document, e.g. `spec.listeners.api`.
    pub path: Option<String>,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// The nearest valid name for a misspelt field or kind.
    pub suggestion: Option<String>,
}

impl Problem {
    /// A problem about a whole file.
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            document: None,
            object: None,
            path: None,
            message: message.into(),
            suggestion: None,
        }
    }

    /// A problem at `path` inside document `document` of `file`.
    pub fn at(
        file: impl Into<String>,
        document: usize,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let path = path.into();
        Self {
            file: file.into(),
            document: Some(document),
            object: None,
            path: (!path.is_empty()).then_some(path),
            message: message.into(),
            suggestion: None,
        }
    }

    /// Names the object (`Kind/name`) the problem belongs to.
    pub fn with_object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    /// Adds a "did you mean" suggestion.
    pub fn with_suggestion(mut self, suggestion: Option<String>) -> Self {
        self.suggestion = suggestion;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(doc) = self.document {
            write!(f, ": document {doc}")?;
        }
        if let Some(object) = &self.object {
            write!(f, " ({object})")?;
        }
        if let Some(path) = &self.path {
            write!(f, ": field `{path}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// A non-empty list of problems, displayed one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Adds one problem.
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when empty, else `Err(Error::Invalid)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Error> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Error::Invalid(self))
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Self {
        Error::Invalid(Problems(vec![p]))
    }
}

/// The candidate closest to `word` by Jaro-Winkler similarity, if any is
/// close enough to be a plausible typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_and_ignores_strangers() {
        let fields = ["listeners", "dataDir", "labels"];
        assert_eq!(nearest("listners", fields), Some("listeners".into()));
        assert_eq!(nearest("datadir", fields), Some("dataDir".into()));
        assert_eq!(nearest("zzz", fields), None);
    }

    #[test]
    fn problem_display_names_everything() {
        let p = Problem::at("topo.yaml", 1, "spec.listners", "unknown field")
            .with_object("Region/uk")
            .with_suggestion(Some("listeners".into()));
        assert_eq!(
            p.to_string(),
            "topo.yaml: document 1 (Region/uk): field `spec.listners`: unknown field (did you mean `listeners`?)"
        );
    }
}
