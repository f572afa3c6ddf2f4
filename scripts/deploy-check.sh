#!/usr/bin/env bash
# Offline checks of deploy/: every kustomize overlay builds, validates strictly against the
# Kubernetes schemas and follows the production rules (deploy/check.py). Installs the checker's
# Python packages into a private virtualenv on first use (PyPI is the only network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LAPOR_VENV:-$HOME/.cache/lapor/venv}"
if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'kubernetes-validate==1.37.0' 'PyYAML==6.0.4'
fi
command -v kubectl >/dev/null || { echo "deploy check needs kubectl (its built-in kustomize)" >&2; exit 1; }
PATH="$VENV/bin:$PATH" "$VENV/bin/python" deploy/check.py "$@"
