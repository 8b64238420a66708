// Module entry of turbowan.node: the N-API layer only translates; the engine lives in native/engine.
#include <napi.h>

#include "engine_wrap.h"
#include "models/wan_dit_cuda.h"

namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cuda", bool(TW_CUDA_ENABLED_FLAG));
  o.Set("gpu", tw::engine::cuda_available());
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  using namespace tw::addon;
  Napi::Function dit = EngineWrap::define(env);
  g_engine_ctor = new Napi::FunctionReference(Napi::Persistent(dit));
  exports.Set("Engine", dit);
  exports.Set("CancelToken", CancelTokenWrap::define(env));
  exports.Set("loadEngine", Napi::Function::New(env, &EngineWrap::load, "loadEngine"));
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  return exports;
}

}  // namespace

NODE_API_MODULE(turbowan, init)
