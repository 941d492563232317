#!/usr/bin/env bash
# Installs the Debian packages wecom-audit needs, only those missing. Idempotent.
#   build: compiler, libcurl and OpenSSL headers for the fake Finance SDK; Pango, HarfBuzz's
#          subsetter and the Noto CJK fonts for PDF handover reports (WeasyPrint: without
#          libharfbuzz-subset0 it subsets fonts with fontTools, which stamps the time into
#          each font, so the same report gave other bytes a second later); ffmpeg to play AMR voice
#          messages in the browser; Node.js and npm (when the machine has no npm) to vendor
#          the console's front-end packages from the npm registry
#   test:  PostgreSQL (the test suite runs against it as well as SQLite); Maven, which
#          scripts/elasticsearch.py uses to fetch Elasticsearch (it needs a JDK 21+ too);
#          Chromium for the console's browser tests (Playwright drives Debian's build) and an
#          emoji font for their screenshots
set -euo pipefail

packages=(gcc make libcurl4-openssl-dev libssl-dev libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk ffmpeg)
for group in "$@"; do
  case "$group" in
    build) ;;
    test) packages+=(postgresql maven chromium fonts-noto-color-emoji) ;;
    *) echo "unknown group: $group (use: build, test)" >&2; exit 2 ;;
  esac
done

# Machines often carry a Node.js of their own (with npm inside): Debian's only when there is none.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
