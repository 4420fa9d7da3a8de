#!/usr/bin/env bash
# Throughput of `artifact-store scan` as a whole process on 24 MB of benign text, side by
# side in one run with the keyword-only ripgrep pass any keyword-gated scanner pays.
#
# Usage: benches/scan_bench.sh [SIZE_MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-24}
runs=${2:-15}
for tool in rg hyperfine; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq ripgrep hyperfine; }
done
cargo build --release --quiet
shared=${SHARED_DIR:-../shared}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$shared/corpus/gen_benign.py" --out "$dir/corpus" --size-mb "$size" --files 24 >/dev/null
bytes=$(du -sb "$dir/corpus" | cut -f1)
echo "corpus: $(find "$dir/corpus" -type f | wc -l) files, $bytes bytes"

findings=$(target/release/artifact-store scan --format json "$dir/corpus" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))' || true)
echo "findings on the benign corpus: $findings (expected 0)"

pattern='(?i)(key|token|secret|passw|auth|akia|ghp_|xox|sk_|sk-|-----begin)'
hyperfine --warmup 2 --runs "$runs" --style basic --export-json "$dir/h.json" \
  -n artifact-store "target/release/artifact-store scan --format json $dir/corpus" \
  -n 'rg -c keywords' "rg -c '$pattern' $dir/corpus || true" >/dev/null 2>&1 || true
python3 - "$dir/h.json" "$bytes" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
size = int(sys.argv[2])
ours, rg = data[0], data[1]
for r in data:
    print(f"{r['command']:<16} median {r['median']*1000:7.1f} ms  mean {r['mean']*1000:7.1f} ms  {size / r['median'] / 1e6:7.0f} MB/s")
print(f"ratio artifact-store / rg (median): {ours['median'] / rg['median']:.2f}  (target <= 2.0)")
PY
