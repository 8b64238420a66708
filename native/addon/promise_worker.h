// One promise-worker template for every blocking engine call: `execute` runs on a libuv worker
// thread (never the JS thread), `resolve` converts its result on the JS thread. tw::Error becomes
// a JS Error with the same message; engine::Cancelled becomes an AbortError.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"

namespace tw::addon {

// `gate` (optional) decides when the promise settles: it receives the settle step and runs it when
// its callbacks have all been delivered (FramesBridge::release_then), so a caller never sees the
// promise resolve before the last chunk the call streamed to JS.
template <class Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using ExecuteFn = std::function<Result()>;
  using ResolveFn = std::function<Napi::Value(Napi::Env, Result&)>;
  using SettleFn = std::function<void(Napi::Env)>;
  using GateFn = std::function<void(Napi::Env, SettleFn)>;

  static Napi::Promise start(Napi::Env env, ExecuteFn execute, ResolveFn resolve, std::function<void()> on_done = {},
                             GateFn gate = {}) {
    auto* w = new PromiseWorker(env, std::move(execute), std::move(resolve), std::move(on_done), std::move(gate));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      result_ = std::make_unique<Result>(execute_());
    } catch (const engine::Cancelled&) {
      cancelled_ = true;
      SetError("The operation was aborted");
    } catch (const std::bad_alloc&) {
      SetError("out of host memory (std::bad_alloc): use a smaller resolution, fewer frames or fewer samples");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    if (on_done_) on_done_();
    Napi::Env env = Env();
    Napi::Value value;
    try {
      value = resolve_(env, *result_);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      if (gate_) gate_(env, [](Napi::Env) {});
      return;
    }
    if (!gate_) {
      deferred_.Resolve(value);
      return;
    }
    // This worker is deleted when OnOK returns: the deferred settle keeps only what it needs.
    auto kept = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(value));
    Napi::Promise::Deferred deferred = deferred_;
    gate_(env, [kept, deferred](Napi::Env) mutable {
      deferred.Resolve(kept->Value());
      kept->Reset();
    });
  }
  void OnError(const Napi::Error& err) override {
    if (on_done_) on_done_();
    if (gate_) gate_(Env(), [](Napi::Env) {});
    Napi::Object e = err.Value();
    if (cancelled_) {
      e.Set("name", Napi::String::New(Env(), "AbortError"));
      e.Set("code", Napi::String::New(Env(), "ABORT_ERR"));
    } else {
      e.Set("name", Napi::String::New(Env(), "TurbowanEngineError"));
    }
    deferred_.Reject(e);
  }

 private:
  PromiseWorker(Napi::Env env, ExecuteFn execute, ResolveFn resolve, std::function<void()> on_done, GateFn gate)
      : Napi::AsyncWorker(env, "turbowan"), deferred_(Napi::Promise::Deferred::New(env)),
        execute_(std::move(execute)), resolve_(std::move(resolve)), on_done_(std::move(on_done)), gate_(std::move(gate)) {}
  Napi::Promise::Deferred deferred_;
  ExecuteFn execute_;
  ResolveFn resolve_;
  std::function<void()> on_done_;
  GateFn gate_;
  std::unique_ptr<Result> result_;
  bool cancelled_ = false;
};

// Forwards engine progress to a JS callback from any thread (non-blocking; drops nothing because
// the queue is unbounded). Release() is called when the call finishes.
class ProgressBridge {
 public:
  ProgressBridge(Napi::Env env, Napi::Value callback) {
    if (callback.IsFunction())
      tsfn_ = Napi::ThreadSafeFunction::New(env, callback.As<Napi::Function>(), "turbowan-progress", 0, 1);
  }
  engine::ProgressFn fn() {
    if (!tsfn_) return {};
    Napi::ThreadSafeFunction tsfn = tsfn_;
    return [tsfn](const engine::ProgressEvent& p) mutable {
      auto* ev = new engine::ProgressEvent(p);
      tsfn.NonBlockingCall(ev, [](Napi::Env env, Napi::Function cb, engine::ProgressEvent* e) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("stage", e->stage);
        o.Set("step", e->step);
        o.Set("total", e->total);
        delete e;
        cb.Call({o});
      });
    };
  }
  void release() {
    if (tsfn_) tsfn_.Release();
    tsfn_ = Napi::ThreadSafeFunction();
  }
 private:
  Napi::ThreadSafeFunction tsfn_;
};

// Hands decoded RGB8 chunks to a JS callback as they come (copied: the engine reuses its buffers).
// The chunks travel through the thread-safe function's queue, which Node drains on its own schedule,
// independently of the worker's completion: a promise settled at completion could beat the last
// chunk (seen: 1 job in 6). release_then() settles only once the queue is drained — Node runs a
// thread-safe function's finalizer after its last queued call.
class FramesBridge {
 public:
  FramesBridge(Napi::Env env, Napi::Value callback) {
    if (!callback.IsFunction()) return;
    auto after = after_drain_;
    tsfn_ = Napi::ThreadSafeFunction::New(env, callback.As<Napi::Function>(), "turbowan-frames", 0, 1, [after](Napi::Env env) {
      if (!*after) return;
      Napi::HandleScope scope(env);
      (*after)(env);
    });
  }
  struct Chunk {
    std::vector<uint8_t> rgb;
    int64_t sample, first, count, width, height;
  };
  std::function<void(const uint8_t*, int64_t, int64_t, int64_t)> fn(int64_t width, int64_t height) {
    if (!tsfn_) return {};
    Napi::ThreadSafeFunction tsfn = tsfn_;
    const int64_t frame_bytes = width * height * 3;
    return [tsfn, frame_bytes, width, height](const uint8_t* rgb, int64_t sample, int64_t first, int64_t count) mutable {
      auto* c = new Chunk{std::vector<uint8_t>(rgb, rgb + count * frame_bytes), sample, first, count, width, height};
      tsfn.NonBlockingCall(c, [](Napi::Env env, Napi::Function cb, Chunk* c) {
        Napi::Uint8Array a = Napi::Uint8Array::New(env, c->rgb.size());
        std::copy(c->rgb.begin(), c->rgb.end(), a.Data());
        Napi::Object o = Napi::Object::New(env);
        o.Set("frames", a);
        o.Set("sample", double(c->sample));
        o.Set("firstFrame", double(c->first));
        o.Set("count", double(c->count));
        o.Set("width", double(c->width));
        o.Set("height", double(c->height));
        delete c;
        cb.Call({o});
      });
    };
  }
  // Stops accepting chunks and runs `settle` on the JS thread after every queued chunk was delivered.
  void release_then(Napi::Env env, std::function<void(Napi::Env)> settle) {
    if (!tsfn_) return settle(env);
    *after_drain_ = std::move(settle);
    tsfn_.Release();
    tsfn_ = Napi::ThreadSafeFunction();
  }
 private:
  std::shared_ptr<std::function<void(Napi::Env)>> after_drain_ = std::make_shared<std::function<void(Napi::Env)>>();
  Napi::ThreadSafeFunction tsfn_;
};

}  // namespace tw::addon
