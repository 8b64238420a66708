// The web console: plain DOM, no build step. Talks to /api/* and listens to /api/events (SSE).
const $ = (sel) => document.querySelector(sel);
const jobs = new Map(); // id -> job view
const form = $("#job-form");
const formStatus = $("#form-status");
const list = $("#jobs");
const announcer = $("#announcer");
const STAGES = {
  queued: "Queued", load: "Loading model", "encode-text": "Reading prompt", "encode-image": "Reading image",
  denoise: "Denoising", decode: "Decoding frames", "encode-video": "Encoding video", upload: "Saving",
};

async function api(path, init) {
  const res = await fetch(path, init);
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : {};
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map((v) => new Option(v, v, v === selected, v === selected)));
}

async function init() {
  const cfg = await api("/api/config");
  const d = cfg.defaults;
  fillSelect($("#model"), cfg.models, cfg.models[0]);
  fillSelect($("#resolution"), cfg.choices.resolution, d.resolution);
  fillSelect($("#aspectRatio"), cfg.choices.aspectRatio, d.aspectRatio);
  fillSelect($("#attention"), cfg.choices.attention, d.attention);
  $("#frames").value = d.frames;
  $("#steps").value = d.steps;
  $("#topk").value = d.topk;
  $("#ode").checked = d.ode;
  for (const radio of form.elements.kind) radio.addEventListener("change", syncKind);
  syncKind();
  const { jobs: initial } = await api("/api/jobs");
  for (const job of initial.reverse()) upsert(job);
  listen();
}

function syncKind() {
  $("#image-field").hidden = form.elements.kind.value !== "i2v";
}

function optionsFromForm() {
  const num = (id) => (($(id).value ?? "") === "" ? undefined : Number($(id).value));
  const options = {
    model: $("#model").value, resolution: $("#resolution").value, aspectRatio: $("#aspectRatio").value,
    frames: num("#frames"), steps: num("#steps"), attention: $("#attention").value, topk: num("#topk"),
    ode: $("#ode").checked,
  };
  const seed = num("#seed");
  if (seed !== undefined) options.seed = seed;
  return options;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = $("#submit");
  button.disabled = true;
  formStatus.className = "";
  formStatus.textContent = "Submitting…";
  try {
    const kind = form.elements.kind.value;
    const body = { kind, prompt: $("#prompt").value, options: optionsFromForm(), requestId: crypto.randomUUID() };
    if (kind === "i2v") {
      const file = $("#image").files[0];
      if (!file) throw new Error("Choose a start image for image-to-video.");
      const { key } = await api("/api/images", { method: "POST", headers: { "content-type": file.type || "application/octet-stream" }, body: file });
      body.imageKey = key;
    }
    const { job, position } = await api("/api/jobs", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    upsert(job);
    formStatus.textContent = position ? `Queued, position ${position}.` : "Queued.";
  } catch (err) {
    formStatus.className = "error";
    formStatus.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});

let lastEventAt = 0;

function listen() {
  const source = new EventSource("/api/events");
  // Workers in another process (serve --no-worker + turbowan worker) send no events here: while a
  // job is active and the stream is quiet, read the list instead.
  setInterval(async () => {
    const active = [...jobs.values()].some((j) => j.status === "queued" || j.status === "running");
    if (!active || Date.now() - lastEventAt < 3000) return;
    const { jobs: current } = await api("/api/jobs").catch(() => ({ jobs: [] }));
    for (const job of current.reverse()) upsert(job);
  }, 3000);
  for (const type of ["queued", "started", "progress", "succeeded", "failed", "cancelled"]) {
    source.addEventListener(type, (e) => {
      lastEventAt = Date.now();
      const event = JSON.parse(e.data);
      const before = jobs.get(event.job.id)?.status;
      upsert(event.job);
      if (type !== "progress" && before !== event.job.status) announce(event.job);
    });
  }
  // After a reconnect the server may have moved on: refresh the list.
  source.addEventListener("open", async () => {
    const { jobs: current } = await api("/api/jobs").catch(() => ({ jobs: [] }));
    for (const job of current.reverse()) upsert(job);
  });
}

function announce(job) {
  announcer.textContent = `Job “${short(job.request.prompt)}” ${job.status}.`;
}

// "Queued, 2nd in line": position among the queued jobs this page knows, oldest first.
function queuedLabel(job) {
  const queued = [...jobs.values()].filter((j) => j.status === "queued").sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  const i = queued.findIndex((j) => j.id === job.id);
  return i < 0 ? "Queued" : i === 0 ? "Queued, next in line" : `Queued, ${i + 1} in line`;
}

function h(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const short = (s, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function upsert(job) {
  const old = jobs.get(job.id);
  // SSE and list fetches can race; never go back to an older record.
  if (old && old.updatedAt > job.updatedAt) return;
  jobs.set(job.id, job);
  let el = document.getElementById(`job-${job.id}`);
  if (!el) {
    el = document.createElement("li");
    el.id = `job-${job.id}`;
    el.className = "job";
    list.prepend(el);
  }
  render(el, job);
  // Queue positions of the other queued jobs move when one starts or leaves.
  if (old?.status !== job.status) {
    for (const other of jobs.values()) {
      if (other.id !== job.id && other.status === "queued") render(document.getElementById(`job-${other.id}`), other);
    }
  }
  $("#empty").hidden = jobs.size > 0;
}

function render(el, job) {
  const o = job.request.options;
  const parts = [];
  parts.push(h("h3", {}, job.request.prompt));
  parts.push(h("p", { className: "meta" },
    `${job.request.kind.toUpperCase()} · ${o.model} · ${o.resolution} ${o.aspectRatio} · ${o.frames} frames · ${o.steps} step${o.steps === 1 ? "" : "s"} · seed ${job.seed} · `,
    h("span", { className: `status status-${job.status}` }, job.status)));
  if (job.status === "queued" || job.status === "running") {
    const p = job.progress;
    const stage = p && job.status === "running" ? STAGES[p.stage] ?? p.stage : queuedLabel(job);
    const running = job.status === "running" && p && p.total;
    const label = running ? `${stage} ${p.step}/${p.total}` : stage;
    const bar = h("progress", { max: running ? p.total : 1 });
    if (running) bar.value = p.step;
    bar.setAttribute("aria-label", `Progress of this job: ${label}`);
    parts.push(bar, h("p", { className: "meta progress-text" }, label));
  }
  if (job.status === "failed" && job.error) parts.push(h("p", { className: "error", role: "alert" }, job.error));
  const existingVideo = el.querySelector("video");
  if (job.status === "succeeded" && job.urls?.video) {
    // Keep a playing video element instead of re-creating it on every event.
    const video = existingVideo && existingVideo.dataset.src === job.urls.video ? existingVideo
      : h("video", { controls: true, muted: true, loop: true, playsInline: true, preload: "auto" });
    if (video !== existingVideo) {
      video.dataset.src = job.urls.video;
      video.src = job.urls.video;
      if (job.urls.poster) video.poster = job.urls.poster;
      video.setAttribute("aria-label", `Video: ${short(job.request.prompt)}`);
    }
    parts.push(video, h("p", { className: "meta" }, h("a", { href: job.urls.video, download: "" }, "Download mp4"),
      job.timingsMs?.total ? ` · ${(job.timingsMs.total / 1000).toFixed(1)} s` : ""));
  }
  const actions = h("div", { className: "actions" });
  if (job.status === "queued" || job.status === "running") {
    actions.append(h("button", { type: "button", className: "secondary", onclick: () => act(job, "cancel") }, "Cancel"));
  }
  if (job.status === "failed" || job.status === "cancelled" || job.status === "succeeded") {
    actions.append(h("button", { type: "button", className: "secondary", onclick: () => act(job, "retry") }, job.status === "succeeded" ? "Run again" : "Retry"));
  }
  parts.push(actions);
  el.replaceChildren(...parts);
}

async function act(job, action) {
  try {
    const res = await api(`/api/jobs/${job.id}/${action}`, { method: "POST" });
    if (res.job) upsert(res.job);
    announcer.textContent = action === "cancel" ? "Cancel requested." : "Queued again.";
  } catch (err) {
    announcer.textContent = err.message;
  }
}

init().catch((err) => {
  formStatus.className = "error";
  formStatus.textContent = `The console could not start: ${err.message}`;
});
