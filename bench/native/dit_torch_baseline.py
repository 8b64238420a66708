"""Same-run PyTorch baseline for the full DiT benchmark, and the random weights both sides use.

Writes random bf16 weights at the real Wan shapes in TurboDiffusion's key layout (with proj_l) to a
safetensors file, then times a plain PyTorch implementation of the same forward (bf16 linears,
fp32 norms, interleaved 3D RoPE, SDPA attention for self- and cross-attention) over a 4-step rCM
loop, with CUDA events, and reports peak GPU memory. The C++ bench (dit_bench.cpp) loads the file.
usage: python3 dit_torch_baseline.py --model 1.3b|14b --res 480p|720p --weights /tmp/w.safetensors
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

CONFIGS = {"1.3b": dict(dim=1536, ffn=8960, heads=12, layers=30), "14b": dict(dim=5120, ffn=13824, heads=40, layers=40)}
SIZES = {"480p": (480, 832), "720p": (720, 1280)}

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="1.3b")
ap.add_argument("--res", default="480p")
ap.add_argument("--frames", type=int, default=81)
ap.add_argument("--weights", required=True)
ap.add_argument("--skip-torch", action="store_true")
args = ap.parse_args()
c = CONFIGS[args.model]
D, Fd, Hh, NL = c["dim"], c["ffn"], c["heads"], c["layers"]
dev = torch.device("cuda")
g = torch.Generator(device=dev).manual_seed(0)


def rnd(*shape, std=None):
    fan = shape[-1]
    return (torch.randn(*shape, generator=g, device=dev) * (std if std is not None else 1 / math.sqrt(fan))).to(torch.bfloat16)


W = {}
W["patch_embedding.weight"], W["patch_embedding.bias"] = rnd(D, 64), rnd(D, std=0.02)
W["text_embedding.0.weight"], W["text_embedding.0.bias"] = rnd(D, 4096), rnd(D, std=0.02)
W["text_embedding.2.weight"], W["text_embedding.2.bias"] = rnd(D, D), rnd(D, std=0.02)
W["time_embedding.0.weight"], W["time_embedding.0.bias"] = rnd(D, 256), rnd(D, std=0.02)
W["time_embedding.2.weight"], W["time_embedding.2.bias"] = rnd(D, D), rnd(D, std=0.02)
W["time_projection.1.weight"], W["time_projection.1.bias"] = rnd(6 * D, D), rnd(6 * D, std=0.02)
W["head.head.weight"], W["head.head.bias"] = rnd(64, D), rnd(64, std=0.02)
W["head.modulation"] = rnd(1, 2, D, std=0.1)
for i in range(NL):
    p = f"blocks.{i}."
    W[p + "modulation"] = rnd(1, 6, D, std=0.1)
    for a in ("self_attn", "cross_attn"):
        for n in "qkvo":
            W[f"{p}{a}.{n}.weight"], W[f"{p}{a}.{n}.bias"] = rnd(D, D), rnd(D, std=0.02)
        W[f"{p}{a}.norm_q.weight"] = torch.ones(D, device=dev)
        W[f"{p}{a}.norm_k.weight"] = torch.ones(D, device=dev)
    W[p + "self_attn.attn_op.local_attn.proj_l.weight"] = rnd(128, 128)
    W[p + "self_attn.attn_op.local_attn.proj_l.bias"] = rnd(128, std=0.02)
    W[p + "norm3.weight"], W[p + "norm3.bias"] = torch.ones(D, device=dev), torch.zeros(D, device=dev)
    W[p + "ffn.0.weight"], W[p + "ffn.0.bias"] = rnd(Fd, D), rnd(Fd, std=0.02)
    W[p + "ffn.2.weight"], W[p + "ffn.2.bias"] = rnd(D, Fd), rnd(D, std=0.02)
save_file({k: v.contiguous().cpu() for k, v in W.items()}, args.weights)

H, Wd = SIZES[args.res]
T, Hl, Wl = 1 + (args.frames - 1) // 4, H // 8, Wd // 8
Hp, Wp = Hl // 2, Wl // 2
L = T * Hp * Wp
result = dict(model=args.model, res=args.res, frames=args.frames, tokens=L, device=torch.cuda.get_device_name())
if args.skip_torch:
    print(json.dumps(result))
    raise SystemExit

# RoPE table (22/21/21 pairs, interleaved), fp32 cos/sin per token
def freqs(n, dim):
    return torch.outer(torch.arange(n, dtype=torch.float64), 1.0 / torch.pow(10000, torch.arange(0, dim, 2, dtype=torch.float64) / dim))
ft, fh, fw = freqs(T, 44), freqs(Hp, 42), freqs(Wp, 42)
ang = torch.cat([ft[:, None, None].expand(T, Hp, Wp, 22), fh[None, :, None].expand(T, Hp, Wp, 21),
                 fw[None, None].expand(T, Hp, Wp, 21)], -1).reshape(L, 1, 64)
cos, sin = ang.cos().float().to(dev), ang.sin().float().to(dev)


def rope(x):  # x [L, h, 128] bf16
    xf = x.float().reshape(L, Hh, 64, 2)
    a, b = xf[..., 0], xf[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(L, Hh, 128).to(torch.bfloat16)


def rms(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6) * w).to(torch.bfloat16)


def ln(x, w=None, b=None):
    return F.layer_norm(x.float(), (D,), w, b, 1e-6)


def attn(q, k, v):  # [L, h, d] → SDPA over heads
    o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])
    return o[0].transpose(0, 1).reshape(q.shape[0], D)


def lin(x, n):
    return F.linear(x, W[n + ".weight"], W[n + ".bias"])


@torch.no_grad()
def forward(tokens, t, ctx):
    half = 128
    wv = torch.pow(10000, -torch.arange(half, dtype=torch.float64, device=dev) / half)
    s = torch.cat([torch.cos(t * wv), torch.sin(t * wv)]).float()[None]
    e = lin(F.silu(lin(s.to(torch.bfloat16), "time_embedding.0")), "time_embedding.2").float()
    e0 = lin(F.silu(e).to(torch.bfloat16), "time_projection.1").float().reshape(6, D)
    c = lin(F.gelu(lin(ctx, "text_embedding.0"), approximate="tanh"), "text_embedding.2")
    x = lin(tokens, "patch_embedding")
    for i in range(NL):
        p = f"blocks.{i}."
        m = W[p + "modulation"][0].float() + e0
        a = (ln(x) * (1 + m[1]) + m[0]).to(torch.bfloat16)
        q = rope(rms(lin(a, p + "self_attn.q"), W[p + "self_attn.norm_q.weight"]).reshape(L, Hh, 128))
        k = rope(rms(lin(a, p + "self_attn.k"), W[p + "self_attn.norm_k.weight"]).reshape(L, Hh, 128))
        v = lin(a, p + "self_attn.v").reshape(L, Hh, 128)
        x = (x + lin(attn(q, k, v), p + "self_attn.o") * m[2].to(torch.bfloat16))
        a = ln(x, W[p + "norm3.weight"], W[p + "norm3.bias"]).to(torch.bfloat16)
        q = rms(lin(a, p + "cross_attn.q"), W[p + "cross_attn.norm_q.weight"]).reshape(L, Hh, 128)
        k = rms(lin(c, p + "cross_attn.k"), W[p + "cross_attn.norm_k.weight"]).reshape(512, Hh, 128)
        v = lin(c, p + "cross_attn.v").reshape(512, Hh, 128)
        x = x + lin(attn(q, k, v), p + "cross_attn.o")
        f = (ln(x) * (1 + m[4]) + m[3]).to(torch.bfloat16)
        x = x + lin(F.gelu(lin(f, p + "ffn.0"), approximate="tanh"), p + "ffn.2") * m[5].to(torch.bfloat16)
    hm = W["head.modulation"][0].float() + e
    return F.linear((ln(x) * (1 + hm[1]) + hm[0]), W["head.head.weight"].float(), W["head.head.bias"].float())


tokens = torch.randn(L, 64, device=dev).to(torch.bfloat16)
ctx = torch.randn(512, 4096, device=dev).to(torch.bfloat16)
steps = [988.0, 932.0, 852.0, 608.0]
forward(tokens, steps[0], ctx)  # warm-up
torch.cuda.synchronize()
torch.cuda.reset_peak_memory_stats()
t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
t0.record()
for t in steps:
    forward(tokens, t, ctx)
t1.record()
torch.cuda.synchronize()
result.update(torch_4step_ms=t0.elapsed_time(t1), torch_peak_gib=torch.cuda.max_memory_allocated() / 2**30)
print(json.dumps(result))
