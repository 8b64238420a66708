"""Golden outputs for the Wan DiT and the rCM sampler, from the official Wan2.1 model code.

Runs on the GPU machine (PyTorch there), on the CPU in fp32 so the goldens are exact fp32 math.
Needs the official `wan/modules/model.py` and `attention.py` copied into .ref/wan21/ (fetched from
github.com/Wan-Video/Wan2.1, never committed). Writes small random-weight models in the real
checkpoint formats plus inputs and outputs:
  t2v.pth            TurboDiffusion plain layout (Linear patch embedding, proj_l keys, bf16 weights, fp32 norms)
  t2v-quant.pth      TurboDiffusion -quant layout (int8_weight + 128x128 block scales in the blocks)
  i2v-high.safetensors, i2v-low.safetensors   official layout (Conv3d patch weight) with the ComfyUI prefix
  golden.safetensors inputs, injected noises and outputs
The rCM loop and the int8 linear are re-implemented here from facts/wan-models.md §3 and §5
(TurboDiffusion's own loop lives inside its inference script; its int8 GEMM needs a CUDA build).
usage: python3 make_dit_goldens.py <ref_dir> <out_dir>
"""
import math
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ref_dir, out_dir = sys.argv[1], sys.argv[2]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_num_threads(8)

# --- make the official module importable without diffusers / flash-attn
diffusers = types.ModuleType("diffusers")
cu = types.ModuleType("diffusers.configuration_utils")
mu = types.ModuleType("diffusers.models.modeling_utils")
class ConfigMixin:  # noqa: E302
    pass
cu.ConfigMixin = ConfigMixin
cu.register_to_config = lambda f: f
mu.ModelMixin = nn.Module
sys.modules.update({"diffusers": diffusers, "diffusers.configuration_utils": cu,
                    "diffusers.models": types.ModuleType("diffusers.models"),
                    "diffusers.models.modeling_utils": mu})
pkg = types.ModuleType("wan21")
pkg.__path__ = [ref_dir]
sys.modules["wan21"] = pkg
import wan21.model as wm  # noqa: E402


def sdpa_attention(q, k, v, q_lens=None, k_lens=None, **kw):
    # [B, L, h, d] in, fp32 exact math; the official call only needs k_lens masking, and all our
    # sequences are full length, so none is applied.
    out = F.scaled_dot_product_attention(q.transpose(1, 2).float(), k.transpose(1, 2).float(),
                                         v.transpose(1, 2).float())
    return out.transpose(1, 2).contiguous()


wm.flash_attention = sdpa_attention


def bf16_exact(t):
    return t.to(torch.bfloat16).float()


def make_model(in_dim, layers, seed, dim=128, ffn=256, text_dim=32):
    torch.manual_seed(seed)
    m = wm.WanModel(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=in_dim, dim=dim,
                    ffn_dim=ffn, freq_dim=256, text_dim=text_dim, out_dim=16, num_heads=dim // 128,
                    num_layers=layers, window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif "modulation" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            p.copy_(bf16_exact(p))  # bf16-representable: the bf16 files hold these values exactly
    return m.eval()


def td_state_dict(m, seed):
    """TurboDiffusion plain layout: Linear patch embedding, proj_l per block, bf16 + fp32 norms."""
    g = torch.Generator().manual_seed(seed + 1000)
    sd = {}
    for k, v in m.state_dict().items():
        if k == "patch_embedding.weight":
            v = v.reshape(v.shape[0], -1)
        is_norm = ".norm_q." in k or ".norm_k." in k or ".norm3." in k
        sd[k] = v.float().clone() if is_norm else v.to(torch.bfloat16).clone()
    for i in range(len(m.blocks)):
        p = f"blocks.{i}.self_attn.attn_op.local_attn.proj_l."
        sd[p + "weight"] = (torch.randn(128, 128, generator=g) / math.sqrt(128)).to(torch.bfloat16)
        sd[p + "bias"] = (0.05 * torch.randn(128, generator=g)).to(torch.bfloat16)
    return sd


# ---- int8 W8A8 per facts §3
def quant_block128(x):
    M, K = x.shape
    q = torch.zeros(M, K, dtype=torch.int8)
    s = torch.zeros((M + 127) // 128, (K + 127) // 128, dtype=torch.float32)
    for i in range(0, M, 128):
        for j in range(0, K, 128):
            blk = x[i:i + 128, j:j + 128].float()
            amax = max(blk.abs().max().item(), 1e-8)
            mult = torch.tensor(128.0, dtype=torch.float32) / torch.tensor(amax, dtype=torch.float32)
            qq = torch.round(blk * mult).clamp(-128, 127)  # torch.round is half-to-even
            q[i:i + 128, j:j + 128] = qq.to(torch.int8)
            s[i // 128, j // 128] = torch.tensor(amax, dtype=torch.float32) / 128.0
    return q, s


class Int8LinearEmu(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.wq, self.ws = quant_block128(lin.weight.detach().to(torch.bfloat16))
        self.bias = lin.bias.detach().to(torch.bfloat16)

    def forward(self, x):
        shp = x.shape
        x2 = x.reshape(-1, shp[-1]).to(torch.bfloat16)
        xq, xs = quant_block128(x2)
        M, K = x2.shape
        N = self.wq.shape[0]
        y = torch.zeros(M, N, dtype=torch.float32)
        for kb in range(K // 128):
            part = (xq[:, kb * 128:(kb + 1) * 128].double() @ self.wq[:, kb * 128:(kb + 1) * 128].double().T).float()
            sx = xs[torch.arange(M) // 128, kb][:, None]
            sw = self.ws[torch.arange(N) // 128, kb][None, :]
            # fp32 fused multiply-add per k-block, as the CUDA kernel's compiled epilogue does:
            # exact product of two fp32 values and one rounding of the sum (float64 holds both).
            y = (y.double() + part.double() * (sx * sw).double()).float()
        y = (y.to(torch.bfloat16) + self.bias).to(torch.bfloat16)
        return y.float().reshape(*shp[:-1], N)


def quantize_blocks(m):
    names = ["self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
             "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"]
    for blk in m.blocks:
        for n in names:
            parent = blk
            parts = n.split(".")
            for p in parts[:-1]:
                parent = getattr(parent, p)
            setattr(parent, parts[-1], Int8LinearEmu(getattr(parent, parts[-1])))
    return m


def td_quant_state_dict(mq, plain_sd):
    sd = {}
    for k, v in plain_sd.items():
        sd[k] = v
    for i, blk in enumerate(mq.blocks):
        for n, mod in blk.named_modules():
            if isinstance(mod, Int8LinearEmu):
                p = f"blocks.{i}.{n}."
                del sd[p + "weight"]
                sd[p + "int8_weight"] = mod.wq
                sd[p + "scale"] = mod.ws
                sd[p + "bias"] = mod.bias
    return sd


def run(m, x, t, ctx, y=None):
    with torch.no_grad():
        L = x.shape[1] * (x.shape[2] // 2) * (x.shape[3] // 2)
        out = m([x], t=torch.tensor([t], dtype=torch.float32), context=[ctx], seq_len=L,
                y=None if y is None else [y])
    return out[0]


def rcm_times(steps, sigma_max):
    angles = [math.atan(sigma_max), 1.5, 1.4, 1.0][:steps] + [0.0]
    return [math.sin(a) / (math.sin(a) + math.cos(a)) for a in angles]


def timestep_input(t):
    return torch.tensor(float(torch.tensor(t, dtype=torch.float32)) * 1000.0, dtype=torch.float64).to(torch.bfloat16).item()


def sample(models, x_noise, step_noises, ctx, steps, sigma, ode, y=None, boundary=0.9):
    ts = rcm_times(steps, sigma)
    x = x_noise.double() * ts[0]
    net = models[0]
    for i in range(steps):
        tc, tn = ts[i], ts[i + 1]
        if len(models) > 1 and tc < boundary:
            net = models[1]
        v = run(net, x.float(), timestep_input(tc), ctx, y).double()
        if ode:
            x = x - (tc - tn) * v
        else:
            x = (1 - tn) * (x - tc * v) + tn * step_noises[i].double()
    return x.float()


out = {}
g = torch.Generator().manual_seed(7)
T, H, W = 3, 8, 8
text_rows = 7
ctx = torch.zeros(512, 32)
ctx[:text_rows] = torch.randn(text_rows, 32, generator=g)
out["context"] = ctx[None].clone()
x = torch.randn(16, T, H, W, generator=g)
out["forward.x"] = x[None].clone()

# T2V plain: one forward + a 4-step SDE run
t2v = make_model(16, 2, seed=1)
torch.save(td_state_dict(t2v, 1), f"{out_dir}/t2v.pth")
out["forward.t2v"] = run(t2v, x, 988.0, ctx[:text_rows])[None]
noise0 = torch.randn(1, 16, T, H, W, generator=g)
step_noises = [torch.randn(1, 16, T, H, W, generator=g) for _ in range(4)]
out["sample.noise0"] = noise0
for i, n in enumerate(step_noises):
    out[f"sample.noise{i + 1}"] = n
out["sample.t2v_sde4"] = sample([t2v], noise0[0], [n[0] for n in step_noises], ctx[:text_rows], 4, 80.0, False)[None]
out["sample.t2v_sde2"] = sample([t2v], noise0[0], [n[0] for n in step_noises], ctx[:text_rows], 2, 200.0, False)[None]

# T2V -quant: forward with the int8 W8A8 block linears
t2vq = quantize_blocks(make_model(16, 2, seed=1))
torch.save(td_quant_state_dict(t2vq, td_state_dict(t2v, 1)), f"{out_dir}/t2v-quant.pth")
# Record block 0's int8 linears on the reference's own inputs: end to end, int8 rounding turns
# fp32-level differences into occasional one-step flips, so the per-linear check is the exact one.
linear_io = {}
for lname in ("self_attn.q", "cross_attn.k", "ffn.2"):
    mod = t2vq.blocks[0].get_submodule(lname)
    def hook(m, inp, outp, lname=lname):
        linear_io[f"quant.block0.{lname}.in"] = inp[0].reshape(-1, inp[0].shape[-1]).float().clone()
        linear_io[f"quant.block0.{lname}.out"] = outp.reshape(-1, outp.shape[-1]).float().clone()
    mod.register_forward_hook(hook)
out["forward.t2v_quant"] = run(t2vq, x, 932.0, ctx[:text_rows])[None]
out.update(linear_io)

# I2V two experts (official layout, ComfyUI prefix), ODE 4 steps with the switch at t < 0.9
hi, lo = make_model(36, 1, seed=2), make_model(36, 1, seed=3)
for name, mdl in (("i2v-high", hi), ("i2v-low", lo)):
    sd = {"model.diffusion_model." + k: v.to(torch.bfloat16).contiguous() for k, v in mdl.state_dict().items()}
    save_file(sd, f"{out_dir}/{name}.safetensors")
cond = torch.zeros(20, T, H, W)
cond[:4, 0] = 1.0
cond[4:] = torch.randn(16, T, H, W, generator=g)
out["i2v.cond"] = cond[None].clone()
out["forward.i2v_high"] = run(hi, x, 996.0, ctx[:text_rows], cond)[None]
out["sample.i2v_ode4"] = sample([hi, lo], noise0[0], None, ctx[:text_rows], 4, 200.0, True, cond)[None]

save_file({k: v.contiguous().float() for k, v in out.items()}, f"{out_dir}/golden.safetensors")
print({k: tuple(v.shape) for k, v in out.items()})
print("rcm times", rcm_times(4, 80.0), [timestep_input(t) for t in rcm_times(4, 80.0)])
