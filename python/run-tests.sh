#!/usr/bin/env bash
# Builds the Python extension once, installs it with `pip install ./python` into a venv
# under cargo's target directory (target/py-venv), and runs the Python tests with pytest.
# Arguments go to pytest: python/run-tests.sh -k threads -x
#
# The build reuses cargo's target directory (CARGO_TARGET_DIR, default target/), so a
# second run recompiles only what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
venv="$CARGO_TARGET_DIR/py-venv"
# The build backend runs `maturin` from PATH.
export PATH="$venv/bin:$PATH"
pip_quiet=(-q --disable-pip-version-check)

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install "${pip_quiet[@]}" "maturin>=1.7,<2" "pytest>=7" "redis>=4"
# --no-build-isolation: build with the maturin just installed rather than fetching it
# again into a throwaway environment; --force-reinstall: the version number does not
# change between builds of a working tree.
"$venv/bin/pip" install "${pip_quiet[@]}" --no-build-isolation --no-deps --force-reinstall "$root/python"

# Some tests compare the package's dicts with the CLI's --json output: they run the debug
# binary, which `cargo test` builds (or ARTIFACT_STORE_BIN).
if [ -z "${ARTIFACT_STORE_BIN:-}" ] && [ ! -x "$CARGO_TARGET_DIR/debug/artifact-store" ]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" --bin artifact-store
fi

# pytest, not `python -m pytest`: the latter puts the current directory on sys.path, and
# python/artifact_store (the source, without the compiled module) would shadow the
# installed package.
cd "$root"
exec "$venv/bin/pytest" -q python/tests "$@"
