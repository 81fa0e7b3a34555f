#!/bin/sh
# The BullMQ tests run on a real redis-server (Debian's package). On a fresh machine of the kind
# the tests run on (root, Debian, apt reachable) this installs it when it is missing; when it still
# cannot be found the test run fails here, it never skips those tests.
set -eu
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is missing; installing Debian's redis-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends redis-server >&2
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is not installed and could not be installed (needs root and apt-get); install it (apt-get install redis-server) and run the tests again" >&2
  exit 1
fi
