// Media: frames → mp4 (+ poster and animated preview). See encode.ts and images.ts.
export { encodeMp4, encodeMp4Stream, chooseEncoder, frameList, nvencWorks } from "./encode.js";
export type { EncodeOptions, EncodeResult, EncodeAttempt, Frames, Mp4Stream, VideoEncoder } from "./encode.js";
export { makePoster, makePreview } from "./images.js";
export type { PosterOptions, PreviewOptions, RawFrames } from "./images.js";
export { FfmpegMissingError, FfmpegFailedError } from "./ffmpeg.js";
