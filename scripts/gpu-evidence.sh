#!/usr/bin/env bash
# Turn a short GPU window into a record: lossbench doctor --losses, ResNet-32 speed, and LDAM-DRW against
# CE on CIFAR-10-LT for 200 epochs, within --budget seconds (default 480), into --out (default
# evidence/DATE-DEVICE/). `scripts/gpu-evidence.sh --cpu --tiny` rehearses it on a CPU in about a minute.
# Options and steps: scripts/gpu_evidence.py. PYTHON picks the interpreter (default: .venv's, else python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x $here/../.venv/bin/python ]]; then python=$here/../.venv/bin/python; else python=python3; fi
fi
exec "$python" "$here/gpu_evidence.py" "$@"
