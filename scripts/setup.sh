#!/usr/bin/env bash
# npm run setup: install the system packages CodeX and its tests need (only the missing ones),
# then the npm dependencies. Runs unattended (CI has no stdin). Without root and without sudo,
# it prints the exact apt-get command and goes on with npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

# What each package is for:
#   bubblewrap                      the embedded engine's sandbox
#   python3 gcc g++ default-jdk-headless ruby-full golang-go rustc   runtimes the engine finds on the host
#   nodejs bash                     javascript runtime and bash (usually present already)
#   node-typescript                 the typescript runtime's compiler, under /usr where the sandbox sees it
#   chromium                        the browser end-to-end suite (playwright-core drives /usr/bin/chromium)
#   redis-server postgresql         scale-out tests (started by the tests themselves on loopback)
#   fonts-dejavu-core               readable screenshots in the browser suite
PACKAGES=(bubblewrap python3 gcc g++ default-jdk-headless ruby golang-go rustc bash node-typescript
  chromium redis-server postgresql fonts-dejavu-core procps util-linux)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(none); fi
  if [ "${SUDO[0]:-}" = none ]; then
    echo "setup: not root and no passwordless sudo; run this, then npm run setup again:"
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  elif ! command -v apt-get >/dev/null; then
    echo "setup: no apt-get here; install these with your package manager: ${missing[*]}"
  else
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  fi
else
  echo "setup: system packages present"
fi

npm ci --no-fund --no-audit
