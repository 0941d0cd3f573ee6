#!/usr/bin/env bash
# Recreate this copy of huma from an upstream version with this
# directory's patches applied, e.g. ./update.sh v2.37.2. Then set the
# version in README.md, in the require line of the repository's go.mod and
# in shared/api's humaVersion, and run the tests. With a second argument
# the copy goes to that directory instead (TestHumaCopyIsUpstreamWithPatches
# does that and compares).
set -euo pipefail
version=${1:?usage: update.sh <huma version, like v2.37.2> [directory]}
here=$(cd "$(dirname "$0")" && pwd)
dest=${2:-$here}
src=$(go mod download -json "github.com/danielgtaylor/huma/v2@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "cannot download huma $version" >&2; exit 1; }
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The packages the repository imports.
for p in . adapters/humago casing negotiation queryparam validation yaml; do
  mkdir -p "$work/$p"
  for f in "$src/$p"/*.go; do
    case "$f" in *_test.go) ;; *) cp "$f" "$work/$p/" ;; esac
  done
done
cp "$src/LICENSE.md" "$work/"
chmod -R u+w "$work"
# Outside a repository, git apply patches relative to the current directory.
for patch in "$here"/*.patch; do (cd "$work" && git apply -p1 "$patch"); done
find "$dest" -name '*.go' -delete
cp -r "$work"/. "$dest"/
echo "huma $version copied to $dest"
