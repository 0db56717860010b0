//! `ferry get ... -w`: the table, then each row that changed, polling the
//! list once a second until interrupted.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::{GetArgs, fetch, s, table};
use crate::client::Client;
use crate::commands::BadInput;
use crate::output::{self, Format};

/// `get -w`: prints the current rows, then each row whose cells (AGE
/// aside) changed, and the last row of each object that went away, polling
/// once a second until interrupted.
pub(super) fn watch(client: &Client, kind: &str, args: &GetArgs) -> anyhow::Result<ExitCode> {
    if kind == "all" || matches!(args.output, Some(Format::Json | Format::Yaml)) {
        return Err(BadInput("-w prints tables of one resource type".into()).into());
    }
    // The named object must exist at first, as kubectl's watch requires;
    // later polls list the namespace so a deletion shows as a change.
    fetch(client, kind, args)?;
    let listing = GetArgs {
        name: None,
        namespace: args.namespace.clone(),
        all_namespaces: args.all_namespaces,
        selector: args.selector.clone(),
        watch: true,
        output: args.output,
        server: args.server.clone(),
    };
    let mut last: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut widths: Option<Vec<usize>> = None;
    let mut out = std::io::stdout();
    loop {
        let mut items = fetch(client, kind, &listing)?;
        if let Some(n) = &args.name {
            items.retain(|i| i.pointer("/metadata/name").and_then(Value::as_str) == Some(n));
        }
        let wide = args.output == Some(Format::Wide);
        let (headers, rows) = table(kind, &items, wide, args.all_namespaces, false);
        let (now, changed) = changes(&headers, &items, rows, &last);
        if !changed.is_empty() {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            let w = widths.get_or_insert_with(|| output::widths(&headers, &changed));
            if last.is_empty() && out.write_all(output::line(w, &headers).as_bytes()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
            for row in &changed {
                if out.write_all(output::line(w, row).as_bytes()).is_err() {
                    return Ok(ExitCode::SUCCESS); // the reader went away
                }
            }
            out.flush()?;
        }
        last = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

type Rows = BTreeMap<String, (Vec<String>, Vec<String>)>;

/// The rows keyed by namespace/name with their signature (the cells but
/// AGE), and the rows to print: new or changed ones, then vanished ones.
fn changes(
    headers: &[String],
    items: &[Value],
    rows: Vec<Vec<String>>,
    last: &Rows,
) -> (Rows, Vec<Vec<String>>) {
    let age = headers.iter().position(|h| h == "AGE");
    let mut now = BTreeMap::new();
    let mut changed = Vec::new();
    for (item, row) in items.iter().zip(rows) {
        let key = format!(
            "{}/{}",
            s(item, "/metadata/namespace"),
            s(item, "/metadata/name")
        );
        let sig: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != age)
            .map(|(_, c)| c.clone())
            .collect();
        if last.get(&key).is_none_or(|(old, _)| *old != sig) {
            changed.push(row.clone());
        }
        now.insert(key, (sig, row));
    }
    for (key, (_, row)) in last {
        if !now.contains_key(key) {
            changed.push(row.clone());
        }
    }
    (now, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watch_prints_changed_rows_but_not_age_ticks() {
        let headers: Vec<String> = ["NAME", "DATA", "AGE"].map(String::from).to_vec();
        let item = |n: &str| json!({"metadata": {"name": n, "namespace": "default"}});
        let row = |n: &str, d: &str, a: &str| vec![n.to_string(), d.to_string(), a.to_string()];
        let (first, printed) = changes(
            &headers,
            &[item("a")],
            vec![row("a", "1", "1s")],
            &Rows::new(),
        );
        assert_eq!(printed, [row("a", "1", "1s")]);
        let (same, printed) = changes(&headers, &[item("a")], vec![row("a", "1", "2s")], &first);
        assert!(printed.is_empty(), "only AGE moved: {printed:?}");
        let (_, printed) = changes(
            &headers,
            &[item("a"), item("b")],
            vec![row("a", "2", "3s"), row("b", "0", "0s")],
            &same,
        );
        assert_eq!(printed, [row("a", "2", "3s"), row("b", "0", "0s")]);
        let (_, printed) = changes(&headers, &[], vec![], &same);
        assert_eq!(
            printed,
            [row("a", "1", "2s")],
            "a deletion prints the last row"
        );
    }
}
