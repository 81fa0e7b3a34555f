#!/bin/sh
# The BullMQ tests run on a real redis-server (Debian's package). On a fresh machine of the kind
# the tests run on (root, Debian, apt reachable) this installs it when it is missing; when it still
# cannot be found the test run fails here, it never skips those tests. When apt fails, what it
# said is shown with the step that failed (not only the exit status).
set -eu
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
# Runs an apt-get step with its output kept; on failure shows that output, says which step failed
# and exits (under `set -e` alone the run ended on apt's exit status without saying why).
apt_step() {
  status=0
  said=$("$@" 2>&1) || status=$?
  if [ "$status" != 0 ]; then
    echo "ensure-redis: \`$*\` failed (exit $status); apt-get said:" >&2
    printf '%s\n' "$said" | sed 's/^/  /' >&2
    echo "ensure-redis: redis-server is not installed; fix the above or install it (apt-get install redis-server), then run the tests again" >&2
    exit 1
  fi
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is missing; installing Debian's redis-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_step apt-get update
  apt_step apt-get install -y --no-install-recommends redis-server
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is not installed and could not be installed (needs root and apt-get); install it (apt-get install redis-server) and run the tests again" >&2
  exit 1
fi
