#!/usr/bin/env bash
# Installs the Debian packages wecom-audit needs, only those missing. Idempotent.
#   build: compiler, libcurl and OpenSSL headers for the fake Finance SDK
#   test:  PostgreSQL (the test suite runs against it as well as SQLite)
set -euo pipefail

packages=(gcc make libcurl4-openssl-dev libssl-dev)
for group in "$@"; do
  case "$group" in
    build) ;;
    test) packages+=(postgresql) ;;
    *) echo "unknown group: $group (use: build, test)" >&2; exit 2 ;;
  esac
done

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
