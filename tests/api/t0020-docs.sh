#!/usr/bin/env bash
# t0020 - what the docs say about the code, read from the code: docs/ARCHITECTURE.md's module
# table names every source file (a new file without its row fails here).
. "$(dirname "$0")/../lib.sh"
TABLE=$ROOT/docs/ARCHITECTURE.md

for f in "$ROOT"/src/*/*.c; do
  dir=$(basename "$(dirname "$f")") name=$(basename "$f" .c)
  row=$(grep "^| \`$dir/\` |" "$TABLE" | cut -d'|' -f3)
  ok "ARCHITECTURE.md's module table names src/$dir/$name.c in the $dir/ row" \
    bash -c "grep -qw -- '$name' <<<'$row'"
done
for f in "$ROOT"/src/*.c; do
  name=$(basename "$f")
  ok "ARCHITECTURE.md's module table names src/$name" grep -q "^| .*\`$name\`" "$TABLE"
done
done_testing
