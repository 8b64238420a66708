"""Golden outputs of the official Wan2.1 umT5 encoder (wan/modules/t5.py T5Encoder) at a small
random-weight config, in fp32 on the CPU.

Writes to OUT_DIR (default test/fixtures/umt5):
  umt5_small.pth             weights saved by torch.save with the real key names (facts §8.3)
  umt5_small_golden.safetensors
      ids [3,512] i32, mask [3,512] i32, out [3,512,64] f32 (pad rows zeroed as TD does),
      rel [1201] i32 (relative offsets -600..600) and bucket [1201] i32 (the reference bucket table)

Run from the repo root with the official modules in .ref/ (scripts/golden/ref_import.py):
  python3 scripts/golden/make_umt5_goldens.py [OUT_DIR]
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

out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/umt5"
os.makedirs(out_dir, exist_ok=True)
t5 = ref_import.load("t5")

VOCAB, DIM, HEADS, FFN, LAYERS, BUCKETS, L = 256, 64, 4, 128, 3, 32, 512
torch.manual_seed(1234)
enc = t5.T5Encoder(vocab=VOCAB, dim=DIM, dim_attn=DIM, dim_ffn=FFN, num_heads=HEADS, num_layers=LAYERS,
                   num_buckets=BUCKETS, shared_pos=False, dropout=0.0).eval()
with torch.no_grad():
    # The default init gives near-uniform attention and a tiny position bias; sharpen both and
    # randomize the norm weights so a wrong bucket, mask or norm cannot pass.
    for name, p in enc.named_parameters():
        if "norm" in name:
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif name.endswith("attn.q.weight"):
            p.mul_(8.0)
        elif "pos_embedding" in name:
            p.mul_(20.0)

lengths = [1, 150, 512]
ids = torch.zeros(len(lengths), L, dtype=torch.long)
mask = torch.zeros(len(lengths), L, dtype=torch.long)
g = torch.Generator().manual_seed(99)
for b, n in enumerate(lengths):
    ids[b, : n - 1] = torch.randint(3, VOCAB, (n - 1,), generator=g)
    ids[b, n - 1] = 1  # </s>
    mask[b, :n] = 1

with torch.no_grad():
    out = enc(ids, mask)
    out = out * mask.unsqueeze(-1).to(out.dtype)  # TD zeroes the pad rows (W21 trims them)

rel = torch.arange(-600, 601).unsqueeze(0)
bucket = enc.blocks[0].pos_embedding._relative_position_bucket(rel)[0]

torch.save(enc.state_dict(), os.path.join(out_dir, "umt5_small.pth"))
save_file({
    "ids": ids.to(torch.int32).contiguous(),
    "mask": mask.to(torch.int32).contiguous(),
    "out": out.float().contiguous(),
    "rel": rel[0].to(torch.int32).contiguous(),
    "bucket": bucket.to(torch.int32).contiguous(),
}, os.path.join(out_dir, "umt5_small_golden.safetensors"))
print("umt5 goldens:", list(enc.state_dict().keys())[:4], "... out", tuple(out.shape),
      "rms", out.pow(2).mean().sqrt().item())
