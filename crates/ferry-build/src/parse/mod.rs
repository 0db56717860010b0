//! The Dockerfile parser: [`parse`] turns text into a [`Dockerfile`] of
//! stages and typed instructions, or an error with file, line and column.
//! Pure: no IO, no environment.

mod args;
pub mod ast;
mod instruction;
mod lines;

pub use ast::*;

use crate::error::{Error, Pos, Result};
use instruction::{Line, Parsed, parse_line};

/// Parses a Dockerfile. `file` is the name shown in errors.
pub fn parse(file: &str, src: &str) -> Result<Dockerfile> {
    let (dirs, logical) = lines::split(file, src)?;
    let mut df = Dockerfile {
        file: file.to_string(),
        escape: dirs.escape,
        syntax: dirs.syntax,
        meta_args: Vec::new(),
        stages: Vec::new(),
    };
    for l in &logical {
        let line = Line {
            file,
            logical: l,
            escape: dirs.escape,
        };
        let (ln, col) = l.at(0);
        let pos = Pos {
            file: file.to_string(),
            line: ln,
            column: col,
        };
        match parse_line(&line)? {
            Parsed::From {
                base,
                name,
                platform,
            } => {
                if let Some(n) = &name
                    && df.stages.iter().any(|s| s.name.as_deref() == Some(n))
                {
                    return Err(Error::syntax(
                        file,
                        ln,
                        col,
                        format!("stage name `{n}` is used twice"),
                    ));
                }
                let index = df.stages.len();
                df.stages.push(Stage {
                    index,
                    name,
                    base,
                    platform,
                    pos,
                    steps: Vec::new(),
                });
            }
            Parsed::Instr(instr) => match df.stages.last_mut() {
                Some(stage) => stage.steps.push(Step {
                    pos,
                    text: l.text.clone(),
                    instr,
                }),
                None => match instr {
                    Instr::Arg(decls) => df.meta_args.extend(decls),
                    other => {
                        return Err(Error::syntax(
                            file,
                            ln,
                            col,
                            format!(
                                "{} before the first FROM: only ARG may come before FROM",
                                other.keyword()
                            ),
                        ));
                    }
                },
            },
        }
    }
    if df.stages.is_empty() {
        return Err(Error::syntax(
            file,
            1,
            1,
            "no FROM instruction: a Dockerfile needs at least one stage",
        ));
    }
    Ok(df)
}

impl Dockerfile {
    /// The index of the stage named or numbered `name_or_index`.
    pub fn stage_index(&self, name_or_index: &str) -> Option<usize> {
        let lower = name_or_index.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name_or_index
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }
}
