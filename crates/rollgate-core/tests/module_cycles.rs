//! No import cycles between modules: no two modules of the same parent (a module is a file
//! under `src/`, or a folder's `mod.rs`) refer to each other. A reference is a `use` of, or a
//! `crate::…`/`super::…` path into, another module; a reference from inside a module's
//! folder counts for the module (`infra::plan::tests` -> `infra::desired` is `plan` ->
//! `desired`). Test code (from a file's first `#[cfg(test)]` on, and `tests.rs` files) and
//! comments are not read. A glob of the parent (`use super::*;`) would hide which sibling an
//! item comes from, so it is refused outside test code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type ModPath = Vec<String>;

/// Every module file under `dir`, with its module path (`src/a/mod.rs` and `src/a.rs` are `a`).
fn module_files(dir: &Path, prefix: &[String], out: &mut Vec<(ModPath, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut sub = prefix.to_vec();
            sub.push(name);
            module_files(&path, &sub, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = prefix.to_vec();
            if stem != "mod" && stem != "lib" {
                module.push(stem.to_owned());
            }
            out.push((module, fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The code a file's module is made of: up to its first `#[cfg(test)]`, without comments.
fn code(text: &str) -> String {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a use tree names: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..tree.rfind('}').unwrap()]);
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).flat_map(expand).map(|p| format!("{prefix}{p}")).collect()
}

/// The module a path starting with `crate`, `super` or `self` refers to, from module `from`:
/// the longest prefix of it that is a module.
fn resolve(path: &str, from: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut segments = path.split("::").map(|s| s.split(" as ").next().unwrap().trim());
    let mut at: ModPath = match segments.next()? {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    let mut rest = segments.peekable();
    while rest.peek() == Some(&"super") {
        rest.next();
        at.pop();
    }
    for segment in rest {
        let mut next = at.clone();
        next.push(segment.to_owned());
        if !modules.contains(&next) {
            break;
        }
        at = next;
    }
    Some(at)
}

/// Each module's references to other modules, lifted to the children of the parent the two
/// share: `from` and `to` are siblings. Each edge keeps a file that makes it, for the message.
fn sibling_edges(files: &[(ModPath, String)]) -> (BTreeMap<(ModPath, ModPath), String>, Vec<String>) {
    let modules: BTreeSet<ModPath> = files.iter().map(|(m, _)| m.clone()).collect();
    let use_re = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);").unwrap();
    let path_re = regex::Regex::new(r"\b(?:crate|super)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+").unwrap();
    let (mut edges, mut globs) = (BTreeMap::new(), Vec::new());
    for (module, text) in files {
        if module.last().is_some_and(|m| m == "tests") {
            continue;
        }
        let code = code(text);
        let mut paths: Vec<String> = Vec::new();
        for c in use_re.captures_iter(&code) {
            let tree = c[1].trim();
            if tree.split_whitespace().collect::<String>() == "super::*" {
                globs.push(format!("{}: `use super::*;`", module.join("::")));
            }
            paths.extend(expand(tree));
        }
        let rest = use_re.replace_all(&code, "");
        paths.extend(path_re.find_iter(&rest).map(|m| m.as_str().to_owned()));
        for path in paths {
            let Some(to) = resolve(&path, module, &modules) else { continue };
            let shared = module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if shared == module.len() || shared == to.len() {
                continue; // itself, an ancestor or a descendant
            }
            let key = (module[..=shared].to_vec(), to[..=shared].to_vec());
            edges.entry(key).or_insert_with(|| format!("{} ({path})", module.join("::")));
        }
    }
    (edges, globs)
}

#[test]
fn no_two_modules_of_a_parent_import_each_other() {
    let mut files = Vec::new();
    module_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut files);
    assert!(files.len() > 20, "read the crate's src/: found {} files", files.len());
    let (edges, globs) = sibling_edges(&files);
    assert!(edges.len() > 20, "found only {} references between modules", edges.len());
    let cycles: Vec<String> = edges
        .iter()
        .filter(|((a, b), _)| a < b && edges.contains_key(&(b.clone(), a.clone())))
        .map(|((a, b), by)| format!("{} <-> {}: {by}; {}", a.join("::"), b.join("::"), edges[&(b.clone(), a.clone())]))
        .collect();
    assert!(cycles.is_empty(), "import cycles between modules:\n{}", cycles.join("\n"));
    assert!(globs.is_empty(), "globs of the parent module hide which module an item comes from:\n{}", globs.join("\n"));
}

#[test]
fn use_trees_expand() {
    assert_eq!(expand("super::{a, b::{c, d}}"), ["super::a", "super::b::c", "super::b::d"]);
    assert_eq!(expand("crate::x::Y"), ["crate::x::Y"]);
}
