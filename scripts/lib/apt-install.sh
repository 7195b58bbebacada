# Sourced by the install scripts: apt_install TAG PACKAGE... installs Debian packages with apt, as root or
# through sudo, and says what it runs. TAG prefixes every line so the log says which script spoke.
apt_install() {
  local tag=$1
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$tag: apt-get not found; install these packages with your system's package manager: $*" >&2
    return 1
  fi
  local sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo_cmd=(sudo)
    else
      echo "$tag: not root and sudo not found; run as root: apt-get install $*" >&2
      return 1
    fi
  fi
  echo "$tag: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get update"
  "${sudo_cmd[@]}" apt-get update
  echo "$tag: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get install -y --no-install-recommends $*"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}
