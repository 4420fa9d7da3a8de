#!/usr/bin/env bash
# Cost of `allow_paths` globs in `artifact-store scan`: 20,000 small files in nested
# directories, scanned with no globs and with 40 globs that skip none of them (so every
# file is tried against every glob), median wall time of RUNS runs of each binary.
#
# Usage: benches/scan_globs_bench.sh [RUNS] [BINARY...]   (default: target/release/artifact-store)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
shift || true
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
  cargo build --release --quiet
  bins=(target/release/artifact-store)
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import os, sys
root = os.path.join(sys.argv[1], "corpus")
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
for i in range(20000):
    d = os.path.join(root, f"pkg{i % 20}", f"mod{i % 17}", f"sub{i % 13}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file_{i}.txt"), "w") as f:
        f.write(" ".join(words[(i + k) % len(words)] for k in range(30)) + "\n")
globs = []
for i in range(10):
    globs += [f"fixtures{i}/**", f"*.snap{i}", f"**/node_modules{i}/**", f"pkg*/mod?/sub{i}/x_*.md"]
with open(os.path.join(sys.argv[1], "none.toml"), "w") as f:
    f.write("[scan]\nallow_paths = []\n")
with open(os.path.join(sys.argv[1], "globs.toml"), "w") as f:
    f.write("[scan]\nallow_paths = [" + ", ".join(f'"{g}"' for g in globs) + "]\n")
PY
cd "$dir"
for bin in "${bins[@]}"; do
  bin=$(cd "$OLDPWD" && realpath "$bin")
  for config in none globs; do
    python3 - "$bin" "$config" "$runs" <<'PY'
import statistics, subprocess, sys, time
bin, config, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmd = [bin, "--config", f"{config}.toml", "scan", "--format", "json", "corpus"]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - start)
print(f"{bin:<48} {config:<6} median {statistics.median(times) * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms")
PY
  done
done
