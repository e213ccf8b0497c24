// Child side of the mount namespace: build the new root and pivot into it.
//
// Layout while building (the bubblewrap approach): a small tmpfs is mounted over /tmp of the new
// mount namespace and becomes the root via pivot_root, with the host root below it at /oldroot.
// So every host path stays reachable as /oldroot/<path> (even /tmp/...), and the new root is
// assembled at /newroot without touching any host directory. A final pivot_root(".", ".") plus
// a lazy unmount detaches the staging tmpfs together with the whole host tree.
//
// Runs between clone and exec: no allocation, only syscalls.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arsenal/base/syscalls.h"
#include "child.h"

namespace arsenal::ns::internal {
namespace {

constexpr const char* kStaging = "/tmp";
constexpr const char* kNewRoot = "/newroot";

// Recursive flag change through mount_setattr; falls back to a non-recursive remount that keeps
// the flags the kernel locked (a user namespace may not clear nosuid/nodev/noexec it inherited).
int SetMountAttrs(const char* path, bool read_only) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | (read_only ? MOUNT_ATTR_RDONLY : 0);
  if (::syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) == 0) {
    return 0;
  }
  if (errno != ENOSYS) return -1;
  struct statvfs vfs = {};
  if (::statvfs(path, &vfs) < 0) return -1;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID;
  if (read_only || (vfs.f_flag & ST_RDONLY)) flags |= MS_RDONLY;
  if (vfs.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  return ::mount(nullptr, path, nullptr, flags, nullptr);
}

// mkdir -p for a "/newroot/..." path, editing the buffer in place and restoring it. Never
// creates /newroot itself: an existing root is required.
int MakeDirs(char* path) {
  const size_t prefix = std::strlen(kNewRoot);
  for (char* p = path + prefix + 1; *p != '\0'; ++p) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = ::mkdir(path, 0755);
    int err = errno;
    *p = '/';
    if (rc < 0 && err != EEXIST) {
      errno = err;
      return -1;
    }
  }
  if (::mkdir(path, 0755) < 0 && errno != EEXIST) return -1;
  return 0;
}

// Makes sure `target` exists as a directory (or an empty file when `dir` is false), creating it
// only where the parent filesystem is writable.
int EnsureMountPoint(char* target, bool dir) {
  struct stat st = {};
  if (::stat(target, &st) == 0) return 0;
  if (errno != ENOENT) return -1;
  if (dir) return MakeDirs(target);
  char* slash = std::strrchr(target, '/');
  if (slash != nullptr && slash != target) {
    *slash = '\0';
    int rc = MakeDirs(target);
    int err = errno;
    *slash = '/';
    if (rc < 0) {
      errno = err;
      return -1;
    }
  }
  int fd = ::open(target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  ::close(fd);
  return 0;
}

int MountBind(const PreparedMount& m) {
  struct stat st = {};
  if (::stat(m.source, &st) < 0) return -1;
  if (EnsureMountPoint(m.target, S_ISDIR(st.st_mode)) < 0) return -1;
  if (::mount(m.source, m.target, nullptr, MS_BIND | MS_REC, nullptr) < 0) return -1;
  return SetMountAttrs(m.target, m.read_only);
}

int MountTmpfs(const PreparedMount& m) {
  if (EnsureMountPoint(m.target, true) < 0) return -1;
  return ::mount("tmpfs", m.target, "tmpfs", MS_NOSUID | MS_NODEV, m.data);
}

struct DevNode {
  const char* host;
  const char* inside;
};
constexpr DevNode kDevNodes[] = {
    {"/oldroot/dev/null", "/newroot/dev/null"},
    {"/oldroot/dev/zero", "/newroot/dev/zero"},
    {"/oldroot/dev/full", "/newroot/dev/full"},
    {"/oldroot/dev/random", "/newroot/dev/random"},
    {"/oldroot/dev/urandom", "/newroot/dev/urandom"},
    {"/oldroot/dev/tty", "/newroot/dev/tty"},
};
struct DevLink {
  const char* target;
  const char* path;
};
constexpr DevLink kDevLinks[] = {
    {"pts/ptmx", "/newroot/dev/ptmx"},          {"/proc/self/fd", "/newroot/dev/fd"},
    {"/proc/self/fd/0", "/newroot/dev/stdin"},  {"/proc/self/fd/1", "/newroot/dev/stdout"},
    {"/proc/self/fd/2", "/newroot/dev/stderr"},
};

// A tmpfs /dev holding bind mounts of the host's harmless device nodes (mknod is refused in a
// user namespace), a private devpts instance and a tmpfs /dev/shm.
int MountDev() {
  char dev[] = "/newroot/dev";
  if (EnsureMountPoint(dev, true) < 0) return -1;
  if (::mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0) return -1;
  for (const DevNode& node : kDevNodes) {
    int fd = ::open(node.inside, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) return -1;
    ::close(fd);
    if (::mount(node.host, node.inside, nullptr, MS_BIND, nullptr) < 0) return -1;
  }
  if (::mkdir("/newroot/dev/pts", 0755) < 0) return -1;
  if (::mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") < 0) {
    return -1;
  }
  if (::mkdir("/newroot/dev/shm", 01777) < 0) return -1;
  if (::mount("tmpfs", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0) {
    return -1;
  }
  for (const DevLink& link : kDevLinks) {
    if (::symlink(link.target, link.path) < 0) return -1;
  }
  return 0;
}

}  // namespace

int SetupMounts(Prepared& p, Step* step, int* index) {
  // Nothing done here may propagate back to the host's mounts.
  *step = Step::kMountPrivate;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) return -1;

  *step = Step::kMountStaging;
  if (::mount("tmpfs", kStaging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0) {
    return -1;
  }
  if (::chdir(kStaging) < 0 || ::mkdir("newroot", 0755) < 0 || ::mkdir("oldroot", 0755) < 0) {
    return -1;
  }
  *step = Step::kPivotStaging;
  if (sys::PivotRoot(".", "oldroot") < 0 || ::chdir("/") < 0) return -1;

  *step = Step::kRootfs;
  if (::mount(p.rootfs_source, kNewRoot, nullptr, MS_BIND | MS_REC, nullptr) < 0) return -1;
  // Read-only before any submount exists, so read-write binds below stay writable and nothing is
  // ever created in a read-only rootfs.
  if (SetMountAttrs(kNewRoot, p.rootfs_read_only) < 0) return -1;

  *step = Step::kMount;
  for (size_t i = 0; i < p.mounts.size(); ++i) {
    *index = static_cast<int>(i);
    const PreparedMount& m = p.mounts[i];
    if ((m.bind ? MountBind(m) : MountTmpfs(m)) < 0) return -1;
  }
  *index = -1;

  // In a user namespace a new procfs is allowed only while a fully visible one is reachable
  // (the host's under /oldroot), so this must precede detaching the old root.
  if (p.mount_proc) {
    *step = Step::kProc;
    char proc[] = "/newroot/proc";
    if (EnsureMountPoint(proc, true) < 0) return -1;
    if (::mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) return -1;
  }
  if (p.mount_dev) {
    *step = Step::kDev;
    if (MountDev() < 0) return -1;
  }

  // pivot_root(".", ".") stacks the old root on top of the new one; the lazy unmount then
  // detaches it, with the staging tmpfs and the whole host tree below it.
  *step = Step::kPivotRoot;
  if (::chdir(kNewRoot) < 0 || sys::PivotRoot(".", ".") < 0) return -1;
  *step = Step::kDetachOldRoot;
  if (::umount2(".", MNT_DETACH) < 0 || ::chdir("/") < 0) return -1;
  return 0;
}

}  // namespace arsenal::ns::internal
