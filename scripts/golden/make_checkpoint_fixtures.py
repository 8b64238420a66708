"""Writes the checkpoint-loader fixtures with real torch.save and the real safetensors library.

Run on a machine with torch + safetensors (the GPU machine; tensors stay on the CPU):
    python scripts/golden/make_checkpoint_fixtures.py OUT_DIR
then copy OUT_DIR/* into test/fixtures/checkpoints/. manifest.json records, per file and key, what
torch itself reports (dtype, shape, stride, storage offset, sum, first values), so the C++ tests
compare against torch rather than against our own reading of the bytes.

DiT fixtures use dim 128 (one head) so four key schemes fit in well under a megabyte: every large
weight is a view into one shared storage, which torch.save writes once. Real Wan sizes are covered
by the in-memory tests in test/native/engine/models/dit_keys_test.cpp.
"""

import collections
import io
import json
import os
import struct
import sys
import traceback
import zipfile

import torch
from safetensors.torch import save_file

OUT = sys.argv[1] if len(sys.argv) > 1 else "out"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)

manifest = {"torch_version": torch.__version__, "files": {}, "notes": [], "errors": []}


def describe(t):
    """What torch says about a tensor; values in logical (view) order."""
    flat = t.detach().reshape(-1)
    if t.dtype == torch.bool:
        vals = flat.to(torch.int64).to(torch.float64)
    elif t.dtype.is_floating_point:
        vals = flat.to(torch.float32).to(torch.float64) if t.dtype.itemsize == 1 else flat.to(torch.float64)
    else:
        vals = flat.to(torch.float64)
    return {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "offset": t.storage_offset(),
        "contiguous": t.is_contiguous(),
        "sum": float(vals.sum()) if vals.numel() else 0.0,
        "first": [float(v) for v in vals[:8]],
    }


def record(name, tensors, **extra):
    entry = {"tensors": {k: describe(v) for k, v in tensors.items()}}
    entry.update(extra)
    manifest["files"][name] = entry


def zip_prefix(path):
    with zipfile.ZipFile(path) as z:
        return z.namelist()[0].split("/")[0]


def save_pth(name, obj, tensors):
    path = os.path.join(OUT, name)
    torch.save(obj, path)
    # torch itself must read back what the manifest says.
    back = torch.load(path, weights_only=False)
    record(name, tensors, prefix=zip_prefix(path))
    return back


def step(fn):
    try:
        fn()
    except Exception:  # one broken fixture must not cost the others (the GPU machine is a scarce call)
        manifest["errors"].append(traceback.format_exc())


# ---- plain dtypes, a plain dict root ---------------------------------------------------------------
def dtypes():
    t = {
        "bf16": torch.randn(3, 4).to(torch.bfloat16),
        "fp16": torch.randn(5).to(torch.float16),
        "fp32": torch.randn(2, 3),
        "fp64": torch.randn(2, dtype=torch.float64),
        "int8": torch.randint(-128, 128, (4, 4), dtype=torch.int8),
        "uint8": torch.randint(0, 256, (3,), dtype=torch.uint8),
        "int16": torch.tensor([-300, 7], dtype=torch.int16),
        "int32": torch.tensor([-70000, 1, 2], dtype=torch.int32),
        "int64": torch.tensor([1 << 40, -5, 3], dtype=torch.int64),
        "bool": torch.tensor([True, False, True, True, False]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    if hasattr(torch, "float8_e4m3fn"):
        t["fp8"] = torch.tensor([1.0, -2.0, 448.0, 0.015625]).to(torch.float8_e4m3fn)
    save_pth("dtypes.pth", t, t)


# ---- views sharing one storage, with offsets, and non-contiguous ones ------------------------------
def views():
    base = torch.arange(24, dtype=torch.float32) * 0.5
    m = base.view(4, 6)
    hb = torch.randn(16).to(torch.bfloat16)
    t = collections.OrderedDict(
        full=base,
        row=m[1],              # offset 6, contiguous
        tail=base[10:],        # offset 10
        block=m[1:3],          # [2,6] at offset 6
        transposed=m.t(),      # [6,4] stride [1,6]: non-contiguous
        strided=base[1::2],    # stride 2: non-contiguous
        half_a=hb[:8].view(2, 4),
        half_b=hb[8:],
    )
    save_pth("views.pth", t, t)


# ---- nn.Module state dict (OrderedDict + _metadata BUILD), raw Parameters, wrappers --------------
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.register_buffer("table", torch.arange(6, dtype=torch.int64).view(2, 3))


def modules():
    sd = Tiny().state_dict()
    assert hasattr(sd, "_metadata")
    save_pth("module.pth", sd, sd)
    params = {"weight": torch.nn.Parameter(torch.randn(3, 2)), "bias": torch.nn.Parameter(torch.randn(3), requires_grad=False)}
    save_pth("params.pth", params, params)
    save_pth("wrapped_state_dict.pth", {"state_dict": sd, "epoch": 3, "optimizer": {"lr": 0.001}}, sd)
    save_pth("wrapped_module.pth", {"module": sd}, sd)
    # Non-tensor values a training checkpoint carries: floats, big ints, bytes, None, nested containers,
    # a bare storage. Only the tensors are part of the checkpoint.
    w = torch.randn(2, 2)
    misc = {"w": w, "step": 5, "lr": 0.25, "big": 1 << 40, "huge": -(1 << 70), "name": "tiny", "blob": b"abc",
            "none": None, "flag": True, "nested": {"a": [1, 2, (3, 4.5)]}, "storage": torch.UntypedStorage(8)}
    save_pth("misc.pth", misc, {"w": w})
    # Written to a stream: the archive prefix is "archive" rather than the file stem.
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=True)
    with open(os.path.join(OUT, "stream.pth"), "wb") as f:
        f.write(buf.getvalue())
    record("stream.pth", sd, prefix=zip_prefix(os.path.join(OUT, "stream.pth")))


# ---- ZIP64: torch 2.11 writes the ZIP64 end record + locator even for small files, but 0x0001 extra
# fields only past 4 GB (manifest zip_info records what it wrote). zip64.pth is module.pth rewritten
# with every ZIP64 record, so the 64-bit size/offset paths are exercised without a 4 GB fixture.
def has_zip64(path):
    data = open(path, "rb").read()
    return {"eocd64": b"PK\x06\x06" in data, "locator": b"PK\x06\x07" in data,
            "extra_0001_in_local_header": _local_has_zip64_extra(data)}


def _local_has_zip64_extra(data):
    off = 0
    while data[off:off + 4] == b"PK\x03\x04":
        name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
        csize = struct.unpack_from("<I", data, off + 18)[0]
        extra = data[off + 30 + name_len: off + 30 + name_len + extra_len]
        i = 0
        while i + 4 <= len(extra):
            hid, n = struct.unpack_from("<HH", extra, i)
            if hid == 1:
                return True
            i += 4 + n
        if csize == 0xFFFFFFFF:
            return True
        off += 30 + name_len + extra_len + csize
    return False


def write_forced_zip64(src, dst):
    """Rewrites a torch zip with ZIP64 everywhere (local 0x0001 extras, central 0xFFFFFFFF fields
    with 0x0001 extras, ZIP64 end record + locator), data still 64-byte aligned via a padding extra."""
    with zipfile.ZipFile(src) as z:
        items = [(i.filename, z.read(i.filename), i.CRC) for i in z.infolist()]
    out = bytearray()
    central = bytearray()
    for name, data, crc in items:
        nb = name.encode()
        offset = len(out)
        z64 = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        base = offset + 30 + len(nb) + len(z64) + 4
        pad = (-base) % 64
        extra = z64 + struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # "FB" padding field, as torch uses
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(extra))
        out += nb + extra
        assert len(out) % 64 == 0
        out += data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(nb), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF)
        central += nb + cextra
    cd_off = len(out)
    out += central
    eocd64_off = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(items), len(items), len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, "wb") as f:
        f.write(out)


def zip64():
    src = os.path.join(OUT, "module.pth")
    manifest["zip_info"] = {"module.pth (torch default)": has_zip64(src)}
    with zipfile.ZipFile(src) as z:
        manifest["zip_info"]["module.pth entries"] = [
            {"name": i.filename, "method": i.compress_type, "offset": i.header_offset, "size": i.file_size,
             "central_extra": i.extra.hex()} for i in z.infolist()]
    dst = os.path.join(OUT, "zip64.pth")
    write_forced_zip64(src, dst)
    back = torch.load(dst, weights_only=True)  # torch must accept the rewritten archive
    with zipfile.ZipFile(dst) as z:
        assert z.testzip() is None
    manifest["zip_info"]["zip64.pth (rewritten)"] = has_zip64(dst)
    record("zip64.pth", back, prefix=zip_prefix(dst))
    manifest["notes"].append("zip64.pth is module.pth rewritten by write_forced_zip64 (torch.load accepts it)")


# ---- tiny Wan DiTs in each key scheme --------------------------------------------------------------
D, F, IN, OUT_DIM, TEXT, FREQ, LAYERS = 128, 256, 16, 16, 64, 32, 2
LINEARS = ["self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
           "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"]


def linear_shape(name):
    return {"ffn.0": (F, D), "ffn.2": (D, F)}.get(name, (D, D))


class Bank:
    """Hands out views of one storage so the file stays small (torch.save writes a storage once)."""

    def __init__(self, n, dtype):
        self.base = (torch.randint(-128, 128, (n,), dtype=torch.int8) if dtype == torch.int8
                     else torch.randn(n).to(dtype))
        self.pos = 0

    def take(self, *shape):
        n = 1
        for s in shape:
            n *= s
        if self.pos + n > self.base.numel():
            self.pos = 0
        t = self.base[self.pos:self.pos + n].view(*shape)
        self.pos = (self.pos + 97) % 1024  # distinct offsets, still inside the storage
        return t


def td_state_dict(quant=False, proj_l=True, conv_patch=False):
    bf = Bank(6 * D * D, torch.bfloat16)
    i8 = Bank(F * D + 1024, torch.int8)
    sd = collections.OrderedDict()
    sd["patch_embedding.weight"] = bf.take(D, IN, 1, 2, 2) if conv_patch else bf.take(D, IN * 4)
    sd["patch_embedding.bias"] = bf.take(D)
    sd["text_embedding.0.weight"] = bf.take(D, TEXT)
    sd["text_embedding.0.bias"] = bf.take(D)
    sd["text_embedding.2.weight"] = bf.take(D, D)
    sd["text_embedding.2.bias"] = bf.take(D)
    sd["time_embedding.0.weight"] = bf.take(D, FREQ)
    sd["time_embedding.0.bias"] = bf.take(D)
    sd["time_embedding.2.weight"] = bf.take(D, D)
    sd["time_embedding.2.bias"] = bf.take(D)
    sd["time_projection.1.weight"] = bf.take(6 * D, D)
    sd["time_projection.1.bias"] = bf.take(6 * D)
    for i in range(LAYERS):
        p = f"blocks.{i}."
        sd[p + "modulation"] = bf.take(1, 6, D)
        for lin in LINEARS:
            o, k = linear_shape(lin)
            if quant:
                sd[p + lin + ".int8_weight"] = i8.take(o, k)
                sd[p + lin + ".scale"] = torch.rand((o + 127) // 128, (k + 127) // 128) * 0.01
            else:
                sd[p + lin + ".weight"] = bf.take(o, k)
            sd[p + lin + ".bias"] = bf.take(o)
        for a in ("self_attn", "cross_attn"):
            sd[p + a + ".norm_q.weight"] = torch.randn(D)
            sd[p + a + ".norm_k.weight"] = torch.randn(D)
        sd[p + "norm3.weight"] = torch.randn(D)
        sd[p + "norm3.bias"] = torch.randn(D)
        if proj_l:
            sd[p + "self_attn.attn_op.local_attn.proj_l.weight"] = bf.take(128, 128)
            sd[p + "self_attn.attn_op.local_attn.proj_l.bias"] = bf.take(128)
    sd["head.head.weight"] = bf.take(OUT_DIM * 4, D)
    sd["head.head.bias"] = bf.take(OUT_DIM * 4)
    sd["head.modulation"] = bf.take(1, 2, D)
    return sd


DIFFUSERS = [  # (diffusers, canonical) substrings, facts §2.3
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("proj_out", "head.head"),
    ("attn1.to_out.0", "self_attn.o"), ("attn1.to_q", "self_attn.q"), ("attn1.to_k", "self_attn.k"),
    ("attn1.to_v", "self_attn.v"), ("attn1.norm_q", "self_attn.norm_q"), ("attn1.norm_k", "self_attn.norm_k"),
    ("attn2.to_out.0", "cross_attn.o"), ("attn2.to_q", "cross_attn.q"), ("attn2.to_k", "cross_attn.k"),
    ("attn2.to_v", "cross_attn.v"), ("attn2.norm_q", "cross_attn.norm_q"), ("attn2.norm_k", "cross_attn.norm_k"),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"), ("norm2", "norm3"),
]


def to_diffusers(sd):
    out = collections.OrderedDict()
    for k, v in sd.items():
        if k == "head.modulation":
            out["scale_shift_table"] = v
            continue
        if k.endswith(".modulation"):
            out[k[: -len("modulation")] + "scale_shift_table"] = v
            continue
        nk = k
        for dif, can in DIFFUSERS:
            cand = can + "."
            if nk.startswith(cand) or ("." + cand) in nk:
                nk = nk.replace(cand, dif + ".", 1)
                break
        out[nk] = v
    return out


def dits():
    sd = td_state_dict()
    save_pth("dit_td.pth", sd, sd)
    sd = td_state_dict(quant=True)
    save_pth("dit_td_quant.pth", sd, sd)
    official = td_state_dict(proj_l=False, conv_patch=True)
    comfy = collections.OrderedDict(("model.diffusion_model." + k, v) for k, v in official.items())
    save_pth("dit_official_comfy.pth", comfy, comfy)
    diff = to_diffusers(td_state_dict(proj_l=False, conv_patch=True))
    save_pth("dit_diffusers.pth", diff, diff)
    manifest["dit"] = {"dim": D, "ffn_dim": F, "in_dim": IN, "out_dim": OUT_DIM, "text_dim": TEXT,
                       "freq_dim": FREQ, "num_layers": LAYERS}


# ---- safetensors: one file, and a 2-shard set with its index ---------------------------------------
def safetensors_files():
    single = {
        "a.f32": torch.randn(3, 5), "a.bf16": torch.randn(4, 4).to(torch.bfloat16),
        "a.f16": torch.randn(7).to(torch.float16), "a.i8": torch.randint(-128, 128, (6,), dtype=torch.int8),
        "a.i64": torch.tensor([1 << 40, -1]), "a.bool": torch.tensor([True, False]),
        "a.f64": torch.randn(2, dtype=torch.float64), "a.scalar": torch.tensor(1.5),
    }
    if hasattr(torch, "float8_e4m3fn"):
        single["a.fp8"] = torch.tensor([0.5, -3.0]).to(torch.float8_e4m3fn)
    try:
        save_file(single, os.path.join(OUT, "single.safetensors"), metadata={"format": "pt"})
    except Exception as e:  # an older safetensors without F8_E4M3
        manifest["notes"].append(f"single.safetensors written without fp8: {e}")
        single.pop("a.fp8", None)
        save_file(single, os.path.join(OUT, "single.safetensors"), metadata={"format": "pt"})
    record("single.safetensors", single)
    shard1 = {"blocks.0.w": torch.randn(4, 4), "blocks.0.b": torch.randn(4)}
    shard2 = {"blocks.1.w": torch.randn(4, 4).to(torch.bfloat16), "head.w": torch.randn(2, 4)}
    names = ["sharded-00001-of-00002.safetensors", "sharded-00002-of-00002.safetensors"]
    save_file(shard1, os.path.join(OUT, names[0]), metadata={"format": "pt"})
    save_file(shard2, os.path.join(OUT, names[1]), metadata={"format": "pt"})
    weight_map = {k: names[0] for k in shard1}
    weight_map.update({k: names[1] for k in shard2})
    total = sum(t.numel() * t.element_size() for t in list(shard1.values()) + list(shard2.values()))
    with open(os.path.join(OUT, "sharded.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    record("sharded.safetensors.index.json", {**shard1, **shard2})


for fn in (dtypes, views, modules, zip64, dits, safetensors_files):
    step(fn)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"wrote {len(os.listdir(OUT))} files, {total} bytes; errors: {len(manifest['errors'])}")
for e in manifest["errors"]:
    print(e)
