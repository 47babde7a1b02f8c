#!/usr/bin/env bash
# Runs the jest suite against the addon built with AddressSanitizer and UBSan.
#
#   npm run test:asan [-- <jest args>]      e.g. npm run test:asan -- test/shared-memory.test.ts
#   bash scripts/test-asan.sh --build-only  builds (and checks) the sanitized addon only: .ci/run
#                                           builds it beside the lint, so the test step finds it done
#
# The sanitizer build lives in build-asan/ (gitignored): binding.gyp, native/
# and include/ are copied to build-asan/src and built there with
# -Dposix_ipc_sanitize=1, so build/ and the normal `npm test` are never
# touched. Copies keep their mtimes, so a second run only recompiles what
# changed.
#
# The tests load the sanitized addon through POSIX_IPC_ADDON (lib/binding.ts).
# Node itself is not instrumented, so the ASan runtime has to be the first
# library in the process: it is preloaded with LD_PRELOAD, which every child
# process inherits. That is on purpose: fixtures that load the addon are checked
# too, and other tools (python3, cc, the programs it builds) run fine with the
# runtime preloaded.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/build-asan/src"
addon="$src/build/Release/posix_ipc.node"
cd "$root"

start=$SECONDS
echo "test-asan: building the sanitized addon in ${src#"$root"/}" >&2
mkdir -p "$src"
rm -rf "$src/native" "$src/include"
cp -p binding.gyp "$src/"
cp -pR native include "$src/"
# npx runs node-gyp with the user's npm config (e.g. nodedir), as npm install
# would. Build chatter goes to stderr, so stdout is jest's alone (--json, --listTests).
(
  cd "$src"
  npx --no -- node-gyp configure --loglevel=warn -- -Dposix_ipc_sanitize=1
  npx --no -- node-gyp build --loglevel=warn --jobs=max
) >&2

# Prove the variable reached the compiler: the addon must call into both
# sanitizer runtimes and be linked against them.
# (Captured first: `nm | grep -q` fails under pipefail when grep exits early.)
imports="$(nm -D --undefined-only "$addon")"
if [[ "$imports" != *__asan_report_* ]]; then
  echo "test-asan: $addon is not instrumented by AddressSanitizer" >&2
  exit 1
fi
if [[ "$imports" != *__ubsan_handle_* ]]; then
  echo "test-asan: $addon is not instrumented by UBSan" >&2
  exit 1
fi
# Preload exactly the runtime the addon was linked against.
libasan="$(ldd "$addon" | awk '$1 ~ /^libasan\.so/ { print $3 }')"
if [[ ! -f "$libasan" ]]; then
  echo "test-asan: $addon is not linked against libasan" >&2
  exit 1
fi
echo "test-asan: built in $((SECONDS - start)) s; runtime $libasan" >&2
if [[ "${1:-}" == "--build-only" ]]; then
  exit 0
fi

# Fixtures and examples load dist/.
npx --no -- tsc -p tsconfig.build.json

# detect_leaks=0: V8 and Node keep allocations alive until exit on purpose, and
#   LeakSanitizer would report all of them.
# handle_sigbus=0: tests that touch a truncated mapping expect the child to die
#   of SIGBUS; ASan would catch the signal, print a report and exit with 1.
# UBSan: the build uses -fno-sanitize-recover, so the first report aborts.
# A report ends the process it happens in with the report on stderr: a child
# fails its test; a jest worker, or jest itself when it runs in band (it does on
# 2 CPUs), fails the whole run, possibly without jest's summary.
export POSIX_IPC_ADDON="$addon"
export ASAN_OPTIONS="detect_leaks=0:handle_sigbus=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LD_PRELOAD="$libasan${LD_PRELOAD:+ $LD_PRELOAD}"

# package.test.ts builds and packs a release, and bench.test.ts times things:
# neither says anything about the addon's memory safety. tour.test.ts and
# readme.test.ts check what the tour and the README's examples print; the
# native calls they make are the ones every other suite makes here, and under
# the sanitizer they mostly time Node start-ups (2 minutes of a CI run). So
# do the posix-ipc command's tests (cli*.test.ts: the command reads /proc and
# files, in subprocesses), but cli-locks.test.ts, whose waits run the
# library's wait records in this process.
# The caller's arguments come first: a jest array option (as these are) takes
# every plain argument that follows it.
exec npx --no -- jest "$@" \
  --testPathIgnorePatterns=/node_modules/ \
  --testPathIgnorePatterns='/test/package\.test\.ts$' \
  --testPathIgnorePatterns='/test/bench\.test\.ts$' \
  --testPathIgnorePatterns='/test/tour\.test\.ts$' \
  --testPathIgnorePatterns='/test/readme\.test\.ts$' \
  --testPathIgnorePatterns='/test/cli(-(ls|rm|inspect|top|bench|doctor))?\.test\.ts$'
