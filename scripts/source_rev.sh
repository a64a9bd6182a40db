#!/bin/sh
# source_rev.sh - the source revision for a COMMAND file: `git describe --always`, with
# "-dirty" if a tracked file outside results/ has uncommitted changes (the run being
# recorded writes results/ itself). "unknown" outside a git checkout.
rev=$(git describe --always 2>/dev/null) || { echo unknown; exit 0; }
if [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)results' 2>/dev/null)" ]; then
    rev="$rev-dirty"
fi
echo "$rev"
