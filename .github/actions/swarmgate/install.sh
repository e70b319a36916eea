#!/usr/bin/env bash
# Installs the released swarmgate that matches the action's ref (a tag such
# as v0.2.0) into ~/.swarmgate/bin, after checking its SHA-256. Writes
# installed=true to GITHUB_OUTPUT when it did; false when the ref is no
# release (a branch, a commit) or the release has no archive for this
# machine, and the action builds from source instead. A checksum that does
# not match fails the step: a tampered or broken download is never run.
#
# Inputs: REF, REPO (owner/name), RELEASES_URL (default https://github.com).
set -euo pipefail
output=${GITHUB_OUTPUT:-/dev/null}
releases=${RELEASES_URL:-https://github.com}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  *) target="" ;;
esac
if [[ ! "${REF:-}" =~ ^v[0-9] ]] || [ -z "$target" ]; then
  echo "swarmgate: ${REF:-this ref} is not a release for $(uname -s)-$(uname -m); building from source"
  echo "installed=false" >> "$output"
  exit 0
fi

name="swarmgate-$target"
url="$releases/$REPO/releases/download/$REF/$name.tar.gz"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
if ! curl -fsSL --retry 3 -o "$download/$name.tar.gz" "$url" \
  || ! curl -fsSL --retry 3 -o "$download/$name.tar.gz.sha256" "$url.sha256"; then
  echo "swarmgate: no release archive at $url; building from source"
  echo "installed=false" >> "$output"
  exit 0
fi
sum() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
expected=$(cut -d' ' -f1 < "$download/$name.tar.gz.sha256")
actual=$(cd "$download" && sum "$name.tar.gz" | cut -d' ' -f1)
if [ "$expected" != "$actual" ]; then
  echo "::error title=swarmgate::$url has SHA-256 $actual, but its .sha256 says $expected; not installed"
  exit 1
fi
tar -C "$download" -xzf "$download/$name.tar.gz"
mkdir -p "$HOME/.swarmgate/bin"
install -m 755 "$download/$name/swarmgate" "$HOME/.swarmgate/bin/swarmgate"
"$HOME/.swarmgate/bin/swarmgate" --version
echo "installed=true" >> "$output"
