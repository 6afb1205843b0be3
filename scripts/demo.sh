#!/usr/bin/env bash
# make demo: lint the example migrations an AI assistant might suggest.
# migrate lint exits 1 when it finds errors; here that is the expected result.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=bin/migrate
echo "== migrate lint examples/   (what an AI assistant suggested, checked before it reaches production)"
echo
"$bin" lint examples/
code=$?
echo
case $code in
  1) echo "== migrate lint exited 1: the examples take locks that would stall a busy database (as expected)." ;;
  0) echo "== migrate lint exited 0: no findings at error level (unexpected for these examples)"; exit 1 ;;
  *) echo "== migrate lint could not lint the examples (exit $code)"; exit "$code" ;;
esac
echo
echo "== the same as JSON, for scripts and CI (first finding):"
"$bin" lint --format json examples/02_add_index.sql | head -c 1200; echo
exit 0
