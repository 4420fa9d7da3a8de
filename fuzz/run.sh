#!/usr/bin/env bash
# Runs every fuzz target in turn for SECONDS each (default 240), one at a time, with its
# seeds and dictionary; the corpus grows in fuzz/corpus/<target>, crashes land in
# fuzz/artifacts/<target>. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags. See
# docs/fuzzing.md.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-240}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(envelope ids where_expr metadata_merge scan)
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  max_len=4096
  [ "$target" = scan ] && max_len=16384
  echo "== $target: ${seconds}s"
  cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -max_len="$max_len" \
    -dict="dicts/$target.dict" -print_final_stats=1 2>&1 | tail -n 25
done
