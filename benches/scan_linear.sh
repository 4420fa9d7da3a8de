#!/usr/bin/env bash
# The scanner's cost is linear in its input, shown with instruction counts, which do not
# depend on the load of the machine: `valgrind --tool=callgrind` counts the instructions of
# `artifact-store scan FILE` on adversarial inputs of n, 2n and 4n bytes, less those of a
# scan of an empty file (start-up and rule compilation). Linear cost gives ratios near 2
# and 4, quadratic near 4 and 16; the marginal column compares the cost per byte from 2n
# to 4n with that from n to 2n (1.0 linear, 2.0 quadratic), free of one-time costs. Each family of inputs aims at one part of the
# scanner: the keyword prefilter (dense hits, no newline so a "line" window is the whole
# input), near-miss key shapes, generic-assignment identifiers, multi-line PEM blocks,
# credential URLs, high-entropy runs.
#
# Usage: benches/scan_linear.sh [N_KIB] [FAMILY...]   (default 128 KiB, every family)
set -euo pipefail
cd "$(dirname "$0")/.."
n_kib=${1:-128}
shift || true
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/artifact-store
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

python3 - "$dir" "$n_kib" "$@" <<'PY'
import random, re, sys, glob
out, n_kib, only = sys.argv[1], int(sys.argv[2]), set(sys.argv[3:])

# Every keyword of the built-in rules, read from their definitions.
keywords = set()
for path in glob.glob("src/scan/builtin_*.rs"):
    for block in re.findall(r'&\[((?:\s*"[^"\n]*",?)+\s*)\]', open(path).read()):
        keywords.update(re.findall(r'"([^"\n]+)"', block))
keywords = sorted(k for k in keywords if 1 < len(k) < 40)

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ALNUM = B64[:62]

def fill(size, piece):
    rnd = random.Random(7)
    parts, total = [], 0
    while total < size:
        p = piece(rnd)
        parts.append(p)
        total += len(p)
    return "".join(parts)[:size]

def rand(rnd, alphabet, k):
    return "".join(rnd.choice(alphabet) for _ in range(k))

families = {
    # Every keyword, back to back, on one line: a hit every few bytes for many rules.
    "keyword-soup": lambda r: r.choice(keywords),
    # Keyword assignments with short values, a line every few hits.
    "keyword-lines": lambda r: r.choice(keywords) + "=" + rand(r, ALNUM, 6) + r.choice([" ", " ", "\n"]),
    # Shapes one character short of real keys, on one line.
    "near-miss": lambda r: r.choice([
        "AKIA" + rand(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 15),
        "ghp_" + rand(r, ALNUM, 35),
        "github_pat_" + rand(r, ALNUM, 20),
        "sk_live_" + rand(r, ALNUM, 10),
        "xoxb-" + rand(r, "0123456789", 10) + "-",
        "eyJhbGciOiJIUzI1NiJ9." + rand(r, ALNUM, 8),
        'api_key = "' + rand(r, ALNUM, 5) + '"',
        "AIza" + rand(r, ALNUM, 30),
    ]) + " ",
    # One endless identifier made of secret-ish names, never assigned.
    "ident-run": lambda r: r.choice(["token", "secret", "password", "api_key", "auth"]) + "_",
    # Long names of secret-ish words that do end in an assignment, so the regexes run.
    "long-names-assigned": lambda r: "token_secret_" * r.randint(50, 400) + "password = '" + rand(r, ALNUM, 16) + "'\n",
    # Names followed by long runs of blanks and no operator.
    "names-then-blanks": lambda r: r.choice(["token", "secret", "api_key"]) + " " * r.randint(100, 2000),
    # Real-looking keys, each a finding, on one endless line.
    "findings-one-line": lambda r: "AKIA" + rand(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) + " ",
    # Names and operators without values, or with quotes never closed.
    "open-assignments": lambda r: r.choice(["password", "token", "secret_key", "apikey"]) + r.choice(["=", ": ", " := ", '="', "='", "=>"]),
    # PEM headers whose END never comes, with base64 lines between them.
    "pem-unterminated": lambda r: r.choice([
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        rand(r, B64, 64) + "\n",
        rand(r, B64, 64) + "\n",
        "\\n-----BEGIN PRIVATE KEY-----\\n" + rand(r, B64, 64) + "\\n",
    ]),
    # Credential URLs that never reach their '@', on one line.
    "url-creds": lambda r: r.choice(["postgres://", "mysql://u:", "redis://:", "https://user:", "amqp://a:"]) + rand(r, ALNUM, 6),
    # High-entropy runs with a keyword now and then, one line.
    "entropy-run": lambda r: rand(r, B64, 200) + r.choice(["", "", "token=", "secret:", "AKIA"]),
    # Benign text: the cost of the plain pass, for comparison.
    "benign": lambda r: " ".join(r.choice(["the", "strategy", "returns", "window", "rsi", "mean", "0.5", "data"]) for _ in range(12)) + "\n",
}
for name, piece in families.items():
    if only and name not in only:
        continue
    for k in (1, 2, 4):
        with open(f"{out}/{name}.{k}", "w") as f:
            f.write(fill(k * n_kib * 1024, piece))
open(f"{out}/empty", "w").close()
PY

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --log-file="$dir/log" \
    "$bin" scan "$1" >/dev/null 2>&1 || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$dir/log"
}

base=$(count "$dir/empty")
echo "n = $n_kib KiB; instructions of a scan of an empty file: $base"
echo "Ir(x) below is the count less that of the empty file; the last column is the cost of"
echo "each byte from 2n to 4n over that from n to 2n: 1.0 when linear, 2.0 when quadratic,"
echo "whatever the one-time costs (regexes and DFA states built on a family's first hits)."
printf '%-18s %15s %15s %15s %6s %6s %9s\n' family "Ir(n)" "Ir(2n)" "Ir(4n)" 2n/n 4n/n marginal
for f in "$dir"/*.1; do
  name=$(basename "$f" .1)
  a=$(( $(count "$dir/$name.1") - base ))
  b=$(( $(count "$dir/$name.2") - base ))
  c=$(( $(count "$dir/$name.4") - base ))
  python3 -c "import sys; a,b,c=map(int,sys.argv[2:]); print(f'{sys.argv[1]:<18} {a:>15,} {b:>15,} {c:>15,} {b/a:6.2f} {c/a:6.2f} {(c-b)/(2*(b-a)):9.2f}')" "$name" "$a" "$b" "$c"
done
