"""PyTorch baseline for bench/kernels/dit_block_bench.cu: one Wan2.1-1.3B DiT block at 480p
(L 32760, D 1536, 12 heads, FFN 8960, 512 context rows) in bf16 with SDPA attention, timed with CUDA
events (median of 10) on the same GPU in the same run. Prints `BASE dit_block_<variant> ...` lines
(the same baseline serves every variant of ours)."""
import torch
import torch.nn.functional as F

L, D, H, FF, C = 32760, 1536, 12, 8960, 512
T, HH, WW = 21, 30, 52
dev, bf = "cuda", torch.bfloat16


def lin(n, k):
    return torch.randn(n, k, device=dev, dtype=bf) * 0.02, torch.randn(n, device=dev, dtype=bf) * 0.02


def rope_table():
    def freqs(dim, n):
        return torch.outer(torch.arange(n, dtype=torch.float64), 1.0 / 10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    ft, fh, fw = freqs(44, T), freqs(42, HH), freqs(42, WW)
    ang = torch.cat([ft[:, None, None, :].expand(T, HH, WW, 22), fh[None, :, None, :].expand(T, HH, WW, 21),
                     fw[None, None, :, :].expand(T, HH, WW, 21)], dim=-1).reshape(L, 1, 64)
    return torch.polar(torch.ones_like(ang), ang).to(dev)


def rope(x, tab):  # x [L, H, 128] bf16, interleaved pairs
    xc = torch.view_as_complex(x.float().reshape(L, H, 64, 2))
    return torch.view_as_real(xc * tab).reshape(L, H, 128).to(bf)


def main():
    w = {n: lin(*s) for n, s in dict(q=(D, D), k=(D, D), v=(D, D), o=(D, D), cq=(D, D), ck=(D, D), cv=(D, D), co=(D, D),
                                      f1=(FF, D), f2=(D, FF)).items()}
    nw = {n: torch.ones(D, device=dev) for n in ("q", "k", "cq", "ck", "n3w")}
    n3b = torch.zeros(D, device=dev)
    mod = [torch.full((D,), 0.1, device=dev) for _ in range(6)]
    x = torch.randn(L, D, device=dev, dtype=bf)
    ctx = torch.randn(C, D, device=dev, dtype=bf)
    tab = rope_table().to(torch.complex64)

    def attn(q, k, v):  # [L, H, 128] → SDPA layout [1, H, L, 128]
        o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])
        return o[0].transpose(0, 1).reshape(-1, D)

    def block(x):
        a = (F.layer_norm(x.float(), (D,), eps=1e-6).to(bf).float() * (1 + mod[1]) + mod[0]).to(bf)
        q = F.rms_norm(F.linear(a, *w["q"]).float(), (D,), nw["q"], eps=1e-6).to(bf)
        k = F.rms_norm(F.linear(a, *w["k"]).float(), (D,), nw["k"], eps=1e-6).to(bf)
        v = F.linear(a, *w["v"])
        q, k = rope(q.view(L, H, 128), tab), rope(k.view(L, H, 128), tab)
        y = F.linear(attn(q, k, v.view(L, H, 128)), *w["o"])
        x = x + y * mod[2].to(bf)
        a = F.layer_norm(x.float(), (D,), nw["n3w"], n3b, eps=1e-6).to(bf)
        q = F.rms_norm(F.linear(a, *w["cq"]).float(), (D,), nw["cq"], eps=1e-6).to(bf)
        kc = F.rms_norm(F.linear(ctx, *w["ck"]).float(), (D,), nw["ck"], eps=1e-6).to(bf)
        vc = F.linear(ctx, *w["cv"])
        x = x + F.linear(attn(q.view(L, H, 128), kc.view(C, H, 128), vc.view(C, H, 128)), *w["co"])
        a = (F.layer_norm(x.float(), (D,), eps=1e-6).to(bf).float() * (1 + mod[4]) + mod[3]).to(bf)
        y = F.linear(F.gelu(F.linear(a, *w["f1"]), approximate="tanh"), *w["f2"])
        return x + y * mod[5].to(bf)

    with torch.no_grad():
        block(x)
        torch.cuda.synchronize()
        ts = []
        for _ in range(10):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            block(x)
            e1.record()
            e1.synchronize()
            ts.append(e0.elapsed_time(e1))
    ms = sorted(ts)[len(ts) // 2]
    for v in ("bf16_sagesla", "int8_sagesla", "bf16_dense"):
        print(f"BASE dit_block_{v} 1.3B-480p-L32760 {ms:.4f}", flush=True)
    print(f"  torch block (bf16, SDPA): {ms:.3f} ms → ×120 = {ms * 0.12:.3f} s; peak memory {torch.cuda.max_memory_allocated() / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
