#!/usr/bin/env bash
# System packages audiolab uses beyond PyPI. Installs them when it can (root + apt), otherwise
# says exactly what is missing and why it matters. Never fails the build for an optional one.
set -u
need=()
# Real-browser tests (Chromium, from Debian; never a downloaded browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A font for it, or the screenshots the browser tests save show boxes instead of text.
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
  need+=(fonts-dejavu-core)
fi
# The reverse proxy of the multi-replica deployment (deploy/nginx/) and of its test.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -eq 0 ]; then
  echo "==> System packages: all present"
  exit 0
fi
echo "==> System packages missing: ${need[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> Installing with apt-get: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") \
    >/tmp/audiolab-apt.log 2>&1 \
    && echo "==> Installed: ${need[*]}" \
    || echo "!! apt-get could not install ${need[*]} (see /tmp/audiolab-apt.log); the tests that need them are skipped with a reason."
else
  echo "!! Not root or no apt-get: install ${need[*]} yourself (sudo apt-get install ${need[*]})."
  echo "   Without chromium the real-browser tests are skipped, without nginx the replica test; everything else works."
fi
exit 0
