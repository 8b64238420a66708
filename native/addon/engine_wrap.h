// The engine as a JS object: loadEngine (async), forward, denoise, encodeText, generate, dispose.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "core/progress.h"
#include "pipeline/generate.h"

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

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Value load(const Napi::CallbackInfo& info);  // loadEngine(options) → Promise<Engine>
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

 private:
  Napi::Value config(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value denoise(const Napi::CallbackInfo& info);
  Napi::Value encode_text(const Napi::CallbackInfo& info);
  Napi::Value generate(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<engine::PipelineModels> models_or_throw(Napi::Env env);

  std::shared_ptr<engine::PipelineModels> models_;
  int64_t external_bytes_ = 0;
};

extern Napi::FunctionReference* g_engine_ctor;

}  // namespace tw::addon
