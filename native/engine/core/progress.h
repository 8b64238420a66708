// Progress reporting and cooperative cancellation shared by every long engine call.
// The engine checks the token between steps and decode chunks; the binding sets it from an
// AbortSignal. Progress callbacks run on the engine thread; the binding forwards them to JS.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "tw/tensor.h"

namespace tw::engine {

struct ProgressEvent {
  const char* stage;  // "load" | "encode-text" | "encode-image" | "denoise" | "decode"
  int step;           // 1-based
  int total;
};
using ProgressFn = std::function<void(const ProgressEvent&)>;

class CancelToken {
 public:
  void cancel() { flag_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }
  void reset() { flag_.store(false, std::memory_order_relaxed); }
 private:
  std::atomic<bool> flag_{false};
};

// Thrown at a step boundary when the token fired; the binding turns it into an AbortError.
struct Cancelled : Error {
  Cancelled() : Error("cancelled") {}
};

inline void throw_if_cancelled(const CancelToken* token) {
  if (token && token->cancelled()) throw Cancelled();
}

}  // namespace tw::engine
