#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
# Installs the real third-party components the tests use, then checks formatting, lints
# and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
cargo test --doc --locked
