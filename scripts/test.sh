#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit,
# integration and end-to-end tests, then the same suite again under
# AddressSanitizer and UndefinedBehaviorSanitizer, then fuzzes the protocol codecs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$BROWNOUT_ROOT"

build default
ctest --preset default

if [ "${BROWNOUT_SKIP_ASAN:-0}" != 1 ]; then
  build asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan
fi
# The protocol codecs under libFuzzer (clang, ASan/UBSan), for a bounded time.
if [ "${BROWNOUT_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh "${BROWNOUT_FUZZ_SECONDS:-45}"
fi
echo "brownout: all tests passed"
