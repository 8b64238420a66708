#include "pipeline/generate.h"

#include <chrono>
#include <cstring>

#include "tw/ops_video.h"

namespace tw::engine {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void check_params(const PipelineModels& m, const GenerateParams& p) {
  const char* op = "generate";
  check(bool(m.high), op, "no DiT is loaded");
  check(bool(m.vae), op, "no VAE is loaded: give checkpoints.vae (Wan2.1_VAE.pth)");
  const auto& cfg = m.high->config();
  const int64_t sf = m.vae->config().spatial_factor, tf = m.vae->config().temporal_factor;
  check(p.width > 0 && p.height > 0 && p.width % (2 * sf) == 0 && p.height % (2 * sf) == 0, op,
        "width and height must be positive multiples of " + std::to_string(2 * sf) + ", got " + std::to_string(p.width) +
            "×" + std::to_string(p.height));
  check(p.frames >= 1 && (p.frames - 1) % tf == 0, op,
        "frames must be " + std::to_string(tf) + "k+1, got " + std::to_string(p.frames));
  check(p.samples >= 1 && p.samples <= 16, op, "samples must be 1–16");
  const bool i2v = cfg.in_dim != cfg.out_dim;
  check(i2v == !p.image.empty(), op, i2v ? "this is an image-to-video model: give an image" : "this is a text-to-video model: it takes no image");
  if (i2v) check(int64_t(p.image.size()) == 3 * p.height * p.width, op, "image must be [3, height, width]");
  if (p.text_embedding.empty()) {
    check(bool(m.text_encoder) || bool(m.text_encoder_gpu), op, "no text encoder is loaded: give checkpoints.textEncoder (umT5) or a text embedding");
    check(int64_t(p.ids.size()) == cfg.text_len && p.mask.size() == p.ids.size(), op,
          "ids and mask must have " + std::to_string(cfg.text_len) + " entries");
  } else {
    check(int64_t(p.text_embedding.size()) == cfg.text_len * cfg.text_dim, op,
          "text embedding must be [" + std::to_string(cfg.text_len) + ", " + std::to_string(cfg.text_dim) + "]");
  }
}

}  // namespace

void load_gpu_models(PipelineModels& m, const GpuLoadOptions& o) {
  check(bool(m.high), "load", "no DiT is loaded");
  if (!o.text_encoder.empty())
    m.text_encoder_gpu = UMT5EncoderCuda::load(o.text_encoder, o.text_encoder_weights == "auto" ? UMT5EncoderCuda::default_weights()
                                                                                              : parse_umt5_weights(o.text_encoder_weights));
  if (!o.vae.empty()) m.vae_gpu = WanVaeCuda::load(o.vae);
  if (!m.low) {
    m.high_gpu = WanDitCuda::create(*m.high);
    return;
  }
  WanDitCuda::PairOptions po;
  po.residency = o.residency;
  po.headroom_bytes = o.headroom_bytes;
  WanDitCuda::Pair p = WanDitCuda::create_pair(*m.high, *m.low, po);
  m.experts_parked = p.parked;
  m.residency = p.reason;
  m.high_gpu = std::move(p.high);
  m.low_gpu = std::move(p.low);
}

std::vector<const DitNetwork*> expert_order(const DitNetwork& high, const DitNetwork* low, const RcmOptions& o) {
  std::vector<const DitNetwork*> order;
  const std::vector<double> t = rcm_times(o.steps, o.sigma_max);
  const DitNetwork* net = &high;
  for (int i = 0; i < o.steps; ++i) {
    if (low && t[size_t(i)] < o.boundary) net = low;
    order.push_back(net);
  }
  return order;
}

GenerateResult generate(const PipelineModels& m, const GenerateParams& p, const ProgressFn& progress,
                        const CancelToken* cancel) {
  check_params(m, p);
  GenerateResult r;
  const auto& cfg = m.high->config();
  const int64_t sf = m.vae->config().spatial_factor, tf = m.vae->config().temporal_factor;
  const int64_t B = p.samples, T = 1 + (p.frames - 1) / tf, H = p.height / sf, W = p.width / sf;
  const int64_t Z = cfg.out_dim;

  // ---- text → [text_len, text_dim]
  auto t0 = Clock::now();
  throw_if_cancelled(cancel);
  if (p.text_embedding.empty()) {
    if (progress) progress({"encode-text", 0, 1});
    HostTensor e = m.text_encoder_gpu ? m.text_encoder_gpu->encode(p.ids, p.mask) : m.text_encoder->encode(p.ids, p.mask);
    check(e.t().shape[1] == cfg.text_dim, "generate",
          "the text encoder's width " + std::to_string(e.t().shape[1]) + " does not match the DiT's text_dim " +
              std::to_string(cfg.text_dim) + " (mismatched checkpoints)");
    r.text_embedding.assign(e.f32(), e.f32() + e.numel());
    if (progress) progress({"encode-text", 1, 1});
  } else {
    r.text_embedding = p.text_embedding;
  }
  r.timings_ms["encode-text"] = ms_since(t0);
  const int64_t ctx_n = cfg.text_len * cfg.text_dim;
  std::vector<float> ctx(size_t(B * ctx_n));
  for (int64_t b = 0; b < B; ++b) std::memcpy(ctx.data() + b * ctx_n, r.text_embedding.data(), size_t(ctx_n) * 4);
  Tensor ctx_t = Tensor::view(ctx.data(), DType::F32, {B, cfg.text_len, cfg.text_dim});

  // ---- I2V condition: VAE-encode [image, zeros…] → [mask(4) | latent(16)]
  std::vector<float> cond;
  Tensor cond_t;
  if (!p.image.empty()) {
    t0 = Clock::now();
    throw_if_cancelled(cancel);
    if (progress) progress({"encode-image", 0, 1});
    HostTensor video = HostTensor::zeros(DType::F32, {3, p.frames, p.height, p.width});
    for (int64_t c = 0; c < 3; ++c)
      std::memcpy(video.f32() + c * p.frames * p.height * p.width, p.image.data() + c * p.height * p.width,
                  size_t(p.height * p.width) * 4);
    HostTensor lat = m.vae_gpu ? m.vae_gpu->encode(video.t()) : m.vae->encode(video.t());  // [16, T, H, W]
    const int64_t cc = cfg.in_dim - Z, plane = T * H * W;
    check(cc == 4 + lat.t().shape[0], "generate", "the I2V DiT's in_dim does not fit the VAE's latent channels");
    cond.assign(size_t(B * cc * plane), 0.f);
    for (int64_t b = 0; b < B; ++b) {
      float* cb = cond.data() + b * cc * plane;
      for (int64_t c = 0; c < 4; ++c)
        for (int64_t i = 0; i < H * W; ++i) cb[c * plane + i] = 1.f;  // mask: latent frame 0
      std::memcpy(cb + 4 * plane, lat.f32(), size_t(lat.numel()) * 4);
    }
    cond_t = Tensor::view(cond.data(), DType::F32, {B, cc, T, H, W});
    r.timings_ms["encode-image"] = ms_since(t0);
    if (progress) progress({"encode-image", 1, 1});
  }

  // ---- rCM sampling: each sample draws its own noise (seed + s) so a batch equals separate runs.
  t0 = Clock::now();
  HostTensor lat = HostTensor::empty(DType::F32, {B, Z, T, H, W});
  if (m.experts_parked) {  // each expert's last step streams the other one in (and back for the next job)
    std::vector<const DitNetwork*> order;
    for (int64_t b = 0; b < B; ++b) {
      auto o = expert_order(m.high_net(), m.low_net(), p.rcm);
      order.insert(order.end(), o.begin(), o.end());
    }
    WanDitCuda::plan_forwards(order);
  }
  for (int64_t b = 0; b < B; ++b) {
    RcmOptions o = p.rcm;
    o.seed = p.rcm.seed + uint64_t(b);
    Tensor lb = lat.t().slice0(b, b + 1);
    Tensor cb = cond_t.empty() ? Tensor{} : cond_t.slice0(b, b + 1);
    rcm_sample(m.high_net(), m.low_net(), ctx_t.slice0(b, b + 1), cb, o, lb, progress, cancel);
  }
  r.timings_ms["denoise"] = ms_since(t0);

  // ---- decode, one latent frame per chunk, straight into RGB8
  t0 = Clock::now();
  r.num_frames = m.vae->decoded_frames(T);
  const int64_t F = r.num_frames, HW = p.height * p.width;
  r.frames.resize(size_t(B * F * HW * 3));
  for (int64_t b = 0; b < B; ++b) {
    int64_t frame0 = 0;
    Tensor lb = lat.t().slice0(b, b + 1).reshape({Z, T, H, W});
    // Each decoded chunk lands in r.frames as RGB8 (ops::to_rgb8: on the GPU before the download,
    // on the CPU from the f32 chunk), then goes to the caller's streaming encoder.
    const auto deliver = [&](uint8_t* dst, int64_t n, int chunk, int total) {
      if (p.on_frames) p.on_frames(dst, b, frame0, n);
      frame0 += n;
      if (progress) progress({"decode", int(b * total + chunk + 1), int(B * total)});
      return !(cancel && cancel->cancelled());
    };
    const auto at = [&] { return r.frames.data() + (b * F + frame0) * HW * 3; };
    const WanVae::ChunkFn cpu_chunk = [&](const Tensor& fr, int chunk, int total) {
      const int64_t n = fr.shape[1];
      uint8_t* dst = at();
      ops::to_rgb8({fr, Tensor::view(dst, DType::U8, {n, p.height, p.width, 3})});
      return deliver(dst, n, chunk, total);
    };
    const WanVaeCuda::Rgb8ChunkFn gpu_chunk = [&](const uint8_t* rgb, int64_t n, int chunk, int total) {
      uint8_t* dst = at();
      std::memcpy(dst, rgb, size_t(n * HW * 3));
      return deliver(dst, n, chunk, total);
    };
    const bool done = m.vae_gpu ? m.vae_gpu->decode_rgb8(lb, gpu_chunk) : m.vae->decode(lb, cpu_chunk);
    if (!done) throw Cancelled();
  }
  r.timings_ms["decode"] = ms_since(t0);
  return r;
}

}  // namespace tw::engine
