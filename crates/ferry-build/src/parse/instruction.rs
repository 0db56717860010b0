//! From one logical line to one typed instruction: the keyword (with a
//! suggestion when it is unknown), `--flags` (checked against what each
//! instruction accepts), JSON or shell form, and per-instruction arguments.

use std::time::Duration;

use super::args;
use super::ast::{CmdForm, Instr};
use super::lines::Logical;
use crate::error::{Error, Result};
use crate::expand::split_words;

/// What a logical line turned into.
#[derive(Debug)]
pub(crate) enum Parsed {
    From {
        base: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Instr(Instr),
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "EXPOSE",
    "LABEL",
    "CMD",
    "ENTRYPOINT",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
    "ONBUILD",
];

/// A `--name=value` flag and the char index where it starts.
pub(super) struct Flag {
    pub name: String,
    pub value: Option<String>,
    pub idx: usize,
}

/// The line being parsed, for positioned errors.
pub(crate) struct Line<'a> {
    pub file: &'a str,
    pub logical: &'a Logical,
    pub escape: char,
}

impl Line<'_> {
    fn err(&self, idx: usize, msg: impl Into<String>) -> Error {
        let (l, c) = self.logical.at(idx);
        Error::syntax(self.file, l, c, msg)
    }
}

fn suggest(word: &str, options: &[&str], prefix: &str) -> String {
    let best = options
        .iter()
        .map(|o| {
            (
                strsim::jaro_winkler(&word.to_ascii_uppercase(), &o.to_ascii_uppercase()),
                o,
            )
        })
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, o)) => format!(" (did you mean `{prefix}{o}`?)"),
        None => String::new(),
    }
}

/// A logical line split into keyword, flags and the rest.
pub(super) struct Head<'a> {
    pub line: &'a Line<'a>,
    /// Upper-cased.
    pub kw: String,
    pub flags: Vec<Flag>,
    /// The arguments after the flags, trailing space trimmed.
    pub rest: String,
    /// Char index of `rest` in the line.
    pub rest_idx: usize,
    /// Char length of the line (where "missing argument" errors point).
    pub end: usize,
}

impl Head<'_> {
    /// The value of the last `--name` (empty for a bare `--name`).
    pub fn flag(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.clone().unwrap_or_default())
    }

    /// The values of every `--name`, in order.
    pub fn flags_named(&self, name: &str) -> impl Iterator<Item = &Flag> {
        self.flags.iter().filter(move |f| f.name == name)
    }

    /// Fails with "`KW` requires `what`" when the line has no arguments.
    pub fn need_args(&self, what: &str) -> Result<()> {
        if self.rest.is_empty() {
            Err(self.err(self.end, format!("{} requires {what}", self.kw)))
        } else {
            Ok(())
        }
    }

    pub fn err(&self, idx: usize, msg: impl Into<String>) -> Error {
        self.line.err(idx, msg)
    }

    /// The arguments as words (quotes and the escape character honoured).
    pub fn words(&self) -> Vec<String> {
        split_words(&self.rest, self.line.escape)
    }
}

/// Parses one logical line.
pub(crate) fn parse_line(line: &Line<'_>) -> Result<Parsed> {
    let head = split_head(line);
    check_keyword_and_flags(&head)?;
    let h = &head;
    let rest = || h.rest.clone();
    let instr = match h.kw.as_str() {
        "FROM" => return args::from(h),
        "RUN" => Instr::Run(args::run(h)?),
        "COPY" => Instr::Copy(args::copy(h)?),
        "ADD" => Instr::Add(args::copy(h)?),
        "ENV" | "LABEL" => {
            h.need_args("at least one key=value pair")?;
            let pairs = key_values(line, &h.rest, h.rest_idx, h.kw == "ENV")?;
            if h.kw == "ENV" {
                Instr::Env(pairs)
            } else {
                Instr::Label(pairs)
            }
        }
        "MAINTAINER" => {
            h.need_args("a name")?;
            let name = format!("\"{}\"", h.rest.replace('"', "\\\""));
            Instr::Label(vec![("maintainer".into(), name)])
        }
        "ARG" => Instr::Arg(args::arg(h)?),
        "WORKDIR" => h.need_args("a path").map(|()| Instr::Workdir(rest()))?,
        "USER" => h
            .need_args("a user (name or uid, optionally :group)")
            .map(|()| Instr::User(rest()))?,
        "STOPSIGNAL" => h
            .need_args("a signal")
            .map(|()| Instr::StopSignal(rest()))?,
        "EXPOSE" => h
            .need_args("at least one port")
            .map(|()| Instr::Expose(h.words()))?,
        "VOLUME" => {
            h.need_args("at least one path")?;
            Instr::Volume(exec_form(&h.rest).unwrap_or_else(|| h.words()))
        }
        "CMD" | "ENTRYPOINT" => {
            h.need_args("a command")?;
            let form = exec_form(&h.rest)
                .map(CmdForm::Exec)
                .unwrap_or(CmdForm::Shell(rest()));
            if h.kw == "CMD" {
                Instr::Cmd(form)
            } else {
                Instr::Entrypoint(form)
            }
        }
        "SHELL" => match exec_form(&h.rest) {
            Some(v) if !v.is_empty() => Instr::Shell(v),
            _ => {
                return Err(h.err(
                    h.rest_idx,
                    "SHELL requires a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]",
                ));
            }
        },
        "HEALTHCHECK" => Instr::Healthcheck(args::healthcheck(h)?),
        "ONBUILD" => {
            return Err(line.err(0, "ONBUILD is not supported: ferry builds do not store or run triggers; put the instructions in the Dockerfile of the image that builds on this one"));
        }
        _ => unreachable!("keyword list checked above"),
    };
    Ok(Parsed::Instr(instr))
}

/// Keyword (upper-cased), leading flags and the rest of `line`.
fn split_head<'a>(line: &'a Line<'a>) -> Head<'a> {
    let chars: Vec<char> = line.logical.text.chars().collect();
    let kw_end = chars
        .iter()
        .position(|c| c.is_whitespace())
        .unwrap_or(chars.len());
    let kw: String = chars[..kw_end]
        .iter()
        .collect::<String>()
        .to_ascii_uppercase();
    let mut i = kw_end;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let (flags, rest_idx) = take_flags(&chars, i);
    let rest: String = chars[rest_idx..]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string();
    Head {
        line,
        kw,
        flags,
        rest,
        rest_idx,
        end: chars.len(),
    }
}

/// The flags each instruction accepts.
fn allowed_flags(kw: &str) -> &'static [&'static str] {
    match kw {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

/// Refuses unknown keywords (with a suggestion), flags the instruction
/// does not take, and flags Docker knows but ferry builds do not support.
fn check_keyword_and_flags(h: &Head<'_>) -> Result<()> {
    let kw = h.kw.as_str();
    if !KEYWORDS.contains(&kw) {
        return Err(h.err(
            0,
            format!("unknown instruction `{kw}`{}", suggest(kw, KEYWORDS, "")),
        ));
    }
    let allowed = allowed_flags(kw);
    for f in &h.flags {
        if !allowed.contains(&f.name.as_str()) {
            let hint = if allowed.is_empty() {
                format!(" ({kw} takes no flags)")
            } else {
                suggest(&f.name, allowed, "--")
            };
            return Err(h.err(f.idx, format!("unknown flag `--{}` for {kw}{hint}", f.name)));
        }
    }
    let unsupported: &[&str] = match kw {
        "COPY" => &["parents"],
        "ADD" => &["parents", "checksum", "keep-git-dir"],
        _ => &[],
    };
    for f in &h.flags {
        let insecure = f.name == "security" && f.value.as_deref() != Some("sandbox");
        if unsupported.contains(&f.name.as_str()) || insecure {
            return Err(h.err(
                f.idx,
                format!(
                    "{kw} --{} is not supported by ferry builds; remove it",
                    f.name
                ),
            ));
        }
    }
    Ok(())
}

/// Leading `--name[=value]` words; returns them and the index of the rest.
fn take_flags(chars: &[char], mut i: usize) -> (Vec<Flag>, usize) {
    let mut flags = Vec::new();
    while i + 2 < chars.len()
        && chars[i] == '-'
        && chars[i + 1] == '-'
        && chars[i + 2].is_ascii_alphabetic()
    {
        let start = i;
        let mut quote = None;
        while i < chars.len() && (quote.is_some() || !chars[i].is_whitespace()) {
            match quote {
                Some(q) if chars[i] == q => quote = None,
                None if chars[i] == '"' || chars[i] == '\'' => quote = Some(chars[i]),
                _ => {}
            }
            i += 1;
        }
        let word: String = chars[start + 2..i].iter().collect();
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.trim_matches('"').to_string())),
            None => (word, None),
        };
        flags.push(Flag {
            name,
            value,
            idx: start,
        });
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
    }
    (flags, i)
}

/// The exec (JSON array) form, if `s` is one.
pub(crate) fn exec_form(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy `KEY value with spaces` form.
fn key_values(
    line: &Line<'_>,
    rest: &str,
    idx: usize,
    legacy_ok: bool,
) -> Result<Vec<(String, String)>> {
    let words = split_words(rest, line.escape);
    if !words[0].contains('=') {
        if legacy_ok && words.len() >= 2 {
            let key = words[0].clone();
            let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..]
                .trim()
                .to_string();
            return Ok(vec![(key, value)]);
        }
        return Err(line.err(idx, format!("expected key=value, found `{}`", words[0])));
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => return Err(line.err(idx, format!("expected key=value, found `{w}`"))),
        }
    }
    Ok(out)
}

/// Go-style durations: `30s`, `1m30s`, `500ms`, `1h`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += Duration::from_secs_f64(num * secs);
    }
    Some(total)
}
