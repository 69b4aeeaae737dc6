//! The stack's programs at the versions in stack-programs/versions.toml, as
//! scripts/build-stack-programs.py built them (target/stack-programs/ links to the cache).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One program of stack-programs/versions.toml.
#[derive(Debug, Clone, Deserialize)]
pub struct Pin {
    pub release: String,
    /// The image docker-compose.yml runs; none for tools (kustomize, kubeconform).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub module_version: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub binaries: Vec<String>,
    /// Files of the pinned modules that tests read, kept beside the binaries.
    #[serde(default)]
    pub documents: Vec<Document>,
}

/// A file of a Go module at the program's `module_version`.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub module: String,
    pub file: String,
}

/// Every pin, and where the built binaries are.
#[derive(Debug, Clone)]
pub struct Programs {
    pub pins: BTreeMap<String, Pin>,
    bin_dir: PathBuf,
    node_binary: Option<PathBuf>,
}

const BUILD_HINT: &str = "run scripts/build-stack-programs.py (scripts/install-test-deps.sh \
                          runs it) to build the stack's programs from their Go modules";

impl Programs {
    pub fn load(repo: &Path) -> Programs {
        let path = repo.join("stack-programs/versions.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let pins = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Programs {
            pins,
            bin_dir: repo.join("target/stack-programs"),
            node_binary: None,
        }
    }

    /// With our own binary, which runs for the image `alys-telemetry:local`.
    pub fn with_node_binary(mut self, binary: &Path) -> Programs {
        self.node_binary = Some(binary.to_path_buf());
        self
    }

    pub fn pin(&self, program: &str) -> &Pin {
        self.pins
            .get(program)
            .unwrap_or_else(|| panic!("stack-programs/versions.toml has no [{program}]"))
    }

    /// The built `binary` of `program`, which docker-compose.yml runs at `tag`: the tag must
    /// be the pinned release, or the test would prove a version nobody ships.
    pub fn binary(&self, program: &str, tag: &str, binary: &str) -> PathBuf {
        let pin = self.pin(program);
        assert_eq!(
            tag, pin.release,
            "docker-compose.yml runs {program} {tag}, stack-programs/versions.toml pins {}",
            pin.release
        );
        self.tool(binary)
    }

    /// A built binary by name (promtool, amtool, ...).
    pub fn tool(&self, binary: &str) -> PathBuf {
        let path = self.bin_dir.join(binary);
        assert!(
            path.is_file(),
            "{} is missing: {BUILD_HINT}",
            path.display()
        );
        path
    }

    /// Where `program`'s `documents` are kept (`<module>/<file>` under it).
    pub fn documents(&self, program: &str) -> PathBuf {
        let path = self.bin_dir.join(format!("{program}-documents"));
        assert!(
            !self.pin(program).documents.is_empty() && path.is_dir(),
            "{} is missing: {BUILD_HINT}",
            path.display()
        );
        path
    }

    /// Our own binary, which the image `alys-telemetry:local` carries.
    pub fn node_binary(&self) -> PathBuf {
        let binary = self
            .node_binary
            .clone()
            .expect("the stack runs our image: give Options::node_binary");
        assert!(binary.is_file(), "{} is not built", binary.display());
        binary
    }
}
