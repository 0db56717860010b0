//! `.dockerignore`: patterns in Go `filepath.Match` syntax plus `**`,
//! `!` exceptions, last match wins; a pattern that matches a directory
//! excludes everything below it.

use globset::{GlobBuilder, GlobMatcher};

use crate::error::{Error, Result};

/// Compiled `.dockerignore` rules.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<(bool, GlobMatcher)>,
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file named `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&pat)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| {
                    Error::syntax(file, i + 1, 1, format!("invalid pattern `{line}`: {e}"))
                })?;
            rules.push((negate, glob.compile_matcher()));
        }
        Ok(Ignore { rules })
    }

    /// These rules plus `patterns` (later ones win), e.g. `COPY --exclude`.
    pub fn with(&self, file: &str, patterns: &[String]) -> Result<Self> {
        let mut out = self.clone();
        out.rules
            .extend(Ignore::parse(file, &patterns.join("\n"))?.rules);
        Ok(out)
    }

    /// True when `rel` (a `/`-separated path relative to the context) is
    /// excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (negate, glob) in &self.rules {
            let hit = prefixes(rel).any(|p| glob.is_match(p));
            if hit {
                out = !negate;
            }
        }
        out
    }

    /// True when nothing is ignored.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// `a/b/c` → `a`, `a/b`, `a/b/c`.
fn prefixes(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/')
        .map(move |(i, _)| &rel[..i])
        .chain(std::iter::once(rel))
}

/// Like Go's `filepath.Clean` for relative patterns: no leading `/` or
/// `./`, no empty or `.` components.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_examples() {
        let ig = Ignore::parse(
            ".dockerignore",
            "# comment\n*/temp*\n*/*/temp*\ntemp?\n*.md\n!README.md\n/target\n**/*.log\n",
        )
        .unwrap();
        assert!(ig.excluded("somedir/temporary.txt"));
        assert!(ig.excluded("somedir/subdir/temporary.txt"));
        assert!(ig.excluded("tempa"));
        assert!(!ig.excluded("tempab"));
        assert!(ig.excluded("CHANGES.md"));
        assert!(!ig.excluded("README.md"));
        assert!(ig.excluded("target/debug/x"));
        assert!(ig.excluded("a/b/c.log"));
        assert!(ig.excluded("c.log"));
        assert!(!ig.excluded("src/main.rs"));
    }

    #[test]
    fn last_match_wins() {
        let ig = Ignore::parse("i", "*.md\n!README*.md\nREADME-secret.md\n").unwrap();
        assert!(!ig.excluded("README.md"));
        assert!(ig.excluded("README-secret.md"));
    }

    #[test]
    fn bad_pattern_is_positioned() {
        let err = Ignore::parse(".dockerignore", "ok\n[unclosed\n").unwrap_err();
        assert!(err.to_string().starts_with(".dockerignore:2:1:"), "{err}");
    }
}
