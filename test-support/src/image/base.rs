//! The base images the Dockerfile names, stood in for by this machine. There is no registry to
//! pull them from, so each stand-in is made of what this machine has that the image is made
//! of, and refuses when the machine does not match the tag:
//! - `rust:<version>-slim-<debian>`: this Debian release's system (/usr, /etc) and an
//!   installed rustup toolchain of exactly that Rust version, at the image's paths
//!   (/usr/local/rustup, /usr/local/cargo) and with its environment;
//! - `gcr.io/distroless/cc-debian12`: a root holding only this machine's Debian 12 packages
//!   libc6 and libgcc-s1 (the image's glibc and libgcc_s), the CA bundle, and distroless's
//!   users and folders.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a stage starts from.
#[derive(Debug, Clone)]
pub enum Base {
    /// The Rust build image: the host's system plus the pinned toolchain.
    Rust(RustToolchain),
    /// A complete root, with no shell: RUN is impossible, as in the image.
    Distroless,
}

/// The rustup toolchain that stands in for the image's Rust release.
#[derive(Debug, Clone)]
pub struct RustToolchain {
    /// Its rustup name (`1.95.0-x86_64-unknown-linux-gnu`).
    pub name: String,
    pub rustup_home: PathBuf,
    pub cargo_home: PathBuf,
    pub version: String,
}

/// The image's facts: its environment, working directory and default user.
pub struct BaseImage {
    pub base: Base,
    pub env: Vec<(String, String)>,
    pub workdir: String,
    pub user: String,
}

const DISTROLESS_USERS: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
    nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
    nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const DISTROLESS_GROUPS: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// The stand-in for `image`, its files (if it has its own) laid out under `root`.
pub fn stand_in(image: &str, root: &Path) -> Result<BaseImage, String> {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    match name {
        "rust" | "docker.io/library/rust" => rust(tag, root),
        "gcr.io/distroless/cc-debian12" => distroless(tag, root),
        other => Err(format!(
            "no stand-in for base image {other}: the replay knows rust:<version>-slim-<debian> and gcr.io/distroless/cc-debian12"
        )),
    }
}

fn rust(tag: &str, root: &Path) -> Result<BaseImage, String> {
    let (version, variant) = tag.split_once('-').unwrap_or((tag, ""));
    let debian = variant.strip_prefix("slim-").unwrap_or(variant);
    require_debian(debian, &format!("rust:{tag}"))?;
    let toolchain = toolchain(version)?;
    // The image's cargo home: rustup's proxies in bin/ (from this machine's), a registry
    // cache shared with this machine's (a download cache, nothing built).
    let bin = root.join("usr/local/cargo/bin");
    fs::create_dir_all(&bin).map_err(|e| format!("create {}: {e}", bin.display()))?;
    for proxy in ["cargo", "rustc", "rustdoc", "rustup"] {
        let from = toolchain.cargo_home.join("bin").join(proxy);
        fs::copy(&from, bin.join(proxy)).map_err(|e| format!("copy {}: {e}", from.display()))?;
    }
    let env = vec![
        ("RUSTUP_HOME".into(), "/usr/local/rustup".into()),
        ("CARGO_HOME".into(), "/usr/local/cargo".into()),
        (
            "PATH".into(),
            "/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                .into(),
        ),
        ("RUST_VERSION".into(), toolchain.version.clone()),
        // The image's default toolchain is its only one.
        ("RUSTUP_TOOLCHAIN".into(), toolchain.name.clone()),
    ];
    Ok(BaseImage {
        base: Base::Rust(toolchain),
        env,
        workdir: "/".into(),
        user: "root".into(),
    })
}

fn distroless(tag: &str, root: &Path) -> Result<BaseImage, String> {
    require_debian("bookworm", &format!("gcr.io/distroless/cc-debian12:{tag}"))?;
    for package in ["libc6", "libgcc-s1"] {
        copy_package(package, root)?;
    }
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap_or(root))
            .and_then(|()| fs::write(&path, text))
            .map_err(|e| format!("write {}: {e}", path.display()))
    };
    write("etc/passwd", DISTROLESS_USERS)?;
    write("etc/group", DISTROLESS_GROUPS)?;
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if bundle.is_file() {
        let text = fs::read_to_string(bundle).map_err(|e| format!("read CA bundle: {e}"))?;
        write("etc/ssl/certs/ca-certificates.crt", &text)?;
    }
    for (dir, mode, owner) in [
        ("tmp", 0o1777, 0),
        ("home/nonroot", 0o700, 65532),
        ("proc", 0o555, 0),
        ("dev", 0o755, 0),
    ] {
        let path = root.join(dir);
        fs::create_dir_all(&path)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(mode)))
            .and_then(|()| chown(&path, Some(owner), Some(owner)))
            .map_err(|e| format!("create {}: {e}", path.display()))?;
    }
    let nonroot = tag == "nonroot" || tag.ends_with("-nonroot");
    Ok(BaseImage {
        base: Base::Distroless,
        env: vec![
            (
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ),
            (
                "SSL_CERT_FILE".into(),
                "/etc/ssl/certs/ca-certificates.crt".into(),
            ),
        ],
        workdir: if nonroot { "/home/nonroot" } else { "/" }.into(),
        user: if nonroot { "65532" } else { "0" }.into(),
    })
}

/// This machine must be the Debian release the image is built on, or the stand-in would
/// prove a different system.
fn require_debian(codename: &str, image: &str) -> Result<(), String> {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let ours = release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .unwrap_or("unknown");
    if ours == codename {
        Ok(())
    } else {
        Err(format!(
            "{image} is Debian {codename}, this machine is Debian {ours}: the replay's stand-in would not be that image"
        ))
    }
}

/// The installed toolchain whose rustc is release `version` (1.95 or 1.95.0).
fn toolchain(version: &str) -> Result<RustToolchain, String> {
    let home = |var: &str, default: &str| {
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(default)
        })
    };
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map_err(|e| format!("rustup toolchain list: {e}"))?;
    let names = String::from_utf8_lossy(&listed.stdout);
    let wanted = format!("rustc {version}");
    // In rustup's order, the default first: rustup runs it without wanting to write to its
    // home, which the sandbox keeps read-only.
    for name in names.lines().filter_map(|l| l.split_whitespace().next()) {
        let Ok(out) = Command::new("rustc")
            .arg(format!("+{name}"))
            .arg("--version")
            .output()
        else {
            continue;
        };
        let reported = String::from_utf8_lossy(&out.stdout);
        let Some(release) = reported
            .strip_prefix("rustc ")
            .and_then(|r| r.split_whitespace().next())
        else {
            continue;
        };
        if reported.starts_with(&format!("{wanted}."))
            || reported.starts_with(&format!("{wanted} "))
        {
            return Ok(RustToolchain {
                name: name.to_string(),
                rustup_home: home("RUSTUP_HOME", ".rustup"),
                cargo_home: home("CARGO_HOME", ".cargo"),
                version: release.to_string(),
            });
        }
    }
    Err(format!(
        "the base image pins Rust {version}, and no installed rustup toolchain is that release (installed: {})",
        names.lines().collect::<Vec<_>>().join(", ")
    ))
}

/// The files of Debian package `package` as this machine has them, under `root`.
fn copy_package(package: &str, root: &Path) -> Result<(), String> {
    let listed = Command::new("dpkg")
        .args(["-L", package])
        .output()
        .map_err(|e| format!("dpkg -L {package}: {e}"))?;
    if !listed.status.success() {
        return Err(format!("dpkg -L {package}: the package is not installed"));
    }
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let source = Path::new(line);
        let Ok(meta) = source.symlink_metadata() else {
            continue;
        };
        let target = root.join(line.trim_start_matches('/'));
        if meta.is_dir() {
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
        }
        let result = if meta.file_type().is_symlink() {
            fs::read_link(source).and_then(|link| {
                // A merged /usr's links (/lib64 -> usr/lib64): the folder they lead to too,
                // so that the package's files below them land somewhere.
                if source.is_dir() && link.is_relative() {
                    fs::create_dir_all(target.parent().unwrap_or(root).join(&link))?;
                }
                symlink(link, &target)
            })
        } else {
            fs::copy(source, &target).map(drop)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("copy {line} of {package}: {e}")),
        }
    }
    Ok(())
}
