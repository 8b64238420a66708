"""Random umT5-XXL weights at the real shapes, saved with torch.save in the layout of
models_t5_umt5-xxl-enc-bf16.pth (bf16, facts §8.3), for the end-to-end benchmark.
usage: python3 make_umt5_random.py /tmp/umt5.pth [layers=24]
"""
import sys

import torch

out = sys.argv[1]
layers = int(sys.argv[2]) if len(sys.argv) > 2 else 24
V, D, F, H = 256384, 4096, 10240, 64
g = torch.Generator(device="cuda").manual_seed(0)


def rnd(*shape, std=None):
    t = torch.randn(*shape, generator=g, device="cuda") * (std if std is not None else shape[-1] ** -0.5)
    return t.to(torch.bfloat16).cpu()


sd = {"token_embedding.weight": rnd(V, D, std=1.0)}
for i in range(layers):
    p = f"blocks.{i}."
    sd[p + "norm1.weight"] = torch.ones(D, dtype=torch.bfloat16)
    for n in "qkvo":
        sd[f"{p}attn.{n}.weight"] = rnd(D, D)
    sd[p + "norm2.weight"] = torch.ones(D, dtype=torch.bfloat16)
    sd[p + "ffn.gate.0.weight"] = rnd(F, D)
    sd[p + "ffn.fc1.weight"] = rnd(F, D)
    sd[p + "ffn.fc2.weight"] = rnd(D, F)
    sd[p + "pos_embedding.embedding.weight"] = rnd(32, H, std=0.1)
sd["norm.weight"] = torch.ones(D, dtype=torch.bfloat16)
torch.save(sd, out)
print("wrote", out, sum(v.numel() for v in sd.values()), "params")
