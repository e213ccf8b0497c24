# Sourced by the benchmark scripts. release_binary BUILD_DIR TARGET prints the path of TARGET built
# in the Release tree BUILD_DIR (configured first if it does not exist; refused if it is not a
# Release tree), or fails with a message.
release_binary() {
  local build_dir=$1 target=$2 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DARSENAL_BUILD_BENCH=OFF >/dev/null || return 1
  fi
  grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build_dir/CMakeCache.txt" ||
    { echo "$build_dir is not a Release build" >&2; return 2; }
  cmake --build "$build_dir" --target "$target" -j2 >/dev/null || return 1
  find "$build_dir" -name "$target" -type f -perm -u+x | head -1
}
