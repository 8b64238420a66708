import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { InvalidImageError, validateImage } from "../../../functions/jobs/image.js";

const solid = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: "#3366cc" } });

describe("validateImage", () => {
  it.each([
    ["png", "image/png", "png"],
    ["jpeg", "image/jpeg", "jpg"],
    ["webp", "image/webp", "webp"],
  ] as const)("accepts %s and reports its size and type", async (format, contentType, extension) => {
    const bytes = await solid(640, 360).toFormat(format).toBuffer();
    expect(await validateImage(bytes)).toEqual({ format, contentType, extension, width: 640, height: 360, bytes: bytes.length });
  });

  it("refuses a file over 10 MB before decoding it", async () => {
    await expect(validateImage(new Uint8Array(10 * 1024 * 1024 + 1))).rejects.toThrow(
      "The image is 10.0 MB; the limit is 10 MB. Send a smaller file.",
    );
  });

  it("refuses bytes that are not an image", async () => {
    await expect(validateImage(new TextEncoder().encode("<html>hello</html>"))).rejects.toThrow(
      "The file is not an image I can read: send a PNG, JPEG or WebP.",
    );
    await expect(validateImage(new Uint8Array())).rejects.toThrow(/empty/);
  });

  it("refuses formats other than PNG, JPEG and WebP", async () => {
    const gif = await solid(100, 100).gif().toBuffer();
    await expect(validateImage(gif)).rejects.toThrow("The image is gif; send a PNG, JPEG or WebP.");
  });

  it("refuses images that are too small or too large, saying the limits", async () => {
    await expect(validateImage(await solid(32, 200).png().toBuffer())).rejects.toThrow(
      "The image is 32×200 pixels; each side must be at least 64 pixels.",
    );
    await expect(validateImage(await solid(5000, 100).png().toBuffer())).rejects.toThrow(/at most 4096 pixels/);
    // Over libvips' pixel limit (a decompression bomb looks like this): still a sentence about size.
    await expect(validateImage(await solid(5000, 5000).png({ compressionLevel: 9 }).toBuffer())).rejects.toThrow(
      /at most 4096 pixels/,
    );
  });

  it("refuses a truncated file whose header is fine", async () => {
    const png = await sharp({ create: { width: 300, height: 300, channels: 3, background: "#000", noise: { type: "gaussian", mean: 128, sigma: 40 } } })
      .png()
      .toBuffer();
    const err = await validateImage(png.subarray(0, Math.floor(png.length / 2))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidImageError);
    expect((err as Error).message).toMatch(/damaged|not an image/);
  });
});
