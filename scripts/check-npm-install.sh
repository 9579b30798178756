#!/usr/bin/env bash
# Installs the packed package the way people do (`npm install -g` into a temporary prefix, its
# dependencies from the registry) and runs the installed command. Outside `npm test`: it takes
# the network and a few minutes. test/package.test.ts checks the tarball's contents and the
# installed layout with this checkout's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" >/dev/null
npm install -g --prefix "$work/prefix" --no-audit --no-fund --allow-scripts=better-sqlite3 "$work"/infra-ts-*.tgz
version="$("$work/prefix/bin/infra" --version)"
expected="$(node -p 'require("./package.json").version')"
[ "$version" = "$expected" ] || { echo "installed infra says $version, expected $expected" >&2; exit 1; }
echo "npm install -g works: infra $version"
