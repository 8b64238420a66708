// cuBLAS / cuBLASLt handles (one per process, created on first use, bound to tw::cuda::stream())
// and the status check that turns a failure into tw::Error.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <string>

#include "tw/cuda/device.h"

namespace tw::cuda {

[[noreturn]] inline void throw_cublas_error(const char* call, cublasStatus_t s, const char* file, int line) {
  throw tw::Error(std::string("cuBLAS call `") + call + "` failed: " + cublasGetStatusName(s) + " (" +
                  cublasGetStatusString(s) + ") at " + file + ":" + std::to_string(line));
}

cublasHandle_t cublas_handle();      // stream set to stream() on every call
cublasLtHandle_t cublaslt_handle();
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

}  // namespace tw::cuda

#define TW_CUBLAS_CHECK(call)                                                          \
  do {                                                                                 \
    cublasStatus_t tw_s_ = (call);                                                     \
    if (tw_s_ != CUBLAS_STATUS_SUCCESS) ::tw::cuda::throw_cublas_error(#call, tw_s_, __FILE__, __LINE__); \
  } while (0)
