#!/usr/bin/env bash
# Install a wheelhouse (scripts/wheelhouse.py, `make wheelhouse`) on a machine without network that
# already has torch, lightning and torchmetrics: no index, no dependency resolution (the wheelhouse
# holds exactly what is missing), into a folder of its own that leaves the system's packages alone.
#
#   scripts/offline-install.sh WHEELHOUSE [TARGET]     (TARGET default: ./.lossbench-site)
#   eval "$(scripts/offline-install.sh wheelhouse/ | tail -n 1)"; python3 -m lossbench doctor
#
# The last line printed is the PYTHONPATH line to evaluate.
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 || ! -d $1 ]]; then
    echo "usage: scripts/offline-install.sh WHEELHOUSE [TARGET]  (WHEELHOUSE: a folder of .whl files from make wheelhouse)" >&2
    exit 2
fi
wheelhouse=$1
target=$(realpath -m "${2:-.lossbench-site}")
shopt -s nullglob
wheels=("$wheelhouse"/*.whl)
if [[ ${#wheels[@]} -eq 0 ]]; then
    echo "offline-install: no .whl files in $wheelhouse; run make wheelhouse (on a machine with network) first" >&2
    exit 2
fi
python=${PYTHON:-python3}
"$python" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$target" "${wheels[@]}"
echo "offline-install: ${#wheels[@]} wheels into $target; run lossbench as: python3 -m lossbench ..." >&2
echo "export PYTHONPATH=$target\${PYTHONPATH:+:\$PYTHONPATH}"
