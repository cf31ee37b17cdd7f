#!/usr/bin/env bash
# The wheel works anywhere (issue 16 §2): build it from a copy of the checkout, install it with its
# dependencies into a fresh virtual environment outside the checkout, then from /tmp run the
# bundled imaging-guided CRT review (`trialsynth run --out …`), `python -m trialsynth --version` and
# the Python API on the BCG trials (checked against metafor: rma(yi, vi, method="REML") on
# escalc("RR", …) of dat.bcg gives −0.7145323421581397, tests/fixtures/metafor/cases.json,
# case bcg_RR_REML_z). Takes a minute or two (the dependencies come from pip's cache or PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/trialsynth-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A copy, so that the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir "$work/src"
tar --exclude=./.venv --exclude=./out --exclude=./docs/_build --exclude=./build --exclude=./dist \
  --exclude='*.egg-info' --exclude=__pycache__ --exclude=./.git -cf - . | tar -xf - -C "$work/src"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/trialsynth-*.whl)
echo "wheel-check: built $(basename "$wheel")"

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel"

cd /tmp
"$work/venv/bin/python" -m trialsynth --version
"$work/venv/bin/trialsynth" run --out "$work/out" --no-pdf
test -s "$work/out/results.json" && test -s "$work/out/report.html"
if grep -q "$work/src" "$work/out/results.json"; then
  echo "wheel-check: results.json names the build folder" >&2
  exit 1
fi
"$work/venv/bin/python" - "$work/venv" <<'PY'
import math
import sys

import pandas as pd

import trialsynth as ts

assert ts.__file__.startswith(sys.argv[1]), ts.__file__  # the installed package, not the checkout
df = pd.DataFrame({
    "study": [f"trial {i + 1}" for i in range(13)],
    "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "tn": [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
    "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "cn": [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854],
})
es = ts.effects(df, measure="RR", ai="tpos", n1i="tn", ci="cpos", n2i="cn")
res = ts.meta_analysis(es, method="REML")
assert math.isclose(res.estimate, -0.7145323421581397, rel_tol=1e-6), res.estimate
assert res.summary().shape[0] == 1 and res.forest() is not None
print("wheel-check: the API from the installed wheel agrees with metafor:", repr(res).splitlines()[-1])
PY
echo "wheel-check: passed"
