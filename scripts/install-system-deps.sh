#!/usr/bin/env bash
# Installs the system packages Framewire's tests need, from Debian's apt. Idempotent: when every needed
# command is already on PATH it does nothing, so CI and developers can run it before every `npm test`.
set -euo pipefail

cd "$(dirname "$0")/.."

# command → Debian package that provides it.
declare -A PACKAGE_FOR=(
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  # The browser tests drive Debian's Chromium through playwright-core (never a downloaded browser).
  [chromium]=chromium
)

missing_packages=()
for cmd in "${!PACKAGE_FOR[@]}"; do
  if command -v "$cmd" >/dev/null 2>&1; then
    echo "install-system-deps: $cmd found at $(command -v "$cmd")"
  else
    echo "install-system-deps: $cmd missing (package ${PACKAGE_FOR[$cmd]})"
    missing_packages+=("${PACKAGE_FOR[$cmd]}")
  fi
done

if [ "${#missing_packages[@]}" -eq 0 ]; then
  echo "install-system-deps: nothing to install"
  exit 0
fi

# De-duplicate (ffmpeg provides both ffmpeg and ffprobe) and sort for a stable log line.
mapfile -t packages < <(printf '%s\n' "${missing_packages[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: apt-get not found; install these packages with your system's package manager: ${packages[*]}" >&2
  exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-system-deps: not root and sudo not found; run as root: apt-get install ${packages[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get update"
"${sudo_cmd[@]}" apt-get update
echo "install-system-deps: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get install -y --no-install-recommends ${packages[*]}"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

# Fail here, not in the tests, if a package did not provide the command we needed it for.
for cmd in "${!PACKAGE_FOR[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || {
    echo "install-system-deps: $cmd still missing after installing ${PACKAGE_FOR[$cmd]}" >&2
    exit 1
  }
done
echo "install-system-deps: done"
