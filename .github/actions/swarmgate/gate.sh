#!/usr/bin/env bash
# The action's run step: `swarmgate run` inside the baseline's life cycle.
#
# With STORE_BRANCH set, the baseline and the history live on that branch of
# the repository (created on first use). A run that updates the baseline (a
# push to the default branch, with update-baseline "auto") replaces it, adds
# to the history and pushes both; every other run (a pull request) compares
# with the latest baseline there and changes nothing. Without STORE_BRANCH
# the baseline and history are paths in the checkout, as given.
#
# A baseline that does not exist yet is not an error here: the run passes on
# its thresholds alone and says so, and an updating run records it.
#
# Inputs, as environment variables: SCENARIO, RESULTS, BASELINE, HISTORY,
# UPDATE_BASELINE (true, false or auto), IS_DEFAULT_BRANCH (true on a push
# to the default branch), STORE_BRANCH, HOST, DURATION, LABEL, EXTRA,
# VERDICT_MD (where the Markdown verdict goes, for the comment), SWARMGATE
# (the binary). Writes exit-code to GITHUB_OUTPUT; swarmgate
# writes the verdict, regressions and report outputs itself.
set -euo pipefail

swarmgate=${SWARMGATE:-swarmgate}
output=${GITHUB_OUTPUT:-/dev/null}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}

update=false
case "${UPDATE_BASELINE:-auto}" in
  true) update=true ;;
  false) ;;
  auto) [ -n "${STORE_BRANCH:-}" ] && [ "${IS_DEFAULT_BRANCH:-false}" = true ] && update=true ;;
  *) echo "::error title=swarmgate::update-baseline is '$UPDATE_BASELINE'; expected true, false or auto"; echo "exit-code=2" >> "$output"; exit 0 ;;
esac

baseline=${BASELINE:-}
history=${HISTORY:-}
store=""
if [ -n "${STORE_BRANCH:-}" ]; then
  store="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/swarmgate-store"
  git worktree remove --force "$store" 2>/dev/null || rm -rf "$store"
  git worktree prune
  if git fetch --quiet --depth 1 origin "+refs/heads/$STORE_BRANCH:refs/remotes/origin/$STORE_BRANCH" 2>/dev/null; then
    git worktree add --quiet --detach "$store" "refs/remotes/origin/$STORE_BRANCH"
  else
    # The branch's first run: an empty tree of its own, no shared history.
    git worktree add --quiet --detach "$store" HEAD
    git -C "$store" checkout --quiet --orphan "swarmgate-store-$$"
    git -C "$store" rm -r --quiet --force --ignore-unmatch .
  fi
  baseline="$store/${baseline:-baseline}"
  history="$store/${history:-history.csv}"
  # Other runs learn the noise between runs from the history and draw its
  # trends, but add to a copy that is thrown away.
  scratch="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/swarmgate-history-$$.csv"
  if [ "$update" != true ]; then
    if [ -f "$history" ]; then cp "$history" "$scratch"; history=$scratch; else history=""; fi
  fi
fi

args=(run "$SCENARIO" --out "$RESULTS")
if [ -n "$baseline" ]; then
  if [ -e "$baseline" ] || [ "$update" = true ]; then
    args+=(--baseline "$baseline")
    [ "$update" = true ] && args+=(--update-baseline)
  fi
  if [ ! -e "$baseline" ]; then
    note="No baseline yet at ${STORE_BRANCH:+$STORE_BRANCH:}${BASELINE:-baseline}: this run is judged on its thresholds alone."
    [ "$update" = true ] && note="$note It becomes the baseline."
    [ "$update" != true ] && note="$note The next run on the default branch records one."
    echo "::notice title=swarmgate: no baseline yet::$note"
    printf '> **swarmgate:** %s\n\n' "$note" >> "$summary"
  fi
fi
[ -n "$history" ] && args+=(--history "$history")
[ -n "${HOST:-}" ] && args+=(--host "$HOST")
[ -n "${DURATION:-}" ] && args+=(--duration "$DURATION")
[ -n "${LABEL:-}" ] && args+=(--label "$LABEL")
[ -n "${VERDICT_MD:-}" ] && args+=(--summary-md "$VERDICT_MD")
read -r -a extra <<< "${EXTRA:-}"

set +e
"$swarmgate" "${args[@]}" "${extra[@]}"
code=$?
set -e
# The note belongs in the comment too, above the verdict.
if [ -n "${note:-}" ] && [ -n "${VERDICT_MD:-}" ] && [ -f "$VERDICT_MD" ]; then
  { printf '> **swarmgate:** %s\n\n' "$note"; cat "$VERDICT_MD"; } > "$VERDICT_MD.new"
  mv "$VERDICT_MD.new" "$VERDICT_MD"
fi
[ -n "$store" ] && rm -f "$scratch"

# Keep what an updating run recorded, whatever its verdict: a regression
# on the default branch is still what the branch now is. A run that could
# not run (2, 3) records nothing.
if [ -n "$store" ] && [ "$update" = true ] && { [ "$code" = 0 ] || [ "$code" = 1 ]; }; then
  git -C "$store" add -A
  if ! git -C "$store" diff --cached --quiet; then
    git -C "$store" -c user.name="github-actions[bot]" \
      -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
      commit --quiet -m "swarmgate: baseline and history of ${GITHUB_SHA:-$(git rev-parse HEAD)}"
    if ! git -C "$store" push --quiet origin "HEAD:refs/heads/$STORE_BRANCH"; then
      echo "::error title=swarmgate::could not push the baseline to $STORE_BRANCH; another run may have pushed first (give the workflow a concurrency group), or the job lacks contents: write"
      [ "$code" = 0 ] && code=3
    fi
  fi
fi
if [ -n "$store" ]; then
  git worktree remove --force "$store" 2>/dev/null || true
  git branch --quiet -D "swarmgate-store-$$" 2>/dev/null || true
fi
echo "exit-code=$code" >> "$output"
