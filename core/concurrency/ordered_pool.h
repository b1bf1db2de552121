// OrderedPool: run jobs on N worker threads, hand their outputs to one consumer thread in
// submission order. Each job declares a cost (e.g. its input bytes); Submit blocks while the
// jobs queued, running or waiting to be consumed already cost `budget` (a job is always
// admitted into an empty pool), which bounds memory in streaming pipelines (the converter)
// without starving workers when one large job holds up the ordered output.
//
// Submit and Finish are called from one producer thread. The consumer runs on its own thread;
// its first error stops the pool: later Submits return that error without running the job.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status/status.h"

namespace starlight::concurrency {

class OrderedPool {
 public:
  using Job = std::function<std::string()>;
  using Consumer = std::function<Status(uint64_t seq, std::string&& output)>;

  // REQUIRES: threads >= 1.
  OrderedPool(int threads, uint64_t budget, Consumer consumer);
  ~OrderedPool();  // Finishes (waits) if Finish was not called.
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;

  // Queues a job; returns its sequence number through *seq. Fails once the consumer failed.
  Status Submit(Job job, uint64_t cost, uint64_t* seq = nullptr);
  // Waits until every submitted job has been consumed; returns the consumer's first error.
  Status Finish();

  // Number of cores usable by this process (at least 1).
  static int HardwareThreads();

 private:
  struct Slot {
    Job job;
    uint64_t cost = 0;
    std::string output;
    bool done = false;
  };
  void WorkerLoop();
  void ConsumerLoop();

  Consumer consumer_;
  uint64_t budget_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Slot> slots_;      // slots_[i] has sequence number base_ + i
  uint64_t base_ = 0;           // sequence number of slots_.front()
  uint64_t next_job_ = 0;       // next sequence number to hand to a worker
  uint64_t submitted_ = 0;
  uint64_t pending_cost_ = 0;
  bool closing_ = false;
  bool finished_ = false;
  Status error_;
  std::vector<std::thread> workers_;
  std::thread consumer_thread_;
};

}  // namespace starlight::concurrency
