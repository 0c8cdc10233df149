#!/usr/bin/env bash
# Tests the Debian package on this machine, for real: builds the .deb with cargo-deb (from the
# dev-profile binary, so CI compiles one profile only), installs it with dpkg, checks where the
# files landed, starts the unit's ExecStart command line as the natrix user (or the unit itself
# where systemd is PID 1), makes a pub/sub and request/reply round trip with the official
# Python client (nats-py), stops the server by its PID, then removes and purges the package and
# checks what each step leaves behind.
#
# Needs root (dpkg). Idempotent: every run ends with the package purged, and a package left
# installed by an interrupted run is simply upgraded over. Run from anywhere:
#   sudo bash deploy/test-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
NATS_PY_VERSION=2.16.0
UNIT=/lib/systemd/system/natrix.service

step() { printf '\n--> %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
expect_path() { [ -e "$1" ] || fail "$1 is missing"; }
expect_no_path() { [ ! -e "$1" ] || fail "$1 is still there"; }

[ "$(id -u)" = 0 ] || fail "run as root: dpkg installs the package on this machine"

server_pid=""
work_dir="$(mktemp -d)"
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT
# The natrix user reads the configs this script writes here.
chmod 0755 "$work_dir"

step "tools: cargo-deb $CARGO_DEB_VERSION, nats-py $NATS_PY_VERSION"
if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
cargo deb --version
# nats-py goes into the repository's virtual environment (.ci/test.sh shares its own through
# NATRIX_VENV), never into the system Python.
venv="${NATRIX_VENV:-$PWD/.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
python="$venv/bin/python"
if ! "$python" -c 'import nats' 2>/dev/null; then
  "$python" -m pip install --quiet --disable-pip-version-check "nats-py==$NATS_PY_VERSION"
fi

step "build the package (dev profile, the one the tests use)"
# CI sets NATRIX_DEB_PREBUILT=1 right after `cargo test --workspace`, which built
# target/debug/natrix: the package then holds the very binary the tests ran against, and
# nothing is compiled again (a separate `cargo build -p natrix` would resolve features
# without the dev-dependencies and rebuild part of the tree).
if [ "${NATRIX_DEB_PREBUILT:-0}" != 1 ]; then
  cargo build -p natrix
fi
# cargo-deb warns that the dev profile is meant for development; this package is one.
deb="$(cargo deb -p natrix --profile dev --no-build --fast 2>"$work_dir/cargo-deb.log" | tail -n 1)" ||
  { cat "$work_dir/cargo-deb.log" >&2; fail "cargo deb failed"; }
expect_path "$deb"
echo "$deb"
dpkg-deb --field "$deb" Package Version Architecture Depends
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | tee "$work_dir/conffiles"
grep -qx /etc/natrix/natrix.conf "$work_dir/conffiles" || fail "natrix.conf is not a conffile"

step "install: dpkg -i"
dpkg -i "$deb"
dpkg -s natrix | grep -qx 'Status: install ok installed' || fail "natrix is not installed"

step "files: dpkg -L natrix"
dpkg -L natrix | tee "$work_dir/files"
for path in /usr/bin/natrix "$UNIT" /etc/natrix/natrix.conf \
  /etc/natrix/profiles/2-cores.conf /etc/natrix/profiles/8-cores-smt.conf \
  /usr/share/doc/natrix/README.md; do
  grep -qx "$path" "$work_dir/files" || fail "the package does not list $path"
  expect_path "$path"
done
getent passwd natrix >/dev/null || fail "postinst did not create the natrix user"
[ "$(stat -c '%U:%G %a' /var/lib/natrix)" = "natrix:natrix 750" ] ||
  fail "/var/lib/natrix: $(stat -c '%U:%G %a' /var/lib/natrix)"
[ "$(stat -c '%U:%G %a' /etc/natrix/natrix.conf)" = "root:natrix 640" ] ||
  fail "/etc/natrix/natrix.conf: $(stat -c '%U:%G %a' /etc/natrix/natrix.conf)"
/usr/bin/natrix --version

as_natrix() { setpriv --reuid=natrix --regid=natrix --init-groups -- "$@"; }

step "config: the installed file and every profile pass natrix -t"
as_natrix /usr/bin/natrix -t -c /etc/natrix/natrix.conf
# The include the default config shows, uncommented, with each profile in turn. Includes are
# relative to the including file (as in Go), so the copy sits beside a link to the profiles.
ln -s /etc/natrix/profiles "$work_dir/profiles"
for profile in /etc/natrix/profiles/*.conf; do
  name="profiles/$(basename "$profile")"
  sed "s|^#include \"profiles/8-cores-no-smt.conf\"|include \"$name\"|" \
    /etc/natrix/natrix.conf >"$work_dir/with-profile.conf"
  grep -q "^include \"$name\"" "$work_dir/with-profile.conf" ||
    fail "natrix.conf no longer shows the profile include this test uncomments"
  as_natrix /usr/bin/natrix -t -c "$work_dir/with-profile.conf"
done
if command -v systemd-analyze >/dev/null; then
  # Offline checks of the unit: syntax, and that its system call filter keeps io_uring.
  systemd-analyze verify "$UNIT"
  # The calls of a set, with the sets it names (@system-service names @aio, ...) expanded.
  syscall_set() {
    local name
    systemd-analyze syscall-filter "$1" | awk 'NR > 1 && $1 !~ /^#/ {print $1}' |
      while read -r name; do
        case "$name" in
          @*) syscall_set "$name" ;;
          *) echo "$name" ;;
        esac
      done
  }
  syscall_set @system-service | sort -u >"$work_dir/system-service"
  for call in io_uring_setup io_uring_enter io_uring_register; do
    if grep -qx "$call" "$work_dir/system-service"; then
      echo "@system-service allows $call"
    else
      echo "note: this systemd's @system-service lacks $call; the unit allows it by name"
    fi
    grep -q "^SystemCallFilter=.*\b$call\b" "$UNIT" || fail "the unit does not allow $call"
  done
fi

step "run: the unit's command line, connect a client, stop by PID"
if [ -d /run/systemd/system ]; then
  # systemd is the init here: run the real unit (postinst may have started it already).
  systemctl start natrix
  systemctl is-active --quiet natrix || fail "natrix.service is not active"
  server_pid="$(systemctl show --property MainPID --value natrix)"
  port=4222
  ready() { journalctl -u natrix -b --no-pager | grep -q 'Server is ready'; }
  show_log() { journalctl -u natrix -b --no-pager | tail -n 20; }
else
  echo "PID 1 is $(cat /proc/1/comm), not systemd: running the unit's ExecStart directly"
  read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' "$UNIT")"
  [ "${exec_start[0]}" = /usr/bin/natrix ] || fail "unexpected ExecStart: ${exec_start[*]}"
  nofile="$(sed -n 's/^LimitNOFILE=//p' "$UNIT")"
  # The unit's port, unless something on this machine already listens there (parallel test
  # runs): then a free one, given as -p after the unit's arguments (flags override the file).
  port=4222
  if ! python3 -c 'import socket; socket.create_server(("0.0.0.0", 4222)).close()' 2>/dev/null; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    exec_start+=(-p "$port")
    echo "port 4222 is taken on this machine; using $port"
  fi
  log="$work_dir/natrix.log"
  (
    # The unit's limits and working directory, then the unit's user.
    # Raising a hard limit needs CAP_SYS_RESOURCE, which a sandbox may withhold: then the
    # hard limit it allows, and a note.
    ulimit -n "$nofile" 2>/dev/null || {
      ulimit -n "$(ulimit -Hn)"
      echo "note: open files limited to $(ulimit -n) here (the unit asks for $nofile)"
    }
    ulimit -l unlimited 2>/dev/null || {
      ulimit -l "$(ulimit -Hl)"
      echo "note: locked memory limited to $(ulimit -l) KiB here (the unit asks for unlimited)"
    }
    cd /var/lib/natrix
    exec setpriv --reuid=natrix --regid=natrix --init-groups -- "${exec_start[@]}"
  ) >"$log" 2>&1 &
  server_pid=$!
  echo "started: ${exec_start[*]} (PID $server_pid)"
  ready() { grep -q 'Server is ready' "$log"; }
  show_log() { cat "$log"; }
fi
for _ in $(seq 100); do
  ready && break
  kill -0 "$server_pid" 2>/dev/null || {
    show_log
    fail "natrix exited during start"
  }
  sleep 0.1
done
ready || {
  show_log
  fail "natrix did not log 'Server is ready' within 10 s"
}
show_log
[ "$(stat -c %U "/proc/$server_pid")" = natrix ] || fail "the server does not run as natrix"
grep -q "Shards: .*->cpu" <(show_log) || fail "no 'Shards: N (0->cpuX ...)' line in the log"

"$python" - "nats://127.0.0.1:$port" <<'EOF'
import asyncio
import sys
from importlib.metadata import version

import nats


async def main(url):
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    subscription = await client.subscribe("deploy.check")
    await client.flush()
    await client.publish("deploy.check", b"hello from the package")
    message = await subscription.next_msg(timeout=5)
    assert message.data == b"hello from the package", message.data

    async def echo(request):
        await request.respond(b"echo: " + request.data)

    await client.subscribe("deploy.echo", cb=echo)
    await client.flush()
    reply = await client.request("deploy.echo", b"ping", timeout=5)
    assert reply.data == b"echo: ping", reply.data
    print(
        f"nats-py {version('nats-py')}: connected to {url} "
        f"(server {client._server_info.get('go')}), "
        f"pub/sub got {message.data!r}, request/reply got {reply.data!r}"
    )
    await client.close()


asyncio.run(main(sys.argv[1]))
EOF

if [ -d /run/systemd/system ]; then
  systemctl stop natrix
  systemctl is-active --quiet natrix && fail "natrix.service did not stop"
  show_log
else
  kill -TERM "$server_pid"
  status=0
  wait "$server_pid" || status=$?
  tail -n 3 "$log"
  [ "$status" = 0 ] || fail "natrix exited with $status after SIGTERM"
  grep -q 'Server Exiting' "$log" || fail "no graceful shutdown in the log"
fi
server_pid=""

step "remove: dpkg -r keeps the config, drops the binary"
dpkg -r natrix
expect_no_path /usr/bin/natrix
expect_no_path "$UNIT"
expect_path /etc/natrix/natrix.conf
dpkg -s natrix | grep -qx 'Status: deinstall ok config-files' || fail "unexpected status after remove"

step "purge: dpkg --purge removes the config and the empty state directory, keeps the user"
dpkg --purge natrix
expect_no_path /etc/natrix
expect_no_path /var/lib/natrix
expect_no_path /etc/systemd/system/multi-user.target.wants/natrix.service
if dpkg-statoverride --list /etc/natrix/natrix.conf >/dev/null; then
  fail "the stat override of natrix.conf survived the purge"
fi
# By design (see deploy/debian/postrm): the system user stays after a purge.
getent passwd natrix >/dev/null || fail "the natrix user was removed; postrm keeps it by design"
if dpkg -s natrix >/dev/null 2>&1; then
  fail "natrix is still known to dpkg after purge"
fi

echo
echo "test-deb.sh: the package builds, installs, runs, serves a client, and removes cleanly"
