// linear on CUDA: y = x·wᵀ + b with bf16 x/w/b/y and fp32 accumulation through cuBLASLt (bias fused
// in the epilogue). F32 bias is accepted and rounded to bf16 once (the checkpoints store bf16 biases).
#include <cstring>
#include <map>
#include <tuple>

#include "gemm_lt.h"
#include "tw/cuda/cublas.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo;
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool>;

Plan& plan_for(const GemmBf16Args& g) {
  static std::map<PlanKey, Plan> plans;
  const PlanKey key{g.M, g.N, g.K, g.ldx, g.ldw, g.ldc, g.ldy, g.bias != nullptr, g.c != nullptr};
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  Plan p;
  // Column-major view: Yᵀ[N,M] = (Wᵀ)ᵀ… i.e. D(N×M) = op(A)·B with A = w seen as K×N (transposed),
  // B = x seen as K×M, D = y seen as N×M.
  TW_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  TW_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  TW_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  if (g.bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    TW_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    TW_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
  }
  TW_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(g.K), uint64_t(g.N), g.ldw));
  TW_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(g.K), uint64_t(g.M), g.ldx));
  TW_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, uint64_t(g.N), uint64_t(g.M), g.c ? g.ldc : g.ldy));
  TW_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_16BF, uint64_t(g.N), uint64_t(g.M), g.ldy));
  cublasLtMatmulPreference_t pref;
  TW_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kCublasWorkspaceBytes;
  TW_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  cublasLtMatmulHeuristicResult_t res;
  std::memset(&res, 0, sizeof(res));
  int found = 0;
  TW_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), p.desc, p.a, p.b, p.c, p.d, pref, 1, &res, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  if (found == 0) throw Error("linear: cuBLASLt has no algorithm for M=" + std::to_string(g.M) + " N=" + std::to_string(g.N) +
                              " K=" + std::to_string(g.K));
  p.algo = res.algo;
  return plans.emplace(key, p).first->second;
}

__global__ void to_bf16_kernel(AnyFloatPtr src, __nv_bfloat16* dst, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __float2bfloat16_rn(src.load(i));
}

}  // namespace

void gemm_bf16(const GemmBf16Args& g) {
  if (g.M == 0 || g.N == 0) return;
  Plan& p = plan_for(g);
  if (g.bias)
    TW_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
  const float alpha = 1.f, beta = g.c ? 1.f : 0.f;
  void* ws = scratch(kCublasWorkspaceBytes, 1);
  TW_CUBLAS_CHECK(cublasLtMatmul(cublaslt_handle(), p.desc, &alpha, g.w, p.a, g.x, p.b, &beta, g.c ? g.c : g.y, p.c, g.y, p.d,
                                 &p.algo, ws, kCublasWorkspaceBytes, stream()));
}

void linear(const ops::LinearParams& p) {
  const char* op = "linear";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.w, op, "w");
  check_cuda_tensor(p.y, op, "y");
  check(p.x.dtype == DType::BF16 && p.w.dtype == DType::BF16 && p.y.dtype == DType::BF16, op,
        "on CUDA x, w and y must be bfloat16");
  check(p.w.ndim == 2, op, "w must be [N, K], got " + p.w.shape_str());
  const int64_t N = p.w.size(0), K = p.w.size(1);
  check(p.x.ndim >= 1 && p.x.size(-1) == K, op, "x must be [M, K] with K = " + std::to_string(K) + ", got " + p.x.shape_str());
  const int64_t M = p.x.numel() / K;
  check(p.y.numel() == M * N && p.y.size(-1) == N, op, "y must be [M, N], got " + p.y.shape_str());
  GemmBf16Args g;
  g.M = M; g.N = N; g.K = K;
  g.x = p.x.data; g.ldx = K;
  g.w = p.w.data; g.ldw = K;
  g.y = p.y.data; g.ldy = N;
  if (!p.b.empty()) {
    check_cuda_tensor(p.b, op, "b");
    check_float_dtype(p.b, op, "b");
    check(p.b.numel() == N, op, "b must have N elements");
    if (p.b.dtype == DType::BF16) {
      g.bias = p.b.data;
    } else {
      auto* tmp = static_cast<__nv_bfloat16*>(scratch(size_t(N) * 2, 0));
      to_bf16_kernel<<<unsigned((N + 255) / 256), 256, 0, stream()>>>(AnyFloatPtr::of(p.b), tmp, N);
      TW_CUDA_CHECK_LAUNCH(to_bf16_kernel);
      g.bias = tmp;
    }
  }
  gemm_bf16(g);
}

}  // namespace tw::cuda
