#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine that has only the .NET SDK:
# installs what the tests need from Debian, then builds and runs every test project in Release.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh
# The Linux guest the boot tests use (Debian's i386 kernel and busybox, a SYSLINUX disk): fetched and built once,
# cached in guest/ (git-ignored).
tools/fetch-guest.sh
tools/make-guest-disk.sh
# A test that hangs fails the run after ten minutes instead of holding CI until it is killed.
exec dotnet test JitVm.sln -c Release --nologo --blame-hang-timeout 10m --blame-hang-dump-type none "$@"
