#!/usr/bin/env bash
# A CI plan step: `orderflow plan --detailed-exitcode`, with the plan in the job summary
# ($GITHUB_STEP_SUMMARY) and `changes=true|false` in the step outputs ($GITHUB_OUTPUT).
# Exit 0 whether or not there are changes; 1 (and the error) when the plan failed.
# Arguments are passed to `orderflow plan` (e.g. --prebuilt DIR).
set -uo pipefail

plan=$(mktemp)
trap 'rm -f "$plan"' EXIT
orderflow plan --detailed-exitcode "$@" >"$plan"
code=$?
case $code in
0) changes=false ;;
2) changes=true ;;
*)
    cat "$plan"
    exit "$code"
    ;;
esac

summary=${GITHUB_STEP_SUMMARY:-/dev/stdout}
{
    if [ "$changes" = true ]; then
        echo "### orderflow plan: changes"
    else
        echo "### orderflow plan: no changes"
    fi
    echo
    echo '```'
    cat "$plan"
    echo '```'
} >>"$summary"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "changes=$changes" >>"$GITHUB_OUTPUT"
fi
cat "$plan"
