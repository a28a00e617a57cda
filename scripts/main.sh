#!/usr/bin/env bash
# The main job: set up, then run the pipeline on the real samples in ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fieldguide demo "$@"
