// The sandbox's PID 1 program (bin/arsenal-reaper.c), linked into this library as bytes and
// handed to each sandbox as a sealed memfd.
//
// Why a memfd and not a file next to the executable: the library is linked into arsenald, the
// CLI, tests and embedders, which live in different places; the bytes travel with the code that
// needs them, cannot be replaced on disk behind the engine's back (the memfd is sealed), and need
// no path inside the sandbox's root (it is exec'ed through the descriptor).
#include "reaper_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

// ARSENAL_REAPER_PATH is the built reaper, set by namespaces/CMakeLists.txt.
__asm__(
    ".section .rodata.arsenal_reaper,\"a\"\n"
    ".balign 16\n"
    ".global arsenal_reaper_image\n"
    ".hidden arsenal_reaper_image\n"
    "arsenal_reaper_image:\n"
    ".incbin \"" ARSENAL_REAPER_PATH
    "\"\n"
    ".global arsenal_reaper_image_end\n"
    ".hidden arsenal_reaper_image_end\n"
    "arsenal_reaper_image_end:\n"
    ".previous\n");

extern "C" const unsigned char arsenal_reaper_image[];
extern "C" const unsigned char arsenal_reaper_image_end[];

namespace arsenal::ns::internal {
namespace {

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

// Returns the sealed memfd, or -errno.
int CreateReaperFd() {
  // MFD_EXEC asks for an executable memfd where vm.memfd_noexec defaults to no-exec (6.3+);
  // older kernels reject the flag and make every memfd executable.
  int fd = ::memfd_create("arsenal-reaper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL)
    fd = ::memfd_create("arsenal-reaper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  const unsigned char* p = arsenal_reaper_image;
  while (p < arsenal_reaper_image_end) {
    const ssize_t n = ::write(fd, p, static_cast<size_t>(arsenal_reaper_image_end - p));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return -err;
    }
    p += n;
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

}  // namespace

int ReaperFd() {
  // One per process, kept open for its lifetime: every sandbox execs the same sealed copy. A
  // failure (say, out of fds) is not remembered: the next sandbox tries again.
  static std::mutex mu;
  static int fd = -1;
  std::lock_guard lock(mu);
  if (fd >= 0) return fd;
  const int created = CreateReaperFd();
  if (created >= 0) fd = created;
  return created;
}

}  // namespace arsenal::ns::internal
