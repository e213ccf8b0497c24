// Child side of the network namespace: bring the loopback interface up.
//
// A new network namespace has only `lo`, down. SIOCSIFFLAGS on an AF_INET datagram socket is the
// smallest way to raise it (no netlink message building); it runs between clone and exec, so no
// allocation.
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "child.h"

namespace arsenal::ns::internal {

int BringUpLoopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq req = {};
  std::memcpy(req.ifr_name, "lo", 3);
  int rc = ::ioctl(fd, SIOCGIFFLAGS, &req);
  if (rc == 0) {
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP | IFF_RUNNING);
    rc = ::ioctl(fd, SIOCSIFFLAGS, &req);
  }
  int err = errno;
  ::close(fd);
  errno = err;
  return rc;
}

}  // namespace arsenal::ns::internal
