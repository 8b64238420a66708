// The demo model writer: deterministic files in the real checkpoint layouts, loadable by the C++
// loaders and models (native/build's demo_model_test runs each model once on them).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { crc32 } from "../../../native/src/demo/checkpoint_writer.js";
import { DEMO_VOCAB, demoDitConfig, writeDemoModel } from "../../../native/src/demo/demo_model.js";
import { UMT5Tokenizer } from "../../../native/src/tokenizer.js";

const root = path.resolve(import.meta.dirname, "../../..");
const tmp = mkdtempSync(path.join(tmpdir(), "tw-demo-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Entry names and CRC check of a stored zip, read from the central directory.
function zipEntries(file: string): string[] {
  const b = readFileSync(file);
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(eocd).toBeGreaterThan(0);
  const count = b.readUInt16LE(eocd + 10);
  let p = b.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; ++i) {
    expect(b.readUInt32LE(p)).toBe(0x02014b50);
    const crc = b.readUInt32LE(p + 16), size = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28), extraLen = b.readUInt16LE(p + 30), commentLen = b.readUInt16LE(p + 32);
    const local = b.readUInt32LE(p + 42);
    const name = b.toString("utf8", p + 46, p + 46 + nameLen);
    const dataStart = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
    if (name.includes("/data/")) expect(dataStart % 64, name).toBe(0);
    expect(crc32(b.subarray(dataStart, dataStart + size)), name).toBe(crc);
    names.push(name);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return names;
}

function cppDemoTest(): string[] | undefined {
  const build = path.join(root, "native/build");
  if (!existsSync(path.join(build, "CTestTestfile.cmake"))) return undefined;
  const out = execFileSync("ctest", ["--test-dir", build, "--show-only=json-v1"], { encoding: "utf8" });
  const t = (JSON.parse(out) as { tests: { name: string; command: string[] }[] }).tests.find((x) => x.name === "demo_model_test");
  return t?.command;
}

describe("demo model", () => {
  const t2v = writeDemoModel(path.join(tmp, "t2v"));
  const i2v = writeDemoModel(path.join(tmp, "i2v"), { modelType: "i2v" });

  it("writes the TURBOWAN_MODELS_DIR layout", () => {
    expect(t2v).toEqual({
      dit: path.join(tmp, "t2v/dit.pth"), textEncoder: path.join(tmp, "t2v/umt5.pth"),
      tokenizer: path.join(tmp, "t2v/tokenizer.json"), vae: path.join(tmp, "t2v/vae.pth"),
    });
    expect(i2v.ditLow).toBe(path.join(tmp, "i2v/dit-low.pth"));
    expect(demoDitConfig("i2v").inDim).toBe(36);
  });

  it("writes torch.save zip archives (stored, 64-byte aligned, CRCs valid)", () => {
    const vae = zipEntries(t2v.vae!);
    expect(vae.filter((n) => n.startsWith("vae/data/")).length).toBe(194); // as Wan2.1_VAE.pth
    expect(vae).toContain("vae/data.pkl");
    expect(vae).toContain("vae/version");
    expect(zipEntries(t2v.dit as string).filter((n) => n.includes("/data/")).length).toBe(15 + 29 * 2);
    expect(zipEntries(t2v.textEncoder!).filter((n) => n.includes("/data/")).length).toBe(1 + 2 * 10 + 1);
  });

  it("is deterministic in the seed", () => {
    const again = writeDemoModel(path.join(tmp, "again"));
    const other = writeDemoModel(path.join(tmp, "other"), { seed: 7 });
    for (const k of ["dit", "textEncoder", "vae"] as const) {
      expect(readFileSync(again[k] as string).equals(readFileSync(t2v[k] as string)), k).toBe(true);
      expect(readFileSync(other[k] as string).equals(readFileSync(t2v[k] as string)), k).toBe(false);
    }
    expect(() => writeDemoModel(path.join(tmp, "bad"), { seed: -1 })).toThrow(/seed/);
  });

  it("ships a tokenizer whose ids fit the demo encoder's vocabulary", async () => {
    const tok = await UMT5Tokenizer.fromFile(t2v.tokenizer!);
    const enc = tok.encode("A cat dancing under neon light, 一只猫 🐱");
    expect(enc.length).toBeGreaterThan(5);
    expect(Math.max(...enc.ids)).toBeLessThan(DEMO_VOCAB);
  });

  const cmd = cppDemoTest();
  it.skipIf(!cmd)("loads through the C++ loaders and runs umT5, VAE and DiT once (t2v and i2v)", () => {
    for (const [dir, kind] of [[path.dirname(t2v.vae!), "t2v"], [path.dirname(i2v.vae!), "i2v"]] as const) {
      const r = spawnSync(cmd![0]!, [...cmd!.slice(1), dir, kind], { cwd: root, encoding: "utf8", timeout: 120_000 });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    }
  }, 130_000);
});
