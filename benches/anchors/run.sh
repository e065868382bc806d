#!/usr/bin/env bash
# Runs mmi on the anchors' models with the anchors' data (4 chains, 1000 + 1000) and prints one JSON
# line per model like anchors.py: sampling seconds, minimum bulk ESS over all latents and laws, ESS/s.
# Usage: bash benches/anchors/run.sh [PYTHON]   (PYTHON runs ../shared/anchors/gen_data.py; numpy needed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
anchors="$root/../shared/anchors"
py=${1:-python3}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
tmp=$(mktemp -d)
for m in eight_schools logistic ocean; do
  "$py" "$anchors/gen_data.py" "$m" "$tmp/$m.json"
  "$root/target/release/mmi" sample "$here/$m.mmi" --data "$tmp/$m.json" --seed 1 --quiet \
    --output "$tmp/$m" > /dev/null 2> "$tmp/$m.log" || { cat "$tmp/$m.log"; exit 1; }
  "$py" - "$tmp/$m/summary.json" "$m" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
q = {k: v for k, v in s["quantities"].items() if k != "lp__"}
ess = min(v["ess_bulk"] for v in q.values())
rhat = max(v["r_hat"] for v in q.values())
t = s["sampling_seconds"]
print(json.dumps({"tool": "mmi", "model": sys.argv[2], "sample_s": round(t, 3), "ess_bulk_min": round(ess, 1),
                  "ess_per_s": round(ess / t, 1), "rhat_max": round(rhat, 4), "divergent": s["divergences"]}))
PY
done
