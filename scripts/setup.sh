#!/bin/sh
# Idempotent set-up, run by `npm test`, `npm run demo` and `npm run lab`:
# install npm packages from the lockfile, compile TypeScript, build the native addon,
# each only when missing or stale.
set -e
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
stale=$(find daemon protocols platform scripts test -name '*.ts' -newer dist/.built 2>/dev/null | head -1 || true)
if [ ! -f dist/.built ] || [ -n "$stale" ] || [ tsconfig.json -nt dist/.built ]; then
  echo "setup: tsc" >&2
  npx tsc -p tsconfig.json
  touch dist/.built
fi
if [ -f platform/native/binding.gyp ]; then
  stale=$(find platform/native/src platform/native/binding.gyp -newer platform/native/build/Release/dmvpn_native.node 2>/dev/null | head -1 || true)
  if [ ! -f platform/native/build/Release/dmvpn_native.node ] || [ -n "$stale" ]; then
    echo "setup: native addon" >&2
    npx node-gyp rebuild --directory=platform/native --nodedir=/usr >&2
  fi
fi
