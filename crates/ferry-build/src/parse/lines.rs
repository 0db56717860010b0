//! From text to logical lines: parser directives at the top (`# syntax`,
//! `# escape`), comments, line continuations with the escape character,
//! and here-documents (`<<EOF`, `<<-EOF`, `<<"EOF"`) for RUN, COPY and ADD.
//! Every character of a logical line remembers its line and column so
//! errors can point at it.

use super::ast::Heredoc;
use crate::error::{Error, Result};

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
}

/// One instruction's text, continuations joined.
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    pub text: String,
    /// `(line, column)` of each char of `text`, 1-based.
    pub map: Vec<(usize, usize)>,
    pub heredocs: Vec<Heredoc>,
}

impl Logical {
    /// Position of the char at `idx` (clamped to the last char).
    pub fn at(&self, idx: usize) -> (usize, usize) {
        match self.map.get(idx).or(self.map.last()) {
            Some(&p) => p,
            None => (1, 1),
        }
    }
}

/// Reads the directives at the top of `src`.
fn directives(file: &str, lines: &[&str]) -> Result<(Directives, usize)> {
    let mut d = Directives {
        escape: '\\',
        syntax: None,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut consumed = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        let value = value.trim();
        if seen.contains(&key) {
            return Err(Error::syntax(
                file,
                i + 1,
                1,
                format!("parser directive `{key}` given twice"),
            ));
        }
        match key.as_str() {
            "escape" => match value {
                "\\" => d.escape = '\\',
                "`" => d.escape = '`',
                _ => {
                    return Err(Error::syntax(
                        file,
                        i + 1,
                        1,
                        format!("invalid escape directive `{value}`: use `\\` or a backtick"),
                    ));
                }
            },
            "syntax" => d.syntax = Some(value.to_string()),
            "check" => {}
            _ => break, // unknown directives are comments and end the directives
        }
        seen.push(key);
        consumed = i + 1;
    }
    Ok((d, consumed))
}

/// Splits `src` into logical lines.
pub(crate) fn split(file: &str, src: &str) -> Result<(Directives, Vec<Logical>)> {
    let lines: Vec<&str> = src
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (dirs, start) = directives(file, &lines)?;
    let esc = dirs.escape;
    let mut out = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let mut text = String::new();
        let mut map = Vec::new();
        let mut first = true;
        loop {
            let line = lines[i];
            let t = line.trim_start();
            let lead = line.chars().count() - t.chars().count();
            if !first && (t.is_empty() || t.starts_with('#')) {
                i += 1;
                if i >= lines.len() {
                    break;
                }
                continue;
            }
            first = false;
            let body = line.trim_end();
            let (body, cont) = match body.strip_suffix(esc) {
                Some(b) => (b, true),
                None => (body, false),
            };
            for (col, ch) in body.chars().enumerate().skip(lead) {
                text.push(ch);
                map.push((i + 1, col + 1));
            }
            i += 1;
            if !cont || i >= lines.len() {
                break;
            }
        }
        let heredocs = heredocs(file, &text, &map, &lines, &mut i)?;
        out.push(Logical {
            text,
            map,
            heredocs,
        });
    }
    Ok((dirs, out))
}

/// A heredoc marker found in an instruction line.
struct Marker {
    name: String,
    strip_tabs: bool,
    expand: bool,
}

/// Finds `<<NAME` markers outside quotes in RUN/COPY/ADD lines.
fn markers(text: &str) -> Vec<Marker> {
    let kw = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if !matches!(kw.as_str(), "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == '<' && chars.get(i + 1) == Some(&'<') && (i == 0 || chars[i - 1] != '<') {
            let mut j = i + 2;
            let strip_tabs = chars.get(j) == Some(&'-');
            if strip_tabs {
                j += 1;
            }
            let q = chars.get(j).copied().filter(|c| *c == '"' || *c == '\'');
            if q.is_some() {
                j += 1;
            }
            let s = j;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > s && (q.is_none() || chars.get(j).copied() == q) {
                let name: String = chars[s..j].iter().collect();
                out.push(Marker {
                    name,
                    strip_tabs,
                    expand: q.is_none(),
                });
                i = j + usize::from(q.is_some());
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Reads the bodies of the heredocs `text` opens from `lines[*i..]`.
fn heredocs(
    file: &str,
    text: &str,
    map: &[(usize, usize)],
    lines: &[&str],
    i: &mut usize,
) -> Result<Vec<Heredoc>> {
    let mut out = Vec::new();
    for m in markers(text) {
        let mut content = String::new();
        let mut closed = false;
        while *i < lines.len() {
            let raw = lines[*i];
            *i += 1;
            let line = if m.strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line == m.name {
                closed = true;
                break;
            }
            content.push_str(line);
            content.push('\n');
        }
        if !closed {
            let (line, col) = map.first().copied().unwrap_or((1, 1));
            return Err(Error::syntax(
                file,
                line,
                col,
                format!(
                    "here-document `{}` is not terminated: add a line `{}`",
                    m.name, m.name
                ),
            ));
        }
        out.push(Heredoc {
            name: m.name,
            content,
            expand: m.expand,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        split("Dockerfile", src)
            .unwrap()
            .1
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn continuations_and_comments() {
        let src = "FROM a\n# comment\nRUN echo \\\n  hello \\\n# inner comment\n\n  world\n";
        assert_eq!(texts(src), vec!["FROM a", "RUN echo hello world"]);
    }

    #[test]
    fn directives_and_backtick_escape() {
        let src = "# escape=`\n# syntax=docker/dockerfile:1\nFROM a\nCOPY . c:\\dir `\n  more\n";
        let (d, lines) = split("f", src).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(lines[1].text, "COPY . c:\\dir more");
        let (d, _) = split("f", "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
    }

    #[test]
    fn directive_after_comment_is_a_comment() {
        let (d, _) = split("f", "# hello\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn heredocs_are_read() {
        let src = "FROM a\nRUN <<EOF\necho hi\necho $X\nEOF\nCOPY <<-\"A\" <<B /d/\n\tone\n\tA\ntwo\nB\nCMD x\n";
        let (_, l) = split("f", src).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].heredocs[0].content, "echo hi\necho $X\n");
        assert!(l[1].heredocs[0].expand);
        assert_eq!(l[2].heredocs[0].content, "one\n");
        assert!(!l[2].heredocs[0].expand);
        assert_eq!(l[2].heredocs[1].content, "two\n");
        assert_eq!(l[3].text, "CMD x");
    }

    #[test]
    fn unterminated_heredoc_is_an_error() {
        let err = split("Dockerfile", "FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert!(err.to_string().starts_with("Dockerfile:2:1:"), "{err}");
    }

    #[test]
    fn positions_follow_continuations() {
        let (_, l) = split("f", "FROM a\nRUN a \\\n   bb\n").unwrap();
        let idx = l[1].text.find("bb").unwrap();
        assert_eq!(l[1].at(idx), (3, 4));
    }
}
