#!/usr/bin/env bash
# Makes sure what the test suite needs is installed and running; safe to run again and again.
# Today the suite needs Node.js >= 20.19 only: the memory tier and the codec run in-process.
set -euo pipefail
need="20.19.0"
have="$(node -p 'process.versions.node' 2>/dev/null || echo 0)"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  echo "tiercache needs Node.js >= $need, found $have" >&2
  exit 1
fi
echo "ensure-services: node $have ok"
