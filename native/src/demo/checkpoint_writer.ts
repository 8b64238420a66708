// Writers of the two checkpoint formats the engine reads (facts/wan-models.md §2.4–§2.5):
//  - PyTorch `torch.save` zip archives of a flat state dict (`.pth`): stored (uncompressed) zip
//    entries `<prefix>/data.pkl`, `<prefix>/data/<k>`, `<prefix>/version`, `<prefix>/byteorder`,
//    data records 64-byte aligned through the local header's extra field, a protocol-2 pickle of an
//    OrderedDict whose values are `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
//    OrderedDict())` with persistent ids ('storage', torch.<X>Storage, key, 'cpu', numel);
//  - safetensors (8-byte header length, JSON header, raw little-endian data).
// Used to write the deterministic demo model; files < 4 GB only (no ZIP64).
import { writeFileSync } from "node:fs";

export type WriteDType = "F32" | "BF16";

export interface NamedTensor {
  name: string;
  shape: number[];
  dtype: WriteDType;
  /** Row-major values; BF16 tensors are rounded to nearest-even on write. */
  data: Float32Array;
}

function f32ToBf16(data: Float32Array): Uint16Array {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; ++i) {
    const u = u32[i]!;
    if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) out[i] = (u >>> 16) | 0x40;
    else out[i] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

function tensorBytes(t: NamedTensor): Uint8Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel !== t.data.length) throw new Error(`checkpoint writer: ${t.name} has ${t.data.length} values for shape [${t.shape.join(", ")}]`);
  // Copy into a fresh buffer: little-endian on every platform Node supports.
  if (t.dtype === "F32") return new Uint8Array(Float32Array.from(t.data).buffer);
  return new Uint8Array(f32ToBf16(t.data).buffer);
}

// ---------------------------------------------------------------- safetensors
export function writeSafetensors(path: string, tensors: NamedTensor[]): void {
  const header: Record<string, unknown> = {};
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const b = tensorBytes(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.length] };
    blobs.push(b);
    offset += b.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...blobs]));
}

// ---------------------------------------------------------------- pickle (protocol 2)
class Pickler {
  private parts: Buffer[] = [];
  op(code: number) { this.parts.push(Buffer.from([code])); }
  global(module: string, name: string) { this.parts.push(Buffer.from(`c${module}\n${name}\n`, "latin1")); }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }
  int(v: number) {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new Error(`pickle: int ${v} out of BININT range`);
    const h = Buffer.alloc(5);
    h[0] = 0x4a; // BININT
    h.writeInt32LE(v, 1);
    this.parts.push(h);
  }
  tuple(items: number[]) {
    if (items.length === 0) { this.op(0x29); return; } // EMPTY_TUPLE
    this.op(0x28); // MARK
    for (const v of items) this.int(v);
    this.op(0x74); // TUPLE
  }
  bytes(): Buffer { return Buffer.concat(this.parts); }
}

const MARK = 0x28, TUPLE = 0x74, REDUCE = 0x52, BINPERSID = 0x51, NEWFALSE = 0x89, EMPTY_TUPLE = 0x29;
const SETITEMS = 0x75, STOP = 0x2e, PROTO = 0x80;

function statePickle(tensors: NamedTensor[]): Buffer {
  const p = new Pickler();
  p.op(PROTO); p.op(2);
  p.global("collections", "OrderedDict"); p.op(EMPTY_TUPLE); p.op(REDUCE);
  p.op(MARK);
  tensors.forEach((t, key) => {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    p.str(t.name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(MARK);
    // storage: persistent id ('storage', torch.XStorage, key, 'cpu', numel)
    p.op(MARK);
    p.str("storage");
    p.global("torch", t.dtype === "F32" ? "FloatStorage" : "BFloat16Storage");
    p.str(String(key));
    p.str("cpu");
    p.int(numel);
    p.op(TUPLE);
    p.op(BINPERSID);
    p.int(0); // storage_offset
    p.tuple(t.shape);
    p.tuple(stride);
    p.op(NEWFALSE); // requires_grad
    p.global("collections", "OrderedDict"); p.op(EMPTY_TUPLE); p.op(REDUCE); // backward_hooks
    p.op(TUPLE);
    p.op(REDUCE);
  });
  p.op(SETITEMS);
  p.op(STOP);
  return p.bytes();
}

// ---------------------------------------------------------------- zip (stored entries)
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; ++n) {
    let c = n;
    for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; ++i) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zipStored(entries: { name: string; data: Uint8Array }[]): Buffer {
  const out: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = crc32(e.data);
    // pad through an extra field (id 0x4246 "FB", as torch does) so the data starts 64-byte aligned
    let extraLen = 0;
    const base = offset + 30 + name.length;
    if (base % 64 !== 0) {
      extraLen = 64 - (base % 64);
      if (extraLen < 4) extraLen += 64;
    }
    const extra = Buffer.alloc(extraLen);
    if (extraLen) { extra.writeUInt16LE(0x4246, 0); extra.writeUInt16LE(extraLen - 4, 2); }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extraLen, 28);
    out.push(local, name, extra, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.length));
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4); // version made by
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt32LE(0, 12);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(e.data.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(0, 30); // extra
    cd.writeUInt16LE(0, 32); // comment
    cd.writeUInt16LE(0, 34); // disk
    cd.writeUInt16LE(0, 36); // internal attrs
    cd.writeUInt32LE(0, 38); // external attrs
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += 30 + name.length + extraLen + e.data.length;
    if (offset >= 2 ** 32) throw new Error("checkpoint writer: archives over 4 GB need ZIP64, which this writer does not emit");
  }
  const cdBuf = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...out, cdBuf, eocd]);
}

/** Writes `tensors` as torch.save(OrderedDict) would, with archive prefix `prefix`. */
export function writeTorchPth(path: string, tensors: NamedTensor[], prefix = "archive"): void {
  const entries = [
    { name: `${prefix}/data.pkl`, data: new Uint8Array(statePickle(tensors)) },
    { name: `${prefix}/byteorder`, data: new Uint8Array(Buffer.from("little")) },
    ...tensors.map((t, k) => ({ name: `${prefix}/data/${k}`, data: tensorBytes(t) })),
    { name: `${prefix}/version`, data: new Uint8Array(Buffer.from("3\n")) },
  ];
  writeFileSync(path, zipStored(entries));
}
