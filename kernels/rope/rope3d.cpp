// rope3d: Wan's interleaved 3D rotary embedding, in place on x [L, heads, d] (facts §1.3).
// Mirrors the official Wan2.1 rope_params/rope_apply (wan/modules/model.py):
//   freqs_axis[pos, j] = polar(1, pos · 1/theta^(2j/dim_axis))             (float64)
//   x_c = view_as_complex(x.double().reshape(L, heads, d/2, 2))          (pair i = (x[2i], x[2i+1]))
//   x = view_as_real(x_c · freqs[t | h | w]).flatten(2).float()
// The d/2 pairs split [c − 2⌊c/3⌋, ⌊c/3⌋, ⌊c/3⌋] (c = d/2; 22/21/21 for d = 128) between the t, h and w
// axes, with dim_axis = 2·pairs_axis (44/42/42). Angles, cos/sin and the rotation are float64; the
// result is rounded once to fp32. Token n = t·H·W + h·W + w.
#include <cmath>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {
namespace {

// cos/sin of pos·theta^(−2j/dim) for pos < n, j < pairs, laid out [pos][j].
void axis_table(int64_t n, int64_t pairs, double theta, std::vector<double>& c, std::vector<double>& s) {
  const double dim = double(2 * pairs);
  c.resize(size_t(n * pairs));
  s.resize(size_t(n * pairs));
  for (int64_t j = 0; j < pairs; ++j) {
    const double inv = 1.0 / std::pow(theta, double(2 * j) / dim);
    for (int64_t pos = 0; pos < n; ++pos) {
      const double a = double(pos) * inv;
      c[size_t(pos * pairs + j)] = std::cos(a);
      s[size_t(pos * pairs + j)] = std::sin(a);
    }
  }
}

}  // namespace

void rope3d(const Rope3dParams& p) {
  const char* op = "rope3d";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}});
  check_not_empty(p.x, op, "x");
  check(p.x.ndim == 3, op, "x must be 3-D [L, heads, d], got " + p.x.shape_str());
  const int64_t L = p.x.size(0), heads = p.x.size(1), d = p.x.size(2);
  check(d % 2 == 0 && d >= 6, op, "head dim d = " + std::to_string(d) + " must be even and >= 6");
  check(p.T > 0 && p.H > 0 && p.W > 0, op, "grid T, H, W must be positive");
  check(p.T * p.H * p.W == L, op,
        "grid " + std::to_string(p.T) + "x" + std::to_string(p.H) + "x" + std::to_string(p.W) + " = " +
            std::to_string(p.T * p.H * p.W) + " tokens, but x has L = " + std::to_string(L));
  check(p.theta > 0, op, "theta must be positive");
  check_contiguous(p.x, op, "x");
  TW_DISPATCH_CUDA(dev, op, rope3d, p);
  check_dtype(p.x, DType::F32, op, "x");

  const int64_t c = d / 2, ph = c / 3, pw = c / 3, pt = c - ph - pw;
  std::vector<double> ct, st, ch, sh, cw, sw;
  axis_table(p.T, pt, p.theta, ct, st);
  axis_table(p.H, ph, p.theta, ch, sh);
  axis_table(p.W, pw, p.theta, cw, sw);
  float* x = p.x.ptr<float>();
  const int64_t HW = p.H * p.W;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < L; ++n) {
    const int64_t t = n / HW, h = (n / p.W) % p.H, w = n % p.W;
    for (int64_t hd = 0; hd < heads; ++hd) {
      float* xp = x + (n * heads + hd) * d;
      for (int64_t i = 0; i < c; ++i) {
        double co, si;
        if (i < pt) {
          co = ct[size_t(t * pt + i)]; si = st[size_t(t * pt + i)];
        } else if (i < pt + ph) {
          co = ch[size_t(h * ph + i - pt)]; si = sh[size_t(h * ph + i - pt)];
        } else {
          co = cw[size_t(w * pw + i - pt - ph)]; si = sw[size_t(w * pw + i - pt - ph)];
        }
        const double a = xp[2 * i], b = xp[2 * i + 1];
        xp[2 * i] = float(a * co - b * si);
        xp[2 * i + 1] = float(a * si + b * co);
      }
    }
  }
}

}  // namespace tw::ops
