import { describe, expect, it } from "vitest";
import {
  checkGitHubImageUrl,
  describeOptions,
  findCommandLine,
  parseArguments,
  parseCommand,
  parseGitHubComment,
  VALID_FLAGS,
} from "../../bot/grammar.js";
import { generationOptionsSchema } from "../../functions/jobs/model.js";

const defaults = generationOptionsSchema.parse({});

function ok(result: ReturnType<typeof parseCommand> | undefined) {
  if (!result?.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result.command;
}
function err(result: ReturnType<typeof parseCommand> | undefined) {
  if (!result || result.ok) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

describe("parseCommand (shared by every frontend)", () => {
  it("uses the job model's defaults for a bare prompt", () => {
    const c = ok(parseCommand({ prompt: "  a red fox in snow ", options: {} }));
    expect(c).toEqual({ kind: "t2v", prompt: "a red fox in snow", image: undefined, options: defaults });
  });

  it("accepts every option, typed (Discord) or as text (GitHub/web), to the same result", () => {
    const typed = ok(
      parseCommand({
        prompt: "p",
        options: { model: "wan2.1-t2v-14b", resolution: "720p", aspect: "9:16", frames: 49, steps: 2, seed: 7, sigma_max: 80, attention: "sla", topk: 0.2, ode: true },
      }),
    );
    const text = ok(
      parseCommand({
        prompt: "p",
        options: { model: "WAN2.1-T2V-14B", resolution: "720P", aspect: "9:16", frames: "49", steps: "2", seed: "7", sigma_max: "80", attention: "SLA", topk: ".2", ode: "yes" },
      }),
    );
    expect(typed).toEqual(text);
    expect(typed.options).toEqual({
      model: "wan2.1-t2v-14b", resolution: "720p", aspectRatio: "9:16", frames: 49, steps: 2, seed: 7, sigmaMax: 80, attention: "sla", topk: 0.2, ode: true,
    });
  });

  it.each([
    [{ steps: 9 }, "steps must be between 1 and 4."],
    [{ steps: "two" }, "steps must be a number."],
    [{ steps: 2.5 }, "steps must be a whole number."],
    [{ frames: 50 }, "frames must be 4k+1 (for example 17, 49 or 81)."],
    [{ frames: 201 }, "frames must be at most 161."],
    [{ frames: 1 }, "frames must be at least 5."],
    [{ seed: -1 }, "seed must be between 0 and 4294967295."],
    [{ seed: 4294967296 }, "seed must be between 0 and 4294967295."],
    [{ sigma_max: 0 }, "sigma_max must be between 1 and 5000."],
    [{ sigma_max: "lots" }, "sigma_max must be a number."],
    [{ topk: 0 }, "topk must be above 0 and at most 1."],
    [{ topk: 1.5 }, "topk must be above 0 and at most 1."],
    [{ ode: "maybe" }, "ode must be true or false."],
    [{ attention: "flash" }, "attention must be original, sla or sagesla."],
    [{ resolution: "1080p" }, "resolution must be 480p or 720p."],
    [{ aspect: "21:9" }, "aspect must be one of 16:9, 9:16, 1:1, 4:3, 3:4."],
    [{ model: "sora" }, "model must be one of wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.2-i2v-a14b, demo."],
  ])("rejects %j with the model's sentence", (options, sentence) => {
    expect(err(parseCommand({ prompt: "p", options }))).toBe(sentence);
  });

  it("words prompt problems like the job model and joins several problems", () => {
    expect(err(parseCommand({ prompt: "   ", options: {} }))).toBe("The prompt is empty: describe the video you want.");
    expect(err(parseCommand({ prompt: "x".repeat(2001), options: {} }))).toBe("The prompt is too long: keep it under 2000 characters.");
    expect(err(parseCommand({ prompt: "a\u0007b", options: {} }))).toBe("The prompt contains control characters; remove them.");
    expect(err(parseCommand({ prompt: "", options: { steps: 0 } }))).toBe("The prompt is empty: describe the video you want. steps must be between 1 and 4.");
  });

  it("makes image-to-video when an image is given, with the I2V model by default", () => {
    const c = ok(parseCommand({ prompt: "make it move", image: { url: "https://cdn/x.png" }, options: {} }));
    expect(c.kind).toBe("i2v");
    expect(c.options.model).toBe("wan2.2-i2v-a14b");
    expect(ok(parseCommand({ prompt: "p", image: { url: "u" }, options: { model: "demo" } })).options.model).toBe("demo");
    expect(err(parseCommand({ prompt: "p", image: { url: "u" }, options: { model: "wan2.1-t2v-14b" } }))).toMatch(/makes videos from text only/);
    expect(err(parseCommand({ prompt: "p", options: { model: "wan2.2-i2v-a14b" } }))).toMatch(/animates an image: attach one/);
  });

  it("lists the valid options when an unknown one is given", () => {
    expect(err(parseCommand({ prompt: "p", options: { speed: 3 } }))).toBe(
      `Unknown option --speed. Valid options: ${VALID_FLAGS.map((f) => `--${f}`).join(", ")}.`,
    );
  });
});

describe("text form (GitHub comments, web console)", () => {
  it("parses quoted and unquoted prompts, --flag value and --flag=value", () => {
    const a = ok(parseGitHubComment('/turbowan "a red fox in snow" --aspect 9:16 --steps 4'));
    expect(a.prompt).toBe("a red fox in snow");
    expect(a.options.aspectRatio).toBe("9:16");
    const b = ok(parseGitHubComment("/turbowan a red fox in snow --aspect=9:16 --steps=4"));
    expect(b).toEqual(a);
    const c = ok(parseGitHubComment("/turbowan --steps 2 “a fox” --ode --seed=42 --sigma-max 80"));
    expect(c.prompt).toBe("a fox");
    expect(c.options).toMatchObject({ steps: 2, ode: true, seed: 42, sigmaMax: 80 });
    const d = ok(parseGitHubComment('/turbowan --prompt="two words" --ode false'));
    expect(d.prompt).toBe("two words");
    expect(d.options.ode).toBe(false);
  });

  it("keeps escaped quotes and gives clear errors for broken input", () => {
    expect(ok(parseGitHubComment('/turbowan "say \\"hi\\"" ')).prompt).toBe('say "hi"');
    expect(err(parseGitHubComment('/turbowan "a fox --steps 2'))).toMatch(/quote is not closed/);
    expect(err(parseGitHubComment("/turbowan a fox --steps"))).toBe("--steps needs a value, for example --steps 1.");
    expect(err(parseGitHubComment("/turbowan a fox --steps 2 --steps 3"))).toBe("--steps is given twice; keep one.");
    expect(err(parseGitHubComment("/turbowan a fox --fps 24 --speed 2"))).toMatch(/^Unknown options --fps, --speed\. Valid options: --prompt, --image, --model,/);
    expect(err(parseGitHubComment('/turbowan "a" --prompt "b"'))).toMatch(/Give the prompt once/);
    expect(err(parseGitHubComment("/turbowan"))).toBe("The prompt is empty: describe the video you want.");
    expect(err(parseGitHubComment("/turbowan fox --frames 80"))).toBe("frames must be 4k+1 (for example 17, 49 or 81).");
  });

  it("finds the command line outside code blocks only", () => {
    expect(findCommandLine("hello\n```\n/turbowan no\n```\n  /turbowan yes --steps 1\n/turbowan second")).toBe("yes --steps 1");
    expect(findCommandLine("/turbowanx not a command")).toBeUndefined();
    expect(parseGitHubComment("just a comment mentioning /turbowan inline")).toBeUndefined();
  });

  it("parseArguments keeps values as text for the shared validation", () => {
    const r = parseArguments("fox --steps 4 --image https://github.com/user-attachments/assets/abc");
    expect(r).toEqual({ ok: true, value: { prompt: "fox", imageUrl: "https://github.com/user-attachments/assets/abc", options: { steps: "4" } } });
  });
});

describe("GitHub images", () => {
  it("accepts attachments on GitHub's own hosts only", () => {
    for (const u of [
      "https://github.com/user-attachments/assets/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab",
      "https://user-images.githubusercontent.com/1/2.png",
      "https://private-user-images.githubusercontent.com/1/2.png?jwt=x",
    ]) expect(checkGitHubImageUrl(u).ok).toBe(true);
    for (const u of [
      "http://github.com/user-attachments/assets/x",
      "https://github.com/octo/repo/raw/main/x.png",
      "https://evil.example/x.png",
      "https://github.com.evil.example/user-attachments/x",
      "https://user@github.com/user-attachments/x",
      "https://169.254.169.254/latest/meta-data",
      "not a url",
    ]) expect(checkGitHubImageUrl(u)).toEqual({ ok: false, error: expect.stringMatching(/must be attached to the comment on GitHub/) });
  });

  it("takes the image from --image or from an image attached in the comment", () => {
    const body = '/turbowan "make it snow" --steps 2\n\n![fox](https://github.com/user-attachments/assets/0f1e2d3c-aaaa)';
    const c = ok(parseGitHubComment(body));
    expect(c.kind).toBe("i2v");
    expect(c.image?.url).toBe("https://github.com/user-attachments/assets/0f1e2d3c-aaaa");
    const img = ok(parseGitHubComment('/turbowan animate\n<img width="300" alt="x" src="https://private-user-images.githubusercontent.com/9/abc.png?jwt=1" />'));
    expect(img.image?.url).toMatch(/^https:\/\/private-user-images/);
    expect(err(parseGitHubComment("/turbowan animate\n![x](https://imgur.com/x.png)"))).toMatch(/other addresses are not fetched/);
    expect(err(parseGitHubComment("/turbowan animate --image https://imgur.com/x.png"))).toMatch(/other addresses are not fetched/);
    expect(err(parseGitHubComment("/turbowan a\n![a](https://github.com/user-attachments/assets/a)\n![b](https://github.com/user-attachments/assets/b)"))).toMatch(/one image at most/);
  });

  it("describes options for replies", () => {
    expect(describeOptions(defaults, 12)).toBe("wan2.1-t2v-1.3b · 480p · 16:9 · 81 frames · 4 steps · seed 12");
  });
});
