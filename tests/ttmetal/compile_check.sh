#!/usr/bin/env bash
# Compile-checks a source against real TT-Metal API headers (check.sh of the
# tt-metal-api folder), expecting success or a given rejection.
#
#   compile_check.sh API_DIR VERSION pass SOURCE [compiler args...]
#   compile_check.sh API_DIR VERSION fail=REGEX SOURCE [compiler args...]
#
# fail=REGEX passes only when the compiler rejects the source with a message
# matching REGEX, so a source broken for another reason does not count.
# Exits 77 (ctest SKIP_RETURN_CODE) when API_DIR is missing: a user's clone
# has no ../shared.
set -uo pipefail
api=$1 version=$2 expect=$3 src=$4
shift 4
if [[ ! -f "$api/check.sh" ]]; then
  echo "SKIPPED: no TT-Metal API headers at $api (../shared/tt-metal-api beside the source tree);" \
    "$(basename "$src") not compile-checked against TT-Metal $version"
  exit 77
fi
out=$(bash "$api/check.sh" "$version" "$src" "$@" 2>&1)
rc=$?
case $expect in
  pass)
    printf '%s\n' "$out"
    exit $rc
    ;;
  fail=*)
    re=${expect#fail=}
    if [[ $rc -eq 0 ]]; then
      echo "FAIL: $src compiled against TT-Metal $version; it must be rejected ($re)"
      exit 1
    fi
    if ! grep -Eq -- "$re" <<<"$out"; then
      printf '%s\n' "$out"
      echo "FAIL: $src was rejected, but not with /$re/"
      exit 1
    fi
    echo "OK: rejected as expected: $(grep -E -m1 -- "$re" <<<"$out")"
    exit 0
    ;;
esac
echo "compile_check.sh: bad expectation '$expect'" >&2
exit 2
