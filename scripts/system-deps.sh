#!/usr/bin/env bash
# Installs the Debian packages the integration tests and benchmarks talk to: nginx (with its
# brotli_static and njs modules), PostgreSQL, wrk, curl, wget and headless Chromium with its driver. Does nothing
# when they are already there.
set -euo pipefail

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# Static files as brotli behind nginx (WhiteNoise writes the .br files; render_nginx loads it).
[ -f /usr/lib/nginx/modules/ngx_http_brotli_static_module.so ] || need+=(libnginx-mod-http-brotli-static)
# njs: nginx checks signed media URLs itself in delivery mode nginx (deploy/signedmedia.js).
[ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || need+=(libnginx-mod-http-js)
# tests/browser.py drives exactly these two paths, the ones Debian's packages install.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v wrk >/dev/null || need+=(wrk)
# The API token tests resume downloads with the real tools (tests/test_tokens_live.py).
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# nginx.conf verifies the bucket's TLS certificate against this bundle (nginx mode over S3).
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

[ ${#need[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
