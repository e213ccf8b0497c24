// spdlog's compiled part, built from Debian's packaged headers (libspdlog-dev ships only the shared
// library) for the statically linked `arsenal` binary (cli/CMakeLists.txt). With
// SPDLOG_COMPILED_LIB the *-inl.h headers hold the out-of-line definitions the shared library
// would provide; the explicit instantiations are the sink and logger templates the engine uses.
// Only what the binary references is linked in.
#ifndef SPDLOG_COMPILED_LIB
#error "build this file with SPDLOG_COMPILED_LIB (cli/CMakeLists.txt)"
#endif

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

#include <mutex>

template SPDLOG_API spdlog::logger::logger(std::string name, sinks_init_list::iterator begin,
                                           sinks_init_list::iterator end);
template class SPDLOG_API spdlog::sinks::base_sink<std::mutex>;
template class SPDLOG_API spdlog::sinks::base_sink<spdlog::details::null_mutex>;

// Every console sink comes in a locking and a lock-free flavour.
#define ARSENAL_CONSOLE_SINK(sink)                                               \
  template class SPDLOG_API spdlog::sinks::sink<spdlog::details::console_mutex>; \
  template class SPDLOG_API spdlog::sinks::sink<spdlog::details::console_nullmutex>

ARSENAL_CONSOLE_SINK(stdout_sink_base);
ARSENAL_CONSOLE_SINK(stdout_sink);
ARSENAL_CONSOLE_SINK(stderr_sink);
ARSENAL_CONSOLE_SINK(ansicolor_sink);
ARSENAL_CONSOLE_SINK(ansicolor_stdout_sink);
ARSENAL_CONSOLE_SINK(ansicolor_stderr_sink);
