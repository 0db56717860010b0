//! kubectl-like output: aligned tables for people, `-o json|yaml` for
//! machines, `-o wide` for tables with more columns.

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

/// `println!` that ignores write errors. `println!` panics when stdout is
/// a closed pipe (`ferry demo | tee log` with the reader gone at Ctrl-C:
/// Rust ignores SIGPIPE, so the write fails with EPIPE), and a panic on the
/// way out skips stopping containers; narration is never worth that.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use say;

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
    Wide,
}

/// Prints rows as a table with upper-case headers, columns padded to width
/// and separated by three spaces, as kubectl does.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths = widths(headers, rows);
    let mut out = line(&widths, headers);
    for row in rows {
        out.push_str(&line(&widths, row));
    }
    out
}

/// Each column's width: its widest cell or header.
pub fn widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.len());
            }
        }
    }
    widths
}

/// One table line, cells padded to `widths` (a cell wider than its column
/// still gets the three spaces).
pub fn line<S: AsRef<str>>(widths: &[usize], cells: &[S]) -> String {
    let mut out = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        out.push_str(cell);
        if i < last {
            let w = widths.get(i).copied().unwrap_or(0);
            out.push_str(&" ".repeat(w.saturating_sub(cell.len()) + 3));
        }
    }
    out.push('\n');
    out
}

/// Writes `value` as JSON or YAML to stdout.
pub fn structured<T: Serialize>(format: Format, value: &T) -> anyhow::Result<()> {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        Format::Yaml | Format::Wide => serde_saphyr::to_string(value)?,
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let t = table(&["REGION", "URL"], &[vec!["uk".into(), "http://a".into()]]);
        assert_eq!(t, "REGION   URL\nuk       http://a\n");
    }
}
