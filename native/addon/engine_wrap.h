// The DiT half of the engine as a JS object: load (async), forward, denoise, dispose.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "core/progress.h"
#include "models/wan_dit.h"

namespace tw::addon {

class CancelTokenWrap : public Napi::ObjectWrap<CancelTokenWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit CancelTokenWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<engine::CancelToken> token() const { return token_; }
  static std::shared_ptr<engine::CancelToken> from(const Napi::Value& v);
 private:
  Napi::Value cancel(const Napi::CallbackInfo& info);
  std::shared_ptr<engine::CancelToken> token_ = std::make_shared<engine::CancelToken>();
};

struct DitModels {
  std::unique_ptr<engine::WanDit> high, low;
};

class DitEngine : public Napi::ObjectWrap<DitEngine> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Value load(const Napi::CallbackInfo& info);  // loadDit(options) → Promise<DitEngine>
  explicit DitEngine(const Napi::CallbackInfo& info);
  ~DitEngine() override;

 private:
  Napi::Value config(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value denoise(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<DitModels> models_or_throw(Napi::Env env);

  std::shared_ptr<DitModels> models_;
  int64_t external_bytes_ = 0;
};

extern Napi::FunctionReference* g_dit_engine_ctor;

}  // namespace tw::addon
