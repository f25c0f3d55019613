#!/usr/bin/env bash
# Install Debian's chromium for the report tests (headless screenshot, console and network checks) when it
# is missing; they fail, not skip, when CI=true and it is absent. Sourced by .ci/run.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
