"""Same-run PyTorch baseline for the VAE decode benchmark, and the random weights both sides use.

Builds the official Wan2.1 VAE (wan/modules/vae.py WanVAE_, fetched into the git-ignored .ref/ and
carried to the GPU machine; never part of the tree) at the real widths (dim 96, z 16), random
weights, casts it to bf16 as TurboDiffusion runs it, saves the state dict (bf16, Wan2.1_VAE.pth key
layout) for vae_bench, then times model.decode on random latents with CUDA events and reports the
median and the peak GPU memory. Prints one JSON line.
usage: python3 vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights /tmp/vae.pth [--T 21 --H 60 --W 104]
"""
import argparse
import importlib.util
import json
import sys
import types

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--vae-py", required=True)
ap.add_argument("--weights", required=True)
ap.add_argument("--T", type=int, default=21)
ap.add_argument("--H", type=int, default=60)
ap.add_argument("--W", type=int, default=104)
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--skip-torch", action="store_true")
ap.add_argument("--conv-shapes", default="", help="Cin,Cout,T,H,W;... : time the causal 3x3x3 conv alone (cuDNN)")
ap.add_argument("--fixture", default="", help="test/fixtures/vae: error of the official decoder in bf16 vs its fp32 goldens")
args = ap.parse_args()

try:
    import einops  # noqa: F401
except ImportError:  # the two patterns vae.py uses
    def rearrange(x, pattern, t=None):
        p = pattern.replace(" ", "")
        if p == "bcthw->(bt)chw":
            b, c, tt, h, w = x.shape
            return x.permute(0, 2, 1, 3, 4).reshape(b * tt, c, h, w)
        if p == "(bt)chw->bcthw":
            bt, c, h, w = x.shape
            return x.reshape(bt // t, t, c, h, w).permute(0, 2, 1, 3, 4)
        raise NotImplementedError(pattern)
    sys.modules["einops"] = types.SimpleNamespace(rearrange=rearrange)

spec = importlib.util.spec_from_file_location("wan_vae_ref", args.vae_py)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

dev = torch.device("cuda")
torch.manual_seed(0)
model = ref.WanVAE_(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                    temperal_downsample=[False, True, True], dropout=0.0)
with torch.no_grad():
    for n, p in model.named_parameters():
        if n.endswith("gamma"):
            p.uniform_(0.5, 1.5)  # not all ones: a wrong gamma index must show
        elif n.endswith("bias"):
            p.normal_(0, 0.02)
model = model.to(dev, torch.bfloat16).eval().requires_grad_(False)
torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, args.weights)

result = {"impl": "pytorch-official-bf16", "T": args.T, "H": args.H, "W": args.W, "frames": 1 + 4 * (args.T - 1),
          "torch": torch.__version__, "device": torch.cuda.get_device_name()}
if not args.skip_torch:
    mean = torch.tensor([-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
                         -0.3632, -0.1922, -0.9497, 0.2503, -0.2921], device=dev, dtype=torch.bfloat16)
    std = torch.tensor([2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
                        1.6382, 1.1253, 2.8251, 1.9160], device=dev, dtype=torch.bfloat16)
    scale = [mean, 1.0 / std]
    z = torch.randn(1, 16, args.T, args.H, args.W, device=dev, dtype=torch.bfloat16)
    with torch.no_grad():
        out = model.decode(z, scale)  # warm-up (cuDNN autotune, allocator)
        assert out.shape[2] == result["frames"], out.shape
        del out
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        times = []
        for _ in range(args.iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            out = model.decode(z, scale)
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
            del out
    times.sort()
    result.update(ms_median=round(times[len(times) // 2], 1), ms_min=round(times[0], 1),
                  peak_mb=round(torch.cuda.max_memory_allocated() / 1e6, 1), weights_mb=round(base / 1e6, 1),
                  cudnn_benchmark=torch.backends.cudnn.benchmark)
print(json.dumps(result), flush=True)

# The conv alone, as CausalConv3d runs it (cat cache, F.pad, conv3d), cuDNN with and without autotuning.
import torch.nn.functional as F  # noqa: E402
for spec_ in filter(None, args.conv_shapes.split(";")):
    Cin, Cout, T, H, W = map(int, spec_.split(","))
    x = torch.randn(1, Cin, T, H, W, device=dev, dtype=torch.bfloat16)
    cache = torch.randn(1, Cin, 2, H, W, device=dev, dtype=torch.bfloat16)
    w = torch.randn(Cout, Cin, 3, 3, 3, device=dev, dtype=torch.bfloat16) * 0.02
    b = torch.randn(Cout, device=dev, dtype=torch.bfloat16)
    for bench_mode in (False, True):
        torch.backends.cudnn.benchmark = bench_mode
        with torch.no_grad():
            def run():
                return F.conv3d(F.pad(torch.cat([cache, x], 2), (1, 1, 1, 1, 0, 0)), w, b)
            for _ in range(3):
                run()
            torch.cuda.synchronize()
            ts = []
            for _ in range(10):
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record(); run(); e1.record(); torch.cuda.synchronize()
                ts.append(e0.elapsed_time(e1))
        ts.sort()
        ms = ts[len(ts) // 2]
        print(json.dumps({"impl": "torch conv3d (cuDNN)", "cudnn_benchmark": bench_mode, "Cin": Cin, "Cout": Cout, "T": T, "H": H,
                          "W": W, "ms": round(ms, 3), "tflops": round(2 * Cout * Cin * 27 * T * H * W / ms / 1e9, 1)}), flush=True)
    torch.backends.cudnn.benchmark = False

# What bf16 costs the official decoder on the small fixture (FA3-style yardstick for our tolerance).
if args.fixture:
    import os
    from safetensors.torch import load_file
    gold = load_file(os.path.join(args.fixture, "vae_small_golden.safetensors"))
    small = ref.WanVAE_(dim=4, z_dim=16, dim_mult=[1, 2, 3, 3], num_res_blocks=2, attn_scales=[],
                        temperal_downsample=[False, True, True], dropout=0.0)
    small.load_state_dict(torch.load(os.path.join(args.fixture, "vae_small.pth"), map_location="cpu"))
    small = small.to(dev, torch.bfloat16).eval()
    mean16 = torch.tensor([-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
                           -0.3632, -0.1922, -0.9497, 0.2503, -0.2921], device=dev, dtype=torch.bfloat16)
    std16 = torch.tensor([2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
                          1.6382, 1.1253, 2.8251, 1.9160], device=dev, dtype=torch.bfloat16)
    def rel(a, r):
        a, r = a.float().cpu().flatten(), r.float().cpu().flatten()
        return float((a - r).norm() / r.norm())
    with torch.no_grad():
        z = gold["z"].to(dev)
        dec = small.decode(z.unsqueeze(0).to(torch.bfloat16) if z.dim() == 4 else z.to(torch.bfloat16), [mean16, 1.0 / std16])
        video = gold["video"].to(dev)
        mu = small.encode(video.unsqueeze(0).to(torch.bfloat16) if video.dim() == 4 else video.to(torch.bfloat16), [mean16, 1.0 / std16])
    print(json.dumps({"fixture": "vae_small", "official_bf16_vs_fp32_decode_rel_l2": rel(dec.squeeze(0), gold["dec"]),
                      "official_bf16_vs_fp32_encode_rel_l2": rel(mu.squeeze(0), gold["mu"])}), flush=True)
