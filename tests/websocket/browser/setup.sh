#!/usr/bin/env bash
# Sets up what the browser test needs, idempotently, inside the repository's ignored
# .browser-test folder: the official JavaScript client (@nats-io/nats-core) and esbuild from
# the npm registry, the page bundled with them, and Debian's chromium (installed with apt when
# missing, which needs root).
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=.browser-test
nats_core=3.4.0
esbuild=0.28.2

installed() { node -e "process.exit(require('./$dir/node_modules/$1/package.json').version === '$2' ? 0 : 1)" 2>/dev/null; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  else
    echo "node and npm are missing and installing them needs root" >&2
    exit 1
  fi
fi
mkdir -p "$dir"
if ! installed @nats-io/nats-core "$nats_core" || ! installed esbuild "$esbuild"; then
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
    "@nats-io/nats-core@$nats_core" "esbuild@$esbuild"
fi
cp tests/websocket/browser/page.js "$dir/page.js"
"$dir/node_modules/.bin/esbuild" "$dir/page.js" --bundle --format=esm --log-level=warning \
  --outfile="$dir/bundle.js"

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "chromium is missing and installing it needs root" >&2
    exit 1
  fi
fi
chromium --version
