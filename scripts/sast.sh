#!/bin/sh
# sast.sh - static analysis of src/ with four tools; exits non-zero on any finding.
#
#   make sast            (passes the Makefile's compiler flags in SAST_CFLAGS)
#   sh scripts/sast.sh   (falls back to the same flags written out below)
#
#   cppcheck     --enable=warning,portability,performance, inline suppressions
#   clang-tidy   clang-analyzer-*, bugprone-*, cert-* (configured in .clang-tidy)
#   gcc          -fanalyzer -Werror, every src/*.c compiled with the project's flags
#   flawfinder   risk level >= 3, likely false positives dropped (-F)
#
# A missing tool is installed from Debian when running as root; if that fails the
# tool is reported as SKIPPED (and SAST_STRICT=1 turns a skip into a failure).
# Every suppression is written next to the code it silences, with its reason;
# global choices (disabled checks, flawfinder level) are explained in docs/SAST.md.
# Tool output goes to $SAST_OUT (default build-sast/), one log per tool.
set -u

SAST_OUT=${SAST_OUT:-build-sast}
CFLAGS_DEFAULT="-std=c11 -Iinclude -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
-Wmissing-prototypes -Wvla -D_POSIX_C_SOURCE=200809L -O2"
FLAGS=${SAST_CFLAGS:-$CFLAGS_DEFAULT}
# Flags clang does not know (gcc-only) would make clang-tidy fail: keep the portable ones.
TIDY_FLAGS=$(printf '%s\n' $FLAGS | grep -E '^-(std=|I|D|W)' | tr '\n' ' ')
FLAWFINDER_MINLEVEL=3
SRC=$(ls src/*.c)

mkdir -p "$SAST_OUT"
failed=""
skipped=""
summary=""

note() { summary="$summary$1
"; }

# have TOOL PACKAGE: 0 if TOOL is on PATH, after installing PACKAGE when root.
have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "sast: $1 not found; installing Debian package $2" >&2
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1
        fi
    fi
    command -v "$1" >/dev/null 2>&1
}

skip() {
    echo "sast: SKIPPED $1: not installed and could not be installed (apt-get install $2)" >&2
    skipped="$skipped $1"
    note "SKIP $1 (not installed)"
}

# result TOOL COUNT LOG
result() {
    if [ "$2" -eq 0 ]; then
        note "ok   $1: 0 findings"
    else
        note "FAIL $1: $2 finding(s), see $3"
        failed="$failed $1"
    fi
}

# --- cppcheck ------------------------------------------------------------------
if have cppcheck cppcheck; then
    log=$SAST_OUT/cppcheck.txt
    echo "sast: $(cppcheck --version)" >&2
    # shellcheck disable=SC2086 # $SRC is a word list on purpose
    cppcheck --enable=warning,portability,performance --inline-suppr --error-exitcode=1 \
        --std=c11 -Iinclude -D_POSIX_C_SOURCE=200809L --quiet \
        --template='{file}:{line}:{column}: {severity}: {message} [{id}]' $SRC >"$log" 2>&1
    rc=$?
    n=$(grep -cE '^src/.*: (error|warning|style|performance|portability): ' "$log")
    [ "$rc" -ne 0 ] && [ "$n" -eq 0 ] && n=1
    cat "$log"
    result cppcheck "$n" "$log"
else
    skip cppcheck cppcheck
fi

# --- clang-tidy ----------------------------------------------------------------
if have clang-tidy clang-tidy; then
    log=$SAST_OUT/clang-tidy.txt
    echo "sast: $(clang-tidy --version | grep -i version | head -n 1)" >&2
    : >"$log"
    rc=0
    for f in $SRC; do
        # shellcheck disable=SC2086
        clang-tidy --quiet "$f" -- $TIDY_FLAGS >>"$log" 2>&1 || rc=1
    done
    n=$(grep -cE '(warning|error): ' "$log")
    [ "$rc" -ne 0 ] && [ "$n" -eq 0 ] && n=1
    grep -E '(warning|error): ' "$log"
    result clang-tidy "$n" "$log"
else
    skip clang-tidy clang-tidy
fi

# --- gcc -fanalyzer ------------------------------------------------------------
if have gcc gcc; then
    log=$SAST_OUT/gcc-fanalyzer.txt
    echo "sast: $(gcc --version | head -n 1) -fanalyzer" >&2
    : >"$log"
    rc=0
    for f in $SRC; do
        # The analyzer runs at code generation, so compile (not -fsyntax-only).
        # shellcheck disable=SC2086
        gcc $FLAGS -fanalyzer -Werror -c -o /dev/null "$f" >>"$log" 2>&1 || rc=1
    done
    n=$(grep -cE '(warning|error): ' "$log")
    [ "$rc" -ne 0 ] && [ "$n" -eq 0 ] && n=1
    grep -E '(warning|error): ' "$log"
    result gcc-fanalyzer "$n" "$log"
else
    skip gcc gcc
fi

# --- flawfinder ----------------------------------------------------------------
if have flawfinder flawfinder; then
    log=$SAST_OUT/flawfinder.txt
    echo "sast: flawfinder $(flawfinder --version)" >&2
    flawfinder --minlevel="$FLAWFINDER_MINLEVEL" --falsepositive --columns --dataonly \
        --quiet src/ >"$log" 2>&1
    n=$(grep -cE '^src/[^:]+:[0-9]+:' "$log")
    grep -E '^src/' "$log"
    result flawfinder "$n" "$log"
else
    skip flawfinder flawfinder
fi

echo "--- sast summary ---"
printf '%s' "$summary"
if [ -n "$failed" ]; then
    echo "sast: findings from:$failed"
    exit 1
fi
if [ -n "$skipped" ] && [ "${SAST_STRICT:-0}" = 1 ]; then
    echo "sast: skipped (SAST_STRICT=1):$skipped"
    exit 1
fi
echo "sast: no findings${skipped:+ (skipped:$skipped)}"
exit 0
