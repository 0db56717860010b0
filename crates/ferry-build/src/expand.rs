//! Word splitting and variable substitution the way the Dockerfile reference
//! describes them: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`; single quotes are
//! literal, double quotes allow substitution, the escape character (`\` or
//! the `# escape` directive's) escapes the next character.

use crate::error::InputError;

/// Splits `s` on unquoted whitespace, keeping quotes and escapes in the
/// words so [`expand`] can process them afterwards.
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Expands variables in `word` with `lookup`, removing quotes and escapes.
/// The caller positions the error.
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InputError> {
    let chars: Vec<char> = word.chars().collect();
    let mut lx = Lexer {
        chars: &chars,
        i: 0,
        escape,
        lookup,
    };
    lx.word(None)
}

struct Lexer<'a> {
    chars: &'a [char],
    i: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    /// Processes until the end, or until an unquoted `stop` (for `${..}`).
    fn word(&mut self, stop: Option<char>) -> Result<String, InputError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                return Ok(out);
            }
            self.i += 1;
            if c == self.escape {
                match self.peek() {
                    Some(n) => {
                        self.i += 1;
                        out.push(n);
                    }
                    None => out.push(c),
                }
            } else if c == '\'' {
                loop {
                    match self.peek() {
                        None => return Err(InputError::Substitution("unterminated single quote")),
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(ch) => {
                            self.i += 1;
                            out.push(ch);
                        }
                    }
                }
            } else if c == '"' {
                loop {
                    match self.peek() {
                        None => return Err(InputError::Substitution("unterminated double quote")),
                        Some('"') => {
                            self.i += 1;
                            break;
                        }
                        Some('$') => {
                            self.i += 1;
                            out.push_str(&self.dollar()?);
                        }
                        Some(ch) if ch == self.escape => {
                            self.i += 1;
                            match self.peek() {
                                Some(n) if n == '"' || n == '$' || n == self.escape => {
                                    self.i += 1;
                                    out.push(n);
                                }
                                _ => out.push(ch),
                            }
                        }
                        Some(ch) => {
                            self.i += 1;
                            out.push(ch);
                        }
                    }
                }
            } else if c == '$' {
                out.push_str(&self.dollar()?);
            } else {
                out.push(c);
            }
        }
        if stop.is_some() {
            return Err(InputError::Substitution(
                "missing '}' in variable substitution",
            ));
        }
        Ok(out)
    }

    /// Called after a `$`: expands `$NAME` or `${...}`.
    fn dollar(&mut self) -> Result<String, InputError> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok((self.lookup)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        name
    }

    fn braced(&mut self) -> Result<String, InputError> {
        let name = self.name();
        if name.is_empty() {
            return Err(InputError::Substitution(
                "bad substitution: expected a variable name after '${'",
            ));
        }
        let value = (self.lookup)(&name);
        match self.peek() {
            Some('}') => {
                self.i += 1;
                Ok(value.unwrap_or_default())
            }
            Some(c @ (':' | '-' | '+' | '?')) => {
                let colon = c == ':';
                if colon {
                    self.i += 1;
                }
                let op = self.peek().ok_or(InputError::Substitution(
                    "missing '}' in variable substitution",
                ))?;
                if !matches!(op, '-' | '+' | '?') {
                    return Err(InputError::Modifier { op, name });
                }
                self.i += 1;
                let word = self.word(Some('}'))?;
                self.i += 1; // the '}'
                let set = match &value {
                    Some(v) => !(colon && v.is_empty()),
                    None => false,
                };
                Ok(match op {
                    '-' if set => value.unwrap_or_default(),
                    '-' => word,
                    '+' if set => word,
                    '+' => String::new(),
                    _ if set => value.unwrap_or_default(),
                    _ => {
                        let msg = if word.is_empty() {
                            "is not set".to_string()
                        } else {
                            word
                        };
                        return Err(InputError::Required { name, message: msg });
                    }
                })
            }
            Some(found) => Err(InputError::Unexpected { found, name }),
            None => Err(InputError::Substitution(
                "missing '}' in variable substitution",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "foo" => Some("hello".into()),
            "empty" => Some(String::new()),
            "p" => Some("/x".into()),
            _ => None,
        }
    }

    fn ex(s: &str) -> String {
        expand(s, '\\', &env).unwrap()
    }

    #[test]
    fn reference_examples() {
        assert_eq!(ex("$foo"), "hello");
        assert_eq!(ex("${foo}/bar"), "hello/bar");
        assert_eq!(ex("${nope:-def}"), "def");
        assert_eq!(ex("${empty:-def}"), "def");
        assert_eq!(ex("${empty-def}"), "");
        assert_eq!(ex("${foo:+alt}"), "alt");
        assert_eq!(ex("${nope:+alt}"), "");
        assert_eq!(ex("${empty+alt}"), "alt");
        assert_eq!(ex(r"\$foo"), "$foo");
        assert_eq!(ex(r"\${foo}"), "${foo}");
        assert_eq!(ex("'$foo'"), "$foo");
        assert_eq!(ex("\"$foo bar\""), "hello bar");
        assert_eq!(ex("${nope:-${p}/d}"), "/x/d");
        assert_eq!(ex("a$"), "a$");
        assert_eq!(ex("$foo$foo"), "hellohello");
    }

    #[test]
    fn errors() {
        assert!(expand("${foo", '\\', &env).is_err());
        assert!(
            expand("${nope:?must be set}", '\\', &env)
                .unwrap_err()
                .to_string()
                .contains("must be set")
        );
        assert!(expand("'abc", '\\', &env).is_err());
        assert!(expand("${}", '\\', &env).is_err());
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(expand("`$foo", '`', &env).unwrap(), "$foo");
        assert_eq!(expand(r"c:\dir", '`', &env).unwrap(), r"c:\dir");
    }

    #[test]
    fn splitting_keeps_quotes() {
        assert_eq!(
            split_words(r#"a="b c" d=e\ f"#, '\\'),
            vec![r#"a="b c""#, r"d=e\ f"]
        );
        assert_eq!(split_words("  x   y ", '\\'), vec!["x", "y"]);
        assert_eq!(split_words("'a b' c", '\\'), vec!["'a b'", "c"]);
    }
}
