#!/usr/bin/env bash
# Debian packages the test suite drives (CI runs this; a developer as root may too):
#   chromium + chromium-driver  the browser tests of `trdpath serve` (Selenium drives Debian's own browser;
#                               nothing is downloaded from anywhere else)
# Idempotent: does nothing when the binaries are already there. Needs root (apt-get).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then
    echo "install-system: chromium and chromedriver present" >&2
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "install-system: ${need[*]} missing; run as root: apt-get install -y ${need[*]}" >&2
    exit 0
fi
echo "install-system: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
