#!/usr/bin/env bash
# Runs every test of the solution and ends with one line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

# Tests start real redis-server processes on loopback, validate /metrics with promtool, and run the
# graphql-sse and graphql-ws reference clients with Node and drive the web page in Debian's chromium through
# puppeteer-core (the tests npm-install those into folders of their own).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}" || {
    echo "could not install ${missing[*]}; install it and run again" >&2
    echo "tests: 0 passed, 0 failed"
    exit 1
  }
fi

results="$PWD/TestResults"
rm -rf "$results"

dotnet test Opossum.sln -c Release --logger "trx;LogFilePrefix=opossum" --results-directory "$results"
status=$?

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "no test results were found in $results" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
