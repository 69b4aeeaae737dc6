//! docs/architecture.md draws the house as it is: every path it names exists, every module of
//! the library's crates is drawn, and its crate graph is the one the manifests declare (the
//! compiler keeps those arrows).

use std::collections::{BTreeMap, BTreeSet};
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
        "crates/catalog/src/declare.rs",
        "node/src/demo/",
        "crates/pipeline/src/exits/otlp/counted.rs",
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
    let crates: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(crates.len() >= 8, "crates/ was not read: {crates:?}");
    for krate in crates {
        let name = krate.file_name().unwrap().to_string_lossy().to_string();
        let src = format!("crates/{name}/src");
        if !drawn.iter().any(|p| p == &format!("crates/{name}/")) {
            undrawn.push(format!("crates/{name}/"));
        }
        // A crate drawn down to its modules has each of them drawn; one drawn as `src/`
        // alone is described as a whole.
        let inside = format!("{src}/");
        if !drawn.iter().any(|p| p.starts_with(&inside) && p != &inside) {
            continue;
        }
        for entry in fs::read_dir(root().join(&src)).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            let path = format!(
                "{src}/{file}{}",
                if entry.path().is_dir() { "/" } else { "" }
            );
            if !["mod.rs", "lib.rs"].contains(&file.as_str()) && !drawn.contains(&path) {
                undrawn.push(path);
            }
        }
    }
    assert!(
        undrawn.is_empty(),
        "docs/architecture.md does not draw {undrawn:?}"
    );
}

/// The crate graph the document draws: each crate and the workspace crates it depends on.
fn drawn_graph(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let block = doc
        .split("```")
        .skip(1)
        .step_by(2)
        .find(|b| b.contains("alys-telemetry-catalog     →"))
        .expect("architecture.md draws the crate graph");
    block
        .lines()
        .filter_map(|line| line.split_once('→'))
        .map(|(krate, deps)| {
            let deps = deps.split('(').next().unwrap_or("");
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect();
            (krate.trim().to_string(), deps)
        })
        .collect()
}

/// The workspace crates each workspace member depends on, from the manifests.
fn manifest_graph() -> BTreeMap<String, BTreeSet<String>> {
    let workspace: toml::Table =
        toml::from_str(&fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    let manifests: Vec<toml::Table> = members
        .iter()
        .map(|m| root().join(m.as_str().unwrap()).join("Cargo.toml"))
        .map(|p| toml::from_str(&fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    let names: BTreeSet<String> = manifests
        .iter()
        .map(|m| m["package"]["name"].as_str().unwrap().to_string())
        .collect();
    manifests
        .iter()
        .map(|m| {
            let deps = m
                .get("dependencies")
                .and_then(|d| d.as_table())
                .map(|d| d.keys().filter(|k| names.contains(*k)).cloned().collect())
                .unwrap_or_default();
            (m["package"]["name"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

/// What the text rules of earlier rooms promised, the compiler now keeps: this only checks
/// that the drawing shows the arrows the manifests declare, every one of them.
#[test]
fn the_crate_graph_is_the_manifests() {
    let drawn = drawn_graph(&architecture());
    assert!(drawn.len() >= 10, "the graph was not read: {drawn:?}");
    assert_eq!(drawn, manifest_graph());
}

#[test]
fn no_source_crate_depends_on_the_pipeline() {
    let graph = manifest_graph();
    for source in [
        "alys-telemetry-catalog",
        "alys-telemetry-core",
        "alys-telemetry-actors",
        "alys-telemetry-governance",
        "alys-telemetry-system",
        "alys-telemetry-tasks",
        "alys-telemetry-http",
        "alys-telemetry-viewer",
    ] {
        assert!(
            !graph[source].contains("alys-telemetry-pipeline"),
            "{source} depends on the pipeline"
        );
    }
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
