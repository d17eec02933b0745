#!/usr/bin/env bash
# Set up fullbars on a Debian 12 machine: system packages, a virtualenv in .venv, the package.
# Idempotent; safe to run again. Needs root or sudo for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libyang2-dev libyang2-tools gcc python3-dev python3-venv pkg-config libxml2-dev libxslt1-dev
              netconfd openssh-server openssh-client iproute2 passwd iputils-ping iperf3 dnsmasq-base udhcpc
              procps postgresql yangcli chromium chromium-driver)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# constraints.txt pins every dependency to the versions the tests last passed with (pip freeze of
# such a .venv, without fullbars itself); pyproject.toml says what fullbars needs at least.
echo "setup: installing fullbars and its dependencies into .venv"
.venv/bin/python -m pip install -q -c constraints.txt -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import libyang, orchestrator" || { echo "setup: the install failed" >&2; exit 1; }
echo "setup: done. Run .venv/bin/fullbars --help"
