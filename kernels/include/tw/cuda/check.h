// Error checks for CUDA runtime and cuBLAS calls: a failure becomes tw::Error naming the call,
// the error and the source line, so the engine (and the N-API layer) report it like any op error.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "tw/tensor.h"

namespace tw::cuda {

[[noreturn]] inline void throw_cuda_error(const char* call, cudaError_t e, const char* file, int line) {
  // Clear the runtime's last-error slot: a non-sticky failure (out of memory) must not resurface
  // at the next launch check after the caller recovered.
  (void)cudaGetLastError();
  throw tw::Error(std::string("CUDA call `") + call + "` failed: " + cudaGetErrorName(e) + " (" +
                  cudaGetErrorString(e) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace tw::cuda

#define TW_CUDA_CHECK(call)                                                         \
  do {                                                                              \
    cudaError_t tw_e_ = (call);                                                     \
    if (tw_e_ != cudaSuccess) ::tw::cuda::throw_cuda_error(#call, tw_e_, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: catches bad launch configurations (the kernel's own faults surface at the
// next synchronizing call).
#define TW_CUDA_CHECK_LAUNCH(kernel_name) TW_CUDA_CHECK(cudaPeekAtLastError())
