#!/usr/bin/env python3
"""JSON schemas that kubeconform validates deploy/kubernetes against, offline.

    scripts/kubernetes-schemas.py core     # the Kubernetes API, from the OpenAPI spec of the
                                           # pinned k8s.io/kubernetes module, into the cache
                                           # (~/.cache/alys-telemetry/kubernetes-schemas/<release>),
                                           # linked at target/stack-programs/kubernetes-schemas
    scripts/kubernetes-schemas.py crds     # the Prometheus Operator's CRDs (ServiceMonitor,
                                           # PodMonitor, PrometheusRule) of the pinned module,
                                           # into deploy/kubernetes/schemas/ (committed; needs
                                           # PyYAML: run by whoever moves the pin)

Both are strict: every object with declared properties refuses undeclared ones, so a
misspelt field fails validation instead of being ignored. Versions: stack-programs/versions.toml.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

from go_caches import downloaded, throwaway_go_caches

REPO = Path(__file__).resolve().parent.parent
PINS = tomllib.loads((REPO / "stack-programs" / "versions.toml").read_text())
CRDS = ["servicemonitors", "podmonitors", "prometheusrules"]


def module_dir(module: str, version: str, go_env: dict[str, str]) -> Path:
    return downloaded(module, version, {**go_env, "GOFLAGS": "-mod=mod"}, REPO / "stack-programs" / "otelcol",
                      "kubernetes-schemas")


def strict(schema):
    """Objects with declared properties refuse others (kubeconform -strict semantics), unless
    the schema says unknown fields are kept; IntOrString takes both types. Walks the schema's
    structure (properties, items, combinators), never a properties map as if it were a schema:
    a property may well be called `format` or `oneOf`."""
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string") is True:
        schema.pop("type", None)
        schema.pop("format", None)
        schema["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [strict(s) for s in schema[key]]
    return schema


def relocate_refs(schema):
    if isinstance(schema, dict):
        return {k: ("_definitions.json" + v
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/definitions/")
                    else relocate_refs(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [relocate_refs(v) for v in schema]
    return schema


def core() -> None:
    pin = PINS["kubernetes"]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    out = cache / "alys-telemetry" / "kubernetes-schemas" / pin["release"]
    link = REPO / "target" / "stack-programs" / "kubernetes-schemas"
    if not (out / "_definitions.json").is_file():
        print(f"kubernetes-schemas: Kubernetes {pin['release']} schemas, first time only ({out})", flush=True)
        with throwaway_go_caches(cache / "alys-telemetry") as go_env:
            source = module_dir(pin["module"], pin["module_version"], go_env)
            spec = json.loads((source / pin["openapi"]).read_text())
        definitions = {name: strict(d) for name, d in relocate_refs(spec["definitions"]).items()}
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "_definitions.json").write_text(json.dumps({"definitions": definitions}))
        for name, schema in spec["definitions"].items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                group = gvk["group"].split(".")[0]
                suffix = f"-{group}-{gvk['version']}" if group else f"-{gvk['version']}"
                (tmp / f"{gvk['kind'].lower()}{suffix}.json").write_text(
                    json.dumps({"$ref": f"_definitions.json#/definitions/{name}"}))
        if out.exists():
            import shutil
            shutil.rmtree(out)
        tmp.rename(out)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(out)
    print(f"kubernetes-schemas: Kubernetes {pin['release']} schemas in {out}", flush=True)


def crds() -> None:
    import yaml  # a maintainer's tool: the committed schemas are what the tests read

    pin = PINS["prometheus-operator"]
    source = module_dir(pin["module"], pin["module_version"], dict(os.environ)) / pin["crds"]
    for plural in CRDS:
        crd = yaml.safe_load((source / f"monitoring.coreos.com_{plural}.yaml").read_text())
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["$comment"] = (f"{kind} {group}/{version['name']} from {pin['module']} "
                                  f"{pin['module_version']} ({pin['crds']}), made strict by "
                                  "scripts/kubernetes-schemas.py crds")
            target = REPO / "deploy" / "kubernetes" / "schemas" / group / f"{kind.lower()}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(f"kubernetes-schemas: {target.relative_to(REPO)}")


if __name__ == "__main__":
    what = sys.argv[1:] or ["core"]
    for w in what:
        {"core": core, "crds": crds}.get(w, lambda: sys.exit(__doc__))()
