#!/usr/bin/env bash
# Builds the libFuzzer targets of the protocol codecs (fuzz/, with clang++)
# and runs each for SECONDS (default 30) from the committed seed corpus.
# Installs nothing: it needs clang and libclang-rt-14-dev (scripts/bootstrap.sh).
# Exits non-zero on a crash, a sanitizer report or a broken invariant; the
# input that did it is left in build-fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-30}"
BUILD="${BROWNOUT_FUZZ_BUILD:-$ROOT/build-fuzz}"
CXX_FUZZ="${BROWNOUT_FUZZ_CXX:-clang++}"

if ! [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || [ "$SECONDS_EACH" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (whole seconds per target, default 30)" >&2
  exit 2
fi
if ! command -v "$CXX_FUZZ" >/dev/null; then
  echo "brownout: $CXX_FUZZ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$ROOT/fuzz" -B "$BUILD" "${generator[@]}" -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD"

mkdir -p "$BUILD/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for target in pg resp mysql; do
  # New inputs go to a scratch corpus in the build tree; the committed seeds
  # are only read.
  work="$BUILD/corpus/$target"
  mkdir -p "$work"
  echo "brownout: fuzzing ${target}_codec for ${SECONDS_EACH}s"
  if ! "$BUILD/${target}_codec_fuzz" -max_total_time="$SECONDS_EACH" -timeout=10 \
      -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="$BUILD/artifacts/${target}-" \
      "$work" "$ROOT/fuzz/corpus/$target" >"$BUILD/${target}.log" 2>&1; then
    echo "brownout: ${target}_codec_fuzz failed; the end of $BUILD/${target}.log:" >&2
    grep -v '^#[0-9]' "$BUILD/${target}.log" | tail -n 40 >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$BUILD/${target}.log" || true
  fi
done
if [ "$status" -eq 0 ]; then
  echo "brownout: fuzzing found nothing"
else
  echo "brownout: reproduce with $BUILD/<target>_codec_fuzz $BUILD/artifacts/<file>" >&2
fi
exit "$status"
