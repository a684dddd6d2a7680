//! Where in rollgate.toml a problem is: the line of a section or key, TOML's own errors
//! in the project's words, "did you mean" for a misspelt name, and documentation placeholders.

use super::{ConfigError, err};

/// The sections of rollgate.toml, for "did you mean" on an unknown one.
const SECTIONS: &[&str] = &["app", "repository", "cluster", "logs", "task", "service", "gate", "build"];

/// The 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line of the `[section]` header (or of `section.key`'s key), if the file has it.
pub(super) fn header_line(text: &str, section: &str) -> Option<usize> {
    let (table, key) = match section.rsplit_once('.') {
        Some((t, k)) => (t, Some(k)),
        None => (section, None),
    };
    let mut in_table = table.is_empty();
    for (n, line) in text.lines().enumerate() {
        // A header may carry a comment: `[task]   # the Fargate task`.
        let t = line.trim();
        let t = if t.starts_with('[') { t.split('#').next().unwrap_or_default().trim() } else { t };
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            in_table = h.trim().trim_matches(['[', ']']).trim() == table;
            if key.is_none() && in_table {
                return Some(n + 1);
            }
        } else if in_table
            && let Some(k) = key
            && t.split('=').next().map(str::trim) == Some(k)
        {
            return Some(n + 1);
        }
    }
    None
}

/// Names the field of a TOML error by its path (`task.cpu`, `gate.bake_time`, a section), at
/// a real line of the file `file`: a missing field at its section's header, anything else at
/// the value or key the parser stopped on.
pub(super) fn toml_error(text: &str, file: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_owned();
    let quoted = message.split('`').nth(1).unwrap_or_default().to_owned();
    let path = if path == "." { String::new() } else { path.to_owned() };
    let join = |a: &str, b: &str| if a.is_empty() { b.to_owned() } else { format!("{a}.{b}") };
    let at = |line: Option<usize>| line.map(|l| format!(" ({file} line {l})")).unwrap_or_default();
    let span_line = e.span().map(|s| line_of(text, s.start));
    if message.starts_with("missing field") {
        let field = join(&path, &quoted);
        let (what, line) = if path.is_empty() {
            (format!("the [{quoted}] section is missing"), None)
        } else {
            (format!("missing field `{quoted}` in [{path}]"), header_line(text, &path))
        };
        let where_ = if line.is_some() { at(line) } else { format!(" ({file})") };
        return err(&field, format!("{what}{where_}; the README's configuration reference lists every field"));
    }
    if message.starts_with("unknown field") {
        let top_level = path.is_empty() || path == quoted;
        let field = if path.ends_with(&quoted) { path.clone() } else { join(&path, &quoted) };
        let is_table =
            text.parse::<toml::Table>().ok().and_then(|t| t.get(&quoted).map(toml::Value::is_table)).unwrap_or(true);
        if top_level && !is_table {
            return err(
                &quoted,
                format!(
                    "`{quoted}` is outside any section{}: every setting belongs in a section such as [app] (sections: {})",
                    at(span_line),
                    SECTIONS.join(", ")
                ),
            );
        }
        if top_level {
            let hint = strsim_closest(&quoted, SECTIONS).map(|s| format!("; did you mean [{s}]?")).unwrap_or_default();
            return err(
                &quoted,
                format!(
                    "unknown section [{quoted}]{}{hint} (sections: {})",
                    at(header_line(text, &quoted).or(span_line)),
                    SECTIONS.join(", ")
                ),
            );
        }
        return err(&field, format!("{message}{}", at(header_line(text, &field).or(span_line))));
    }
    let field = if path.is_empty() { file.to_owned() } else { path };
    err(&field, format!("{message}{}", at(span_line)))
}

/// The known name closest to `name`, if any is close (a typo).
fn strsim_closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known.iter().map(|k| (strsim::damerau_levenshtein(name, k), *k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}

/// Every string in the file that is a documentation placeholder (`…`, `<your-subnet>`), with
/// its field path.
pub(super) fn placeholders(value: &toml::Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        toml::Value::String(s) => {
            let angle = s.starts_with('<') && s.ends_with('>');
            if s.contains('\u{2026}') || angle || s.trim() == "..." {
                found.push((path.to_owned(), s.clone()));
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| placeholders(v, path, found)),
        toml::Value::Table(t) => {
            for (k, v) in t {
                placeholders(v, &if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, found);
            }
        }
        _ => {}
    }
}
