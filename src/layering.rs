//! The module graph check (test only): every `crate::` path in a module names a module of a
//! strictly lower layer, so the crate has no cycles and no upward edge.

use std::{collections::BTreeMap, fs, path::Path};

/// Layers, bottom first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["error", "clock", "telemetry"],
    &["model"],
    &["odata", "events", "journal"],
    &["store", "throttle", "package", "tls", "faults"],
    &["auth"],
    &["identity"],
    &["fixtures"],
    &["config", "generate", "persist"],
    &["state"],
    &["middleware"],
    &["routes"],
    &["startup"],
    &["health"],
    &["cli"],
    &["fuzzing"],
    &["mock_server"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`routes/token.rs` → `routes`).
fn owner(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    first.unwrap_or_default().trim_end_matches(".rs").to_owned()
}

/// Every module named right after `crate::` (including each top-level name of a
/// `crate::{a, b::c}` group), comments stripped.
fn used_modules(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => found.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(ch),
                    _ => {}
                }
            }
            found.push(item);
        } else {
            found.push(rest.to_owned());
        }
    }
    found
        .iter()
        .map(|f| {
            let f = f.trim();
            let end = f.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            f[..end.unwrap_or(f.len())].to_owned()
        })
        .filter(|m| layer(m).is_some())
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_uses_a_module_of_its_own_or_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap_or(&file);
        let from = owner(rel);
        let Some(from_layer) = layer(&from) else {
            continue; // lib.rs, main.rs and this check
        };
        let text = fs::read_to_string(&file).unwrap_or_default();
        for to in used_modules(&text) {
            if to == from {
                continue;
            }
            edges.entry(from.clone()).or_default().push(to.clone());
            if layer(&to).is_some_and(|l| l >= from_layer) {
                wrong.push(format!("{} uses crate::{to}", rel.display()));
            }
        }
    }
    assert!(
        !edges.is_empty(),
        "the check found no edge at all: it reads nothing"
    );
    assert!(
        wrong.is_empty(),
        "upward or sideways edges:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let mut test_only = false;
    for line in lib.lines() {
        let decl = line
            .trim()
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
            // Test-only modules (this check, the regression tests) sit above every layer.
            assert!(
                test_only || layer(name).is_some(),
                "module {name} has no layer in LAYERS"
            );
        }
        test_only = line.trim() == "#[cfg(test)]";
    }
}

#[test]
fn the_parser_sees_grouped_and_plain_paths() {
    let uses = used_modules("use crate::{\n    auth::{a, b},\n    store::X,\n};\nlet x = crate::odata::parse(); // crate::cli\n");
    assert_eq!(uses, ["auth", "store", "odata"]);
}
