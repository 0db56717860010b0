//! The arguments of the instructions that have structure of their own:
//! `FROM image [AS name]`, RUN (shell, exec or here-document form, mounts),
//! COPY/ADD (sources, destination, ownership), ARG declarations and
//! HEALTHCHECK (NONE or CMD with durations and retries). Each takes the
//! line's [`Head`] and answers a typed value or a positioned error.

use std::time::Duration;

use super::ast::{ArgDecl, CmdForm, Copy, Healthcheck, Run};
use super::instruction::{Head, Parsed, exec_form, parse_duration};
use crate::error::Result;

/// `FROM [--platform=P] image [AS name]`.
pub(super) fn from(h: &Head<'_>) -> Result<Parsed> {
    h.need_args("an image reference (or `scratch`)")?;
    let words = h.words();
    let (base, name) = match words.as_slice() {
        [b] => (b.clone(), None),
        [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
            let n = n.to_ascii_lowercase();
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(h.err(h.rest_idx, format!("invalid stage name `{n}`: use letters, digits, `-`, `_` or `.`, starting with a letter")));
            }
            (b.clone(), Some(n))
        }
        _ => return Err(h.err(h.rest_idx, "FROM takes `image [AS name]`")),
    };
    Ok(Parsed::From {
        base,
        name,
        platform: h.flag("platform"),
    })
}

/// `RUN [--mount=...] [--network=...] command`.
pub(super) fn run(h: &Head<'_>) -> Result<Run> {
    h.need_args("a command")?;
    let rest = &h.rest;
    let heredocs = h.line.logical.heredocs.clone();
    let cmd = match (exec_form(rest), heredocs.as_slice()) {
        (Some(v), _) => CmdForm::Exec(v),
        (None, [d]) if *rest == format!("<<{}", d.name) || *rest == format!("<<-{}", d.name) => {
            CmdForm::Shell(d.content.clone())
        }
        (None, []) => CmdForm::Shell(rest.clone()),
        (None, docs) => {
            // let the shell read the here-documents itself
            let mut s = rest.clone();
            for d in docs {
                s.push('\n');
                s.push_str(&d.content);
                s.push_str(&d.name);
            }
            CmdForm::Shell(s)
        }
    };
    let mounts = h
        .flags_named("mount")
        .map(|f| f.value.clone().unwrap_or_default())
        .collect();
    Ok(Run {
        mounts,
        network: h.flag("network"),
        cmd,
        heredocs,
    })
}

/// `COPY|ADD [flags] src... dest` (shell or JSON form).
pub(super) fn copy(h: &Head<'_>) -> Result<Copy> {
    h.need_args("a source and a destination")?;
    let (mut words, json) = match exec_form(&h.rest) {
        Some(v) => (v, true),
        None => (h.words(), false),
    };
    if words.len() < 2 {
        return Err(h.err(
            h.rest_idx,
            format!("{} requires at least one source and a destination", h.kw),
        ));
    }
    let dest = words.pop().unwrap_or_default();
    Ok(Copy {
        from: h.flag("from"),
        chown: h.flag("chown"),
        chmod: h.flag("chmod"),
        exclude: h
            .flags_named("exclude")
            .filter_map(|f| f.value.clone())
            .collect(),
        srcs: words,
        dest,
        heredocs: h.line.logical.heredocs.clone(),
        json,
    })
}

/// `ARG name[=default] ...`.
pub(super) fn arg(h: &Head<'_>) -> Result<Vec<ArgDecl>> {
    h.need_args("a name")?;
    let mut decls = Vec::new();
    for w in h.words() {
        let (name, default) = match w.split_once('=') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (w.clone(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(h.err(h.rest_idx, format!("invalid ARG name `{name}`")));
        }
        decls.push(ArgDecl { name, default });
    }
    Ok(decls)
}

/// `HEALTHCHECK NONE` (`None`) or `HEALTHCHECK [flags] CMD command`.
pub(super) fn healthcheck(h: &Head<'_>) -> Result<Option<Healthcheck>> {
    h.need_args("NONE or CMD <command>")?;
    let words = h.words();
    if words.len() == 1 && words[0].eq_ignore_ascii_case("none") {
        if !h.flags.is_empty() {
            return Err(h.err(h.rest_idx, "HEALTHCHECK NONE takes no flags"));
        }
        return Ok(None);
    }
    let Some(cmd) = h
        .rest
        .strip_prefix("CMD")
        .or_else(|| h.rest.strip_prefix("cmd"))
    else {
        return Err(h.err(h.rest_idx, "HEALTHCHECK takes NONE or CMD <command>"));
    };
    let cmd = cmd.trim();
    let test = match exec_form(cmd) {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
    };
    let retries = match h.flags.iter().rev().find(|f| f.name == "retries") {
        None => None,
        Some(f) => Some(
            f.value
                .as_deref()
                .unwrap_or("")
                .parse::<u32>()
                .map_err(|_| h.err(f.idx, "--retries: expected a whole number"))?,
        ),
    };
    Ok(Some(Healthcheck {
        test,
        interval: duration_flag(h, "interval")?,
        timeout: duration_flag(h, "timeout")?,
        start_period: duration_flag(h, "start-period")?,
        start_interval: duration_flag(h, "start-interval")?,
        retries,
    }))
}

/// The last `--name` as a duration (`30s`, `1m30s`).
fn duration_flag(h: &Head<'_>, name: &str) -> Result<Option<Duration>> {
    match h.flags.iter().rev().find(|f| f.name == name) {
        None => Ok(None),
        Some(f) => parse_duration(f.value.as_deref().unwrap_or(""))
            .map(Some)
            .ok_or_else(|| {
                h.err(
                    f.idx,
                    format!("--{name}: invalid duration (use e.g. 30s, 1m30s)"),
                )
            }),
    }
}
