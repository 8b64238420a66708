// Dense attention on CUDA: q [Lq, heads, 128], k/v [Lk, heads, 128], o [Lq, heads, 128], all bf16.
// Flash attention on tensor cores (flash_bf16.cuh); cross-attention (Lk = 512) runs the same kernel.
#include <cmath>
#include <cstdlib>

#include "flash_bf16.cuh"
#include "tw/cuda/device.h"
#include "tw/ops_cuda.h"

namespace tw::cuda {

namespace flash {
namespace {
template <bool kSparse, int kMinBlocks>
void launch_variant(const Args& a, cudaStream_t s) {
  static bool attr = [] {
    TW_CUDA_CHECK(cudaFuncSetAttribute(flash_fwd_kernel<kSparse, kMinBlocks>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    return true;
  }();
  (void)attr;
  const dim3 grid(unsigned((a.Lq + kBM - 1) / kBM), unsigned(a.heads));
  flash_fwd_kernel<kSparse, kMinBlocks><<<grid, kThreads, kSmemBytes, s>>>(a);
  TW_CUDA_CHECK_LAUNCH(flash_fwd_kernel);
}
// TW_ATTN_MINBLOCKS=2|3 picks the register budget (benchmarking); default below.
int min_blocks() {
  static int mb = [] { const char* e = std::getenv("TW_ATTN_MINBLOCKS"); return e && std::atoi(e) == 3 ? 3 : 2; }();
  return mb;
}
}  // namespace

void launch_flash_fwd(const Args& a, bool sparse, cudaStream_t s) {
  if (a.Lq == 0) return;
  const bool mb3 = min_blocks() == 3;
  if (sparse) { if (mb3) launch_variant<true, 3>(a, s); else launch_variant<true, 2>(a, s); }
  else { if (mb3) launch_variant<false, 3>(a, s); else launch_variant<false, 2>(a, s); }
}
}  // namespace flash

void attention(const ops::AttentionParams& p) {
  const char* op = "attention";
  check_cuda_tensor(p.q, op, "q");
  check_cuda_tensor(p.k, op, "k");
  check_cuda_tensor(p.v, op, "v");
  check_cuda_tensor(p.o, op, "o");
  check(p.q.dtype == DType::BF16 && p.k.dtype == DType::BF16 && p.v.dtype == DType::BF16 && p.o.dtype == DType::BF16, op,
        "on CUDA q, k, v and o must be bfloat16");
  check(p.q.ndim == 3 && p.k.ndim == 3 && p.v.ndim == 3 && p.o.ndim == 3, op, "q, k, v, o must be [L, heads, d]");
  const int64_t Lq = p.q.size(0), H = p.q.size(1), d = p.q.size(2), Lk = p.k.size(0);
  check(d == 128, op, "the CUDA kernel supports head dim 128 only, got " + std::to_string(d));
  check(p.k.size(1) == H && p.k.size(2) == d && p.v.size(0) == Lk && p.v.size(1) == H && p.v.size(2) == d, op,
        "k and v must be [Lk, heads, 128] with q's heads");
  check(p.o.size(0) == Lq && p.o.size(1) == H && p.o.size(2) == d, op, "o must have q's shape");
  check(Lk > 0, op, "k must have at least one row");
  flash::Args a;
  a.q = static_cast<const __nv_bfloat16*>(p.q.data);
  a.k = static_cast<const __nv_bfloat16*>(p.k.data);
  a.v = static_cast<const __nv_bfloat16*>(p.v.data);
  a.o = static_cast<__nv_bfloat16*>(p.o.data);
  a.Lq = Lq; a.Lk = Lk; a.heads = int(H);
  const float scale = p.scale != 0.f ? p.scale : 1.f / std::sqrt(float(d));
  a.scale_log2 = scale * 1.4426950408889634f;
  flash::launch_flash_fwd(a, false, stream());
}

}  // namespace tw::cuda
