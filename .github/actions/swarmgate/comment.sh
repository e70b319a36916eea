#!/usr/bin/env bash
# Posts the Markdown verdict on the pull request, or updates in place the
# comment an earlier push posted (found by its first line), with a link to
# the report artifact. A token that may not comment (a pull request from a
# fork) gets a warning, not a failed job: the verdict is in the check.
#
# Inputs, as environment variables: VERDICT_MD (the file), ARTIFACT_URL,
# GITHUB_REPOSITORY, PR_NUMBER, GH_TOKEN.
set -euo pipefail
marker='<!-- swarmgate verdict -->'
if [ ! -s "${VERDICT_MD:-}" ]; then
  echo "swarmgate: no verdict to post (the run wrote none)"
  exit 0
fi
body=$(mktemp)
trap 'rm -f "$body"' EXIT
{
  echo "$marker"
  cat "$VERDICT_MD"
  if [ -n "${ARTIFACT_URL:-}" ]; then
    printf '\n[The report and the results](%s) (artifact `swarmgate-results`)\n' "$ARTIFACT_URL"
  fi
} > "$body"
comments="repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments"
if ! id=$(gh api --paginate "$comments" --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n 1); then
  echo "::warning title=swarmgate::cannot read the pull request's comments; the verdict is not posted"
  exit 0
fi
if [ -n "$id" ]; then
  request=(--method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id")
else
  request=(--method POST "$comments")
fi
if ! gh api "${request[@]}" -F "body=@$body" > /dev/null; then
  echo "::warning title=swarmgate::cannot post the verdict on the pull request (the job needs pull-requests: write; a fork's token has none)"
fi
