"""Golden outputs of the official Wan2.1 VAE (wan/modules/vae.py WanVAE_) at a small random-weight
config, in fp32 on the CPU, with the real latent mean/std and the real chunked encode/decode.

Config: dim 4, dim_mult [1,2,3,3] (widths 4,8,12,12: odd widths and an extra shortcut, so the
C++ side must read every width from the weights), z_dim 16, num_res_blocks 2,
temperal_downsample [False, True, True] (as Wan2.1_VAE.pth).

Writes to OUT_DIR (default test/fixtures/vae):
  vae_small.pth                 weights via torch.save (real key names, facts §7.8)
  vae_small_golden.safetensors
      video [3,9,32,48]  → mu [16,3,4,6]   (encode: normalized latents)
      z [16,3,4,6]       → dec [3,9,32,48] (decode, not clamped)
      dec0 [3,1,32,48]   (decode of z's first latent frame alone)
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_import  # noqa: E402

torch.set_default_dtype(torch.float32)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/vae"
os.makedirs(out_dir, exist_ok=True)
vae_mod = ref_import.load("vae")

MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
       3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
mean = torch.tensor(MEAN)
std = torch.tensor(STD)
scale = [mean, 1.0 / std]

torch.manual_seed(4321)
model = vae_mod.WanVAE_(dim=4, z_dim=16, dim_mult=[1, 2, 3, 3], num_res_blocks=2, attn_scales=[],
                        temperal_downsample=[False, True, True], dropout=0.0).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("gamma"):
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.05 * torch.randn_like(p))
        elif name.endswith("proj.weight"):  # zero-initialized by the module
            p.copy_(0.3 * torch.randn_like(p))

g = torch.Generator().manual_seed(7)
video = torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1
z = torch.randn(1, 16, 3, 4, 6, generator=g)
with torch.no_grad():
    mu = model.encode(video, scale)
    dec = model.decode(z, scale)
    dec0 = model.decode(z[:, :, :1], scale)

sd = model.state_dict()
torch.save(sd, os.path.join(out_dir, "vae_small.pth"))
save_file({
    "video": video[0].contiguous(), "mu": mu[0].float().contiguous(),
    "z": z[0].contiguous(), "dec": dec[0].float().contiguous(), "dec0": dec0[0].float().contiguous(),
}, os.path.join(out_dir, "vae_small_golden.safetensors"))
n = sum(v.numel() for v in sd.values())
print(f"vae goldens: {len(sd)} tensors, {n} params; mu {tuple(mu.shape)} rms {mu.pow(2).mean().sqrt().item():.4f};"
      f" dec {tuple(dec.shape)} rms {dec.pow(2).mean().sqrt().item():.4f}")
