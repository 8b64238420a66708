// sparse_linear_attention: SLA and SageSLA (TurboDiffusion SLA/core.py; facts §4), layout [L, heads, d].
//
// PyTorch expression it mirrors (TD SparseLinearAttention.forward, per head, fp32 instead of bf16):
//   k̃ = k − k.mean(L)                                 # smooth-K (selection only)
//   S = mean_pool(q, blk_q) @ mean_pool(k̃, blk_k)ᵀ     # tail blocks averaged over their true count
//   sel = topk(S, n_sel, dim=-1)                      # n_sel = min(Kb, int(topk·Kb))
//   o_s = softmax over the keys of the selected blocks of (q·kᵀ·scale), times v
//   φ = softmax(·, dim=-1) over the head dim;  KV = φ(k)ᵀ v;  ks = Σ_L φ(k)
//   o_l = (φ(q) KV) / (1e-5 + φ(q)·ks);  o = o_s + proj_l(o_l)
// Reference choices:
// - Everything is fp32 in / fp32 out with double accumulation; TD rounds q, k, v, the pooled
//   blocks, S, φ and the matmul outputs to bf16, which is where the measured differences come from.
// - Top-k ties are broken deterministically: larger score first, then lower block index (torch.topk
//   breaks them arbitrarily). block_map lists the selected blocks in ascending order, the order in
//   which SageSLA's kernel visits them.
// - quantized (SageSLA, SpargeAttn's SM90 kernel qk_int8_sv_f8_accum_f32_..._fuse_v_scale_sm90):
//   q int8 per (head, blk_q tokens): s = max|q|/127 + 1e-7, q8 = trunc(q/s + 0.5·sign);
//   k − km int8 the same way per blk_k tokens (km = mean of k over L);
//   v per (head, channel): amax = max|v| over L, v8 = e4m3(v · (2.25/amax)), v_scale = amax/2.25;
//   logits from the exact int32 q8·k8 (as float); for every key block but the last visited one
//   rs = s, sm = (scale·log2e)·(q_s·k_s); for the last one rs = s·(q_s·k_s), sm = scale·log2e (the
//   kernel's epilogue iteration); m = max rs·sm over all selected keys; P = exp2(fma(rs, sm, −m + 8.807));
//   l = Σ P (unrounded); O = Σ e4m3(P)·v8 / l · v_scale. Keys ≥ L contribute nothing.
//   The kernel keeps a running max and rescales O and l when it grows, so its e4m3(P) of early blocks
//   are rounded relative to a smaller max; this two-pass reference rounds every P relative to the
//   final row max — the exact-softmax limit of the same math. It also uses exact exp2 and division
//   where the kernel uses ex2.approx / rcp.approx. An all-zero V channel gives 0 here (NaN in the kernel).
//   With blk_q/blk_k = 128/64 (SageSLA on non-SM90 GPUs) the same SM90 math is applied to the other
//   block sizes; the SM89/SM100/SM120 kernels' own accumulation details (f16 P·V accumulation in
//   Sage2++) are not emulated.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <vector>

#include "attend_ref.h"
#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {
namespace {

// The double a Python caller meant by this float: the shortest decimal that round-trips to it.
double python_float(float f) {
  char buf[32];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, double(f));
    if (std::strtof(buf, nullptr) == f) return std::strtod(buf, nullptr);
  }
  return double(f);
}

// Per-block int8 quantization of SpargeAttn's qk_quantize (Triton): scale = max|x|/127 + 1e-7,
// x8 = trunc(x/scale ± 0.5). x points at row 0 of the block; rows are `row` floats apart.
float quant_block_i8(const float* x, const float* mean, int64_t rows, int64_t row, int64_t d, int8_t* out) {
  float amax = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < d; ++c) {
      const float v = mean ? x[r * row + c] - mean[c] : x[r * row + c];
      amax = std::max(amax, std::fabs(v));
    }
  const float s = amax / 127.0f + 1e-7f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < d; ++c) {
      const float v = mean ? x[r * row + c] - mean[c] : x[r * row + c];
      float t = v / s;
      t += t >= 0.f ? 0.5f : -0.5f;
      out[r * row + c] = int8_t(std::trunc(t));
    }
  return s;
}

struct Sla {
  const SparseLinearAttentionParams& p;
  int64_t L, H, d, bq, bk, QB, KB, nsel, row;
  float scale;
  std::vector<int32_t> sel;  // [H, QB, nsel], ascending block indices

  Sla(const SparseLinearAttentionParams& params, int64_t n_sel) : p(params) {
    L = p.q.size(0); H = p.q.size(1); d = p.q.size(2);
    bq = p.blk_q; bk = p.blk_k;
    QB = (L + bq - 1) / bq; KB = (L + bk - 1) / bk;
    nsel = n_sel;
    row = H * d;
    scale = p.scale > 0.f ? p.scale : float(1.0 / std::sqrt(double(d)));
  }

  // Mean-pooled blocks of x (minus `sub` when given), [nb][d], averaged over each block's real rows.
  void pool(const float* x, int64_t h, int64_t blk, int64_t nb, const double* sub, std::vector<double>& out) const {
    out.assign(static_cast<size_t>(nb * d), 0.0);
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t r0 = b * blk, r1 = std::min(L, r0 + blk);
      double* o = out.data() + b * d;
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * row + h * d;
        for (int64_t c = 0; c < d; ++c) o[c] += xr[c];
      }
      for (int64_t c = 0; c < d; ++c) o[c] = o[c] / double(r1 - r0) - (sub ? sub[c] : 0.0);
    }
  }

  void select_blocks() {
    sel.assign(static_cast<size_t>(H * QB * nsel), 0);
    const float* q = p.q.ptr<float>();
    const float* k = p.k.ptr<float>();
#pragma omp parallel for schedule(dynamic)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> km(static_cast<size_t>(d), 0.0), pq, pk, score(static_cast<size_t>(KB));
      for (int64_t r = 0; r < L; ++r)
        for (int64_t c = 0; c < d; ++c) km[size_t(c)] += k[r * row + h * d + c];
      for (auto& v : km) v /= double(L);
      pool(q, h, bq, QB, nullptr, pq);
      pool(k, h, bk, KB, km.data(), pk);  // mean over a block of (k − km) = block mean − km
      std::vector<int32_t> idx(static_cast<size_t>(KB));
      for (int64_t qb = 0; qb < QB; ++qb) {
        for (int64_t b = 0; b < KB; ++b) {
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += pq[size_t(qb * d + c)] * pk[size_t(b * d + c)];
          score[size_t(b)] = s;
        }
        std::iota(idx.begin(), idx.end(), 0);
        std::partial_sort(idx.begin(), idx.begin() + nsel, idx.end(), [&](int32_t a, int32_t b) {
          return score[size_t(a)] != score[size_t(b)] ? score[size_t(a)] > score[size_t(b)] : a < b;
        });
        std::sort(idx.begin(), idx.begin() + nsel);
        std::copy(idx.begin(), idx.begin() + nsel, sel.begin() + (h * QB + qb) * nsel);
      }
    }
  }

  // o_s for every query, exact fp32-input softmax over the selected keys.
  void sparse_exact(float* o) const {
    const float* q = p.q.ptr<float>();
    std::vector<float> kp(static_cast<size_t>(H * L * d)), vp(kp.size());
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; ++h) {
      ref::pack_head(p.k.ptr<float>(), L, H, d, h, kp.data() + h * L * d);
      ref::pack_head(p.v.ptr<float>(), L, H, d, h, vp.data() + h * L * d);
    }
    constexpr int64_t kQueries = 16;
    const int64_t sub = (bq + kQueries - 1) / kQueries;  // query sub-blocks per q-block
#pragma omp parallel
    {
      ref::AttendScratch scratch;
      std::vector<ref::KeyRange> ranges(static_cast<size_t>(nsel));
      const float* qs[kQueries];
      float* os[kQueries];
#pragma omp for collapse(3) schedule(static)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t qb = 0; qb < QB; ++qb)
          for (int64_t sb = 0; sb < sub; ++sb) {
            const int64_t i0 = qb * bq + sb * kQueries, i1 = std::min({L, qb * bq + bq, i0 + kQueries});
            if (i0 >= i1) continue;
            const int32_t* blocks = sel.data() + (h * QB + qb) * nsel;
            for (int64_t t = 0; t < nsel; ++t) ranges[size_t(t)] = {blocks[t] * bk, std::min(L, (blocks[t] + 1) * bk)};
            for (int64_t i = i0; i < i1; ++i) {
              qs[i - i0] = q + (i * H + h) * d;
              os[i - i0] = o + (i * H + h) * d;
            }
            ref::attend_block(qs, os, i1 - i0, kp.data() + h * L * d, vp.data() + h * L * d, d, ranges.data(), nsel,
                              double(scale), scratch);
          }
    }
  }

  // o_s with SageSLA's int8 Q·K and e4m3 P·V (see the header comment).
  void sparse_quantized(float* o) const {
    const float* q = p.q.ptr<float>();
    const float* k = p.k.ptr<float>();
    const float* v = p.v.ptr<float>();
    const size_t n_all = size_t(L * row);
    std::vector<int8_t> q8(n_all), k8(n_all);
    std::vector<float> v8(n_all), qs(static_cast<size_t>(H * QB)), ks(static_cast<size_t>(H * KB)), vs(static_cast<size_t>(H * d));
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> kmd(static_cast<size_t>(d), 0.0);
      std::vector<float> km(static_cast<size_t>(d));
      for (int64_t r = 0; r < L; ++r)
        for (int64_t c = 0; c < d; ++c) kmd[size_t(c)] += k[r * row + h * d + c];
      for (int64_t c = 0; c < d; ++c) km[size_t(c)] = float(kmd[size_t(c)] / double(L));
      for (int64_t b = 0; b < QB; ++b)
        qs[size_t(h * QB + b)] = quant_block_i8(q + b * bq * row + h * d, nullptr, std::min(bq, L - b * bq), row, d,
                                                 q8.data() + b * bq * row + h * d);
      for (int64_t b = 0; b < KB; ++b)
        ks[size_t(h * KB + b)] = quant_block_i8(k + b * bk * row + h * d, km.data(), std::min(bk, L - b * bk), row, d,
                                                 k8.data() + b * bk * row + h * d);
      for (int64_t c = 0; c < d; ++c) {
        float amax = 0.f;
        for (int64_t r = 0; r < L; ++r) amax = std::max(amax, std::fabs(v[r * row + h * d + c]));
        const float recp = amax > 0.f ? 2.25f / amax : 0.f;
        vs[size_t(h * d + c)] = amax / 2.25f;
        for (int64_t r = 0; r < L; ++r) v8[size_t(r * row + h * d + c)] = round_e4m3(v[r * row + h * d + c] * recp);
      }
    }
    const float sm_base = scale * 1.44269504088896340736f;  // the kernel's sm_scale *= log2e (fp32)
#pragma omp parallel
    {
      std::vector<float> rs(static_cast<size_t>(nsel * bk));
      std::vector<float> sm(static_cast<size_t>(nsel));
      std::vector<double> acc(static_cast<size_t>(d));
#pragma omp for collapse(2) schedule(static)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < L; ++i) {
          const int64_t qb = i / bq;
          const int32_t* blocks = sel.data() + (h * QB + qb) * nsel;
          const int8_t* qi = q8.data() + i * row + h * d;
          const float q_scale = qs[size_t(h * QB + qb)];
          float m = -5000000.0f;
          int64_t n = 0;
          for (int64_t t = 0; t < nsel; ++t) {
            const int64_t b = blocks[t];
            const float dq = q_scale * ks[size_t(h * KB + b)];
            const bool last = t == nsel - 1;
            sm[size_t(t)] = last ? sm_base : sm_base * dq;
            for (int64_t j = b * bk; j < std::min(L, (b + 1) * bk); ++j) {
              const int8_t* kj = k8.data() + j * row + h * d;
              int32_t dot = 0;
              for (int64_t c = 0; c < d; ++c) dot += int32_t(qi[c]) * int32_t(kj[c]);
              const float r = last ? float(dot) * dq : float(dot);
              rs[size_t(n++)] = r;
              m = std::max(m, r * sm[size_t(t)]);
            }
          }
          const float neg_m = -m + 8.807f;
          double l = 0;
          std::fill(acc.begin(), acc.end(), 0.0);
          n = 0;
          for (int64_t t = 0; t < nsel; ++t) {
            const int64_t b = blocks[t];
            for (int64_t j = b * bk; j < std::min(L, (b + 1) * bk); ++j) {
              const float P = std::exp2(std::fmaf(rs[size_t(n++)], sm[size_t(t)], neg_m));
              l += P;
              const double p8 = round_e4m3(P);
              const float* vj = v8.data() + j * row + h * d;
              for (int64_t c = 0; c < d; ++c) acc[size_t(c)] += p8 * double(vj[c]);
            }
          }
          float* oi = o + i * row + h * d;
          for (int64_t c = 0; c < d; ++c) oi[c] = float(acc[size_t(c)] / l * double(vs[size_t(h * d + c)]));
        }
    }
  }

  // o += proj_l(o_l), the linear branch over all L keys.
  void linear_branch(float* o) const {
    const float* q = p.q.ptr<float>();
    const float* k = p.k.ptr<float>();
    const float* v = p.v.ptr<float>();
    std::vector<float> w(static_cast<size_t>(d * d)), bias(static_cast<size_t>(d), 0.f);
    ref::load_f32(p.proj_w, 0, d * d, w.data());
    if (!p.proj_b.empty()) ref::load_f32(p.proj_b, 0, d, bias.data());
    auto feature = [&](const float* x, double* phi) {  // softmax over the head dim
      double mx = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t c = 0; c < d; ++c) mx = std::max(mx, double(x[c]));
      for (int64_t c = 0; c < d; ++c) { phi[c] = std::exp(double(x[c]) - mx); sum += phi[c]; }
      for (int64_t c = 0; c < d; ++c) phi[c] /= sum;
    };
    std::vector<double> kv(static_cast<size_t>(H * d * d), 0.0), ksum(static_cast<size_t>(H * d), 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> phi(static_cast<size_t>(d));
      double* KV = kv.data() + h * d * d;
      double* ks = ksum.data() + h * d;
      for (int64_t j = 0; j < L; ++j) {
        feature(k + j * row + h * d, phi.data());
        const float* vj = v + j * row + h * d;
        for (int64_t c1 = 0; c1 < d; ++c1) {
          ks[c1] += phi[size_t(c1)];
          double* kvr = KV + c1 * d;
          for (int64_t c2 = 0; c2 < d; ++c2) kvr[c2] += phi[size_t(c1)] * double(vj[c2]);
        }
      }
    }
#pragma omp parallel
    {
      std::vector<double> phi(static_cast<size_t>(d)), num(static_cast<size_t>(d));
#pragma omp for collapse(2) schedule(static)
      for (int64_t i = 0; i < L; ++i)
        for (int64_t h = 0; h < H; ++h) {
          const double* KV = kv.data() + h * d * d;
          const double* ks = ksum.data() + h * d;
          feature(q + i * row + h * d, phi.data());
          std::fill(num.begin(), num.end(), 0.0);
          double den = 0;
          for (int64_t c1 = 0; c1 < d; ++c1) {
            const double f = phi[size_t(c1)];
            den += f * ks[c1];
            for (int64_t c2 = 0; c2 < d; ++c2) num[size_t(c2)] += f * KV[c1 * d + c2];
          }
          den += 1e-5;
          for (auto& x : num) x /= den;
          float* oi = o + i * row + h * d;
          for (int64_t c = 0; c < d; ++c) {
            double y = bias[size_t(c)];
            const float* wr = w.data() + c * d;
            for (int64_t c2 = 0; c2 < d; ++c2) y += double(wr[c2]) * num[size_t(c2)];
            oi[c] = float(double(oi[c]) + y);
          }
        }
    }
  }
};

}  // namespace

int64_t sla_selected_blocks(int64_t L, int blk_k, float topk) {
  const char* op = "sparse_linear_attention";
  check(L > 0, op, "L must be positive");
  check(blk_k > 0, op, "blk_k must be positive");
  check(std::isfinite(topk) && topk > 0.f, op, "topk must be a positive ratio");
  const int64_t kb = (L + blk_k - 1) / blk_k;
  const double want = python_float(topk) * double(kb);  // Python: int(topk_ratio * K)
  const int64_t n = std::min<int64_t>(kb, int64_t(want));
  if (n < 1) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", double(topk));
    throw Error(std::string(op) + ": topk " + buf + " of " + std::to_string(kb) + " key blocks (L = " +
                std::to_string(L) + ", blk_k = " + std::to_string(blk_k) +
                ") selects 0 blocks; raise topk or use dense attention");
  }
  return n;
}

void sparse_linear_attention(const SparseLinearAttentionParams& p) {
  const char* op = "sparse_linear_attention";
  using namespace detail;
  Device dev = op_device(op, {{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"o", &p.o}, {"proj_w", &p.proj_w},
                              {"proj_b", &p.proj_b}, {"block_map", &p.block_map}});
  for (auto a : {Arg{"q", &p.q}, Arg{"k", &p.k}, Arg{"v", &p.v}, Arg{"o", &p.o}}) {
    check_not_empty(*a.t, op, a.name);
    check(a.t->ndim == 3, op, std::string(a.name) + " must be 3-D [L, heads, d], got " + a.t->shape_str());
    check_contiguous(*a.t, op, a.name);
  }
  const int64_t L = p.q.size(0), H = p.q.size(1), d = p.q.size(2);
  check(L > 0 && H > 0 && d > 0, op, "q has an empty dim: " + p.q.shape_str());
  check_shape(p.k, {L, H, d}, op, "k");
  check_shape(p.v, {L, H, d}, op, "v");
  check_shape(p.o, {L, H, d}, op, "o");
  check_not_empty(p.proj_w, op, "proj_w");
  check_shape(p.proj_w, {d, d}, op, "proj_w");
  if (!p.proj_b.empty()) check_shape(p.proj_b, {d}, op, "proj_b");
  check(p.blk_q > 0 && p.blk_k > 0, op, "blk_q and blk_k must be positive");
  check(std::isfinite(p.scale) && p.scale >= 0.f, op, "scale must be finite and >= 0 (0 selects 1/sqrt(d))");
  const int64_t n_sel = sla_selected_blocks(L, p.blk_k, p.topk);
  const int64_t QB = (L + p.blk_q - 1) / p.blk_q;
  if (!p.block_map.empty()) {
    check_shape(p.block_map, {H, QB, n_sel}, op, "block_map");
    check_dtype(p.block_map, DType::I32, op, "block_map");
    check_contiguous(p.block_map, op, "block_map");
  }
  TW_DISPATCH_CUDA(dev, op, sparse_linear_attention, p);
  for (auto a : {Arg{"q", &p.q}, Arg{"k", &p.k}, Arg{"v", &p.v}, Arg{"o", &p.o}}) check_dtype(*a.t, DType::F32, op, a.name);
  check_float_weight(p.proj_w, op, "proj_w");
  if (!p.proj_b.empty()) check_float_weight(p.proj_b, op, "proj_b");
  check(p.o.data != p.q.data && p.o.data != p.k.data && p.o.data != p.v.data, op, "o must not alias q, k or v");

  Sla sla(p, n_sel);
  sla.select_blocks();
  float* o = p.o.ptr<float>();
  if (p.quantized) sla.sparse_quantized(o);
  else sla.sparse_exact(o);
  sla.linear_branch(o);
  if (!p.block_map.empty()) std::copy(sla.sel.begin(), sla.sel.end(), p.block_map.ptr<int32_t>());
}

}  // namespace tw::ops
