#!/usr/bin/env bash
# Fails when git tracks a build output: an executable binary (ELF, Mach-O,
# PE) or any file larger than 1 MiB. Fuzz corpora and testdata are allowed
# by path. Run by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."

max=$((1024 * 1024))
bad=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue # deleted in the work tree
  case "$f" in
    */testdata/*) continue ;;
  esac
  size=$(stat -c %s -- "$f")
  if [ "$size" -gt "$max" ]; then
    echo "tracked file larger than 1 MiB: $f ($size bytes)"
    bad=1
    continue
  fi
  magic=$(head -c 4 -- "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46 | cffaedfe | cefaedfe | feedfacf | feedface | 4d5a9000)
      echo "tracked executable binary: $f"
      bad=1
      ;;
  esac
done < <(git ls-files -z)
if [ "$bad" -ne 0 ]; then
  echo "remove build outputs from git (git rm --cached <file>) and let .gitignore keep them out"
  exit 1
fi
