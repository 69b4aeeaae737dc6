//! The image that `docker compose up --build` makes, built from the Dockerfile as written
//! (README, "The image"). No Docker engine runs here, so the Dockerfile is replayed:
//! the context with .dockerignore applied, each stage's COPY, WORKDIR and RUN on stand-ins of
//! the base images at the pinned Rust release, and the result run as compose runs it.
//! Needs root (network namespaces), bubblewrap and the Compose binary.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use alys_test_support::image::{BuiltImage, Context, Netns, Replay, StepReport};
use alys_test_support::stack::{self, Service};
use alys_test_support::{TempDir, wait_until};

/// The compose files that build our image, relative to the repository.
const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "deploy/compose/docker-compose.yml"];
const IMAGE: &str = "alys-telemetry:local";
/// What gcr.io/distroless/cc-debian12 carries: glibc's libraries and libgcc_s.
const BASE_LIBRARIES: [&str; 8] = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "libgcc_s.so.1",
];

#[test]
fn the_dockerfile_builds_the_image_of_both_compose_files_and_the_image_runs_as_compose_runs_it() {
    let repo = stack::repo().canonicalize().expect("the repository");
    let services = services_built_from(&repo);
    let scratch = TempDir::new("image-replay");
    let context = Context::copy(&repo, &scratch.join("context")).expect("the build context");
    for left_out in ["target", ".git", "tests/dashboards-ts/node_modules"] {
        assert!(!context.contains(left_out), "{left_out} is in the context");
    }
    let mut replay = Replay::new(&scratch.join("replay"));
    let image = replay
        .build(&context, &context.dir.join("Dockerfile"))
        .unwrap_or_else(|e| panic!("the image does not build:\n{e}"));
    assert!(
        replay.steps.iter().all(|s| s.ran),
        "a first build runs every step"
    );
    for step in &replay.steps {
        eprintln!("{:>7.1?} {:<8} {}", step.took, step.stage, step.text);
    }

    the_binary_needs_only_the_base_images_libraries(&image);
    the_image_runs_as_each_service_and_passes_its_healthcheck(&image, &services);
    // Variants are copies of this context, not of the working tree, which may change meanwhile.
    the_stubs_are_every_target_of_the_workspace(&context, &scratch, &mut replay);
    a_source_change_reuses_the_dependencies_layer(&context, &scratch, &mut replay);
}

/// Both compose files' `build:` sections, as Compose resolves them: every service of our
/// image builds the repository's Dockerfile from the repository's root.
fn services_built_from(repo: &Path) -> Vec<Service> {
    let mut services = Vec::new();
    for file in COMPOSE_FILES {
        let project = stack::resolve(&repo.join(file), &[]);
        let ours: Vec<_> = project
            .services
            .into_values()
            .filter(|s| s.image == IMAGE)
            .collect();
        assert!(!ours.is_empty(), "{file} runs no service of {IMAGE}");
        for service in ours {
            let build = service
                .build
                .as_ref()
                .unwrap_or_else(|| panic!("{file}: a service of {IMAGE} has no build section"));
            let context = Path::new(&build.context)
                .canonicalize()
                .unwrap_or_else(|e| {
                    panic!(
                        "{file}: build context {} does not exist: {e}",
                        build.context
                    )
                });
            assert_eq!(context, repo, "{file}: the build context is the repository");
            assert!(
                context.join(&build.dockerfile).is_file(),
                "{file}: {} is missing",
                build.dockerfile
            );
            assert_eq!(build.dockerfile, "Dockerfile", "{file}: the one Dockerfile");
            services.push(service);
        }
    }
    services
}

/// NEEDED entries within glibc and libgcc_s; the run below proves the loader finds them in a
/// root that has nothing else.
fn the_binary_needs_only_the_base_images_libraries(image: &BuiltImage) {
    let program = image.program();
    let out = Command::new("readelf")
        .args(["--dynamic", "--wide"])
        .arg(&program)
        .output()
        .expect("readelf (binutils)");
    assert!(out.status.success(), "readelf {}", program.display());
    let needed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect();
    assert!(needed.iter().any(|n| n == "libc.so.6"), "{needed:?}");
    let foreign: Vec<_> = needed
        .iter()
        .filter(|n| !BASE_LIBRARIES.contains(&n.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "the binary needs {foreign:?}, which gcr.io/distroless/cc-debian12 does not have"
    );
    let meta = fs::metadata(&program).expect("the binary");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "the binary belongs to root"
    );
    assert_eq!(meta.mode() & 0o022, 0, "only root may write the binary");
    assert_eq!(image.uid_gid(), Ok((65532, 65532)), "USER nonroot");
}

/// Each service's command as a container of the image: its own network, the image's root
/// read-only, uid 65532. It becomes healthy by the compose healthcheck, run in the same
/// container's root, and between them the services listen on every EXPOSEd port.
fn the_image_runs_as_each_service_and_passes_its_healthcheck(
    image: &BuiltImage,
    services: &[Service],
) {
    let network = Netns::new("run");
    let running = |program: &str| {
        services
            .iter()
            .find(|s| s.command.as_ref().is_some_and(|c| c[0] == program))
            .unwrap_or_else(|| panic!("no compose service runs `{program}`"))
    };
    // `docker run alys-telemetry:local`: the image's own ENTRYPOINT and CMD, which listen where
    // the alys-node service's healthcheck probes.
    let node = image.run(&network, &image.default_argv(), "image-default");
    // The governance service's command, under the image's ENTRYPOINT.
    let governance = running("governance-server");
    let argv: Vec<String> = image
        .entrypoint
        .iter()
        .chain(governance.command.iter().flatten())
        .cloned()
        .collect();
    let governance_node = image.run(&network, &argv, "image-governance");
    // Both stay up until the ports are read below.
    let mut containers = [(node, running("demo")), (governance_node, governance)];
    for (container, service) in &mut containers {
        let check = healthcheck(service);
        wait_until(
            &format!("{} healthy by {check:?}", container.name()),
            Duration::from_secs(60),
            || {
                assert!(
                    container.is_running(),
                    "{} exited:\n{}",
                    container.name(),
                    container.output_tail(30)
                );
                image.exec(&network, &check).status.success().then_some(())
            },
        );
        let uid = process_uid(container.pid(), "alys-telemetry");
        assert_eq!(uid, 65532, "{} runs as nonroot", container.name());
    }
    let listening = network.listening();
    for port in &image.exposed {
        assert!(
            listening.iter().any(|a| a.ends_with(&format!(":{port}"))),
            "EXPOSE {port}: nothing listens there ({listening:?})"
        );
    }
}

/// The healthcheck's command: compose's `["CMD", argv…]`.
fn healthcheck(service: &Service) -> Vec<String> {
    let test = &service.healthcheck.as_ref().expect("a healthcheck").test;
    assert_eq!(test.first().map(String::as_str), Some("CMD"), "{test:?}");
    test[1..].to_vec()
}

/// The real uid of the process named `name` below `ancestor` (bubblewrap's child).
fn process_uid(ancestor: u32, name: &str) -> u32 {
    let status = |pid: &str| fs::read_to_string(format!("/proc/{pid}/status")).ok();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
    };
    let mut family = BTreeSet::from([ancestor.to_string()]);
    // Parents before children is not guaranteed by /proc's order: repeat until stable.
    for _ in 0..4 {
        for entry in fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let parent = status(&pid).and_then(|text| field(&text, "PPid:"));
            if parent.is_some_and(|p| family.contains(&p)) {
                family.insert(pid);
            }
        }
    }
    family
        .iter()
        .filter_map(|pid| status(pid))
        .find(|text| field(text, "Name:").as_deref() == Some(name))
        .and_then(|text| field(&text, "Uid:")?.parse().ok())
        .unwrap_or_else(|| panic!("no process {name} below {ancestor}"))
}

/// The dependency stage's stubs come from the workspace: cargo-chef's recipe holds every
/// target of every member that `cargo metadata` lists, and a bench added to a copy of the
/// context shows up in the recipe with nothing else changed.
fn the_stubs_are_every_target_of_the_workspace(
    built: &Context,
    scratch: &TempDir,
    replay: &mut Replay,
) {
    let planner = |context: &Context, replay: &mut Replay| {
        let stage = replay
            .build_target(context, &context.dir.join("Dockerfile"), Some("planner"))
            .unwrap_or_else(|e| panic!("the planner stage: {e}"));
        recipe_targets(&stage.root.join("src/recipe.json"))
    };
    let workspace = metadata_targets(&built.dir);
    let context = Context::copy(&built.dir, &scratch.join("context-bench")).expect("a context");
    let before = planner(&context, replay);
    assert_eq!(
        before, workspace,
        "the recipe's targets are the workspace's"
    );

    let manifest = context.dir.join("Cargo.toml");
    let mut text = fs::read_to_string(&manifest).expect("Cargo.toml");
    text.push_str("\n[[bench]]\nname = \"added_later\"\nharness = false\n");
    fs::write(&manifest, text).expect("write Cargo.toml");
    fs::write(context.dir.join("benches/added_later.rs"), "fn main() {}\n").expect("a bench");
    let after = planner(&context, replay);
    let added: Vec<_> = after.difference(&before).collect();
    assert_eq!(added, [&PathBuf::from("benches/added_later.rs")]);
}

/// The workspace's packages, from `cargo metadata`.
fn packages(repo: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .current_dir(repo)
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "cargo metadata failed");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    meta["packages"].as_array().cloned().expect("packages")
}

/// Targets' source files, relative to the workspace.
fn metadata_targets(repo: &Path) -> BTreeSet<PathBuf> {
    packages(repo)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| {
            let path = PathBuf::from(t["src_path"].as_str()?);
            Some(path.strip_prefix(repo).ok()?.to_path_buf())
        })
        .collect()
}

/// The targets cargo-chef's recipe will stub, relative to the workspace.
fn recipe_targets(recipe: &Path) -> BTreeSet<PathBuf> {
    let text = fs::read_to_string(recipe).unwrap_or_else(|e| panic!("{}: {e}", recipe.display()));
    let recipe: serde_json::Value = serde_json::from_str(&text).expect("recipe JSON");
    let manifests = recipe["skeleton"]["manifests"]
        .as_array()
        .expect("manifests");
    manifests
        .iter()
        .flat_map(|m| {
            let dir = Path::new(m["relative_path"].as_str().unwrap_or(""))
                .parent()
                .unwrap_or(Path::new(""))
                .to_path_buf();
            m["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |t| Some(dir.join(t["path"].as_str()?)))
        })
        .collect()
}

/// Docker's layer cache on a change under src/: every layer up to the dependencies' build is
/// reused, and the last RUN compiles the workspace's own crates only.
fn a_source_change_reuses_the_dependencies_layer(
    built: &Context,
    scratch: &TempDir,
    replay: &mut Replay,
) {
    let context = Context::copy(&built.dir, &scratch.join("context-changed")).expect("a context");
    let lib = context.dir.join("src/lib.rs");
    let mut text = fs::read_to_string(&lib).expect("src/lib.rs");
    text.push_str("\n// A change under src/ (node/tests/stack_image.rs).\n");
    fs::write(&lib, text).expect("write src/lib.rs");
    let first = replay.steps.len();
    replay
        .build(&context, &context.dir.join("Dockerfile"))
        .unwrap_or_else(|e| panic!("the rebuild: {e}"));
    let steps = &replay.steps[first..];
    let step = |stage: &str, starts: &str| -> &StepReport {
        steps
            .iter()
            .find(|s| s.stage == stage && s.text.starts_with(starts))
            .unwrap_or_else(|| panic!("no step `{starts}` in stage {stage}"))
    };
    assert!(
        !step("chef", "RUN cargo install").ran,
        "cargo-chef's layer is reused"
    );
    assert!(
        !step("build", "RUN cargo chef cook").ran,
        "the dependencies' layer is reused after a change under src/"
    );
    let last = step("build", "RUN cargo build");
    assert!(last.ran, "the source change is built");
    let compiled: BTreeSet<&str> = last
        .output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Compiling "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let members = workspace_members(&built.dir);
    assert!(
        !compiled.is_empty(),
        "the rebuild compiled nothing:\n{}",
        last.output
    );
    assert!(
        compiled.iter().all(|c| members.contains(*c)),
        "a source change rebuilt dependencies: {compiled:?} (members: {members:?})"
    );
}

fn workspace_members(repo: &Path) -> BTreeSet<String> {
    packages(repo)
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

/// Small Dockerfiles that `docker build` refuses: the replay refuses them too, at the line
/// and with the reason Docker gives.
mod refusals {
    use super::*;

    fn replay(files: &[(&str, &str)]) -> String {
        let dir = TempDir::new("image-refusal");
        for (path, text) in files {
            let path = dir.join("source").join(path);
            fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
            fs::write(path, text).expect("a file");
        }
        let context = Context::copy(&dir.join("source"), &dir.join("context")).expect("context");
        let mut replay = Replay::new(&dir.join("replay"));
        match replay.build(&context, &context.dir.join("Dockerfile")) {
            Ok(_) => panic!("the build of {files:?} succeeded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_copy_of_a_file_that_dockerignore_leaves_out_is_not_found() {
        let error = replay(&[
            (
                "Dockerfile",
                "FROM gcr.io/distroless/cc-debian12:nonroot\nCOPY secret.key /etc/\n",
            ),
            (".dockerignore", "*.key\n"),
            ("secret.key", "-"),
        ]);
        assert!(
            error.starts_with("Dockerfile:2 `COPY secret.key /etc/`"),
            "{error}"
        );
        assert!(error.contains("\"/secret.key\": not found"), "{error}");
    }

    #[test]
    fn a_run_that_exits_non_zero_fails_the_build() {
        let error = replay(&[(
            "Dockerfile",
            "FROM rust:1.95-slim-bookworm\nRUN echo why >&2; exit 3\n",
        )]);
        assert!(error.starts_with("Dockerfile:2 "), "{error}");
        assert!(
            error.contains("exit status: 3") && error.contains("why"),
            "{error}"
        );
    }

    #[test]
    fn a_manifest_that_names_a_missing_target_fails_the_build() {
        let manifest = "[package]\nname = \"m\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                        [[bench]]\nname = \"missing\"\nharness = false\n";
        let error = replay(&[
            (
                "Dockerfile",
                "FROM rust:1.95-slim-bookworm\nWORKDIR /src\nCOPY . .\nRUN cargo build --offline\n",
            ),
            ("Cargo.toml", manifest),
            ("src/lib.rs", ""),
        ]);
        assert!(error.starts_with("Dockerfile:4 "), "{error}");
        assert!(error.contains("can't find `missing` bench"), "{error}");
    }

    #[test]
    fn a_base_image_the_machine_cannot_stand_in_for_is_named() {
        let error = replay(&[("Dockerfile", "FROM alpine:3.20\nRUN true\n")]);
        assert!(
            error.contains("no stand-in for base image alpine"),
            "{error}"
        );
    }
}
