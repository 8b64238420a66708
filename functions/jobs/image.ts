// Validation of input images for image-to-video. The bytes are decoded with sharp (libvips), so a
// file that only claims to be an image, or a decompression bomb, is refused before it reaches the
// queue. Messages are sentences a bot can show as they are.
import sharp from "sharp";
import type { Metadata } from "sharp";
import { IMAGE_MAX_BYTES } from "./model.js";

export const IMAGE_MIN_SIDE = 64;
export const IMAGE_MAX_SIDE = 4096;

const FORMATS = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;
export type ImageFormat = keyof typeof FORMATS;

export interface ValidImage {
  format: ImageFormat;
  contentType: (typeof FORMATS)[ImageFormat];
  extension: "png" | "jpg" | "webp";
  width: number;
  height: number;
  bytes: number;
}

export class InvalidImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidImageError";
  }
}

const MB = 1024 * 1024;

const tooLarge = () =>
  new InvalidImageError(`The image is too large: each side must be at most ${IMAGE_MAX_SIDE} pixels. Scale it down.`);

/** Checks size, format (by content, not by the name or declared type) and dimensions, and decodes
 * the whole image once so a truncated file is caught here rather than in the worker. */
export async function validateImage(bytes: Uint8Array): Promise<ValidImage> {
  if (bytes.byteLength === 0) throw new InvalidImageError("The image is empty: attach a PNG, JPEG or WebP file.");
  if (bytes.byteLength > IMAGE_MAX_BYTES) {
    throw new InvalidImageError(
      `The image is ${(bytes.byteLength / MB).toFixed(1)} MB; the limit is ${IMAGE_MAX_BYTES / MB} MB. Send a smaller file.`,
    );
  }
  let meta: Metadata;
  try {
    // limitInputPixels guards against decompression bombs: a small file that decodes to gigapixels.
    meta = await sharp(bytes, { limitInputPixels: IMAGE_MAX_SIDE * IMAGE_MAX_SIDE, animated: false }).metadata();
  } catch (err) {
    if (/pixel limit/i.test(String((err as Error).message))) throw tooLarge();
    throw new InvalidImageError("The file is not an image I can read: send a PNG, JPEG or WebP.");
  }
  const format = meta.format as string | undefined;
  if (!format || !(format in FORMATS)) {
    throw new InvalidImageError(`The image is ${format ?? "in an unknown format"}; send a PNG, JPEG or WebP.`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width < IMAGE_MIN_SIDE || height < IMAGE_MIN_SIDE) {
    throw new InvalidImageError(
      `The image is ${width}×${height} pixels; each side must be at least ${IMAGE_MIN_SIDE} pixels.`,
    );
  }
  if (width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE) {
    throw new InvalidImageError(
      `The image is ${width}×${height} pixels; each side must be at most ${IMAGE_MAX_SIDE} pixels. Scale it down.`,
    );
  }
  try {
    // metadata() reads only the header; a full decode catches truncated or corrupt pixel data.
    await sharp(bytes, { limitInputPixels: IMAGE_MAX_SIDE * IMAGE_MAX_SIDE }).raw().toBuffer();
  } catch (err) {
    if (/pixel limit/i.test(String((err as Error).message))) throw tooLarge();
    throw new InvalidImageError("The image is damaged and cannot be decoded; export it again and resend it.");
  }
  const f = format as ImageFormat;
  return {
    format: f,
    contentType: FORMATS[f],
    extension: f === "jpeg" ? "jpg" : f,
    width,
    height,
    bytes: bytes.byteLength,
  };
}
