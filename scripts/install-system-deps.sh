#!/usr/bin/env bash
# Installs the system packages Framewire's tests need, from Debian's apt. Idempotent: when every needed
# command is already on PATH it does nothing, so CI and developers can run it before every `npm test`.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib/apt-install.sh
source scripts/lib/apt-install.sh

# command → Debian package that provides it.
declare -A PACKAGE_FOR=(
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  # `framewire watch --display` shows the stream in an ffplay window; Debian's ffmpeg package ships it
  # (`dpkg -S /usr/bin/ffplay` → ffmpeg), other distributions may package it apart.
  [ffplay]=ffmpeg
  # The browser tests drive Debian's Chromium through playwright-core (never a downloaded browser).
  [chromium]=chromium
  # The Firefox tests drive Debian's Firefox ESR through puppeteer-core over WebDriver BiDi (no download).
  [firefox-esr]=firefox-esr
  # Firefox's Web Audio (and so its microphone capture) runs only with an audio output: the Firefox
  # sending tests give it a private null-sink PulseAudio (test/helpers/null-sound.ts).
  [pulseaudio]=pulseaudio
  # `publish --screen` is tested on a virtual X display: the test starts its own Xvfb and draws a moving
  # test pattern on it with ffplay (above), which publish captures through ffmpeg's x11grab.
  [Xvfb]=xvfb
  # The cluster tests start their own NATS server (JetStream on), the engine `serve --cluster` joins.
  [nats-server]=nats-server
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

# De-duplicate (ffmpeg provides ffmpeg, ffprobe and ffplay) and sort for a stable log line.
mapfile -t packages < <(printf '%s\n' "${missing_packages[@]}" | sort -u)

apt_install install-system-deps "${packages[@]}"

# Fail here, not in the tests, if a package did not provide the command we needed it for.
for cmd in "${!PACKAGE_FOR[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || {
    echo "install-system-deps: $cmd still missing after installing ${PACKAGE_FOR[$cmd]}" >&2
    exit 1
  }
done
echo "install-system-deps: done"
