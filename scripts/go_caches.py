"""Go's build and module caches for the stack's one-off builds, removed when the builds end.

The stack's programs are built once per version and kept as binaries (build-stack-programs.py),
and the Kubernetes schemas are kept as JSON (kubernetes-schemas.py), so the gigabytes of
compiled packages and module sources behind them are never read again. Left in Go's default
caches they would stay on disk through the Rust build that follows in scripts/test.sh, which
needs that room on a small CI disk. A GOCACHE or GOMODCACHE set by the caller is used and kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def throwaway_go_caches(root: Path) -> Iterator[dict[str, str]]:
    """The environment to run `go` with: caches under root/go-scratch.<pid>, removed on exit."""
    scratch = root / f"go-scratch.{os.getpid()}"
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(scratch / "build"))
    env.setdefault("GOMODCACHE", str(scratch / "mod"))
    try:
        yield env
    finally:
        if env["GOMODCACHE"] != os.environ.get("GOMODCACHE") and Path(env["GOMODCACHE"]).exists():
            # Module files are read-only; Go's own command removes them.
            subprocess.run(["go", "clean", "-modcache"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
