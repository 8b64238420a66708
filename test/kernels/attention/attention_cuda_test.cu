// Dense attention on CUDA (flash, bf16 in/out, fp32 softmax) vs the fp32 CPU reference on the same
// bf16 inputs, with FlashAttention-3's rule: our error ≤ 2 × the error of a naive bf16 attention
// (bf16 S = q·kᵀ, bf16 scaling, softmax in fp32 rounded to bf16, bf16 P·V) + a small atol.
// Shapes: odd lengths (tails), cross-attention (Lk = 512), peaked and flat softmax, and the real
// Wan shapes 1×12×32760×128 on sampled query rows (a full fp32 CPU reference would take hours).
#include <algorithm>
#include <cmath>

#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

namespace {

// Exact (double) and naive-bf16 attention for query row i of head h.
void ref_rows(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v, int64_t Lk, int64_t H,
              int64_t i, int64_t h, float scale, float* exact, float* naive) {
  const float* qi = q.data() + (i * H + h) * 128;
  std::vector<double> s(static_cast<size_t>(Lk));
  std::vector<float> sn(static_cast<size_t>(Lk));
  double mx = -INFINITY;
  float mxn = -INFINITY;
  for (int64_t j = 0; j < Lk; ++j) {
    const float* kj = k.data() + (j * H + h) * 128;
    double d = 0;
    float df = 0;
    for (int c = 0; c < 128; ++c) { d += double(qi[c]) * kj[c]; df += qi[c] * kj[c]; }
    s[size_t(j)] = d * scale;
    sn[size_t(j)] = round_bf16(round_bf16(df) * round_bf16(scale));
    mx = std::max(mx, s[size_t(j)]);
    mxn = std::max(mxn, sn[size_t(j)]);
  }
  double sum = 0;
  float sumn = 0;
  for (int64_t j = 0; j < Lk; ++j) {
    s[size_t(j)] = std::exp(s[size_t(j)] - mx); sum += s[size_t(j)];
    sn[size_t(j)] = std::exp(sn[size_t(j)] - mxn); sumn += sn[size_t(j)];
  }
  std::vector<double> acc(128, 0.0);
  std::vector<float> accn(128, 0.f);
  for (int64_t j = 0; j < Lk; ++j) {
    const float* vj = v.data() + (j * H + h) * 128;
    const double pj = s[size_t(j)] / sum;
    const float pn = round_bf16(sn[size_t(j)] / sumn);
    for (int c = 0; c < 128; ++c) { acc[c] += pj * vj[c]; accn[c] += pn * vj[c]; }
  }
  for (int c = 0; c < 128; ++c) { exact[c] = float(acc[c]); naive[c] = round_bf16(accn[c]); }
}

struct Case {
  int64_t Lq, Lk, H;
  float q_std;
  bool full_cpu_ref;  // compare every row with ops::attention on the CPU
  int sampled_rows;   // else: this many query rows per checked head
};

void run(const Case& cs, uint64_t seed) {
  const int64_t Lq = cs.Lq, Lk = cs.Lk, H = cs.H;
  auto q = DevTensor::make(randn_fast(size_t(Lq * H * 128), seed, cs.q_std), DType::BF16, {Lq, H, 128});
  auto k = DevTensor::make(randn_fast(size_t(Lk * H * 128), seed + 1, 1.f), DType::BF16, {Lk, H, 128});
  auto v = DevTensor::make(randn_fast(size_t(Lk * H * 128), seed + 2, 1.f), DType::BF16, {Lk, H, 128});
  auto o = DevTensor::poisoned(DType::BF16, {Lq, H, 128});
  ops::AttentionParams p;
  p.q = q.t; p.k = k.t; p.v = v.t; p.o = o.t;
  ops::attention(p);
  cuda::synchronize();
  const std::vector<float> got_all = o.download();
  int64_t nan = 0;
  for (float x : got_all) nan += std::isnan(x);
  const float scale = 1.f / std::sqrt(128.f);

  std::vector<float> got, ref, naive;
  if (cs.full_cpu_ref) {
    ref.resize(size_t(Lq * H * 128));
    ops::AttentionParams c;
    c.q = cpu_view(q.host, {Lq, H, 128}); c.k = cpu_view(k.host, {Lk, H, 128}); c.v = cpu_view(v.host, {Lk, H, 128});
    c.o = cpu_view(ref, {Lq, H, 128});
    ops::attention(c);
    got = got_all;
    naive.resize(ref.size());
    std::vector<float> ex(128);
#pragma omp parallel for collapse(2) firstprivate(ex)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t h = 0; h < H; ++h) ref_rows(q.host, k.host, v.host, Lk, H, i, h, scale, ex.data(), naive.data() + (i * H + h) * 128);
  } else {
    std::vector<std::pair<int64_t, int64_t>> rows;
    for (int r = 0; r < cs.sampled_rows; ++r) {
      const int64_t i = r == 0 ? 0 : r == 1 ? Lq - 1 : (int64_t(r) * 7919 * 131) % Lq;
      rows.push_back({i, 0});
      rows.push_back({i, H - 1});
    }
    ref.resize(rows.size() * 128);
    naive.resize(rows.size() * 128);
    got.resize(rows.size() * 128);
#pragma omp parallel for
    for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
      ref_rows(q.host, k.host, v.host, Lk, H, rows[size_t(r)].first, rows[size_t(r)].second, scale, ref.data() + r * 128, naive.data() + r * 128);
      std::copy_n(got_all.begin() + (rows[size_t(r)].first * H + rows[size_t(r)].second) * 128, 128, got.begin() + r * 128);
    }
  }
  const double e_ours = rel_l2(got, ref), e_naive = rel_l2(naive, ref);
  const double m_ours = max_abs_diff(got, ref), m_naive = max_abs_diff(naive, ref);
  const double atol = 1e-3 * rms(ref);
  const bool ok = nan == 0 && e_ours <= 2 * e_naive + 1e-4 && m_ours <= 2 * m_naive + atol;
  std::printf("  attention Lq %6lld Lk %6lld H %2lld q_std %.1f %s  rel_l2 ours %.2e naive %.2e | max_abs ours %.2e naive %.2e  %s\n",
              (long long)Lq, (long long)Lk, (long long)H, cs.q_std, cs.full_cpu_ref ? "all rows" : "sampled ", e_ours, e_naive, m_ours,
              m_naive, ok ? "ok" : "FAIL");
  TW_CHECK_MSG(nan == 0, "%lld NaN (unwritten) outputs", (long long)nan);
  TW_CHECK(e_ours <= 2 * e_naive + 1e-4);
  TW_CHECK(m_ours <= 2 * m_naive + atol);
  TW_CHECK(o.guard_intact());
}

}  // namespace

int main() {
  try {
    run({100, 100, 1, 1.f, true, 0}, 1);        // one partial tile each side
    run({1000, 1000, 2, 1.f, true, 0}, 2);      // odd length, tails
    run({777, 512, 3, 1.f, true, 0}, 3);        // cross-attention: 512 context rows
    run({1000, 1000, 2, 4.f, true, 0}, 4);      // peaked softmax
    run({64, 4097, 1, 2.f, true, 0}, 5);        // one query tile, many key tiles + tail
    run({32760, 32760, 12, 1.f, false, 24}, 6); // Wan-1.3B 480p self-attention
    run({32760, 32760, 12, 3.f, false, 24}, 7);
    run({32760, 512, 12, 1.f, false, 24}, 8);   // Wan-1.3B 480p cross-attention
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("attention_cuda_test");
}
