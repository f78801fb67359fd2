#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian package, for real: build it with scripts/package.sh in a
# temporary tree, check its contents and metadata, install it with dpkg, run
# the installed /usr/bin/waypointd end to end (its compiled-in --www default
# must be /usr/share/waypointd/www), then purge it. Needs root, as CI has:
# it installs and removes a package. Leaves the system as it found it: on any
# exit the trap stops the server, purges the package and removes whatever
# dependencies installing it pulled in. Refuses to run where waypointd's
# files already exist. Every wait is bounded. Another apt or dpkg on the
# machine (unattended-upgrades, a second CI job) makes it wait for the dpkg
# and apt locks, up to WAYPOINTD_LOCK_WAIT seconds (600) per command, rather
# than fail.
#
#   sh tests/package/test_deb.sh          # ctest -L package
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
# serve reads WAYPOINTD_<OPTION> variables: none from the caller's environment.
for v in $(env | sed -n 's/^\(WAYPOINTD_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
PKG=waypointd
export DEBIAN_FRONTEND=noninteractive
checks=0

say() { echo "test_deb: $*"; }
ok() { checks=$((checks + 1)); say "ok $checks - $*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}
installed_list() {
    dpkg-query -W -f='${Package} ${Status}\n' | awk '$NF == "installed" {print $1}' | sort -u
}
# What installing the package added: installed since before.txt AND among its
# dependencies, never what another process installed meanwhile. Needs the
# package still known to dpkg (its dependencies are read from there).
pulled_in() {
    installed_list >"$tmp/now.txt"
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances $PKG 2>/dev/null | grep -v '^ ' | tr -d '<>' | sort -u >"$tmp/closure.txt"
    comm -13 "$tmp/before.txt" "$tmp/now.txt" | grep -vx $PKG | comm -12 - "$tmp/closure.txt" | tr '\n' ' '
}

# Another apt or dpkg: every apt-get and dpkg runs through with_lock, which
# waits for the package locks (scripts/pkg-lock.sh).
# shellcheck source=scripts/pkg-lock.sh
. "$src/scripts/pkg-lock.sh"

[ "$(id -u)" -eq 0 ] ||
    fail "needs root: it installs the .deb with dpkg -i and purges it afterwards (CI runs as root; try: sudo sh $0)"
command -v dpkg >/dev/null 2>&1 || fail "needs dpkg (a Debian system)"

# Tools this test and scripts/package.sh use, besides the build dependencies.
sh "$src/scripts/install-deps.sh"
missing=""
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing="$missing dpkg-dev"
command -v file >/dev/null 2>&1 || missing="$missing file"
command -v man >/dev/null 2>&1 || missing="$missing man-db"
command -v flock >/dev/null 2>&1 || missing="$missing util-linux"
if [ -n "$missing" ]; then
    say "installing$missing"
    # shellcheck disable=SC2086
    with_lock timeout 900 apt-get "$APT_LOCK" install -y -qq --no-install-recommends $missing >/dev/null ||
        { with_lock timeout 600 apt-get update -qq &&
            with_lock timeout 900 apt-get "$APT_LOCK" install -y -qq --no-install-recommends $missing >/dev/null; } ||
        fail "cannot install$missing"
fi

# One package test at a time on this machine (a Debug and an Asan ctest run
# side by side would fight over dpkg).
exec 9>/run/lock/waypointd-test-deb.lock
flock -w 1500 9 || fail "another test_deb.sh holds /run/lock/waypointd-test-deb.lock"

is_installed $PKG && fail "$PKG is already installed here; this test would replace it and then purge it (dpkg --purge $PKG first)"

tmp=$(mktemp -d /tmp/waypointd-test-deb.XXXXXX)
server=""
installed=0
marker=""
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    [ -z "$marker" ] || rm -f "$marker"
    if [ "$installed" = 1 ]; then
        if [ -f "$tmp/pulled.txt" ]; then extra=$(cat "$tmp/pulled.txt"); else extra=$(pulled_in); fi
        say "cleanup: purging $PKG"
        with_lock timeout 300 dpkg --purge $PKG >/dev/null 2>&1 || say "cleanup: dpkg --purge $PKG failed" >&2
        if [ -n "$extra" ]; then
            say "cleanup: removing what the install pulled in: $extra"
            # shellcheck disable=SC2086
            with_lock timeout 900 apt-get "$APT_LOCK" purge -y -qq $extra >/dev/null 2>&1 ||
                say "cleanup: could not remove $extra" >&2
        fi
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Build -------------------------------------------------------------------
say "building the package in $tmp/build (scripts/package.sh)"
deb=$(JOBS=${JOBS:-2} timeout 1200 sh "$src/scripts/package.sh" "$tmp/build" 2>"$tmp/package.log") ||
    { tail -40 "$tmp/package.log" >&2; fail "scripts/package.sh failed"; }
[ -f "$deb" ] || fail "scripts/package.sh printed '$deb', which is not a file"
ok "built $(basename "$deb")"

# --- Contents ----------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents.txt"
for f in ./usr/bin/waypointd ./usr/share/waypointd/www/index.html ./usr/share/waypointd/www/dispatch.html \
    ./usr/share/man/man1/waypointd.1.gz ./lib/systemd/system/waypointd.service ./etc/waypointd/waypointd.env \
    ./usr/share/doc/waypointd/install.md; do
    awk '{print $NF}' "$tmp/contents.txt" | grep -qxF "$f" || { cat "$tmp/contents.txt" >&2; fail "$f is not in the package"; }
    # Refuse to overwrite (and then purge) files that were here before the test.
    [ ! -e "${f#.}" ] || fail "${f#.} already exists (installed by hand?); this test would overwrite and then delete it"
done
for doc in operations.md security.md waypointd.conf.example; do
    [ ! -f "$src/docs/$doc" ] || awk '{print $NF}' "$tmp/contents.txt" | grep -qxF "./usr/share/doc/waypointd/$doc" ||
        fail "docs/$doc is not in the package"
done
# The protocol references and the man page's sample data, required: a user
# of the package has no source tree to read them in.
for doc in docs/contract.md docs/api.md docs/live.md docs/openapi.yaml scripts/sample.sql; do
    case $doc in scripts/*) dest=./usr/share/doc/waypointd/examples/${doc#scripts/} ;;
                 *) dest=./usr/share/doc/waypointd/${doc#docs/} ;; esac
    awk '{print $NF}' "$tmp/contents.txt" | grep -qxF "$dest" || fail "$doc is not in the package (as $dest)"
done
grep -E '^-rwxr-xr-x .* \./usr/bin/waypointd$' "$tmp/contents.txt" >/dev/null || fail "/usr/bin/waypointd is not mode 755"
ok "contents: binary, www/index.html, man page, unit, waypointd.env, install.md, protocol docs, sample.sql"

mkdir "$tmp/x"
dpkg-deb -x "$deb" "$tmp/x"
file "$tmp/x/usr/bin/waypointd" | grep -q 'ELF.*, stripped' || fail "the packaged binary is not a stripped ELF: $(file "$tmp/x/usr/bin/waypointd")"
zcat "$tmp/x/usr/share/man/man1/waypointd.1.gz" | cmp -s - "$src/docs/waypointd.1" || fail "the packaged man page is not docs/waypointd.1"
cmp -s "$tmp/x/lib/systemd/system/waypointd.service" "$src/packaging/waypointd.service" ||
    fail "the packaged unit is not packaging/waypointd.service"
for doc in docs/contract.md docs/api.md docs/live.md docs/openapi.yaml; do
    cmp -s "$tmp/x/usr/share/doc/waypointd/${doc#docs/}" "$src/$doc" || fail "the packaged ${doc#docs/} is not $doc"
done
cmp -s "$tmp/x/usr/share/doc/waypointd/examples/sample.sql" "$src/scripts/sample.sql" ||
    fail "the packaged examples/sample.sql is not scripts/sample.sql"
# The man page's EXAMPLES load the sample from where the package puts it.
zcat "$tmp/x/usr/share/man/man1/waypointd.1.gz" | grep -qF '/usr/share/doc/waypointd/examples/sample.sql' ||
    fail "the man page does not name /usr/share/doc/waypointd/examples/sample.sql"
ok "binary is a stripped ELF; man page (gzip'd), unit, protocol docs and sample.sql as in the source tree"

# --- Metadata ----------------------------------------------------------------
dpkg-deb -I "$deb" >"$tmp/info.txt"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = $PKG ] || fail "Package is '$(field Package)'"
version=$(field Version)
echo "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$' || fail "Version '$version' is not UPSTREAM-REVISION"
depends=$(field Depends)
# dpkg-shlibdeps' libraries (libwebsockets17, libc6, ...), the plugin lws dlopen()s
# and the dashboard's map library (served from its package folder).
for d in libwebsockets17 libwebsockets-evlib-ev libc6 libjs-leaflet; do
    echo "$depends" | tr ',' '\n' | grep -Eq "^ *$d( |\$)" || fail "Depends lacks $d: $depends"
done
{ [ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] && [ -n "$(field Section)" ]; } ||
    fail "Maintainer, Description or Section is empty"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/waypointd/waypointd.env ||
    fail "/etc/waypointd/waypointd.env is not a conffile"
for s in postinst prerm postrm; do
    grep -q "^ .* $s " "$tmp/info.txt" || fail "no $s in the control archive"
done
ok "metadata: $PKG $version, Depends: $depends"

# --- Install -----------------------------------------------------------------
installed_list >"$tmp/before.txt"
installed=1
if ! with_lock timeout 300 dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1; then
    say "dpkg -i left dependencies missing; apt-get install -f"
    with_lock timeout 900 apt-get "$APT_LOCK" install -f -y -qq --no-install-recommends >>"$tmp/dpkg-i.log" 2>&1 ||
        { with_lock timeout 600 apt-get update -qq &&
            with_lock timeout 900 apt-get "$APT_LOCK" install -f -y -qq --no-install-recommends >>"$tmp/dpkg-i.log" 2>&1; } ||
        { cat "$tmp/dpkg-i.log" >&2; fail "cannot install $deb"; }
fi
is_installed $PKG || { cat "$tmp/dpkg-i.log" >&2; fail "$PKG is not installed after dpkg -i"; }
pulled_in >"$tmp/pulled.txt"
grep -q 'systemctl enable --now waypointd' "$tmp/dpkg-i.log" || fail "postinst did not say how to enable the service"
ok "dpkg -i: installed"

timeout 10 /usr/bin/waypointd --help >/dev/null || fail "/usr/bin/waypointd --help failed"
[ "$(timeout 10 /usr/bin/waypointd --version)" = "waypointd ${version%-*}" ] ||
    fail "waypointd --version says '$(/usr/bin/waypointd --version)', the package is $version"
timeout 10 /usr/bin/waypointd serve --help | grep -qF '(default: /usr/share/waypointd/www)' ||
    fail "serve --help does not show /usr/share/waypointd/www as the --www default"
ok "/usr/bin/waypointd --help and --version; --www defaults to /usr/share/waypointd/www"

manpath=$(timeout 30 man -w waypointd) || fail "man -w waypointd found nothing"
[ "$manpath" = /usr/share/man/man1/waypointd.1.gz ] || fail "man -w waypointd is $manpath"
LC_ALL=C.UTF-8 MANWIDTH=80 timeout 30 man waypointd >"$tmp/man.txt" 2>"$tmp/man.err" || fail "man waypointd failed"
grep -q 'SERVE OPTIONS' "$tmp/man.txt" || fail "man waypointd does not render"
[ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man waypointd printed warnings"; }
# Every option a command's --help lists is in the man page (its source: no
# hyphenation at line ends there).
zcat "$manpath" | sed 's/\\-/-/g' >"$tmp/man.src"
undocumented=""
for cmd in init key token serve demo simulate; do
    for opt in $(timeout 10 /usr/bin/waypointd $cmd --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        grep -Eq -- "(^|[^a-z-])$opt([^a-z-]|\$)" "$tmp/man.src" || undocumented="$undocumented $cmd:$opt"
    done
done
[ -z "$undocumented" ] || fail "options missing from docs/waypointd.1:$undocumented"
ok "man waypointd: $manpath, renders without warnings, documents every option of every --help"

unit=/lib/systemd/system/waypointd.service
[ -f $unit ] || fail "$unit is missing"
[ -f /etc/waypointd/waypointd.env ] || fail "/etc/waypointd/waypointd.env is missing"
if command -v systemd-analyze >/dev/null 2>&1; then
    timeout 60 systemd-analyze verify $unit >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify $unit"; }
    [ ! -s "$tmp/verify.log" ] || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify $unit printed warnings"; }
    ok "$unit passes systemd-analyze verify"
else
    ok "$unit in place (systemd-analyze not installed: verify SKIPPED)"
fi

# --- The installed binary, end to end ----------------------------------------
run=$tmp/run
mkdir -p "$run/db"
timeout 30 /usr/bin/waypointd init --db "$run/db/waypoints.db" || fail "waypointd init"
timeout 30 /usr/bin/waypointd init --db "$run/db/waypoints.db" || fail "waypointd init, a second time"
# The man page's first example: the sample data, from the installed copy.
timeout 30 sqlite3 -bail "$run/db/waypoints.db" </usr/share/doc/waypointd/examples/sample.sql ||
    fail "sqlite3 DB < /usr/share/doc/waypointd/examples/sample.sql"
key=$(timeout 30 /usr/bin/waypointd key create --db "$run/db/waypoints.db" --name package-test --all-dcs) ||
    fail "waypointd key create"
timeout 60 sh "$src/certs/make-dev-cert.sh" "$run/cert" >/dev/null || fail "certs/make-dev-cert.sh"
# The shipped settings, as docs/install.md checks them (--cert and --key
# stand in for the copies that exist only inside the service).
# shellcheck disable=SC1091
(set -a; . /etc/waypointd/waypointd.env; exec timeout 30 /usr/bin/waypointd serve --db "$run/db/waypoints.db" \
    --cert "$run/cert/dev-cert.pem" --key "$run/cert/dev-key.pem" --check-config) >"$run/check.out" 2>&1 ||
    { cat "$run/check.out" >&2; fail "serve --check-config with /etc/waypointd/waypointd.env"; }
grep -q '0.0.0.0:8443' "$run/check.out" || { cat "$run/check.out" >&2; fail "--check-config does not show WAYPOINTD_LISTEN"; }
ok "serve --check-config accepts /etc/waypointd/waypointd.env"
# A file only the installed folder has: proves which folder is served.
marker=/usr/share/waypointd/www/package-test-$$.txt
echo "served from /usr/share/waypointd/www $$" >"$marker"

/usr/bin/waypointd serve --db "$run/db/waypoints.db" --listen 127.0.0.1:0 --threads 2 \
    --cert "$run/cert/dev-cert.pem" --key "$run/cert/dev-key.pem" >"$run/serve.out" 2>"$run/serve.err" &
server=$!
url=""
i=0
while [ $i -lt 150 ]; do
    url=$(sed -n 's/^listening on \(https:\/\/.*\)$/\1/p' "$run/serve.out")
    [ -z "$url" ] || break
    kill -0 "$server" 2>/dev/null || { cat "$run/serve.err" >&2; fail "waypointd serve exited early"; }
    sleep 0.2
    i=$((i + 1))
done
[ -n "$url" ] || { cat "$run/serve.err" >&2; fail "no 'listening on' line within 30 s"; }

curl -sS --max-time 10 --cacert "$run/cert/dev-cert.pem" -o "$run/index.html" "$url/" || fail "curl $url/"
cmp -s "$run/index.html" /usr/share/waypointd/www/index.html || fail "GET / is not /usr/share/waypointd/www/index.html"
body=$(curl -sS --max-time 10 -k "$url/$(basename "$marker")") || fail "curl the marker file"
[ "$body" = "served from /usr/share/waypointd/www $$" ] || fail "GET /$(basename "$marker") answered '$body'"
code=$(curl -sS --max-time 10 -k -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
    "$url/dcs/no-such-dc/customers/c1") || fail "curl the API"
[ "$code" = 403 ] || fail "GET /dcs/no-such-dc/customers/c1 with a key answered $code, not 403"
code=$(curl -sS --max-time 10 -k -o "$run/waypoints.json" -w '%{http_code}' -H "Authorization: Bearer $key" \
    "$url/dcs/Foxtrot-DC/customers/johns-burger-shack/waypoints") || fail "curl the sample's waypoints"
if [ "$code" != 200 ] || ! grep -q '"wp-1003"' "$run/waypoints.json"; then
    fail "the man page's waypoints request on the sample data answered $code: $(cat "$run/waypoints.json")"
fi
curl -sS --max-time 10 -k -o "$run/leaflet.js" "$url/vendor/leaflet/leaflet.esm.js" || fail "curl Leaflet"
cmp -s "$run/leaflet.js" /usr/share/javascript/leaflet/leaflet.esm.js ||
    fail "GET /vendor/leaflet/leaflet.esm.js is not libjs-leaflet's file"
ok "serve on $url: GET / is the installed index.html (default --www), Leaflet from libjs-leaflet, the API answers (the sample's waypoints too)"

kill -TERM "$server"
i=0
while kill -0 "$server" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -0 "$server" 2>/dev/null && fail "waypointd serve still running 10 s after SIGTERM"
src_rc=0
wait "$server" || src_rc=$?
server=""
[ $src_rc -eq 0 ] || { cat "$run/serve.err" >&2; fail "waypointd serve exited $src_rc after SIGTERM"; }
rm -f "$marker"
marker=""
ok "SIGTERM: serve exited 0"

# --- Purge -------------------------------------------------------------------
with_lock timeout 300 dpkg --purge $PKG >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "dpkg --purge $PKG"; }
installed=0
is_installed $PKG && fail "$PKG still installed after dpkg --purge"
for f in /usr/bin/waypointd $unit /etc/waypointd/waypointd.env /usr/share/waypointd /usr/share/man/man1/waypointd.1.gz; do
    [ ! -e "$f" ] || fail "$f is still there after dpkg --purge"
done
extra=$(cat "$tmp/pulled.txt")
if [ -n "$extra" ]; then
    # shellcheck disable=SC2086
    with_lock timeout 900 apt-get "$APT_LOCK" purge -y -qq $extra >/dev/null 2>&1 || fail "cannot remove $extra"
fi
ok "dpkg --purge: nothing of $PKG is left${extra:+ (removed what it pulled in: $extra)}"

say "$checks passed, 0 failed"
