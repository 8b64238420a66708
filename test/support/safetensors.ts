// Reads F32 tensors from a .safetensors file for tests (the format is an 8-byte header length, a
// JSON header, then raw little-endian data).
import { readFileSync } from "node:fs";

export interface F32Tensor {
  data: Float32Array;
  shape: number[];
}

export function readSafetensorsF32(file: string): Record<string, F32Tensor> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out: Record<string, F32Tensor> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__" || h.dtype !== "F32") continue;
    const start = 8 + n + h.data_offsets[0];
    const bytes = buf.subarray(start, 8 + n + h.data_offsets[1]);
    const data = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
    out[name] = { data, shape: h.shape };
  }
  return out;
}

export function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = (a[i] ?? NaN) - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return Number.isNaN(num) ? Infinity : Math.sqrt(num / (den || 1e-300));
}
