// Checkpoint/restore of managed processes through CRIU (restart_process with preserve_state).
//
// CRIU is optional: ProbeCheckpointSupport() runs `criu check` once (cached) and reports why
// checkpointing is unavailable (CRIU not installed, or `criu check` failing on this kernel, as
// Debian 12's CRIU 3.17 does on kernels >= 6.13). Callers turn an unsupported probe into the error
// `process.checkpoint_unsupported` with the reason, never into a silent plain restart.
//
// Security: CRIU runs as the daemon's user (root) with the image directory under the engine's
// state dir (mode 0700); images contain the process's memory and must not leave that directory.
#pragma once

#include <string>

namespace arsenal {

struct CheckpointSupport {
  bool supported = false;
  std::string reason;     // why not, for the error message ("criu not found in PATH", ...)
  std::string criu_path;  // when found
};

// Cached after the first call; `refresh` probes again.
CheckpointSupport ProbeCheckpointSupport(bool refresh = false);

}  // namespace arsenal
