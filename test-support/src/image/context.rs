//! The build context as `docker build` sends it: every file under the context directory that
//! `.dockerignore` does not exclude. The rules are Docker's (moby/patternmatcher): patterns are
//! cleaned and anchored at the context's root, `*` and `?` stay within one path element, `**`
//! spans any number of them, a pattern that matches a directory excludes all below it, `!`
//! re-includes, and the last pattern that matches a path decides.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher};

/// A copy of a build context with `.dockerignore` applied, in a directory of its own, so that
/// a test can change it without touching the repository.
pub struct Context {
    pub dir: PathBuf,
}

struct Pattern {
    matcher: GlobMatcher,
    reinclude: bool,
}

impl Context {
    /// Copies what `docker build` would send from `source` into `dir` (which must not exist).
    pub fn copy(source: &Path, dir: &Path) -> Result<Context, String> {
        let patterns = ignore_patterns(source)?;
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        copy_included(source, dir, Path::new(""), &patterns)?;
        Ok(Context {
            dir: dir.to_path_buf(),
        })
    }

    /// Whether the context holds `relative` (a path with `/` separators).
    pub fn contains(&self, relative: &str) -> bool {
        self.dir.join(relative).symlink_metadata().is_ok()
    }
}

fn ignore_patterns(source: &Path) -> Result<Vec<Pattern>, String> {
    let path = source.join(".dockerignore");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (reinclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            let glob: Glob = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!(".dockerignore: `{line}`: {e}"))?;
            Ok(Pattern {
                matcher: glob.compile_matcher(),
                reinclude,
            })
        })
        .collect()
}

/// Go's filepath.Clean of a pattern, anchored at the context: no leading `/` or `./`, no
/// empty or `.` elements, `..` folded.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Whether `relative` is left out: the last pattern matching it or one of its parents decides.
fn excluded(relative: &Path, patterns: &[Pattern]) -> bool {
    let mut excluded = false;
    for pattern in patterns {
        let hit = relative
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .any(|p| pattern.matcher.is_match(p));
        if hit {
            excluded = !pattern.reinclude;
        }
    }
    excluded
}

fn copy_included(
    source: &Path,
    target: &Path,
    relative: &Path,
    patterns: &[Pattern],
) -> Result<(), String> {
    let here = source.join(relative);
    let entries = fs::read_dir(&here).map_err(|e| format!("read {}: {e}", here.display()))?;
    let may_reinclude = patterns.iter().any(|p| p.reinclude);
    for entry in entries {
        let entry = entry.map_err(|e| format!("read {}: {e}", here.display()))?;
        let rel = relative.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| format!("stat {}: {e}", rel.display()))?;
        let left_out = excluded(&rel, patterns);
        // Below an excluded directory only a `!` pattern can bring a file back.
        if left_out && !(kind.is_dir() && may_reinclude) {
            continue;
        }
        let from = source.join(&rel);
        let to = target.join(&rel);
        if kind.is_dir() {
            fs::create_dir_all(&to).map_err(|e| format!("create {}: {e}", to.display()))?;
            copy_mode(&from, &to)?;
            copy_included(source, target, &rel, patterns)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&from).map_err(|e| format!("{}: {e}", from.display()))?;
            std::os::unix::fs::symlink(link, &to)
                .map_err(|e| format!("link {}: {e}", to.display()))?;
        } else {
            fs::copy(&from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
        }
    }
    Ok(())
}

fn copy_mode(from: &Path, to: &Path) -> Result<(), String> {
    let mode = fs::metadata(from)
        .map_err(|e| format!("stat {}: {e}", from.display()))?
        .permissions()
        .mode();
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(lines: &[&str]) -> Vec<Pattern> {
        let dir = crate::TempDir::new("dockerignore");
        fs::write(dir.join(".dockerignore"), lines.join("\n")).unwrap();
        ignore_patterns(&dir.path).unwrap()
    }

    #[test]
    fn patterns_are_anchored_at_the_root_and_the_last_match_decides() {
        let rules = patterns(&["target", "/docs/*.png", "**/*.log", "!keep.log", "./a/../b"]);
        let out = |p: &str| excluded(Path::new(p), &rules);
        assert!(out("target") && out("target/debug/x"));
        assert!(
            !out("node/target"),
            "a pattern without ** is anchored at the root"
        );
        assert!(out("docs/a.png") && !out("docs/sub/a.png"));
        assert!(out("x.log") && out("deep/er/x.log"));
        assert!(!out("keep.log"), "a later ! pattern re-includes");
        assert!(out("b/c"));
        assert!(!out("src/lib.rs"));
    }
}
