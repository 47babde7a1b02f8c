#!/usr/bin/env bash
# Checks that native/ and include/ are formatted as native/.clang-format says
# (clang-format --dry-run --Werror): prints each difference and exits non-zero
# when there is one. Run by `npm run lint`.
#
#   bash scripts/format-check.sh            check
#   bash scripts/format-check.sh --fix      rewrite the files in place
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The files git tracks (and new ones it does not ignore), so build output and
# build-asan/src copies are never looked at.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  'native/*.cc' 'native/*.h' 'include/*.h')
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format-check: no native sources found" >&2
  exit 1
fi

# The devDependency's own clang-format binary (its Node wrapper would add a
# stack trace to every failed check).
if ! binary="$(node -p "require('clang-format').getNativeBinary()" 2>/dev/null)" || [[ ! -x "$binary" ]]; then
  echo "format-check: clang-format (a devDependency) is missing: run npm install" >&2
  exit 1
fi
clang_format=("$binary")

if [[ "${1:-}" == "--fix" ]]; then
  "${clang_format[@]}" --style=file:native/.clang-format -i "${files[@]}"
else
  "${clang_format[@]}" --style=file:native/.clang-format --dry-run --Werror "${files[@]}"
fi
