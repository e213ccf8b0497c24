// Private to namespaces/: the sealed memfd holding the sandbox's PID 1 program.
#pragma once

namespace arsenal::ns::internal {

// A close-on-exec, sealed, executable memfd with bin/arsenal-reaper.c's program, created on first
// use and kept for the life of the process; or -errno when it cannot be created. Thread-safe.
int ReaperFd();

}  // namespace arsenal::ns::internal
