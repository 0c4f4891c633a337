#!/usr/bin/env bash
# System packages the browser, stack and clock tests need: Debian's chromium, postgresql,
# redis-server, faketime (libfaketime, which shifts the clock of the no-server tests) and
# docker-compose (1.29, which validates docker-compose.yml offline; no engine is needed).
# As root they are installed; otherwise the exact command to run is printed and we fail.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)  # validates docker-compose.yml offline
[ ${#need[@]} -eq 0 ] && exit 0
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing system packages: ${need[*]}"
  bash -c "$cmd" >/tmp/matinale-apt.log 2>&1 || { tail -n 30 /tmp/matinale-apt.log; exit 1; }
  # Debian starts the packaged services; the tests run their own instances on free ports.
  for svc in postgresql redis-server; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  done
else
  echo "The browser and stack tests need: ${need[*]}. Run as root:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
