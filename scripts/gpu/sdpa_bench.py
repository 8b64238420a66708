"""PyTorch baselines for bench/kernels/cuda_ops_bench.cu, timed in the same run on the same GPU.

Prints `BASE <op> <shape> <ms>` lines (shape strings identical to the C++ bench) and `PEAK` lines
with the measured ceilings (bf16 matmul TFLOP/s, device-to-device copy GB/s).
torch SDPA bf16 is what TurboDiffusion falls back to without FA3, and the issue's reference.
"""
import sys

import torch
import torch.nn.functional as F


def time_ms(fn, reps):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def base(op, shape, ms):
    print(f"BASE {op} {shape} {ms:.4f}", flush=True)


def peaks():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = time_ms(lambda: a @ b, 20)
    print(f"PEAK bf16_matmul_tflops {2 * 8192**3 / ms * 1e-9:.1f}", flush=True)
    x = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    y = torch.empty_like(x)
    ms = time_ms(lambda: y.copy_(x), 20)
    print(f"PEAK copy_gbps {2 * x.numel() / ms * 1e-6:.1f}", flush=True)
    del a, b, x, y


def attention():
    for h, lq, lk, reps in [(12, 32760, 32760, 10), (40, 75600, 75600, 3), (12, 32760, 512, 20), (40, 75600, 512, 10)]:
        q = torch.randn(1, h, lq, 128, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, h, lk, 128, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, h, lk, 128, device="cuda", dtype=torch.bfloat16)
        ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps)
        base("attention", f"1x{h}x{lq}x{lk}x128", ms)
        if lq == lk:
            base("sla_topk0.1", f"1x{h}x{lq}x{lk}x128", ms)  # the reference: dense SDPA
            base("sagesla_topk0.1", f"1x{h}x{lq}x{lk}x128", ms)
        del q, k, v
        torch.cuda.empty_cache()


def linear():
    for m, n, k in [(32760, 1536, 1536), (32760, 8960, 1536), (32760, 1536, 8960), (75600, 5120, 5120), (75600, 13824, 5120),
                    (75600, 5120, 13824)]:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.03
        b = torch.randn(n, device="cuda", dtype=torch.bfloat16)
        ms = time_ms(lambda: F.linear(x, w, b), 10)
        base("linear_bf16", f"{m}x{n}x{k}", ms)
        base("linear_int8", f"{m}x{n}x{k}", ms)  # the reference for W8A8: cuBLAS bf16
        del x, w, b
        torch.cuda.empty_cache()


def elementwise():
    r, d = 32760, 1536
    x = torch.randn(r, d, device="cuda", dtype=torch.bfloat16)
    y = torch.randn(r, d, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(d, device="cuda", dtype=torch.float32)
    s = f"{r}x{d}"
    base("layer_norm", s, time_ms(lambda: F.layer_norm(x.float(), (d,), eps=1e-6).to(torch.bfloat16), 20))
    base("rms_norm", s, time_ms(lambda: F.rms_norm(x.float(), (d,), w, eps=1e-6).to(torch.bfloat16), 20))
    base("modulate", s, time_ms(lambda: (x.float() * (1 + w) + w).to(torch.bfloat16), 20))
    base("gated_add", s, time_ms(lambda: y.add_(x * w.to(torch.bfloat16)), 20))
    base("gelu_tanh", s, time_ms(lambda: F.gelu(x, approximate="tanh"), 20))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(f"DEVICE {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    peaks()
    if what in ("all", "elementwise"):
        elementwise()
    if what in ("all", "linear"):
        linear()
    if what in ("all", "attention", "sla"):
        attention()
