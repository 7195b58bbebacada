#!/usr/bin/env bash
# Installs what `npm run bench` compares against besides npm packages: nginx with the RTMP module, from
# Debian's apt (nginx-light and libnginx-mod-rtmp). Idempotent: when /usr/sbin/nginx and the RTMP module
# are present it does nothing. node-media-server comes from npm (a devDependency); ffmpeg, which makes the
# bench clip, from scripts/install-system-deps.sh.
set -euo pipefail

# shellcheck source=lib/apt-install.sh
source "$(dirname "$0")/lib/apt-install.sh"

NGINX=/usr/sbin/nginx
# Debian puts dynamic modules here; the package also drops a load_module line in /etc/nginx/modules-enabled.
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

packages=()
if [ -x "$NGINX" ]; then
  echo "install-bench-deps: nginx found at $NGINX"
else
  echo "install-bench-deps: nginx missing (package nginx-light)"
  packages+=(nginx-light)
fi
if [ -f "$RTMP_MODULE" ]; then
  echo "install-bench-deps: RTMP module found at $RTMP_MODULE"
else
  echo "install-bench-deps: nginx RTMP module missing (package libnginx-mod-rtmp)"
  packages+=(libnginx-mod-rtmp)
fi

if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-bench-deps: nothing to install"
  exit 0
fi

# The package's own nginx service is not used: the bench starts nginx with a config of its own.
apt_install install-bench-deps "${packages[@]}"

if [ ! -x "$NGINX" ] || [ ! -f "$RTMP_MODULE" ]; then
  echo "install-bench-deps: nginx or its RTMP module still missing after installing ${packages[*]}" >&2
  exit 1
fi
echo "install-bench-deps: done"
