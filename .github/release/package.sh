#!/usr/bin/env bash
# Builds swarmgate for one target and packs it as the release ships it:
#   dist/swarmgate-TARGET.tar.gz  (swarmgate-TARGET/swarmgate, README, licences)
#   dist/swarmgate-TARGET.tar.gz.sha256
# Usage: package.sh [TARGET] (default: this machine's). BUILD overrides the
# build command, e.g. BUILD="cargo zigbuild" for cross targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
host=$(rustc -vV | sed -n 's/^host: //p')
target=${1:-$host}
build=${BUILD:-cargo build}
# The host's build goes where the wheel's does (target/dist), so CI, which
# makes both, compiles once.
if [ "$target" = "$host" ]; then
  $build --locked --profile dist --bin swarmgate
  out=target/dist
else
  $build --locked --profile dist --target "$target" --bin swarmgate
  out="target/$target/dist"
fi
name="swarmgate-$target"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
exe=""
case "$target" in *windows*) exe=.exe ;; esac
cp "$out/swarmgate$exe" README.md LICENSE-MIT LICENSE-APACHE "$stage/$name/"
mkdir -p dist
tar -C "$stage" -czf "dist/$name.tar.gz" "$name"
# The checksum file names the archive alone, so `sha256sum -c` works beside it.
sum() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
(cd dist && sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "dist/$name.tar.gz"
