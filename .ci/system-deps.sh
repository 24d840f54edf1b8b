#!/usr/bin/env bash
# Debian packages the course uses: the real Fashion-MNIST (offline) and Chromium
# (the browser test of the rendered book). Installs what is missing when it can
# (root or passwordless sudo on a Debian/Ubuntu machine); otherwise says what to run.
set -uo pipefail
want=()
[ -d /usr/share/datasets/fashion-mnist ] || want+=(dataset-fashion-mnist)
[ "${1:-}" = "--data-only" ] || command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no apt-get here; install ${want[*]} yourself, or set CNNCOURSE_DATA (see README)."
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
  echo "note: not root; run: sudo apt-get install ${want[*]}"
  exit 0
fi
echo "==> apt-get install ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq && $sudo apt-get install -y -qq "${want[@]}" >/dev/null
