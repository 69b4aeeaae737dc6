//! docs/architecture.md draws the house as it is: every path it names exists, and the arrows
//! it promises hold in the code (a source never reaches into the pipeline or the exits).

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md")
}

/// The paths of the drawing: each entry's names joined to its parents'.
fn drawn_paths(doc: &str) -> Vec<String> {
    let block = doc
        .split("```")
        .nth(1)
        .expect("architecture.md draws the tree in its first code block");
    let mut parents: Vec<String> = Vec::new();
    let mut paths = Vec::new();
    let mut continues: Option<usize> = None;
    for line in block.lines().skip(1) {
        let tree_chars = line
            .char_indices()
            .find(|(_, c)| !matches!(c, '│' | '├' | '└' | '─' | ' '))
            .map(|(i, _)| i);
        let Some(start) = tree_chars else { continue };
        let prefix = &line[..start];
        let names = names_of(&line[start..]);
        let names = names.as_str();
        let depth = prefix.chars().count() / 4;
        let is_entry = prefix.contains('├') || prefix.contains('└') || prefix.is_empty();
        let depth = match (is_entry, continues) {
            (true, _) => depth,
            // A list of names that goes on from the line above.
            (false, Some(depth)) => depth,
            (false, None) => continue,
        };
        parents.truncate(depth);
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let path = parents
                .iter()
                .map(String::as_str)
                .chain([name])
                .collect::<String>();
            paths.push(path);
        }
        continues = names.ends_with(',').then_some(depth);
        if names.ends_with('/') && is_entry {
            parents.push(names.to_string());
        }
    }
    paths
}

/// The names an entry line starts with: one, or a list whose items end in commas.
fn names_of(text: &str) -> String {
    let mut names = Vec::new();
    for token in text.split_whitespace() {
        names.push(token);
        if !token.ends_with(',') {
            break;
        }
    }
    names.join(" ")
}

/// The paths the prose (outside code blocks) quotes in backticks.
fn quoted_paths(doc: &str) -> Vec<String> {
    let prose: String = doc.split("```").step_by(2).collect();
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|q| !q.contains(' ') && !q.contains("::") && !q.starts_with('/'))
        .filter(|q| {
            q.contains('/')
                || [".rs", ".md", ".yml", ".yaml", ".toml"]
                    .iter()
                    .any(|ext| q.ends_with(ext))
                || *q == "Dockerfile"
        })
        .map(str::to_string)
        .collect()
}

/// Whether `path` (which may end in a `*` pattern) names something in the repository, at its
/// root or, for paths inside the library, under src/.
fn exists(path: &str) -> bool {
    [root(), root().join("src")].iter().any(|base| {
        let full = base.join(path);
        match path.rsplit_once('*') {
            None => full.exists(),
            Some(_) => {
                let dir = full.parent().unwrap_or(Path::new("."));
                let file = full.file_name().and_then(|f| f.to_str()).unwrap_or("");
                let (head, tail) = file.split_once('*').unwrap_or((file, ""));
                fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.starts_with(head) && name.ends_with(tail)
                })
            }
        }
    })
}

#[test]
fn every_path_the_architecture_names_exists() {
    let doc = architecture();
    let drawn = drawn_paths(&doc);
    assert!(drawn.len() > 50, "the drawing was not read: {drawn:?}");
    for expected in [
        "src/sources/catalog/family.rs",
        "node/src/demo/",
        "src/exits/otlp/counted.rs",
    ] {
        assert!(
            drawn.iter().any(|p| p == expected),
            "{expected} not in {drawn:?}"
        );
    }
    let missing: Vec<String> = drawn
        .into_iter()
        .chain(quoted_paths(&doc))
        .filter(|p| !exists(p))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what is not there: {missing:?}"
    );
}

#[test]
fn every_library_module_is_in_the_drawing() {
    let drawn = drawn_paths(&architecture());
    let mut undrawn = Vec::new();
    for dir in [
        "src",
        "src/sources",
        "src/pipeline",
        "src/exits",
        "src/sources/catalog",
    ] {
        for entry in fs::read_dir(root().join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let path = format!(
                "{dir}/{name}{}",
                if entry.path().is_dir() { "/" } else { "" }
            );
            if name != "mod.rs" && !drawn.contains(&path) {
                undrawn.push(path);
            }
        }
    }
    assert!(
        undrawn.is_empty(),
        "docs/architecture.md does not draw {undrawn:?}"
    );
}

#[test]
fn sources_never_reach_into_the_pipeline_or_the_exits() {
    let mut offenders = Vec::new();
    let mut stack = vec![root().join("src/sources")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("crate::exits") || code.contains("crate::pipeline") {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "sources import a later room:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_reader_joins_nested_entries_and_continued_lists() {
    let doc = "x\n```\nsrc/  a\n├── a/  b\n│   ├── b.rs, c.rs,\n│   │   d.rs\n│   └── e/  f\n│       └── g.rs  h\n└── z.rs  the end\n```\n";
    assert_eq!(
        drawn_paths(doc),
        [
            "src/",
            "src/a/",
            "src/a/b.rs",
            "src/a/c.rs",
            "src/a/d.rs",
            "src/a/e/",
            "src/a/e/g.rs",
            "src/z.rs"
        ]
    );
    assert_eq!(
        quoted_paths("run `docker compose up` with `otel-collector/config.yaml` and `a::b`"),
        ["otel-collector/config.yaml"]
    );
}
