#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for the tests:
# starts the machine's cluster if it is stopped, installs Debian's package if there is none.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

# The suite runs tests in parallel and its multi-node tests start several servers, each with its pools:
# a hundred connections (the server's default) is not enough.
want_connections=400
enough_connections() {
  [ "$(psql -h 127.0.0.1 -U postgres -Atc 'show max_connections' 2>/dev/null || echo 0)" -ge "$want_connections" ]
}

if command -v pg_isready >/dev/null && ready; then
  if enough_connections; then exit 0; fi
  psql -h 127.0.0.1 -U postgres -qc "ALTER SYSTEM SET max_connections = $want_connections" \
    && pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main restart \
    || echo "!!! could not raise max_connections to $want_connections !!!" >&2
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
  exit 1
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "!!! no PostgreSQL on this machine and no way to install it: the PostgreSQL tests will be skipped !!!" >&2
    exit 0
  fi
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# Trust local connections on loopback, as the tests expect (this is a test machine's server).
if ! grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"; then
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf/pg_hba.conf"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
for _ in $(seq 1 30); do
  if ready; then
    enough_connections || {
      psql -h 127.0.0.1 -U postgres -qc "ALTER SYSTEM SET max_connections = $want_connections" \
        && pg_ctlcluster --skip-systemctl-redirect "$version" main restart
    }
    for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
  fi
  sleep 1
done
echo "!!! PostgreSQL did not come up on 127.0.0.1:5432 !!!" >&2
exit 1
