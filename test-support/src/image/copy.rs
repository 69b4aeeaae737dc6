//! COPY as BuildKit performs it: sources relative to the context (or absolute in another
//! stage), `*`, `?` and `[…]` within one path element, a directory copied by its content, a
//! destination ending in `/` (or any destination of several sources) taken as a directory,
//! files owned by root with their modes and times kept. A source that is not there fails as
//! `docker build` fails: "not found".

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use sha2::{Digest, Sha256};

/// Where COPY takes its sources from.
pub enum Source<'a> {
    Context(&'a Path),
    Stage {
        root: &'a Path,
        /// The stage's own paths; `whole` when its root is complete.
        own: &'a BTreeSet<String>,
        whole: bool,
    },
}

/// A resolved source: the file or directory on this machine.
pub struct Resolved {
    pub host: PathBuf,
    /// As the Dockerfile names it after cleaning, for the cache key.
    pub name: String,
}

/// The files `patterns` name in `source`.
pub fn resolve(source: &Source<'_>, patterns: &[String]) -> Result<Vec<Resolved>, String> {
    let mut resolved = Vec::new();
    for pattern in patterns {
        let clean =
            clean(pattern).ok_or_else(|| format!("\"{pattern}\" is outside the build context"))?;
        let base = match source {
            Source::Context(dir) => dir.to_path_buf(),
            Source::Stage { root, own, whole } => {
                let absolute = format!("/{clean}");
                let held = own
                    .iter()
                    .any(|o| absolute == *o || absolute.starts_with(&format!("{o}/")));
                if !whole && !held {
                    return Err(format!(
                        "\"{absolute}\" is in the base image of that stage, not written by it: the replay copies only what a stage wrote"
                    ));
                }
                root.to_path_buf()
            }
        };
        let matches = if clean.contains(['*', '?', '[']) {
            glob(&base, &clean)?
        } else if base.join(&clean).symlink_metadata().is_ok() {
            vec![clean.clone()]
        } else {
            Vec::new()
        };
        if matches.is_empty() {
            return Err(format!(
                "failed to compute cache key: \"/{clean}\": not found"
            ));
        }
        resolved.extend(matches.into_iter().map(|name| Resolved {
            host: if name.is_empty() {
                base.clone()
            } else {
                base.join(&name)
            },
            name,
        }));
    }
    Ok(resolved)
}

/// Docker's path cleaning, anchored at the context; `None` when `..` climbs out of it.
fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// The entries of the pattern's directory that its last element matches.
fn glob(base: &Path, pattern: &str) -> Result<Vec<String>, String> {
    let (dir, _) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("{pattern}: {e}"))?
        .compile_matcher();
    let listing = match fs::read_dir(base.join(dir)) {
        Ok(listing) => listing,
        Err(_) => return Ok(Vec::new()),
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        })
        .filter(|name| matcher.is_match(name))
        .collect();
    names.sort();
    Ok(names)
}

/// The content of `files` as BuildKit keys a COPY: paths, modes and bytes, not times.
pub fn digest(files: &[Resolved]) -> Result<String, String> {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.name.as_bytes());
        let mut paths = Vec::new();
        walk(&file.host, Path::new(""), &mut paths)?;
        for (relative, path) in paths {
            let meta = path
                .symlink_metadata()
                .map_err(|e| format!("stat {}: {e}", path.display()))?;
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update(meta.permissions().mode().to_le_bytes());
            if meta.is_file() {
                let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
                hasher.update(&bytes);
            } else if meta.file_type().is_symlink() {
                let link = fs::read_link(&path).map_err(|e| e.to_string())?;
                hasher.update(link.to_string_lossy().as_bytes());
            }
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Every path under `path` (itself first), sorted, with its path relative to `path`.
fn walk(path: &Path, relative: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> Result<(), String> {
    out.push((relative.to_path_buf(), path.to_path_buf()));
    let meta = path
        .symlink_metadata()
        .map_err(|e| format!("stat {}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(|e| format!("read {}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            walk(&path.join(&name), &relative.join(&name), out)?;
        }
    }
    Ok(())
}

/// Copies `files` to `destination` (an image path) under `root`.
pub fn apply(
    files: &[Resolved],
    root: &Path,
    destination: &str,
    directory: bool,
    chmod: Option<u32>,
) -> Result<(), String> {
    let dest = root.join(destination.trim_start_matches('/'));
    for file in files {
        let is_dir = file.host.is_dir() && !file.host.is_symlink();
        let target = if is_dir {
            dest.clone()
        } else if directory || dest.is_dir() {
            let name = file.host.file_name().ok_or("a source without a name")?;
            dest.join(name)
        } else {
            dest.clone()
        };
        copy_entry(&file.host, &target, chmod)?;
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, chmod: Option<u32>) -> Result<(), String> {
    let meta = from
        .symlink_metadata()
        .map_err(|e| format!("stat {}: {e}", from.display()))?;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    if meta.file_type().is_symlink() {
        let link = fs::read_link(from).map_err(|e| e.to_string())?;
        let _ = fs::remove_file(to);
        return std::os::unix::fs::symlink(link, to)
            .map_err(|e| format!("link {}: {e}", to.display()));
    }
    let mode = chmod.unwrap_or(meta.permissions().mode() & 0o7777);
    if meta.is_dir() {
        fs::create_dir_all(to).map_err(|e| format!("create {}: {e}", to.display()))?;
        let entries = fs::read_dir(from).map_err(|e| format!("read {}: {e}", from.display()))?;
        for entry in entries.filter_map(Result::ok) {
            copy_entry(&entry.path(), &to.join(entry.file_name()), chmod)?;
        }
    } else {
        fs::copy(from, to)
            .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
        let modified = meta.modified().map_err(|e| e.to_string())?;
        File::options()
            .write(true)
            .open(to)
            .and_then(|f| f.set_modified(modified))
            .map_err(|e| format!("set the time of {}: {e}", to.display()))?;
    }
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", to.display()))
}
