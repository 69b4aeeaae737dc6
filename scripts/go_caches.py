"""Go's build and module caches for the stack's one-off builds, removed when the builds end,
and the one way the scripts fetch a module into them.

The stack's programs are built once per version and kept as binaries (build-stack-programs.py),
and the Kubernetes schemas are kept as JSON (kubernetes-schemas.py), so the gigabytes of
compiled packages and module sources behind them are never read again. Left in Go's default
caches they would stay on disk through the Rust build that follows in scripts/test.sh, which
needs that room on a small CI disk. A GOCACHE or GOMODCACHE set by the caller is used and kept.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def throwaway_go_caches(root: Path) -> Iterator[dict[str, str]]:
    """The environment to run `go` with: caches under root/go-scratch.<pid>, removed on exit."""
    scratch = root / f"go-scratch.{os.getpid()}"
    own_modcache = "GOMODCACHE" not in os.environ
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(scratch / "build"))
    env.setdefault("GOMODCACHE", str(scratch / "mod"))
    try:
        yield env
    finally:
        if own_modcache and Path(env["GOMODCACHE"]).exists():
            # Module files are read-only; Go's own command removes them.
            subprocess.run(["go", "clean", "-modcache"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def downloaded(module: str, version: str, env: dict[str, str], cwd: Path, who: str) -> Path:
    """The folder of module@version in env's module cache, downloaded if it is not there yet;
    exits naming `who` (the calling script) and the module when Go cannot fetch it."""
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                         cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{who}: go mod download {module}@{version} failed: {out.stderr}{out.stdout}")
    return Path(json.loads(out.stdout)["Dir"])
