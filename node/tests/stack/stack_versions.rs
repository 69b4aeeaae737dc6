//! One source of truth for the stack's versions: stack-programs/versions.toml. Compose runs
//! exactly its images, each Go module builds exactly its release, the collector's builder
//! manifest is at its release, every built program says it is that release, and the builds
//! leave no Go caches behind.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::TempDir;
use crate::support::stack::{self, Programs};

fn programs() -> Programs {
    Programs::load(&stack::repo())
}

/// The compose files of the repository: the stack, and the gateway topology.
const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "deploy/compose/docker-compose.yml"];

/// Images of `file` (all profiles) by service.
fn compose_images(file: &str) -> BTreeMap<String, String> {
    let out = Command::new(stack::compose_binary())
        .current_dir(stack::repo())
        .args([
            "-f",
            file,
            "--profile",
            "host",
            "config",
            "--format",
            "json",
        ])
        .output()
        .expect("the Compose binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["services"]
        .as_object()
        .expect("services")
        .iter()
        .map(|(name, s)| (name.clone(), s["image"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Our own image, built from the Dockerfile.
const OWN_IMAGE: &str = "alys-telemetry:local";

/// Every disagreement between the images of `file` and the pins: an image not pinned, and,
/// for the main compose file (`complete`), a pinned image it does not run.
fn mismatches(
    file: &str,
    images: &BTreeMap<String, String>,
    programs: &Programs,
    complete: bool,
) -> Vec<String> {
    let pinned = |image: &str| {
        programs
            .pins
            .values()
            .any(|p| p.image.as_deref() == Some(image))
    };
    let mut problems = Vec::new();
    for (service, image) in images {
        if image != OWN_IMAGE && !pinned(image) {
            problems.push(format!(
                "{file}: service {service} runs {image}, which stack-programs/versions.toml does not pin"
            ));
        }
    }
    for (program, pin) in &programs.pins {
        let Some(image) = pin.image.as_deref() else {
            continue;
        };
        if complete && !images.values().any(|i| i == image) {
            problems.push(format!(
                "stack-programs/versions.toml pins {program} as {image}, which {file} does not run"
            ));
        }
    }
    problems
}

#[test]
fn compose_runs_exactly_the_pinned_images() {
    let programs = programs();
    let mut problems = Vec::new();
    for (i, file) in COMPOSE_FILES.iter().enumerate() {
        problems.extend(mismatches(file, &compose_images(file), &programs, i == 0));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_version_check_catches_an_image_one_release_off() {
    let programs = programs();
    let mut images = compose_images(COMPOSE_FILES[0]);
    let jaeger = programs
        .pin("jaeger")
        .image
        .clone()
        .expect("Jaeger has an image");
    let service = images
        .iter()
        .find(|(_, image)| **image == jaeger)
        .map(|(service, _)| service.clone())
        .expect("compose runs Jaeger");
    images.insert(
        service,
        jaeger.replace(&programs.pin("jaeger").release, "2.12.0"),
    );
    let problems = mismatches(COMPOSE_FILES[0], &images, &programs, true);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("jaegertracing/jaeger:2.12.0"))
    );
}

#[test]
fn every_go_module_requires_its_pinned_version() {
    let programs = programs();
    for (name, pin) in &programs.pins {
        let (Some(module), Some(version)) = (&pin.module, &pin.module_version) else {
            continue;
        };
        if pin.packages.is_empty() {
            // Read as data (schemas), not built: no module of ours.
            continue;
        }
        let go_mod =
            std::fs::read_to_string(stack::repo().join(format!("stack-programs/{name}/go.mod")))
                .unwrap_or_else(|e| panic!("stack-programs/{name}/go.mod: {e}"));
        let required = go_mod
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(&format!("{module} ")))
            .unwrap_or_else(|| panic!("stack-programs/{name}/go.mod does not require {module}"));
        assert_eq!(
            required.split_whitespace().next(),
            Some(version.as_str()),
            "stack-programs/{name}/go.mod requires {module} {required}, versions.toml pins {version}"
        );
        assert!(
            stack::repo()
                .join(format!("stack-programs/{name}/go.sum"))
                .is_file(),
            "stack-programs/{name}/go.sum is committed"
        );
    }
}

#[test]
fn the_collector_manifest_and_its_module_are_at_the_pinned_release() {
    let programs = programs();
    let release = &programs.pin("otelcol").release;
    let manifest: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(stack::repo().join("otel-collector/builder-config.yaml"))
            .expect("read the builder manifest"),
    )
    .expect("the builder manifest is YAML");
    assert_eq!(manifest["dist"]["version"].as_str(), Some(release.as_str()));
    let go_mod = std::fs::read_to_string(stack::repo().join("stack-programs/otelcol/go.mod"))
        .expect("read stack-programs/otelcol/go.mod");
    let components =
        std::fs::read_to_string(stack::repo().join("stack-programs/otelcol/components.go"))
            .expect("read stack-programs/otelcol/components.go");
    let mut count = 0;
    for kind in [
        "extensions",
        "receivers",
        "processors",
        "exporters",
        "connectors",
    ] {
        for entry in manifest[kind].as_sequence().into_iter().flatten() {
            let gomod = entry["gomod"].as_str().expect("gomod");
            let (module, version) = gomod.split_once(' ').expect("module and version");
            assert_eq!(
                version.trim_start_matches('v'),
                release,
                "{module} is at {version}: every collector module is at release {release}"
            );
            assert!(
                go_mod.contains(&format!("{module} {version}")),
                "stack-programs/otelcol/go.mod lacks {gomod}: regenerate it from the manifest"
            );
            assert!(
                components.contains(module),
                "components.go lacks {module}: regenerate it"
            );
            count += 1;
        }
    }
    assert!(count >= 10, "the manifest lists the stack's components");
}

/// What each built program prints for its version.
fn reported_version(binary: &str, args: &[&str]) -> String {
    let out = Command::new(programs().tool(binary))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {binary}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_built_program_reports_the_pinned_release() {
    let programs = programs();
    for (program, binary, args) in [
        ("otelcol", "otelcol-alys", &["--version"][..]),
        ("jaeger", "jaeger", &["version"][..]),
        ("prometheus", "prometheus", &["--version"][..]),
        ("prometheus", "promtool", &["--version"][..]),
        ("alertmanager", "alertmanager", &["--version"][..]),
        ("alertmanager", "amtool", &["--version"][..]),
        ("kustomize", "kustomize", &["version"][..]),
        ("kubeconform", "kubeconform", &["-v"][..]),
        ("kube-score", "kube-score", &["version"][..]),
    ] {
        let release = &programs.pin(program).release;
        let text = reported_version(binary, args);
        assert!(
            text.contains(release.as_str()),
            "{binary} should report release {release}:\n{text}"
        );
    }
}

/// Runs `go build` of a one-file module inside scripts/go_caches.py's throwaway caches under
/// `root`, with `env` added; prints the GOCACHE and GOMODCACHE the build used.
fn build_in_throwaway_caches(root: &std::path::Path, env: &[(&str, &std::path::Path)]) -> String {
    let module = root.join("hello");
    std::fs::create_dir_all(&module).expect("module folder");
    std::fs::write(
        module.join("go.mod"),
        "module example.com/hello\n\ngo 1.22\n",
    )
    .expect("go.mod");
    std::fs::write(
        module.join("main.go"),
        "package main\n\nfunc main() { println(\"hello\") }\n",
    )
    .expect("main.go");
    let script = r#"
import subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from go_caches import throwaway_go_caches
root = Path(sys.argv[2])
with throwaway_go_caches(root) as env:
    subprocess.run(["go", "build", "-o", str(root / "hello.bin"), "."], cwd=root / "hello", env=env, check=True)
    assert Path(env["GOCACHE"]).is_dir(), "the build filled its cache"
    print(env["GOCACHE"])
    print(env["GOMODCACHE"])
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(stack::repo().join("scripts"))
        .arg(root)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && root.join("hello.bin").is_file(),
        "the build inside throwaway caches: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_stack_builds_leave_no_go_caches_behind() {
    let root = TempDir::new("go-scratch-test");
    let used = build_in_throwaway_caches(&root.path, &[]);
    for cache in used.lines() {
        assert!(
            cache.starts_with(root.path.to_str().expect("UTF-8")),
            "the build's caches are its own, not Go's shared ones: {cache}"
        );
        assert!(
            !std::path::Path::new(cache).exists(),
            "{cache} is removed when the build ends"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&root.path)
        .expect("root")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "only the module and its binary stay: {left:?}"
    );
}

#[test]
fn a_go_cache_the_caller_set_is_used_and_kept() {
    let root = TempDir::new("go-scratch-test");
    let mine = TempDir::new("go-cache-of-the-caller");
    let used = build_in_throwaway_caches(&root.path, &[("GOCACHE", &mine.path)]);
    assert_eq!(used.lines().next(), mine.path.to_str());
    assert!(
        std::fs::read_dir(&mine.path).expect("kept").count() > 0,
        "the caller's cache keeps what the build put in it"
    );
}
