#include "core/concurrency/ordered_pool.h"

#include <sched.h>

namespace starlight::concurrency {

int OrderedPool::HardwareThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

OrderedPool::OrderedPool(int threads, uint64_t budget, Consumer consumer)
    : consumer_(std::move(consumer)), budget_(budget) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  consumer_thread_ = std::thread([this] { ConsumerLoop(); });
}

OrderedPool::~OrderedPool() { (void)Finish(); }

Status OrderedPool::Submit(Job job, uint64_t cost, uint64_t* seq) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return slots_.empty() || pending_cost_ + cost <= budget_ || !error_.ok(); });
  if (!error_.ok()) return error_;
  pending_cost_ += cost;
  slots_.push_back(Slot{std::move(job), cost, {}, false});
  if (seq) *seq = submitted_;
  ++submitted_;
  cv_.notify_all();
  return Status::Ok();
}

void OrderedPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return next_job_ < submitted_ || closing_; });
    if (next_job_ >= submitted_) return;  // closing and nothing left
    uint64_t seq = next_job_++;
    Job job = std::move(slots_[seq - base_].job);
    bool failed = !error_.ok();  // after a failure, remaining jobs are skipped
    lock.unlock();
    std::string out = failed ? std::string() : job();
    lock.lock();
    Slot& s = slots_[seq - base_];
    s.output = std::move(out);
    s.done = true;
    cv_.notify_all();
  }
}

void OrderedPool::ConsumerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return (!slots_.empty() && slots_.front().done) || (closing_ && slots_.empty()); });
    if (slots_.empty()) return;
    std::string out = std::move(slots_.front().output);
    uint64_t seq = base_;
    bool failed = !error_.ok();
    lock.unlock();
    Status s = failed ? Status::Ok() : consumer_(seq, std::move(out));
    lock.lock();
    if (!s.ok() && error_.ok()) error_ = s;
    pending_cost_ -= slots_.front().cost;
    slots_.pop_front();
    ++base_;
    cv_.notify_all();
  }
}

Status OrderedPool::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return error_;
    closing_ = true;
    finished_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  consumer_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace starlight::concurrency
