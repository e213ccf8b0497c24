// The frame protocol and the host's request loop, in-process (no sandbox): encoding, bounds,
// bad frames answered as errors with the stream kept in sync, and the loop's request handling.
#include "arsenal/hotreload/plugin_protocol.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "arsenal/base/unique_fd.h"
#include "arsenal/hotreload/plugin_host_server.h"
#include "hotreload_test_util.h"

namespace arsenal::hotreload::plugin {
namespace {

using testing::MappingsOf;

std::string Bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Frame Make(FrameType type, std::vector<std::string> fields, uint32_t arg = 0, uint32_t id = 7) {
  Frame frame;
  frame.type = type;
  frame.id = id;
  frame.arg = arg;
  frame.fields = std::move(fields);
  return frame;
}

using hotreload::testing::Encoded;

TEST(PluginProtocolTest, EncodesAndDecodesEveryField) {
  Frame frame = Make(FrameType::kCall, {"counter", "incr", std::string("a\0b", 3)}, 42, 9);
  std::string wire = Encoded(frame);
  ASSERT_EQ(wire.size(), EncodedFrameSize(frame));
  ASSERT_EQ(wire.size(), 4u + 16u + (4 + 7) + (4 + 4) + (4 + 3));
  auto decoded = DecodePayload(std::string_view(wire).substr(4));
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->type, FrameType::kCall);
  EXPECT_EQ(decoded->id, 9u);
  EXPECT_EQ(decoded->arg, 42u);
  EXPECT_EQ(decoded->fields, frame.fields);
  EXPECT_EQ(decoded->cpu, 0u);
  frame.cpu = 0x1234;  // the cpu hint is two bytes at offset 2 of the payload, little-endian
  wire = Encoded(frame);
  EXPECT_EQ(wire.substr(6, 2), std::string("\x34\x12", 2));
  EXPECT_EQ(DecodePayload(std::string_view(wire).substr(4))->cpu, 0x1234u);
}

TEST(PluginProtocolTest, RejectsMalformedPayloadsWithTheReason) {
  const std::string good = Encoded(Make(FrameType::kHealth, {"x"})).substr(4);
  struct Case {
    const char* what;
    std::string payload;
  };
  auto with = [&](size_t at, char value) {
    std::string p = good;
    p[at] = value;
    return p;
  };
  std::vector<Case> cases = {
      {"short", good.substr(0, 10)},    {"version", with(0, 1)},
      {"type", with(1, 0x55)},          {"version 3", with(0, 3)},
      {"too many fields", with(12, 9)}, {"field overflow", with(16, 100)},
      {"trailing", good + "zz"},        {"truncated field size", good.substr(0, 18)},
  };
  for (const auto& c : cases) {
    auto decoded = DecodePayload(c.payload);
    ASSERT_FALSE(decoded) << c.what;
    EXPECT_EQ(decoded.error().code(), "plugin.bad_frame") << c.what;
    EXPECT_FALSE(decoded.error().details().value("reason", "").empty()) << c.what;
  }
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a_.Reset(fds[0]);
    b_.Reset(fds[1]);
  }
  UniqueFd a_, b_;
};

TEST_F(ChannelTest, OversizedAndShortFramesAreErrorsAndTheStreamStaysInSync) {
  FrameChannel writer(a_.get(), kMinFrameBytes);
  FrameChannel reader(b_.get(), kMinFrameBytes);
  // A frame whose length exceeds the limit, with its bytes really sent.
  std::string big = Encoded(Make(FrameType::kCall, {std::string(kMinFrameBytes, 'x')}));
  std::string tiny(
      "\x03\x00\x00\x00"
      "abc",
      7);
  std::string good = Encoded(Make(FrameType::kHealth, {}, 0, 11));
  std::thread send([&] { ASSERT_TRUE(writer.WriteRaw(big + tiny + good)); });
  auto first = reader.Read();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code(), "plugin.frame_too_large");
  auto second = reader.Read();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), "plugin.bad_frame");
  auto third = reader.Read();
  ASSERT_TRUE(third) << third.error().ToString();
  EXPECT_EQ(third->id, 11u);
  send.join();
  // Refuses to send what the peer would refuse.
  auto refused = writer.Write(Make(FrameType::kCall, {std::string(kMinFrameBytes, 'y')}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), "plugin.frame_too_large");
}

TEST_F(ChannelTest, ReadTimesOutAndSeesTheEndOfStream) {
  FrameChannel reader(b_.get(), kMinFrameBytes);
  auto timed_out = reader.Read(FrameChannel::Clock::now() + std::chrono::milliseconds(20));
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code(), "plugin.timeout");
  a_.Reset();
  auto closed = reader.Read(FrameChannel::Clock::now() + std::chrono::seconds(5));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code(), "plugin.closed");
  FrameChannel writer(b_.get(), kMinFrameBytes);
  auto broken = writer.Write(Make(FrameType::kHealth, {}));
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code(), "plugin.closed");
}

TEST_F(ChannelTest, ABlockingReceiveHonoursTheDeadline) {
  FrameChannel reader(b_.get(), kMinFrameBytes);
  ASSERT_TRUE(reader.SetReceiveTimeout(std::chrono::milliseconds(100)));
  auto start = FrameChannel::Clock::now();
  auto timed_out = reader.Read(start + std::chrono::milliseconds(100));
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code(), "plugin.timeout");
  auto waited = FrameChannel::Clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  EXPECT_LT(waited, std::chrono::milliseconds(1000));
  // A shorter deadline than the socket's timeout falls back to poll() and is exact.
  start = FrameChannel::Clock::now();
  EXPECT_FALSE(reader.Read(start + std::chrono::milliseconds(10)));
  EXPECT_LT(FrameChannel::Clock::now() - start, std::chrono::milliseconds(90));
  FrameChannel writer(a_.get(), kMinFrameBytes);
  ASSERT_TRUE(writer.Write(Make(FrameType::kHealth, {}, 0, 3)));
  auto frame = reader.Read(FrameChannel::Clock::now() + std::chrono::milliseconds(100));
  ASSERT_TRUE(frame) << frame.error().ToString();
  EXPECT_EQ(frame->id, 3u);
}

// The request loop in a thread of this process, without seal (never seal a test process).
class ServerTest : public ChannelTest {
 protected:
  // Load frames carry whole modules: 40 KB normally, 1.7 MB when built with the sanitizers.
  static constexpr uint32_t kFrameBytes = 8u << 20;
  void SetUp() override {
    ChannelTest::SetUp();
    server_ = std::thread([fd = b_.get(), this] {
      // Both ends busy-poll: the loop's requests and replies take that path whenever the two
      // threads run on different CPUs.
      exit_code_ = ServePluginHost(fd, {.max_frame_bytes = kFrameBytes,
                                        .require_seal = false,
                                        .spin_budget = std::chrono::microseconds(50)});
    });
    client_ = std::make_unique<FrameChannel>(a_.get(), kFrameBytes);
    ASSERT_TRUE(client_->SetSpinBudget(std::chrono::microseconds(50)));
  }
  void TearDown() override {
    a_.Reset();
    server_.join();
    EXPECT_EQ(exit_code_, 0);
  }
  Frame Ask(Frame request) {
    EXPECT_TRUE(client_->Write(request));
    auto reply = client_->Read(FrameChannel::Clock::now() + std::chrono::seconds(10));
    EXPECT_TRUE(reply) << reply.error().ToString();
    EXPECT_EQ(reply->id, request.id);
    return reply ? *reply : Frame{};
  }
  static std::string ErrorCode(const Frame& reply) {
    return reply.type == FrameType::kError && !reply.fields.empty() ? reply.fields[0] : "<ok>";
  }

  std::thread server_;
  int exit_code_ = -1;
  std::unique_ptr<FrameChannel> client_;
};

TEST_F(ServerTest, LoadsCreatesCallsSnapshotsAndUnloadsModulesFromBytes) {
  Frame loaded = Ask(Make(FrameType::kLoad, {"c", Bytes(ARSENAL_COUNTER_V1)}));
  ASSERT_EQ(loaded.type, FrameType::kOk);
  EXPECT_EQ(loaded.fields, (std::vector<std::string>{"counter", "1.0.0"}));
  EXPECT_EQ(loaded.arg, 1u);  // state_version
  EXPECT_GT(MappingsOf("memfd:arsenal-module:c"), 0);
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kCall, {"c", "incr", "k"}))), "module.not_found");
  ASSERT_EQ(Ask(Make(FrameType::kCreate, {"c", "k=41\n"}, 1)).type, FrameType::kOk);
  Frame called = Ask(Make(FrameType::kCall, {"c", "incr", "k"}));
  ASSERT_EQ(called.type, FrameType::kOk);
  EXPECT_EQ(called.fields, std::vector<std::string>{"42 v1"});
  Frame state = Ask(Make(FrameType::kSnapshot, {"c"}, 0));
  ASSERT_EQ(state.type, FrameType::kOk);
  EXPECT_EQ(state.arg, 1u);
  EXPECT_EQ(state.fields, std::vector<std::string>{"k=42\n"});
  EXPECT_EQ(Ask(Make(FrameType::kHealth, {"c"})).type, FrameType::kOk);
  EXPECT_EQ(Ask(Make(FrameType::kHealth, {})).type, FrameType::kOk);
  EXPECT_EQ(Ask(Make(FrameType::kUnload, {"c"})).type, FrameType::kOk);
  EXPECT_EQ(MappingsOf("memfd:arsenal-module:c"), 0);
}

TEST_F(ServerTest, BadRequestsAreAnsweredWithErrorsAndTheLoopKeepsServing) {
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kLoad, {"c", "not an ELF file"}))), "module.not_elf");
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kLoad, {"w", Bytes(ARSENAL_WRONG_ABI)}))),
            "module.abi_mismatch");
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kLoad, {"n", Bytes(ARSENAL_NO_ENTRY)}))),
            "module.missing_entry_point");
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kLoad, {"../x", Bytes(ARSENAL_COUNTER_V1)}))),
            "module.bad_name");
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kCall, {"c"}))), "plugin.bad_request");
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kOk, {}))), "plugin.bad_request");
  ASSERT_EQ(Ask(Make(FrameType::kLoad, {"c", Bytes(ARSENAL_COUNTER_V1)})).type, FrameType::kOk);
  EXPECT_EQ(ErrorCode(Ask(Make(FrameType::kCreate, {"c", "garbage state"}, 1))),
            "module.bad_state");
  // A frame with a bad header: answered with its id, then the next request is served.
  std::string bad = Encoded(Make(FrameType::kHealth, {}, 0, 5));
  bad[4] = 9;  // protocol version
  ASSERT_TRUE(client_->WriteRaw(bad));
  auto reply = client_->Read(FrameChannel::Clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->id, 5u);
  EXPECT_EQ(ErrorCode(*reply), "plugin.bad_frame");
  // Over the server's limit.
  std::string huge = Encoded(Make(FrameType::kCall, {std::string(kFrameBytes + 1, 'x')}, 0, 6));
  std::thread send([&] { ASSERT_TRUE(client_->WriteRaw(huge)); });
  reply = client_->Read(FrameChannel::Clock::now() + std::chrono::seconds(10));
  send.join();
  ASSERT_TRUE(reply);
  EXPECT_EQ(ErrorCode(*reply), "plugin.frame_too_large");
  EXPECT_EQ(Ask(Make(FrameType::kHealth, {}, 0, 8)).type, FrameType::kOk);
}

TEST(PluginHostServerTest, RefusesEverythingButSealUntilSealed) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  std::thread server([&] { ServePluginHost(b.get(), {.max_frame_bytes = 1u << 20}); });
  FrameChannel client(a.get(), 1u << 20);
  ASSERT_TRUE(client.Write(Make(FrameType::kHealth, {})));
  auto reply = client.Read();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type, FrameType::kError);
  EXPECT_EQ(reply->fields[0], "plugin.not_sealed");
  // A malformed seal is refused before anything is installed.
  ASSERT_TRUE(client.Write(Make(FrameType::kSeal, {"abc"})));
  reply = client.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->fields[0], "plugin.bad_request");
  a.Reset();
  server.join();
}

// Exit code of arsenal-plugin-host run with `flag` (or none) and fd 0 = `stdin_fd` (-1: /dev/null).
int RunHostBinary(const char* flag, int stdin_fd = -1) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int in = stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    int err = ::open("/dev/null", O_WRONLY);
    ::dup2(err, 2);
    ::execl(ARSENAL_PLUGIN_HOST, ARSENAL_PLUGIN_HOST, flag, nullptr);
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(PluginHostServerTest, TheBinaryRefusesToRunWithoutASocket) {
  EXPECT_EQ(RunHostBinary(nullptr), 2);
}

TEST(PluginHostServerTest, TheBinaryChecksItsSpinBudget) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  for (const char* bad : {"--spin-us=1001", "--spin-us=-1", "--spin-us=", "--spin-us=5x"}) {
    EXPECT_EQ(RunHostBinary(bad, b.get()), 2) << bad;
  }
  a.Reset();  // end of stream: a valid budget serves until then and exits cleanly
  EXPECT_EQ(RunHostBinary("--spin-us=1000", b.get()), 0);
}

}  // namespace
}  // namespace arsenal::hotreload::plugin
