//! The Dockerfile parser (`ferry_build::parse`), `.dockerignore` rules and
//! word expansion over arbitrary text. Properties: parsing is
//! deterministic; every stage and step (and a syntax error) points at a line
//! and column that exist in the text; stage indices are their positions; a
//! word without `$`, quotes or the escape character expands to itself.

#![no_main]

use ferry_build::expand::{expand, split_words};
use ferry_build::ignore::Ignore;
use ferry_build::{Error, Pos, parse};
use libfuzzer_sys::fuzz_target;

fn check_pos(pos: &Pos, src: &str) {
    let lines = src.split('\n').count();
    assert!(
        pos.line >= 1 && pos.line <= lines,
        "line {} of {lines}",
        pos.line
    );
    let text = src.split('\n').nth(pos.line - 1).unwrap_or("");
    assert!(
        pos.column >= 1 && pos.column <= text.len() + 1,
        "column {} of `{text}`",
        pos.column
    );
}

fn lookup(name: &str) -> Option<String> {
    name.starts_with(|c: char| c < 'n')
        .then(|| format!("<{name}>"))
}

fuzz_target!(|src: &str| {
    match parse("Dockerfile", src) {
        Ok(df) => {
            assert_eq!(
                parse("Dockerfile", src).ok().as_ref(),
                Some(&df),
                "not deterministic"
            );
            for (i, stage) in df.stages.iter().enumerate() {
                assert_eq!(stage.index, i);
                check_pos(&stage.pos, src);
                for step in &stage.steps {
                    check_pos(&step.pos, src);
                }
            }
        }
        Err(Error::Syntax { pos, .. }) => check_pos(&pos, src),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(ignore) = Ignore::parse(".dockerignore", src) {
        for path in ["a", "a/b", "src/main.rs", ".git/HEAD", ""] {
            let _ = ignore.excluded(path);
        }
    }
    for line in src.lines().take(16) {
        for word in split_words(line, '\\').into_iter().take(16) {
            let out = expand(&word, '\\', &lookup);
            if !word.contains(['$', '\'', '"', '\\']) {
                assert_eq!(
                    out.as_deref().ok(),
                    Some(word.as_str()),
                    "a plain word changed: {out:?}"
                );
            }
        }
    }
});
