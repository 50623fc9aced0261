#!/usr/bin/env bash
# The C sources are as clang-format writes them (.clang-format at the top): a change that is not fails here, and
# `clang-format -i FILE` fixes it. Where clang-format would mangle a statement (SQL strings around a function-like
# macro, packed column enums), the source says /* clang-format off */ ... /* clang-format on */.
# Exit 77 (ctest: skipped) only when clang-format is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format_check: clang-format not installed; skipped"; exit 77; }
mapfile -t files < <(find src tests -name '*.[ch]' | sort)
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -ne 0 ]; then
  echo "format_check: not as clang-format writes them (run clang-format -i on them):"
  printf '  %s\n' "${bad[@]}"
  for f in "${bad[@]}"; do clang-format "$f" | diff -u "$f" - | head -20 || true; done
  exit 1
fi
echo "format_check: ${#files[@]} files as clang-format writes them"
