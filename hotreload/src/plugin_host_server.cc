#include "arsenal/hotreload/plugin_host_server.h"

#include <linux/filter.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/hotreload/plugin_protocol.h"
#include "arsenal/policies/child.h"
#include "src/library.h"

namespace arsenal::hotreload {
namespace {

using plugin::Frame;
using plugin::FrameType;

// Room for the header and field sizes of a reply around a state or output blob.
constexpr size_t kReplyOverhead = 256;

struct Slot {
  ~Slot() { instance.reset(); }  // the instance goes before its code is unmapped
  std::unique_ptr<Library> library;
  std::unique_ptr<Instance> instance;
};

Error BadRequest(const Frame& request, const std::string& what) {
  return ValidationError("plugin.bad_request",
                         std::string(plugin::FrameTypeName(request.type)) + " request: " + what);
}

Status ExpectFields(const Frame& request, size_t min, size_t max) {
  if (request.fields.size() < min || request.fields.size() > max) {
    return Fail(BadRequest(request, "has " + std::to_string(request.fields.size()) +
                                        " fields, expected " + std::to_string(min) +
                                        (min == max ? "" : "-" + std::to_string(max))));
  }
  return {};
}

class Server {
 public:
  Server(int fd, const PluginHostServerOptions& options)
      : channel_(fd, options.max_frame_bytes), require_seal_(options.require_seal) {
    spin_ok_ = channel_.SetSpinBudget(options.spin_budget);
  }

  int Run() {
    if (!spin_ok_) {
      std::fprintf(stderr, "arsenal-plugin-host: %s\n", spin_ok_.error().ToString().c_str());
      return 2;
    }
    for (;;) {
      Result<Frame> request = channel_.Read();
      Frame reply;
      if (request) {
        Result<Frame> handled = Handle(*request);
        reply = handled ? std::move(*handled) : plugin::ErrorReply(request->id, handled.error());
        reply.id = request->id;
      } else {
        const Error& error = request.error();
        if (error.code() == "plugin.closed") return 0;
        if (error.code() != "plugin.bad_frame" && error.code() != "plugin.frame_too_large") {
          std::fprintf(stderr, "arsenal-plugin-host: %s\n", error.ToString().c_str());
          return 1;
        }
        // The channel skips the rejected frame's bytes: answer and keep serving.
        reply = plugin::ErrorReply(error.details().value("id", 0u), error);
      }
      if (auto written = channel_.Write(reply); !written) {
        if (written.error().code() == "plugin.closed") return 0;
        std::fprintf(stderr, "arsenal-plugin-host: %s\n", written.error().ToString().c_str());
        return 1;
      }
    }
  }

 private:
  Result<Frame> Handle(Frame& request) {
    if (request.type == FrameType::kSeal) return Seal(request);
    if (require_seal_ && !sealed_) {
      return Fail(Error(ErrorCategory::kUnavailable, "plugin.not_sealed",
                        "the plugin host refuses requests until its seccomp filter is installed")
                      .WithHint("send a seal frame first"));
    }
    switch (request.type) {
      case FrameType::kLoad:
        return Load(request);
      case FrameType::kCreate:
        return Create(request);
      case FrameType::kCall:
        return Call(request);
      case FrameType::kSnapshot:
        return Snapshot(request);
      case FrameType::kHealth:
        return Health(request);
      case FrameType::kUnload:
        return Unload(request);
      default:
        return Fail(BadRequest(request, "is not a request type"));
    }
  }

  static Frame Ok(uint32_t arg = 0, std::vector<std::string> fields = {}) {
    Frame reply;
    reply.type = FrameType::kOk;
    reply.arg = arg;
    reply.fields = std::move(fields);
    return reply;
  }

  Result<Frame> Seal(const Frame& request) {
    if (sealed_) {
      return Fail(ConflictError("plugin.already_sealed", "the host's seccomp filter is installed"));
    }
    ARSENAL_TRY(ExpectFields(request, 1, 1));
    const std::string& program = request.fields[0];
    if (program.empty() || program.size() % sizeof(sock_filter) != 0 ||
        program.size() / sizeof(sock_filter) > BPF_MAXINSNS) {
      return Fail(BadRequest(request, "the BPF program has " + std::to_string(program.size()) +
                                          " bytes, not 1.." + std::to_string(BPF_MAXINSNS) +
                                          " instructions"));
    }
    std::vector<sock_filter> filter(program.size() / sizeof(sock_filter));
    std::memcpy(filter.data(), program.data(), program.size());
    if (int err = policies::ApplySeccomp(filter.data(), filter.size(), request.arg); err != 0) {
      return Fail(ErrnoError("plugin.seal_failed", "seccomp", "plugin host", err));
    }
    sealed_ = true;
    return Ok();
  }

  Result<Slot*> Find(const std::string& name, bool need_instance) {
    auto it = slots_.find(name);
    if (it == slots_.end() || (need_instance && !it->second->instance)) {
      return Fail(
          NotFoundError("module.not_found", "module '" + name + "' is not " +
                                                (it == slots_.end() ? "loaded" : "created") +
                                                " in this plugin host"));
    }
    return it->second.get();
  }

  Result<Frame> Load(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 2, 2));
    const std::string& name = request.fields[0];
    if (!IsValidModuleName(name)) {
      return Fail(ValidationError("module.bad_name", "slot name must be 1-64 of [A-Za-z0-9_-]"));
    }
    if (slots_.contains(name)) {
      return Fail(ConflictError("module.exists", "module '" + name + "' is already loaded"));
    }
    ARSENAL_ASSIGN_OR_RETURN(auto library,
                             Library::OpenBytes(request.fields[1], "arsenal-module:" + name));
    auto slot = std::make_unique<Slot>();
    slot->library = std::move(library);
    const auto& table = slot->library->table();
    Frame reply = Ok(table.state_version, {table.name, table.version});
    slots_.emplace(name, std::move(slot));
    return reply;
  }

  Result<Frame> Create(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 2, 2));
    ARSENAL_ASSIGN_OR_RETURN(Slot * slot, Find(request.fields[0], false));
    if (slot->instance) {
      return Fail(ConflictError("module.exists",
                                "module '" + request.fields[0] + "' already has an instance"));
    }
    ARSENAL_ASSIGN_OR_RETURN(auto instance,
                             Instance::Create(*slot->library, request.fields[1], request.arg));
    ARSENAL_TRY(instance->Health());
    slot->instance = std::move(instance);
    return Ok();
  }

  Result<Frame> Call(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 3, 3));
    ARSENAL_ASSIGN_OR_RETURN(Slot * slot, Find(request.fields[0], true));
    ARSENAL_ASSIGN_OR_RETURN(std::string output,
                             slot->instance->Call(request.fields[1], request.fields[2]));
    if (output.size() + kReplyOverhead > channel_.max_frame_bytes()) {
      return Fail(Error(ErrorCategory::kResourceExhausted, "module.output_too_large",
                        "the output of method '" + request.fields[1] + "' is " +
                            std::to_string(output.size()) + " bytes, more than a frame holds")
                      .WithHint("return less data per call, or raise max_frame_bytes"));
    }
    return Ok(0, {std::move(output)});
  }

  Result<Frame> Snapshot(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 1, 1));
    ARSENAL_ASSIGN_OR_RETURN(Slot * slot, Find(request.fields[0], true));
    ARSENAL_ASSIGN_OR_RETURN(
        auto state,
        slot->instance->TakeSnapshot(request.arg, channel_.max_frame_bytes() - kReplyOverhead));
    return Ok(state.version(), {std::string(state.bytes())});
  }

  Result<Frame> Health(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 0, 1));
    if (request.fields.empty()) return Ok();
    ARSENAL_ASSIGN_OR_RETURN(Slot * slot, Find(request.fields[0], true));
    ARSENAL_TRY(slot->instance->Health());
    return Ok();
  }

  Result<Frame> Unload(const Frame& request) {
    ARSENAL_TRY(ExpectFields(request, 1, 1));
    ARSENAL_TRY(Find(request.fields[0], false));
    slots_.erase(request.fields[0]);
    return Ok();
  }

  plugin::FrameChannel channel_;
  Status spin_ok_;
  const bool require_seal_;
  bool sealed_ = false;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
};

}  // namespace

int ServePluginHost(int fd, const PluginHostServerOptions& options) {
  Server server(fd, options);
  return server.Run();
}

int PluginHostMain(int argc, char** argv) {
  PluginHostServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    constexpr std::string_view kMaxFrame = "--max-frame-bytes=";
    if (arg.starts_with(kMaxFrame)) {
      char* end = nullptr;
      std::string value(arg.substr(kMaxFrame.size()));
      unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < plugin::kMinFrameBytes || n > (1ull << 31)) {
        std::fprintf(stderr, "arsenal-plugin-host: bad --max-frame-bytes '%s'\n", value.c_str());
        return 2;
      }
      options.max_frame_bytes = static_cast<size_t>(n);
      continue;
    }
    constexpr std::string_view kSpin = "--spin-us=";
    if (arg.starts_with(kSpin)) {
      char* end = nullptr;
      std::string value(arg.substr(kSpin.size()));
      unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' ||
          n > static_cast<unsigned long long>(plugin::FrameChannel::kMaxSpinBudget.count())) {
        std::fprintf(stderr, "arsenal-plugin-host: bad --spin-us '%s'\n", value.c_str());
        return 2;
      }
      options.spin_budget = std::chrono::microseconds(n);
      continue;
    }
    std::fprintf(stderr,
                 "usage: arsenal-plugin-host [--max-frame-bytes=N] [--spin-us=N]\n"
                 "Serves the Arsenal plugin protocol on fd 0; started by the Arsenal engine.\n");
    return 2;
  }
  struct stat st {};
  if (::fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr,
                 "arsenal-plugin-host: fd 0 is not a socket; this program is started by the "
                 "Arsenal engine (load a module with mode \"sandboxed\")\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  return ServePluginHost(0, options);
}

}  // namespace arsenal::hotreload
