// FrameChannel's adaptive busy-polling: bounded CPU, deadlines and hang-ups seen while polling,
// back-off after misses, no polling for a peer on the same CPU, and the cpu hint on the wire.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "arsenal/base/unique_fd.h"
#include "arsenal/hotreload/plugin_protocol.h"
#include "hotreload_test_util.h"

namespace arsenal::hotreload::plugin {
namespace {

using Clock = FrameChannel::Clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// A cpu hint no machine has: the reader always sees its peer "on another CPU".
constexpr uint16_t kFarCpu = 60000;

Frame Health(uint32_t id, uint16_t cpu = 0) {
  Frame frame;
  frame.type = FrameType::kHealth;
  frame.id = id;
  frame.cpu = cpu;
  return frame;
}

using hotreload::testing::Encoded;

Clock::duration ThreadCpuTime() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

class BusyPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    writer_fd_.Reset(fds[0]);
    reader_fd_.Reset(fds[1]);
    reader_ = std::make_unique<FrameChannel>(reader_fd_.get(), kMinFrameBytes);
    writer_ = std::make_unique<FrameChannel>(writer_fd_.get(), kMinFrameBytes);
  }
  void TearDown() override {
    if (sender_.joinable()) sender_.join();
  }

  // Makes the reader believe its peer runs on another CPU (the hint of the frame it reads).
  void PeerOnAnotherCpu() {
    ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(1, kFarCpu))));
    auto frame = reader_->Read(Clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(frame) << frame.error().ToString();
    EXPECT_EQ(frame->cpu, kFarCpu);
  }

  // Sends a frame with the far cpu hint after `delay`, from another thread.
  void SendLater(Clock::duration delay, uint32_t id) {
    if (sender_.joinable()) sender_.join();
    sender_ = std::thread([this, delay, id] {
      std::this_thread::sleep_for(delay);
      EXPECT_TRUE(writer_->WriteRaw(Encoded(Health(id, kFarCpu))));
    });
  }

  UniqueFd writer_fd_, reader_fd_;
  std::unique_ptr<FrameChannel> reader_, writer_;
  std::thread sender_;
};

TEST_F(BusyPollTest, TheBudgetIsBounded) {
  EXPECT_EQ(reader_->spin_budget(), std::chrono::nanoseconds::zero()) << "off by default";
  EXPECT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  auto too_long = reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget + microseconds(1));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), "plugin.bad_spin_budget");
  EXPECT_FALSE(reader_->SetSpinBudget(microseconds(-1)));
  EXPECT_EQ(reader_->spin_budget(), FrameChannel::kMaxSpinBudget) << "unchanged by refusals";
}

TEST_F(BusyPollTest, WriteStampsTheSendersCpuAndReadRemembersIt) {
  ASSERT_TRUE(writer_->Write(Health(3)));
  char raw[64];
  ssize_t n = ::recv(reader_fd_.get(), raw, sizeof(raw), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(kPrefixBytes + kHeaderBytes));
  uint16_t hint = 0;
  std::memcpy(&hint, raw + kPrefixBytes + 2, sizeof(hint));
  const long cpus = ::sysconf(_SC_NPROCESSORS_CONF);
  EXPECT_GE(hint, 1u);
  EXPECT_LE(hint, static_cast<uint16_t>(cpus));
}

TEST_F(BusyPollTest, AnAnswerWithinTheBudgetIsCaughtByPolling) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  PeerOnAnotherCpu();
  // Already there: the first poll finds it.
  ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(2, kFarCpu))));
  ASSERT_TRUE(reader_->Read(Clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(reader_->spin_stats().hits, 1u);
  EXPECT_EQ(reader_->spin_stats().misses, 0u);
}

// Delays are generous: on a loaded machine the reader itself may be preempted for a while, and
// data that is already there when it starts to wait is (correctly) a hit.
TEST_F(BusyPollTest, ALateAnswerFallsBackToSleepingAndLaterWaitsBackOff) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  PeerOnAnotherCpu();
  auto start = Clock::now();
  SendLater(milliseconds(100), 2);
  auto frame = reader_->Read(start + std::chrono::seconds(5));
  ASSERT_TRUE(frame) << frame.error().ToString();
  EXPECT_EQ(frame->id, 2u);
  EXPECT_GE(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(reader_->spin_stats().misses, 1u);
  // The next wait sleeps at once (one wait backs off after the first miss), the one after polls
  // again and misses again (then two back off), and so on.
  for (uint32_t id = 3; id <= 4; ++id) {
    SendLater(milliseconds(100), id);
    auto next = reader_->Read(Clock::now() + std::chrono::seconds(5));
    ASSERT_TRUE(next) << next.error().ToString();
    EXPECT_EQ(next->id, id);
  }
  EXPECT_EQ(reader_->spin_stats().misses, 2u);
  EXPECT_EQ(reader_->spin_stats().backed_off, 1u);
  EXPECT_EQ(reader_->spin_stats().hits, 0u);
  // A sleeping wait that finds its data within the budget shows the peer is quick again:
  // polling resumes at the next wait (at most the two backed-off waits before that).
  sender_.join();
  for (uint32_t id = 5; id <= 10 && reader_->spin_stats().hits == 0; ++id) {
    ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(id, kFarCpu))));
    ASSERT_TRUE(reader_->Read(Clock::now() + std::chrono::seconds(5)));
  }
  EXPECT_EQ(reader_->spin_stats().hits, 1u);
  EXPECT_EQ(reader_->spin_stats().misses, 2u);
  EXPECT_GE(reader_->spin_stats().backed_off, 2u);
  EXPECT_LE(reader_->spin_stats().backed_off, 3u);
}

TEST_F(BusyPollTest, AWaitBurnsAtMostTheBudgetOfCpu) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  PeerOnAnotherCpu();
  SendLater(milliseconds(200), 2);
  auto cpu_before = ThreadCpuTime();
  auto frame = reader_->Read(Clock::now() + std::chrono::seconds(5));
  auto burned = ThreadCpuTime() - cpu_before;
  ASSERT_TRUE(frame) << frame.error().ToString();
  EXPECT_EQ(reader_->spin_stats().misses, 1u);
  // 1 ms of polling plus the sleep's own bookkeeping; far below the 200 ms waited.
  EXPECT_LT(burned, milliseconds(20));
}

TEST_F(BusyPollTest, TheDeadlineAppliesWhilePolling) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  ASSERT_TRUE(reader_->SetReceiveTimeout(milliseconds(100)));
  PeerOnAnotherCpu();
  auto start = Clock::now();
  auto timed_out = reader_->Read(start + microseconds(300));
  auto waited = Clock::now() - start;
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code(), "plugin.timeout");
  EXPECT_GE(waited, microseconds(300));
  EXPECT_LT(waited, milliseconds(50)) << "neither the budget nor SO_RCVTIMEO overshoot it";
}

TEST_F(BusyPollTest, AHangUpIsSeenWhilePolling) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  PeerOnAnotherCpu();
  sender_ = std::thread([this] {
    std::this_thread::sleep_for(microseconds(200));
    writer_fd_.Reset();
  });
  auto start = Clock::now();
  auto closed = reader_->Read(start + std::chrono::seconds(5));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code(), "plugin.closed");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

TEST_F(BusyPollTest, APeerOnTheSameCpuOrAnUnknownOneIsNotPolledFor) {
  ASSERT_TRUE(reader_->SetSpinBudget(FrameChannel::kMaxSpinBudget));
  // Unknown: no frame read yet, and then a frame without a hint.
  ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(1))));
  ASSERT_TRUE(reader_->Read(Clock::now() + std::chrono::seconds(5)));
  ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(2))));
  ASSERT_TRUE(reader_->Read(Clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(reader_->spin_stats().same_cpu, 2u);
  // The same CPU: pin this thread, and have the frame say it came from there.
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(saved), &saved), 0);
  const int cpu = ::sched_getcpu();
  ASSERT_GE(cpu, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(3, static_cast<uint16_t>(cpu + 1)))));
  ASSERT_TRUE(reader_->Read(Clock::now() + std::chrono::seconds(5)));
  ASSERT_TRUE(writer_->WriteRaw(Encoded(Health(4))));
  auto frame = reader_->Read(Clock::now() + std::chrono::seconds(5));
  ASSERT_EQ(::sched_setaffinity(0, sizeof(saved), &saved), 0);
  ASSERT_TRUE(frame);
  EXPECT_EQ(reader_->spin_stats().same_cpu, 4u);
  EXPECT_EQ(reader_->spin_stats().hits + reader_->spin_stats().misses, 0u);
}

}  // namespace
}  // namespace arsenal::hotreload::plugin
