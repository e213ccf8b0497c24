// Example module "hostile", version 1.0.0: a plugin that misbehaves on request.
//
// For the sandboxed plugin host's tests: in-process, every one of these methods does real harm to
// the host (that is the point of the sandbox). Never call them from an in-process ModuleManager.
//   read_file <path>       -> the file's contents (e.g. /etc/shadow: reading host secrets)
//   write_file <path>      -> writes "owned\n" to the path
//   spin                   -> never returns (burns a CPU)
//   fork_bomb "confirm"    -> forks until fork() fails; every child does the same, then sleeps
//   alloc <MiB>            -> allocates and touches that much memory, keeps it
//   crash                  -> dereferences NULL (SIGSEGV)
//   ping                   -> "pong" (the one harmless method)
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "arsenal/module.hpp"

namespace {

using arsenal::module::Outcome;

class Hostile {
 public:
  static Outcome<std::unique_ptr<Hostile>> Create(std::string_view /*state*/,
                                                  uint32_t /*version*/) {
    return std::make_unique<Hostile>();
  }

  Outcome<std::string> Call(std::string_view method, std::string_view input) {
    if (method == "ping") return std::string("pong");
    if (method == "read_file") return ReadFile(std::string(input));
    if (method == "write_file") {
      int fd = ::open(std::string(input).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return arsenal::module::Error(std::string("open: ") + std::strerror(errno));
      bool ok = ::write(fd, "owned\n", 6) == 6;
      ::close(fd);
      if (!ok) return arsenal::module::Error("write failed");
      return std::string("written");
    }
    if (method == "spin") {
      volatile uint64_t spins = 0;
      for (;;) spins = spins + 1;
    }
    if (method == "fork_bomb") {
      if (input != "confirm") return arsenal::module::Error("fork_bomb needs input \"confirm\"");
      for (;;) {
        if (::fork() < 0) break;
      }
      ::pause();
      return std::string("fork failed");
    }
    if (method == "alloc") {
      size_t mib = std::strtoull(std::string(input).c_str(), nullptr, 10);
      std::vector<char> block(mib << 20);
      for (size_t i = 0; i < block.size(); i += 4096) block[i] = 1;
      kept_.push_back(std::move(block));
      return std::to_string(mib);
    }
    if (method == "crash") {
      volatile int* null = nullptr;
      *null = 1;
      return std::string();
    }
    return arsenal::module::NoSuchMethod(method);
  }

  Outcome<arsenal::module::State> Snapshot(uint32_t /*wanted_state_version*/) const {
    return arsenal::module::State{};
  }

  arsenal::module::Status Health() const { return arsenal::module::Status::Ok(); }

 private:
  static Outcome<std::string> ReadFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return arsenal::module::Error("open " + path + ": " + std::strerror(errno));
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }

  std::vector<std::vector<char>> kept_;
};

}  // namespace

ARSENAL_MODULE(Hostile, "hostile", "1.0.0", 0, 0)
