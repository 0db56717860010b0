//! The parsed form of a Dockerfile. Arguments keep their raw text (quotes,
//! escapes, `$VAR`) because substitution depends on the build-time
//! environment; the executor expands them step by step.

use std::time::Duration;

use crate::error::Pos;

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// Display name used in errors.
    pub file: String,
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The `# syntax=` directive, recorded but not acted on.
    pub syntax: Option<String>,
    /// `ARG`s declared before the first `FROM`.
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub index: usize,
    /// The `AS name`, lowercased.
    pub name: Option<String>,
    /// The base image reference, raw (meta ARGs are substituted later).
    pub base: String,
    pub platform: Option<String>,
    pub pos: Pos,
    pub steps: Vec<Step>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub pos: Pos,
    /// The instruction as written, continuations joined (for history and progress).
    pub text: String,
    pub instr: Instr,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// The raw default, if any.
    pub default: Option<String>,
}

/// Exec form (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdForm {
    Exec(Vec<String>),
    Shell(String),
}

/// A here-document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no substitution.
    pub expand: bool,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Raw `--mount=` values.
    pub mounts: Vec<String>,
    /// `--network=` (default, none, host).
    pub network: Option<String>,
    pub cmd: CmdForm,
    pub heredocs: Vec<Heredoc>,
}

/// `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// `--exclude` patterns (`.dockerignore` syntax).
    pub exclude: Vec<String>,
    /// Raw sources (names of heredocs refer to `heredocs`).
    pub srcs: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    /// The arguments were a JSON array (no substitution of quotes needed).
    pub json: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instr {
    Run(Run),
    Copy(Copy),
    Add(Copy),
    /// Raw `(key, value)` pairs.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Cmd(CmdForm),
    Entrypoint(CmdForm),
    Volume(Vec<String>),
    StopSignal(String),
    /// `None` is `HEALTHCHECK NONE`.
    Healthcheck(Option<Healthcheck>),
    Shell(Vec<String>),
}

impl Instr {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instr::Run(_) => "RUN",
            Instr::Copy(_) => "COPY",
            Instr::Add(_) => "ADD",
            Instr::Env(_) => "ENV",
            Instr::Arg(_) => "ARG",
            Instr::Workdir(_) => "WORKDIR",
            Instr::User(_) => "USER",
            Instr::Expose(_) => "EXPOSE",
            Instr::Label(_) => "LABEL",
            Instr::Cmd(_) => "CMD",
            Instr::Entrypoint(_) => "ENTRYPOINT",
            Instr::Volume(_) => "VOLUME",
            Instr::StopSignal(_) => "STOPSIGNAL",
            Instr::Healthcheck(_) => "HEALTHCHECK",
            Instr::Shell(_) => "SHELL",
        }
    }
}
