#!/usr/bin/env python3
"""Builds the stack's programs (collector, Jaeger, Prometheus, Alertmanager) from their Go modules.

Each program listed in stack-programs/versions.toml has a small Go module of its own in
stack-programs/<name>/ with a committed go.sum. A program is built once per version: the
binaries are kept in ~/.cache/alys-telemetry/stack-programs/<name>-<release>-<key>/, where
<key> hashes everything that decides the build (go.mod, go.sum, generated sources, Go version,
flags), and target/stack-programs/<binary> links to them for the tests.

    scripts/build-stack-programs.py            # build what is missing, link all
    scripts/build-stack-programs.py --check    # exit 1 if any program is not built yet
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from go_caches import downloaded, throwaway_go_caches

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "stack-programs"
LINKS = REPO / "target" / "stack-programs"

# Static binaries, as the upstream images ship them; only the module graph in go.sum is used.
GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -trimpath -buildvcs=false"}

# Where each program reports its version, so that `--version` prints the release we pin.
VERSION_LDFLAGS = {
    "jaeger": ["github.com/jaegertracing/jaeger/internal/version.latestVersion=v{release}"],
    "prometheus": ["github.com/prometheus/common/version.Version={release}"],
    "alertmanager": ["github.com/prometheus/common/version.Version={release}"],
    "kubeconform": ["main.version=v{release}"],
    "kube-score": ["main.version=v{release}"],
}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alys-telemetry" / "stack-programs"


def go_version() -> str:
    try:
        out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"build-stack-programs: Go is needed to build the stack's programs: {e}")
    return out.stdout.strip()


def build_key(name: str, spec: dict, module_dir: Path, go: str) -> str:
    """Hashes every input of the build, so a changed module or Go rebuilds and nothing else does."""
    h = hashlib.sha256()
    h.update(f"{name}\0{spec['release']}\0{go}\0{sorted(GO_ENV.items())}\0".encode())
    h.update(repr(VERSION_LDFLAGS.get(name)).encode() + repr(spec.get("placeholders")).encode())
    for path in sorted(module_dir.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(module_dir)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def with_placeholders(spec: dict, module_dir: Path, work: Path, env: dict) -> list[str]:
    """A copy of the pinned module with placeholder files where it embeds assets it does not
    carry, and a go.mod (passed with -modfile) that builds against that copy."""
    module = spec["module"]
    source = downloaded(module, spec["module_version"], env, module_dir, "build-stack-programs")
    copy = work / "src"
    shutil.copytree(source, copy)
    for root, dirs, files in os.walk(copy):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(Path(root) / f, 0o644)
    for rel in spec["placeholders"]:
        target = copy / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"<!doctype html><title>{spec['image']}</title>"
                          "<p>The web UI's assets are not part of the Go module; this test build "
                          "serves the API only.</p>\n")
    modfile = work / "go.mod"
    modfile.write_text((module_dir / "go.mod").read_text() + f"\nreplace {module} => {copy}\n")
    shutil.copy(module_dir / "go.sum", work / "go.sum")
    return [f"-modfile={modfile}"]


def build(name: str, spec: dict, module_dir: Path, out_dir: Path, go_env: dict[str, str]) -> None:
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ldflags = " ".join(f"-X {x.format(release=spec['release'])}" for x in VERSION_LDFLAGS.get(name, []))
    env = {**go_env, **GO_ENV}
    extra = []
    if spec.get("placeholders"):
        extra = with_placeholders(spec, module_dir, tmp / "work", env)
    for package, binary in zip(spec["packages"], spec["binaries"]):
        cmd = ["go", "build", *extra, "-ldflags", f"-s -w {ldflags}".strip(), "-o", str(tmp / binary), package]
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=module_dir, env=env)
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            sys.exit(f"build-stack-programs: building {binary} of {name} {spec['release']} failed "
                     f"(exit {result.returncode}): {' '.join(cmd)} in {module_dir}")
        print(f"build-stack-programs:   {binary} built in {time.monotonic() - started:.0f} s", flush=True)
    shutil.rmtree(tmp / "work", ignore_errors=True)
    # Publish whole or not at all: a killed build leaves only a .tmp folder behind.
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def documents_kept(spec: dict, out_dir: Path) -> bool:
    return all((out_dir / "documents" / d["module"] / d["file"]).is_file() for d in spec.get("documents", []))


def keep_documents(name: str, spec: dict, out_dir: Path, go_env: dict[str, str]) -> Path:
    """The files of the pinned modules that the tests read (spec's `documents`), copied from
    the module cache into out_dir/documents/<module>/, once: the cache itself is thrown away."""
    kept = out_dir / "documents"
    if documents_kept(spec, out_dir):
        return kept
    wanted = [(d["module"], d["file"]) for d in spec["documents"]]
    tmp = out_dir / f"documents.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for module, file in wanted:
        source = downloaded(module, spec["module_version"], {**go_env, **GO_ENV}, PROGRAMS / name,
                            "build-stack-programs") / file
        if not source.is_file():
            sys.exit(f"build-stack-programs: {module}@{spec['module_version']} has no {file}")
        (tmp / module).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tmp / module / file)
    shutil.rmtree(kept, ignore_errors=True)
    tmp.rename(kept)
    return kept


def link(target: Path, name: str) -> None:
    path = LINKS / name
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether every program is built")
    args = parser.parse_args()

    versions = tomllib.loads((PROGRAMS / "versions.toml").read_text())
    go = go_version()
    LINKS.mkdir(parents=True, exist_ok=True)
    with throwaway_go_caches(cache_root().parent) as go_env:
        missing = link_or_build(versions, go, go_env, check_only=args.check)
    if missing:
        print(f"build-stack-programs: not built yet: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def link_or_build(versions: dict, go: str, go_env: dict[str, str], check_only: bool) -> list[str]:
    """Links every program's cached binaries, building those not cached yet (unless
    check_only); returns the programs that are neither."""
    missing = []
    for name, spec in versions.items():
        if "packages" not in spec:
            continue  # listed for its image only (Grafana)
        module_dir = PROGRAMS / name
        if not (module_dir / "go.sum").is_file():
            sys.exit(f"build-stack-programs: {module_dir}/go.sum is missing")
        out_dir = cache_root() / f"{name}-{spec['release']}-{build_key(name, spec, module_dir, go)}"
        if not all((out_dir / b).is_file() for b in spec["binaries"]):
            if check_only:
                missing.append(f"{name} {spec['release']}")
                continue
            print(f"build-stack-programs: building {name} {spec['release']} with {go}, first time only "
                  f"(cached in {out_dir})", flush=True)
            build(name, spec, module_dir, out_dir, go_env)
        else:
            print(f"build-stack-programs: {name} {spec['release']} cached in {out_dir}", flush=True)
        for binary in spec["binaries"]:
            link(out_dir / binary, binary)
        if spec.get("documents"):
            if check_only and not documents_kept(spec, out_dir):
                missing.append(f"{name} {spec['release']} documents")
                continue
            link(keep_documents(name, spec, out_dir, go_env), f"{name}-documents")
    return missing


if __name__ == "__main__":
    sys.exit(main())
