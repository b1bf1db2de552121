#include "core/concurrency/ordered_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace starlight::concurrency {
namespace {

TEST(OrderedPoolTest, KeepsSubmissionOrderWithRandomCosts) {
  constexpr int kJobs = 3000;
  constexpr uint64_t kBudget = 1000;
  std::vector<uint64_t> seqs;
  std::vector<std::string> outputs;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> max_in_flight{0};
  std::vector<uint64_t> costs(kJobs);
  OrderedPool pool(4, kBudget, [&](uint64_t seq, std::string&& out) -> Status {
    seqs.push_back(seq);
    outputs.push_back(std::move(out));
    in_flight -= static_cast<int64_t>(costs[seq]);
    return Status::Ok();
  });
  std::mt19937 rng(1234);
  for (int i = 0; i < kJobs; ++i) {
    costs[i] = rng() % 300 + 1;
    int work = static_cast<int>(rng() % 4);
    int spin = static_cast<int>(rng() % 2000);
    uint64_t seq = 0;
    ASSERT_TRUE(pool.Submit(
                        [i, work, spin] {
                          // Random cost: some jobs yield or sleep, some burn a little CPU.
                          if (work == 0) std::this_thread::sleep_for(std::chrono::microseconds(spin));
                          if (work == 1) std::this_thread::yield();
                          volatile uint64_t x = 0;
                          for (int k = 0; k < spin * (work == 2); ++k) x = x + k;
                          return "job-" + std::to_string(i);
                        },
                        costs[i], &seq)
                    .ok());
    EXPECT_EQ(seq, static_cast<uint64_t>(i));
    int64_t now = (in_flight += static_cast<int64_t>(costs[i]));
    int64_t prev = max_in_flight.load();
    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
    }
  }
  ASSERT_TRUE(pool.Finish().ok());
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(seqs[i], static_cast<uint64_t>(i));
    EXPECT_EQ(outputs[i], "job-" + std::to_string(i));
  }
  // Costs are counted from admission to consumption, so the observed sum never exceeds the
  // budget (the counter is raised after Submit returns and lowered in the consumer).
  EXPECT_LE(max_in_flight.load(), static_cast<int64_t>(kBudget));
  EXPECT_EQ(in_flight.load(), 0);
}

TEST(OrderedPoolTest, SingleThreadAndOversizedJob) {
  std::vector<std::string> outputs;
  OrderedPool pool(1, 10, [&](uint64_t, std::string&& out) {
    outputs.push_back(out);
    return Status::Ok();
  });
  // A job costing more than the budget is still admitted into an empty pool (no deadlock).
  ASSERT_TRUE(pool.Submit([] { return std::string("big"); }, 1000).ok());
  ASSERT_TRUE(pool.Submit([] { return std::string("small"); }, 1).ok());
  ASSERT_TRUE(pool.Submit([] { return std::string(); }, 0).ok());
  ASSERT_TRUE(pool.Finish().ok());
  EXPECT_EQ(outputs, (std::vector<std::string>{"big", "small", ""}));
  EXPECT_TRUE(pool.Finish().ok());  // idempotent
}

TEST(OrderedPoolTest, ConsumerErrorStopsThePool) {
  constexpr uint64_t kFailAt = 10;
  std::atomic<int> consumed{0};
  std::atomic<int> ran{0};
  OrderedPool pool(3, 8, [&](uint64_t seq, std::string&&) -> Status {
    ++consumed;
    if (seq == kFailAt) return Status::IoError("disk full at job " + std::to_string(seq));
    return Status::Ok();
  });
  Status first_error;
  int submitted = 0;
  for (int i = 0; i < 100000 && first_error.ok(); ++i) {
    first_error = pool.Submit(
        [&ran] {
          ++ran;
          return std::string("x");
        },
        1);
    if (first_error.ok()) ++submitted;
  }
  // Submit must start failing (with the consumer's error) well before 100000 jobs.
  ASSERT_FALSE(first_error.ok());
  EXPECT_EQ(first_error.code(), Code::kIoError);
  EXPECT_EQ(first_error.message(), "disk full at job 10");
  Status s = pool.Finish();
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.message(), "disk full at job 10");
  EXPECT_EQ(pool.Finish().code(), Code::kIoError);
  // The consumer is never called again after its error.
  EXPECT_EQ(consumed.load(), static_cast<int>(kFailAt) + 1);
  EXPECT_GT(submitted, static_cast<int>(kFailAt));
  EXPECT_LE(ran.load(), submitted);
}

TEST(OrderedPoolTest, DestructorWithoutFinish) {
  std::atomic<int> consumed{0};
  {
    OrderedPool pool(2, 100, [&](uint64_t, std::string&&) {
      ++consumed;
      return Status::Ok();
    });
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.Submit([] { return std::string("y"); }, 3).ok());
  }
  EXPECT_EQ(consumed.load(), 50);
}

TEST(OrderedPoolTest, HardwareThreadsPositive) { EXPECT_GE(OrderedPool::HardwareThreads(), 1); }

}  // namespace
}  // namespace starlight::concurrency
