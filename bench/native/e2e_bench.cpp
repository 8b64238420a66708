// Whole job on one GPU without the video encoder: umT5 → 4 rCM steps over the DiT → VAE decode to
// RGB8, with random weights at the real shapes (1.3B DiT, umT5-XXL, Wan2.1 VAE). Measures cold
// start (files → ready, through load_gpu_models as the addon loads) and a warm job's per-stage
// latency. Prints one JSON line.
//   e2e_bench <dit.safetensors> <umt5.pth> <vae.pth> [width=832] [height=480] [frames=81]
//             [--jobs N (default 1; 0: cold start only)] [--evict] [--probe]
// --evict drops the three files from the page cache first (fdatasync + POSIX_FADV_DONTNEED, no root
// needed) so the cold start reads the disk; it reports the fraction still resident (mincore).
// --probe measures the disk (evicted file, 4 threads × 8 MiB preads) and pinned H2D bandwidth.
// TW_UPLOAD=sync selects the old synchronous upload path (the baseline).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "pipeline/generate.h"

using namespace tw;
using namespace tw::engine;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

namespace {

// Milliseconds since this process was exec'd (/proc/self/stat starttime vs /proc/uptime; 10 ms ticks).
double ms_since_exec() {
  std::ifstream st("/proc/self/stat"), up("/proc/uptime");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::vector<std::string> f;
  size_t i = rp + 2;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    f.push_back(s.substr(i, j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  double uptime = 0;
  up >> uptime;
  if (f.size() < 20) return 0;
  const double start_s = std::atof(f[19].c_str()) / double(sysconf(_SC_CLK_TCK));  // field 22
  return (uptime - start_s) * 1e3;
}

size_t file_size(const std::string& p) {
  struct stat s {};
  return ::stat(p.c_str(), &s) == 0 ? size_t(s.st_size) : 0;
}

void evict(const std::string& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);  // dirty pages (a file just written) cannot be dropped
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

double resident_fraction(const std::string& p) {
  const size_t n = file_size(p);
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0 || n == 0) return -1;
  void* m = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return -1;
  const size_t page = size_t(sysconf(_SC_PAGESIZE)), pages = (n + page - 1) / page;
  std::vector<unsigned char> v(pages);
  size_t in = 0;
  if (::mincore(m, n, v.data()) == 0)
    for (unsigned char c : v) in += c & 1;
  ::munmap(m, n);
  return double(in) / double(pages);
}

// GB/s reading `p` (evicted first) with 4 threads of 8 MiB preads.
double disk_gbps(const std::string& p) {
  evict(p);
  const size_t n = file_size(p), blk = size_t(8) << 20;
  std::atomic<size_t> next{0};
  auto t = Clock::now();
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k)
    ts.emplace_back([&] {
      int fd = ::open(p.c_str(), O_RDONLY);
      std::vector<char> buf(blk);
      for (size_t off; (off = next.fetch_add(blk)) < n;) {
        if (::pread(fd, buf.data(), blk, off_t(off)) < 0) break;
      }
      ::close(fd);
    });
  for (auto& th : ts) th.join();
  const double ms = since(t);
  evict(p);
  return double(n) / ms / 1e6;
}

double h2d_gbps(size_t bytes) {
  void *h = nullptr, *d = nullptr;
  cudaHostAlloc(&h, bytes, cudaHostAllocDefault);
  cudaMalloc(&d, bytes);
  std::memset(h, 1, bytes);
  cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
  auto t = Clock::now();
  for (int i = 0; i < 4; ++i) cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
  const double ms = since(t);
  cudaFree(d);
  cudaFreeHost(h);
  return 4.0 * double(bytes) / ms / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const double exec_ms = ms_since_exec();  // before main: the dynamic loader, static init
  auto t0 = Clock::now();
  std::vector<std::string> pos;
  int jobs = 1;
  bool do_evict = false, probe = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--jobs" && i + 1 < argc) jobs = std::atoi(argv[++i]);
    else if (a == "--evict") do_evict = true;
    else if (a == "--probe") probe = true;
    else pos.push_back(a);
  }
  if (pos.size() < 3) {
    std::fprintf(stderr, "usage: e2e_bench <dit> <umt5> <vae> [width] [height] [frames] [--jobs N] [--evict] [--probe]\n");
    return 2;
  }
  try {
    const std::vector<std::string> files = {pos[0], pos[1], pos[2]};
    size_t bytes = 0;
    for (auto& f : files) bytes += file_size(f);
    double disk = 0, h2d = 0;
    if (probe) disk = disk_gbps(pos[0]);
    double resident = 0;
    if (do_evict) {
      for (auto& f : files) evict(f);
      for (auto& f : files) resident += resident_fraction(f) * double(file_size(f)) / double(bytes);
    }
    const double setup_ms = since(t0);  // probes and eviction: not part of the cold start

    auto t1 = Clock::now();
    cudaFree(nullptr);  // CUDA context
    const double ctx_ms = since(t1);
    PipelineModels m;
    m.high = WanDit::load({pos[0]}, nullptr, 512);
    m.vae = WanVae::load(pos[2]);
    GpuLoadOptions g;
    g.text_encoder = pos[1];
    g.vae = pos[2];
    load_gpu_models(m, g);
    cudaDeviceSynchronize();
    const double cold_ms = since(t1);
    if (probe) h2d = h2d_gbps(size_t(1) << 30);
    const char* mode = std::getenv("TW_UPLOAD");

    GenerateParams p;
    p.width = pos.size() > 3 ? std::atoll(pos[3].c_str()) : 832;
    p.height = pos.size() > 4 ? std::atoll(pos[4].c_str()) : 480;
    p.frames = pos.size() > 5 ? std::atoll(pos[5].c_str()) : 81;
    p.ids.assign(512, 0);
    p.mask.assign(512, 0);
    for (int i = 0; i < 24; ++i) { p.ids[size_t(i)] = 100 + 37 * i; p.mask[size_t(i)] = 1; }
    p.ids[24] = 1;
    p.mask[24] = 1;
    p.rcm.steps = 4;
    p.rcm.seed = 7;
    p.rcm.attention.kind = AttentionKind::SageSla;
    p.rcm.attention.topk = 0.1f;

    GenerateResult r;
    double warm_ms = 0;
    size_t free_b = 0, total_b = 0;
    if (jobs > 0) {
      generate(m, p, {}, nullptr);  // warm-up: first-use allocations, context cache
      cudaMemGetInfo(&free_b, &total_b);
      for (int j = 0; j < jobs; ++j) {
        auto t2 = Clock::now();
        r = generate(m, p, {}, nullptr);
        warm_ms = since(t2);
      }
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("{\"device\": \"%s\", \"upload\": \"%s\", \"evicted\": %s, \"resident_before_load\": %.3f, \"file_gb\": %.2f, "
                "\"cold_start_ms\": %.0f, \"cuda_context_ms\": %.0f, \"exec_to_main_ms\": %.0f, \"read_gbps_effective\": %.2f, "
                "\"disk_gbps\": %.2f, \"h2d_pinned_gbps\": %.1f, \"setup_ms\": %.0f, "
                "\"width\": %lld, \"height\": %lld, \"frames\": %lld, \"warm_total_ms\": %.1f, \"encode_text_ms\": %.1f, "
                "\"denoise_ms\": %.1f, \"decode_ms\": %.1f, \"gpu_used_gib\": %.2f, \"frame_bytes\": %zu}\n",
                prop.name, mode && std::string(mode) == "sync" ? "sync" : "staged", do_evict ? "true" : "false", resident,
                double(bytes) / 1e9, cold_ms, ctx_ms, exec_ms, double(bytes) / cold_ms / 1e6, disk, h2d, setup_ms,
                (long long)p.width, (long long)p.height, (long long)r.num_frames, warm_ms, r.timings_ms["encode-text"],
                r.timings_ms["denoise"], r.timings_ms["decode"], double(total_b - free_b) / (1 << 30), r.frames.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
