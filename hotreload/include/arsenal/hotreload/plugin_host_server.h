// The inside of `arsenal-plugin-host`: the request loop that runs untrusted modules.
//
// Purpose: the host process is started by the engine (PluginHost, plugin_host.h) inside a
// sandbox with its end of a unix socket as fd 0, and serves the frame protocol of
// plugin_protocol.h on it until the engine closes the socket. It holds any number of module
// "slots", each one module version loaded from bytes (a sealed memfd, never a path) and at most
// one instance. The loop is single-threaded: requests are handled one at a time, in order.
//
// Ordering: the first request must be kSeal, which installs the host's final seccomp filter
// (built by the engine; see plugin_host.h "Sandbox"); until then every other request is refused
// with plugin.not_sealed, so no module code runs before the filter is in place. ServePluginHost
// with require_seal = false skips that rule: for tests that run the loop in-process (a test must
// never send kSeal to a loop running in its own process).
//
// Errors: every failure is answered with a kError frame (module.* codes of module_manager.h,
// plugin.* for protocol errors) and the loop keeps serving; bad frames included. The loop ends
// (returning an exit code) only when the socket closes or breaks.
//
// Security: the loop trusts nothing in a request beyond the engine's authority to ask; module
// code runs in this process, so everything this process can do, a module can do. Containment is
// the sandbox's job (namespaces, seccomp, Landlock, cgroup), not this loop's.
#pragma once

#include <chrono>
#include <cstddef>

namespace arsenal::hotreload {

struct PluginHostServerOptions {
  size_t max_frame_bytes = 64u << 20;
  bool require_seal = true;
  // After answering, poll for the next request this long before sleeping (FrameChannel's
  // adaptive busy-polling; 0 disables, at most FrameChannel::kMaxSpinBudget). Uses recvfrom,
  // clock_gettime and getcpu, which both seccomp stages allow.
  std::chrono::nanoseconds spin_budget{0};
};

// Serves frames on the connected stream socket `fd` until it closes. Returns 0 after a clean
// end of stream, 1 after an I/O error.
int ServePluginHost(int fd, const PluginHostServerOptions& options);

// main() of arsenal-plugin-host. Flags: --max-frame-bytes=N, --spin-us=N (spin_budget in
// microseconds). Serves fd 0, which must be a unix
// stream socket (exit code 2 otherwise, and on bad flags).
int PluginHostMain(int argc, char** argv);

}  // namespace arsenal::hotreload
