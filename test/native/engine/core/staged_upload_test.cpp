// The streamed weight uploader (core/staged_upload.h). CPU: convert_range against the scalar
// conversions for every dtype pair the loaders use, on sub-ranges (the uploader splits tensors
// into 4 MiB tasks and 64 MiB batches at arbitrary element offsets). GPU: tensors of many sizes
// (tiny ones packed into one staging buffer, large ones split across several) uploaded through a
// small 1 MiB × 2 staging ring, into device buffers and into pinned host memory + device, then
// read back: every byte must match the host conversion exactly (it is a copy, no tolerance).
// The GPU part skips, saying so, where no GPU is available.
#include <cstdio>
#include <cstring>
#include <vector>

#ifdef TW_CUDA
#include <cuda_runtime.h>
#endif

#include "core/staged_upload.h"
#include "models/wan_dit_cuda.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;

namespace {

// A host tensor of `dt` holding random normal values (with a few specials for the float types).
HostTensor random_tensor(DType dt, int64_t n, uint64_t seed) {
  HostTensor t = HostTensor::empty(dt, {n});
  std::vector<float> v = twtest::randn(size_t(n), seed, 3.f);
  if (n > 4) { v[0] = 0.f; v[1] = -0.f; v[2] = 1e-40f; v[3] = 65504.f; }
  for (int64_t i = 0; i < n; ++i) {
    switch (dt) {
      case DType::F32: static_cast<float*>(t.t().data)[i] = v[size_t(i)]; break;
      case DType::BF16: static_cast<uint16_t*>(t.t().data)[i] = f32_to_bf16(v[size_t(i)]); break;
      case DType::F16: static_cast<uint16_t*>(t.t().data)[i] = f32_to_f16(v[size_t(i)]); break;
      case DType::I8: static_cast<int8_t*>(t.t().data)[i] = int8_t(int(v[size_t(i)] * 30) % 128); break;
      default: break;
    }
  }
  return t;
}

// The reference: element by element through load_as_f32 and the scalar conversions.
std::vector<uint8_t> reference(const Tensor& src, DType dt) {
  const int64_t n = src.numel();
  std::vector<uint8_t> out(size_t(n) * dtype_size(dt));
  if (src.dtype == dt) {
    std::memcpy(out.data(), src.data, out.size());
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float f = load_as_f32(src, i);
    if (dt == DType::F32) std::memcpy(out.data() + 4 * i, &f, 4);
    else { const uint16_t h = f32_to_bf16(f); std::memcpy(out.data() + 2 * i, &h, 2); }
  }
  return out;
}

}  // namespace

int main() {
  struct Pair { DType from, to; };
  const std::vector<Pair> pairs = {{DType::F32, DType::BF16}, {DType::F32, DType::F32}, {DType::BF16, DType::BF16},
                                   {DType::BF16, DType::F32}, {DType::F16, DType::BF16}, {DType::F16, DType::F32},
                                   {DType::I8, DType::I8}};
  // ---- CPU: convert_range on sub-ranges equals the reference slice.
  for (const Pair& p : pairs) {
    const int64_t n = 40000;  // > the 16384-element inner step of the f32 detour
    HostTensor src = random_tensor(p.from, n, 11);
    std::vector<uint8_t> ref = reference(src.t(), p.to);
    const size_t es = dtype_size(p.to);
    for (int64_t first : {int64_t(0), int64_t(1), int64_t(16383), int64_t(20000)}) {
      const int64_t count = n - first - 7;
      std::vector<uint8_t> out(size_t(count) * es);
      convert_range(src.t(), first, count, p.to, out.data());
      TW_CHECK_MSG(std::memcmp(out.data(), ref.data() + size_t(first) * es, out.size()) == 0, "%s → %s from %lld",
                   dtype_name(p.from), dtype_name(p.to), (long long)first);
    }
  }
  std::string msg = twtest::expect_throw([] {
    HostTensor s = random_tensor(DType::F32, 8, 1);  // float → int8 is a quantization, not an upload
    int8_t out[8];
    convert_range(s.t(), 0, 8, DType::I8, out);
  });
  TW_CHECK(msg.find("cannot convert") != std::string::npos);
  std::printf("convert_range: %zu dtype pairs match the scalar conversions\n", pairs.size());

  if (!cuda_available()) {
    std::printf("staged_upload_test: GPU part skipped (no CUDA backend in this build or no GPU visible)\n");
    return twtest::finish("staged_upload_test");
  }
#ifdef TW_CUDA
  for (bool with_host : {false, true}) {
    for (bool sync : {false, true}) {
      StagedUploader::Options o;
      o.chunk_bytes = size_t(1) << 20;
      o.buffers = 2;
      o.synchronous = sync;
      StagedUploader up(o);
      std::vector<HostTensor> srcs;
      std::vector<std::vector<uint8_t>> refs;
      std::vector<void*> devs;
      std::vector<PinnedBuffer> hosts;
      const int64_t sizes[] = {1, 3, 128, 1000, 70000, 300001, 1 << 20, 5};
      uint64_t seed = 100;
      for (int64_t n : sizes)
        for (const Pair& p : pairs) {
          srcs.push_back(random_tensor(p.from, n, seed++));
          refs.push_back(reference(srcs.back().t(), p.to));
          void* d = nullptr;
          TW_CHECK(cudaMalloc(&d, refs.back().size()) == cudaSuccess);
          devs.push_back(d);
          hosts.emplace_back(with_host ? refs.back().size() : 0);
          up.add(srcs.back().t(), p.to, d, with_host ? hosts.back().get() : nullptr);
        }
      up.finish();
      size_t bad = 0, bytes = 0;
      for (size_t i = 0; i < refs.size(); ++i) {
        std::vector<uint8_t> back(refs[i].size());
        TW_CHECK(cudaMemcpy(back.data(), devs[i], back.size(), cudaMemcpyDeviceToHost) == cudaSuccess);
        bad += back != refs[i];
        if (with_host) bad += std::memcmp(hosts[i].get(), refs[i].data(), refs[i].size()) != 0;
        bytes += back.size();
        cudaFree(devs[i]);
      }
      std::printf("upload (%s%s): %zu tensors, %zu bytes, %zu mismatches; convert %.1f ms, wait %.1f ms\n",
                  sync ? "sync" : "staged", with_host ? ", via pinned host" : "", refs.size(), bytes, bad,
                  up.stats().convert_ms, up.stats().wait_ms);
      TW_CHECK_MSG(bad == 0, "%zu tensors differ after upload", bad);
    }
  }
#endif
  return twtest::finish("staged_upload_test");
}
