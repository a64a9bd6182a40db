#!/bin/sh
# test_install.sh - make install puts the binary and the man page under DESTDIR/PREFIX,
# the page renders without warnings (groff -ww; mandoc -T lint where installed), and
# make uninstall removes both. It installs the default build (./mnistsec), whatever
# build the suite tests: the install target builds and copies that one.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 1
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
make -s install BUILD=build DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1
check "make install exits 0" [ $? -eq 0 ]
check "binary installed" [ -x "$D/usr/local/bin/mnistsec" ]
PAGE=$D/usr/local/share/man/man1/mnistsec.1
check "man page installed" [ -f "$PAGE" ]
if command -v groff >/dev/null 2>&1; then
    check "groff -ww renders the page without warnings" \
        sh -c "groff -ww -man -Tutf8 '$PAGE' 2>'$D/w' >/dev/null && [ ! -s '$D/w' ]"
else
    skip "groff -ww" "groff not installed"
fi
if command -v mandoc >/dev/null 2>&1; then
    check "mandoc -T lint is clean" sh -c "mandoc -T lint -W warning '$PAGE' >'$D/l' 2>&1; [ ! -s '$D/l' ] || { cat '$D/l' >&2; false; }"
else
    skip "mandoc -T lint" "mandoc not installed"
fi
# every option of --help (not the published script's underscore aliases) is in the page
"$D/usr/local/bin/mnistsec" --help | grep -o -- '--[a-z][a-z_-]*' | grep -v _ | sort -u >"$D/opts"
if command -v groff >/dev/null 2>&1 && command -v col >/dev/null 2>&1; then
    groff -man -Tascii "$PAGE" 2>/dev/null | col -b >"$D/page.txt"
    missing=$(while read -r o; do grep -qF -- "$o" "$D/page.txt" || echo "$o"; done <"$D/opts" | tr '\n' ' ')
    check "every --help option is in the man page${missing:+ (missing: $missing)}" [ -z "$missing" ]
else
    skip "every --help option in the man page" "groff or col not installed"
fi
make -s uninstall BUILD=build DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1
check "make uninstall removes both" sh -c "[ ! -e '$D/usr/local/bin/mnistsec' ] && [ ! -e '$PAGE' ]"
finish
