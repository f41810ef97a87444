#!/usr/bin/env bash
# make lint: go.mod's requirements that are not marked "// indirect" are exactly
# the modules whose packages this module imports (in code, tests, and the e2e
# tests' build tags). A module imported but marked indirect, or required as
# direct but imported by nothing, fails with its name.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
module=$($GO list -m)
imported=$($GO list -tags 'e2e e2edocker' -e \
  -f '{{range .Imports}}{{.}} {{end}}{{range .TestImports}}{{.}} {{end}}{{range .XTestImports}}{{.}} {{end}}' ./... |
  tr ' ' '\n' | grep -E '^[^/]+\.[^/]+/' | grep -v "^$module" | sort -u)
used=$($GO list -e -f '{{with .Module}}{{.Path}}{{end}}' $imported | sort -u)
direct=$($GO mod edit -json | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Require") or []:
    if not r.get("Indirect"):
        print(r["Path"])' | sort -u)
bad=0
for m in $(comm -23 <(echo "$used") <(echo "$direct")); do
  echo "go.mod: $m is imported by this module but not required as direct (drop its // indirect)"; bad=1
done
for m in $(comm -13 <(echo "$used") <(echo "$direct")); do
  echo "go.mod: $m is required as direct but nothing in this module imports it (mark it // indirect)"; bad=1
done
exit $bad
