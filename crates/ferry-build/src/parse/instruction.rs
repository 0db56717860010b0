//! From one logical line to one typed instruction: the keyword (with a
//! suggestion when it is unknown), `--flags` (checked against what each
//! instruction accepts), JSON or shell form, and per-instruction arguments.

use std::time::Duration;

use super::ast::{ArgDecl, CmdForm, Copy, Healthcheck, Instr, Run};
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
struct Flag {
    name: String,
    value: Option<String>,
    idx: usize,
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

/// Parses one logical line.
pub(crate) fn parse_line(line: &Line<'_>) -> Result<Parsed> {
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
    let allowed: &[&str] = match kw.as_str() {
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
    };
    if !KEYWORDS.contains(&kw.as_str()) {
        return Err(line.err(
            0,
            format!("unknown instruction `{kw}`{}", suggest(&kw, KEYWORDS, "")),
        ));
    }
    for f in &flags {
        if !allowed.contains(&f.name.as_str()) {
            let hint = if allowed.is_empty() {
                format!(" ({kw} takes no flags)")
            } else {
                suggest(&f.name, allowed, "--")
            };
            return Err(line.err(f.idx, format!("unknown flag `--{}` for {kw}{hint}", f.name)));
        }
    }
    let unsupported: &[&str] = match kw.as_str() {
        "COPY" => &["parents"],
        "ADD" => &["parents", "checksum", "keep-git-dir"],
        _ => &[],
    };
    for f in &flags {
        let insecure = f.name == "security" && f.value.as_deref() != Some("sandbox");
        if unsupported.contains(&f.name.as_str()) || insecure {
            return Err(line.err(
                f.idx,
                format!(
                    "{kw} --{} is not supported by ferry builds; remove it",
                    f.name
                ),
            ));
        }
    }
    let flag = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.clone().unwrap_or_default())
    };
    let need_args = |what: &str| -> Result<()> {
        if rest.is_empty() {
            Err(line.err(chars.len(), format!("{kw} requires {what}")))
        } else {
            Ok(())
        }
    };
    let esc = line.escape;
    let instr = match kw.as_str() {
        "FROM" => {
            need_args("an image reference (or `scratch`)")?;
            let words = split_words(&rest, esc);
            let (base, name) = match words.as_slice() {
                [b] => (b.clone(), None),
                [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
                    let n = n.to_ascii_lowercase();
                    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !ok {
                        return Err(line.err(rest_idx, format!("invalid stage name `{n}`: use letters, digits, `-`, `_` or `.`, starting with a letter")));
                    }
                    (b.clone(), Some(n))
                }
                _ => return Err(line.err(rest_idx, "FROM takes `image [AS name]`")),
            };
            return Ok(Parsed::From {
                base,
                name,
                platform: flag("platform"),
            });
        }
        "RUN" => {
            need_args("a command")?;
            let heredocs = line.logical.heredocs.clone();
            let cmd = match (exec_form(&rest), heredocs.as_slice()) {
                (Some(v), _) => CmdForm::Exec(v),
                (None, [h])
                    if rest == format!("<<{}", h.name) || rest == format!("<<-{}", h.name) =>
                {
                    CmdForm::Shell(h.content.clone())
                }
                (None, []) => CmdForm::Shell(rest.clone()),
                (None, hs) => {
                    // let the shell read the here-documents itself
                    let mut s = rest.clone();
                    for h in hs {
                        s.push('\n');
                        s.push_str(&h.content);
                        s.push_str(&h.name);
                    }
                    CmdForm::Shell(s)
                }
            };
            let mounts = flags
                .iter()
                .filter(|f| f.name == "mount")
                .map(|f| f.value.clone().unwrap_or_default())
                .collect();
            Instr::Run(Run {
                mounts,
                network: flag("network"),
                cmd,
                heredocs,
            })
        }
        "COPY" | "ADD" => {
            need_args("a source and a destination")?;
            let (mut words, json) = match exec_form(&rest) {
                Some(v) => (v, true),
                None => (split_words(&rest, esc), false),
            };
            if words.len() < 2 {
                return Err(line.err(
                    rest_idx,
                    format!("{kw} requires at least one source and a destination"),
                ));
            }
            let dest = words.pop().unwrap_or_default();
            let c = Copy {
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
                exclude: flags
                    .iter()
                    .filter(|f| f.name == "exclude")
                    .filter_map(|f| f.value.clone())
                    .collect(),
                srcs: words,
                dest,
                heredocs: line.logical.heredocs.clone(),
                json,
            };
            if kw == "COPY" {
                Instr::Copy(c)
            } else {
                Instr::Add(c)
            }
        }
        "ENV" | "LABEL" => {
            need_args("at least one key=value pair")?;
            let pairs = key_values(line, &rest, rest_idx, kw == "ENV")?;
            if kw == "ENV" {
                Instr::Env(pairs)
            } else {
                Instr::Label(pairs)
            }
        }
        "MAINTAINER" => {
            need_args("a name")?;
            Instr::Label(vec![(
                "maintainer".into(),
                format!("\"{}\"", rest.replace('"', "\\\"")),
            )])
        }
        "ARG" => {
            need_args("a name")?;
            let mut decls = Vec::new();
            for w in split_words(&rest, esc) {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w.clone(), None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(line.err(rest_idx, format!("invalid ARG name `{name}`")));
                }
                decls.push(ArgDecl { name, default });
            }
            Instr::Arg(decls)
        }
        "WORKDIR" => {
            need_args("a path")?;
            Instr::Workdir(rest.clone())
        }
        "USER" => {
            need_args("a user (name or uid, optionally :group)")?;
            Instr::User(rest.clone())
        }
        "STOPSIGNAL" => {
            need_args("a signal")?;
            Instr::StopSignal(rest.clone())
        }
        "EXPOSE" => {
            need_args("at least one port")?;
            Instr::Expose(split_words(&rest, esc))
        }
        "VOLUME" => {
            need_args("at least one path")?;
            Instr::Volume(exec_form(&rest).unwrap_or_else(|| split_words(&rest, esc)))
        }
        "CMD" | "ENTRYPOINT" => {
            need_args("a command")?;
            let form = exec_form(&rest)
                .map(CmdForm::Exec)
                .unwrap_or(CmdForm::Shell(rest.clone()));
            if kw == "CMD" {
                Instr::Cmd(form)
            } else {
                Instr::Entrypoint(form)
            }
        }
        "SHELL" => match exec_form(&rest) {
            Some(v) if !v.is_empty() => Instr::Shell(v),
            _ => {
                return Err(line.err(
                    rest_idx,
                    "SHELL requires a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]",
                ));
            }
        },
        "HEALTHCHECK" => {
            need_args("NONE or CMD <command>")?;
            let words = split_words(&rest, esc);
            if words.len() == 1 && words[0].eq_ignore_ascii_case("none") {
                if !flags.is_empty() {
                    return Err(line.err(rest_idx, "HEALTHCHECK NONE takes no flags"));
                }
                Instr::Healthcheck(None)
            } else {
                let Some(cmd) = rest
                    .strip_prefix("CMD")
                    .or_else(|| rest.strip_prefix("cmd"))
                else {
                    return Err(line.err(rest_idx, "HEALTHCHECK takes NONE or CMD <command>"));
                };
                let cmd = cmd.trim();
                let test = match exec_form(cmd) {
                    Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                    None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
                };
                let dur = |name: &str| -> Result<Option<Duration>> {
                    match flags.iter().rev().find(|f| f.name == name) {
                        None => Ok(None),
                        Some(f) => parse_duration(f.value.as_deref().unwrap_or(""))
                            .map(Some)
                            .ok_or_else(|| {
                                line.err(
                                    f.idx,
                                    format!("--{name}: invalid duration (use e.g. 30s, 1m30s)"),
                                )
                            }),
                    }
                };
                let retries = match flags.iter().rev().find(|f| f.name == "retries") {
                    None => None,
                    Some(f) => Some(
                        f.value
                            .as_deref()
                            .unwrap_or("")
                            .parse::<u32>()
                            .map_err(|_| line.err(f.idx, "--retries: expected a whole number"))?,
                    ),
                };
                Instr::Healthcheck(Some(Healthcheck {
                    test,
                    interval: dur("interval")?,
                    timeout: dur("timeout")?,
                    start_period: dur("start-period")?,
                    start_interval: dur("start-interval")?,
                    retries,
                }))
            }
        }
        "ONBUILD" => {
            return Err(line.err(0, "ONBUILD is not supported: ferry builds do not store or run triggers; put the instructions in the Dockerfile of the image that builds on this one"));
        }
        _ => unreachable!("keyword list checked above"),
    };
    Ok(Parsed::Instr(instr))
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
