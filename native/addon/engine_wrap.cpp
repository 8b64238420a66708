#include "engine_wrap.h"

#include "convert.h"
#include "promise_worker.h"
#include "models/umt5_cuda.h"
#include "models/wan_dit_cuda.h"
#include "models/wan_vae_cuda.h"
#include "sampler/rcm.h"

namespace tw::addon {

Napi::FunctionReference* g_engine_ctor = nullptr;

// ---------------------------------------------------------------- CancelToken
Napi::Function CancelTokenWrap::define(Napi::Env env) {
  return DefineClass(env, "CancelToken", {InstanceMethod("cancel", &CancelTokenWrap::cancel)});
}
CancelTokenWrap::CancelTokenWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelTokenWrap>(info) {}
Napi::Value CancelTokenWrap::cancel(const Napi::CallbackInfo& info) {
  token_->cancel();
  return info.Env().Undefined();
}
std::shared_ptr<engine::CancelToken> CancelTokenWrap::from(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  return Napi::ObjectWrap<CancelTokenWrap>::Unwrap(v.As<Napi::Object>())->token();
}

// ---------------------------------------------------------------- helpers
namespace {

engine::WanDitConfig config_from(const Napi::Object& opts, bool* has_expect) {
  engine::WanDitConfig cfg;
  *has_expect = false;
  std::string model = get_or<std::string>(opts, "model", "");
  if (!model.empty() && model != "custom") {
    cfg = engine::named_dit_config(model);
    *has_expect = true;
  }
  Napi::Value c = opts.Get("config");
  if (c.IsObject()) {
    Napi::Object o = c.As<Napi::Object>();
    auto num = [&](const char* k, int64_t& field) {
      if (o.Get(k).IsNumber()) { field = o.Get(k).As<Napi::Number>().Int64Value(); *has_expect = true; }
    };
    num("dim", cfg.dim); num("ffnDim", cfg.ffn_dim); num("numHeads", cfg.num_heads); num("numLayers", cfg.num_layers);
    num("inDim", cfg.in_dim); num("outDim", cfg.out_dim); num("textDim", cfg.text_dim); num("textLen", cfg.text_len);
    num("freqDim", cfg.freq_dim);
    if (o.Get("eps").IsNumber()) cfg.eps = o.Get("eps").As<Napi::Number>().FloatValue();
    if (o.Get("modelType").IsString()) cfg.model_type = std::string(o.Get("modelType").As<Napi::String>());
  }
  return cfg;
}

engine::AttentionOptions attention_from(const Napi::Object& o) {
  engine::AttentionOptions a;
  a.kind = engine::parse_attention_kind(get_or<std::string>(o, "attention", "original"));
  a.topk = float(get_or<double>(o, "topk", 0.1));
  return a;
}

Napi::Object config_to_js(Napi::Env env, const engine::WanDit& m) {
  const auto& c = m.config();
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("dim", double(c.dim));
  o.Set("ffnDim", double(c.ffn_dim));
  o.Set("numHeads", double(c.num_heads));
  o.Set("numLayers", double(c.num_layers));
  o.Set("inDim", double(c.in_dim));
  o.Set("outDim", double(c.out_dim));
  o.Set("textDim", double(c.text_dim));
  o.Set("textLen", double(c.text_len));
  o.Set("freqDim", double(c.freq_dim));
  o.Set("eps", c.eps);
  o.Set("quantized", m.quantized());
  o.Set("hasProjL", m.has_proj_l());
  return o;
}

}  // namespace

// ---------------------------------------------------------------- EngineWrap
Napi::Function EngineWrap::define(Napi::Env env) {
  return DefineClass(env, "EngineWrap",
                     {InstanceAccessor("config", &EngineWrap::config, nullptr),
                      InstanceMethod("forward", &EngineWrap::forward), InstanceMethod("denoise", &EngineWrap::denoise),
                      InstanceMethod("encodeText", &EngineWrap::encode_text),
                      InstanceMethod("generate", &EngineWrap::generate),
                      InstanceMethod("dispose", &EngineWrap::dispose)});
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "Engine is created by loadEngine(), not with new");
  auto* holder = info[0].As<Napi::External<std::shared_ptr<engine::PipelineModels>>>().Data();
  models_ = *holder;
  delete holder;
}

// Finalizer: the safety net when dispose() was not called (in-flight calls hold their own reference).
EngineWrap::~EngineWrap() { models_.reset(); }

std::shared_ptr<engine::PipelineModels> EngineWrap::models_or_throw(Napi::Env env) {
  if (!models_) throw Napi::Error::New(env, "this engine was disposed; load it again");
  return models_;
}

Napi::Value EngineWrap::load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "loadEngine(options) needs an options object");
  Napi::Object opts = info[0].As<Napi::Object>();
  auto high = strings_arg(opts.Get("dit"), "checkpoints.dit");
  auto low = strings_arg(opts.Get("ditLow"), "checkpoints.ditLow");
  auto t5 = strings_arg(opts.Get("textEncoder"), "checkpoints.textEncoder");
  auto vae = strings_arg(opts.Get("vae"), "checkpoints.vae");
  if (high.empty()) throw Napi::TypeError::New(env, "checkpoints.dit is required (path or list of shard paths)");
  bool has_expect = false;
  engine::WanDitConfig expect = config_from(opts, &has_expect);
  int64_t text_len = expect.text_len;
  const std::string backend = get_or<std::string>(opts, "backend", "auto");
  const bool text_encoder_on_cpu = get_or<bool>(opts, "textEncoderOnCpu", false);
  // "auto": int8 on GPUs under 40 GiB, else bf16 (UMT5EncoderCuda::default_weights), decided at load.
  const std::string t5_weights = get_or<std::string>(opts, "textEncoderWeights", "auto");
  if (t5_weights != "auto" && t5_weights != "bf16" && t5_weights != "int8")
    throw Napi::TypeError::New(env, "textEncoderWeights must be bf16 or int8, got " + t5_weights);
  if (backend != "auto" && backend != "cpu" && backend != "cuda")
    throw Napi::TypeError::New(env, "backend must be auto, cpu or cuda, got " + backend);
  engine::GpuLoadOptions gpu;
  try {
    gpu.residency = engine::parse_expert_residency(get_or<std::string>(opts, "expertResidency", "auto"));
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, e.what());
  }
  if (!t5.empty() && !text_encoder_on_cpu) gpu.text_encoder = t5.front();
  gpu.text_encoder_weights = t5_weights;
  if (!vae.empty()) gpu.vae = vae.front();
  return PromiseWorker<std::shared_ptr<engine::PipelineModels>>::start(
      env,
      [=]() {
        auto m = std::make_shared<engine::PipelineModels>();
        m->high = engine::WanDit::load(high, has_expect ? &expect : nullptr, text_len);
        if (!low.empty()) m->low = engine::WanDit::load(low, has_expect ? &expect : nullptr, text_len);
        if (!t5.empty()) m->text_encoder = engine::UMT5Encoder::load(t5.front());
        if (!vae.empty()) m->vae = engine::WanVae::load(vae.front());
        if (backend == "cuda" || (backend == "auto" && engine::cuda_available())) {
          // The CPU copies stay mapped (no second host copy) for configs and as the CPU path.
          engine::load_gpu_models(*m, gpu);  // umT5, VAE, then the DiT expert(s) by expertResidency
        }
        return m;
      },
      [](Napi::Env env, std::shared_ptr<engine::PipelineModels>& m) -> Napi::Value {
        auto* holder = new std::shared_ptr<engine::PipelineModels>(m);
        return g_engine_ctor->New({Napi::External<std::shared_ptr<engine::PipelineModels>>::New(env, holder)});
      });
}

Napi::Value EngineWrap::config(const Napi::CallbackInfo& info) {
  auto m = models_or_throw(info.Env());
  Napi::Object o = config_to_js(info.Env(), *m->high);
  o.Set("backend", m->high_gpu ? "cuda" : "cpu");
  o.Set("textEncoderBackend", m->text_encoder_gpu ? "cuda" : (m->text_encoder ? "cpu" : "none"));
  if (m->text_encoder_gpu) o.Set("textEncoderWeights", engine::umt5_weights_name(m->text_encoder_gpu->weights()));
  o.Set("vaeBackend", m->vae_gpu ? "cuda" : (m->vae ? "cpu" : "none"));
  o.Set("expertResidency", m->low_gpu ? (m->experts_parked ? "parked" : "resident") : "none");
  return o;
}

// forward({x, xShape, cond?, condShape?, timestep, context, contextShape, attention?, topk?, expert?})
Napi::Value EngineWrap::forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto models = models_or_throw(env);
  Napi::Object o = info[0].As<Napi::Object>();
  auto xs = shape_arg(o.Get("xShape"), "xShape");
  auto x = floats_arg(o.Get("x"), "x", numel(xs));
  auto cs = shape_arg(o.Get("contextShape"), "contextShape");
  auto ctx = floats_arg(o.Get("context"), "context", numel(cs));
  std::vector<int64_t> ys;
  std::vector<float> cond;
  if (o.Get("cond").IsTypedArray()) {
    ys = shape_arg(o.Get("condShape"), "condShape");
    cond = floats_arg(o.Get("cond"), "cond", numel(ys));
  }
  double t = get_or<double>(o, "timestep", 1000.0);
  engine::AttentionOptions attn = attention_from(o);
  bool use_low = get_or<std::string>(o, "expert", "high") == "low";
  if (use_low && !models->low) throw Napi::Error::New(env, "expert 'low' requested but no low-noise expert is loaded");
  std::vector<int64_t> out_shape = xs;
  if (out_shape.size() == 5) out_shape[1] = models->high->config().out_dim;
  return PromiseWorker<std::vector<float>>::start(
      env,
      [=]() mutable {
        const engine::DitNetwork& m = use_low ? *models->low_net() : models->high_net();
        Tensor xt = Tensor::view(x.data(), DType::F32, xs), ct = Tensor::view(ctx.data(), DType::F32, cs);
        Tensor yt = cond.empty() ? Tensor{} : Tensor::view(cond.data(), DType::F32, ys);
        if (xs.size() != 5) throw Error("xShape must be [B, C, T, H, W]");
        std::vector<float> out(size_t(numel(out_shape)));
        Tensor ot = Tensor::view(out.data(), DType::F32, out_shape);
        std::vector<double> ts(size_t(xs[0]), t);
        m.forward(xt, yt, ts.data(), ct, attn, ot);
        return out;
      },
      [](Napi::Env env, std::vector<float>& out) -> Napi::Value { return to_js(env, out.data(), out.size()); });
}

// denoise({latentShape, context, contextShape, cond?, condShape?, steps, sigmaMax, seed, ode,
//          attention, topk, initialNoise?, stepNoises?}, onProgress?, cancelToken?)
Napi::Value EngineWrap::denoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto models = models_or_throw(env);
  Napi::Object o = info[0].As<Napi::Object>();
  auto ls = shape_arg(o.Get("latentShape"), "latentShape");
  if (ls.size() != 5) throw Napi::TypeError::New(env, "latentShape must be [B, 16, T, H, W]");
  const int64_t n = numel(ls);
  auto cs = shape_arg(o.Get("contextShape"), "contextShape");
  auto ctx = floats_arg(o.Get("context"), "context", numel(cs));
  std::vector<int64_t> ys;
  std::vector<float> cond;
  if (o.Get("cond").IsTypedArray()) {
    ys = shape_arg(o.Get("condShape"), "condShape");
    cond = floats_arg(o.Get("cond"), "cond", numel(ys));
  }
  engine::RcmOptions ro;
  ro.steps = int(get_or<double>(o, "steps", 4));
  ro.sigma_max = get_or<double>(o, "sigmaMax", 80.0);
  ro.seed = uint64_t(get_or<double>(o, "seed", 0));
  ro.ode = get_or<bool>(o, "ode", false);
  ro.attention = attention_from(o);
  std::vector<float> noise0;
  std::vector<std::vector<float>> step_noises;
  if (o.Get("initialNoise").IsTypedArray()) noise0 = floats_arg(o.Get("initialNoise"), "initialNoise", n);
  if (o.Get("stepNoises").IsArray()) {
    Napi::Array a = o.Get("stepNoises").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) step_noises.push_back(floats_arg(a.Get(i), "stepNoises[i]", n));
  }
  auto bridge = std::make_shared<ProgressBridge>(env, info.Length() > 1 ? info[1] : env.Undefined());
  auto cancel = info.Length() > 2 ? CancelTokenWrap::from(info[2]) : nullptr;
  struct Out {
    std::vector<float> latents;
    engine::RcmResult res;
  };
  return PromiseWorker<Out>::start(
      env,
      [=]() mutable {
        Out out;
        out.latents.resize(size_t(n));
        Tensor lt = Tensor::view(out.latents.data(), DType::F32, ls);
        Tensor ct = Tensor::view(ctx.data(), DType::F32, cs);
        Tensor yt = cond.empty() ? Tensor{} : Tensor::view(cond.data(), DType::F32, ys);
        if (!noise0.empty()) ro.initial_noise = noise0.data();
        for (auto& s : step_noises) ro.step_noises.push_back(s.data());
        out.res = engine::rcm_sample(models->high_net(), models->low_net(), ct, yt, ro, lt, bridge->fn(), cancel.get());
        return out;
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("latents", to_js(env, out.latents.data(), out.latents.size()));
        Napi::Array times = Napi::Array::New(env, out.res.times.size());
        for (uint32_t i = 0; i < out.res.times.size(); ++i) times.Set(i, out.res.times[i]);
        r.Set("times", times);
        r.Set("denoiseMs", out.res.denoise_ms);
        return r;
      },
      [bridge]() { bridge->release(); });
}

namespace {
std::vector<int32_t> ints_arg(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}
}  // namespace

// encodeText(ids: Int32Array, mask: Int32Array) → Promise<Float32Array [len, dim]>
Napi::Value EngineWrap::encode_text(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto models = models_or_throw(env);
  if (!models->text_encoder) throw Napi::Error::New(env, "no text encoder is loaded: give checkpoints.textEncoder");
  auto ids = ints_arg(info[0], "ids"), mask = ints_arg(info[1], "mask");
  return PromiseWorker<HostTensor>::start(
      env, [=]() { return models->text_encoder->encode(ids, mask); },
      [](Napi::Env env, HostTensor& e) -> Napi::Value { return to_js(env, e.f32(), size_t(e.numel())); });
}

// generate({ids?, mask?, textEmbedding?, width, height, frames, samples, image?, steps, sigmaMax,
//           seed, ode, attention, topk}, onProgress?, cancelToken?)
Napi::Value EngineWrap::generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto models = models_or_throw(env);
  Napi::Object o = info[0].As<Napi::Object>();
  engine::GenerateParams p;
  if (o.Get("textEmbedding").IsTypedArray()) p.text_embedding = floats_arg(o.Get("textEmbedding"), "textEmbedding", -1);
  else {
    p.ids = ints_arg(o.Get("ids"), "ids");
    p.mask = ints_arg(o.Get("mask"), "mask");
  }
  p.width = int64_t(get_or<double>(o, "width", 832));
  p.height = int64_t(get_or<double>(o, "height", 480));
  p.frames = int64_t(get_or<double>(o, "frames", 81));
  p.samples = int64_t(get_or<double>(o, "samples", 1));
  if (o.Get("image").IsTypedArray()) p.image = floats_arg(o.Get("image"), "image", 3 * p.width * p.height);
  p.rcm.steps = int(get_or<double>(o, "steps", 4));
  p.rcm.sigma_max = get_or<double>(o, "sigmaMax", 80.0);
  p.rcm.seed = uint64_t(get_or<double>(o, "seed", 0));
  p.rcm.ode = get_or<bool>(o, "ode", false);
  p.rcm.attention = attention_from(o);
  auto bridge = std::make_shared<ProgressBridge>(env, info.Length() > 1 ? info[1] : env.Undefined());
  auto cancel = info.Length() > 2 ? CancelTokenWrap::from(info[2]) : nullptr;
  auto frames = std::make_shared<FramesBridge>(env, info.Length() > 3 ? info[3] : env.Undefined());
  p.on_frames = frames->fn(p.width, p.height);
  return PromiseWorker<engine::GenerateResult>::start(
      env, [=]() { return engine::generate(*models, p, bridge->fn(), cancel.get()); },
      [](Napi::Env env, engine::GenerateResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        Napi::Uint8Array frames = Napi::Uint8Array::New(env, r.frames.size());
        std::copy(r.frames.begin(), r.frames.end(), frames.Data());
        o.Set("frames", frames);
        o.Set("numFrames", double(r.num_frames));
        o.Set("textEmbedding", to_js(env, r.text_embedding.data(), r.text_embedding.size()));
        Napi::Object t = Napi::Object::New(env);
        for (auto& [k, v] : r.timings_ms) t.Set(k, v);
        o.Set("timingsMs", t);
        return o;
      },
      [bridge]() { bridge->release(); },
      [frames](Napi::Env env, std::function<void(Napi::Env)> settle) { frames->release_then(env, std::move(settle)); });
}

Napi::Value EngineWrap::dispose(const Napi::CallbackInfo& info) {
  models_.reset();  // calls still running keep their own reference and finish normally
  return info.Env().Undefined();
}

}  // namespace tw::addon
