#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
# Installs the real third-party components the tests use, then checks formatting, lints,
# the library's dependency list, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Disk first: a run that fills the disk dies in the linker minutes later with a bus error.
# Measured needs (README, "Tests"): target/ takes up to 2.6 GB from clean, and the image's
# replay (node/tests/stack_image.rs) up to 3.2 GB more in the temp dir while it runs; building
# the stack's programs the first time takes up to 9.3 GB of Go caches, freed before the Rust
# build.
need_gb=7
python3 scripts/build-stack-programs.py --check >/dev/null 2>&1 || need_gb=10
mkdir -p target
free_gb=$(df --output=avail -BG target | tail -1 | tr -dc '0-9')
if [ "${free_gb:-0}" -lt "$need_gb" ]; then
  echo "test.sh: ${free_gb} GB free on the disk of $(pwd)/target; a run needs about ${need_gb} GB (README, \"Tests\")" >&2
  exit 1
fi

bash scripts/install-test-deps.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The library's public API documentation builds without a broken link: every crate a service
# gets through the facade (the programs and the test harness are not an API).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude alys-node --exclude alys-test-support \
  --no-deps --locked

# The library is what a node links: the command line, the demo node and the governance
# node (package alys-node) must not bring their dependencies into it.
programs_only='^(clap|clap_builder|clap_derive|clap_lex|humantime) '
if cargo tree -p alys-telemetry -e normal --locked --prefix none | grep -E "$programs_only"; then
  echo "test.sh: the alys-telemetry library depends on a program's crate (above); move that code to node/" >&2
  exit 1
fi

# The tests' harness serves the library's tests too: through a program's crate it would make
# every library test wait for the command line, the terminal views and the demo.
if cargo tree -p alys-test-support -e normal --locked --prefix none | grep -E '^alys-node '; then
  echo "test.sh: alys-test-support depends on the programs' crate (above); move what it needs into a crate of its own" >&2
  exit 1
fi

# Both tiers (README, "Tests"): the stack tier's test binaries need the feature `stack-tests`.
cargo test --workspace --all-targets --all-features --locked
cargo test --workspace --doc --locked
