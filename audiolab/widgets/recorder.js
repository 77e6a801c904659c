// audiolab Recorder: microphone -> AudioWorklet -> float32 PCM chunks -> Python.
// Capture lives in initialize() (one per model), so showing the widget twice never records twice.
// No CDN imports, no build step: the worklet source is inlined and loaded from a Blob URL.

const WORKLET = `
class AudiolabChunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.chunkSize;
    this.buf = new Float32Array(this.size);
    this.n = 0;
    this.port.onmessage = (e) => { if (e.data === "flush") { this.emit(); this.port.postMessage("flushed"); } };
  }
  emit() {
    if (this.n > 0) {
      const out = this.buf.slice(0, this.n);
      this.port.postMessage(out.buffer, [out.buffer]);
    }
    this.n = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (input && input.length) {
      const chs = input.length, len = input[0].length;
      for (let i = 0; i < len; i++) {
        let s = 0;
        for (let c = 0; c < chs; c++) s += input[c][i];
        this.buf[this.n++] = s / chs;
        if (this.n === this.size) this.emit();
      }
    }
    return true;
  }
}
registerProcessor("audiolab-chunker", AudiolabChunker);
`;

async function loadWorklet(ctx) {
  // Blob URLs are blocked by some CSPs; a data: URL is the second try.
  const blobUrl = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
  try {
    await ctx.audioWorklet.addModule(blobUrl);
  } catch (err) {
    await ctx.audioWorklet.addModule("data:application/javascript;base64," + btoa(WORKLET));
  } finally {
    URL.revokeObjectURL(blobUrl);
  }
}

function fmtTime(s) {
  const m = Math.floor(s / 60), r = s - 60 * m;
  return `${m}:${r.toFixed(1).padStart(4, "0")}`;
}

function makeCapture(model) {
  const state = { recording: false, level: 0, t0: 0, listeners: new Set(), takeUrl: null };
  let stream = null, ctx = null, node = null, analyser = null, seq = 0, timer = null;
  const notify = () => state.listeners.forEach((f) => f());

  function fail(name, message) {
    model.send({ type: "error", name, message: String(message || "") });
    cleanup();
  }

  function cleanup() {
    state.recording = false;
    if (timer) cancelAnimationFrame(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close().catch(() => {});
    stream = ctx = node = analyser = null;
    state.level = 0;
    notify();
  }

  function meter() {
    if (!analyser) return;
    const data = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(data);
    let peak = 0;
    for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
    state.level = peak;
    const maxS = model.get("max_seconds");
    if (maxS > 0 && (performance.now() - state.t0) / 1000 >= maxS) { stop(); return; }
    notify();
    timer = requestAnimationFrame(meter);
  }

  async function start() {
    if (state.recording) return;
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      fail("InsecureContext", "navigator.mediaDevices is not available");
      return;
    }
    model.send({ type: "requesting" });
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
    } catch (err) {
      fail(err && err.name ? err.name : "Error", err && err.message);
      return;
    }
    try {
      ctx = new AudioContext();
      if (!ctx.audioWorklet) { fail("NoAudioWorklet", "AudioContext.audioWorklet is missing"); return; }
      await loadWorklet(ctx);
      const chunkSize = Math.max(128, Math.round((ctx.sampleRate * model.get("chunk_ms")) / 1000));
      const src = ctx.createMediaStreamSource(stream);
      analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      node = new AudioWorkletNode(ctx, "audiolab-chunker", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { chunkSize },
      });
      const mute = ctx.createGain();
      mute.gain.value = 0; // the worklet must reach the destination to be pulled; keep it silent
      src.connect(analyser);
      src.connect(node).connect(mute).connect(ctx.destination);
      seq = 0;
      const sr = ctx.sampleRate;
      node.port.onmessage = (e) => {
        if (e.data === "flushed") {
          model.send({ type: "stop", chunks: seq, sr });
          cleanup();
        } else {
          model.send({ type: "chunk", seq: seq++, sr }, undefined, [e.data]);
        }
      };
      model.send({ type: "start", sr, channels: 1, chunk_ms: model.get("chunk_ms") });
      state.recording = true;
      state.t0 = performance.now();
      meter();
    } catch (err) {
      fail(err && err.name ? err.name : "Error", err && err.message);
    }
  }

  function stop() {
    if (!state.recording || !node) return;
    state.recording = false;
    if (timer) cancelAnimationFrame(timer);
    timer = null;
    node.port.postMessage("flush");
    notify();
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "take" && buffers && buffers.length) {
      if (state.takeUrl) URL.revokeObjectURL(state.takeUrl);
      state.takeUrl = URL.createObjectURL(new Blob([buffers[0]], { type: "audio/wav" }));
      notify();
    } else if (msg.type === "clear") {
      if (state.takeUrl) URL.revokeObjectURL(state.takeUrl);
      state.takeUrl = null;
      notify();
    }
  });

  state.start = start;
  state.stop = stop;
  state.dispose = () => { cleanup(); if (state.takeUrl) URL.revokeObjectURL(state.takeUrl); };
  return state;
}

function h(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
  if (text) e.textContent = text;
  return e;
}

// anywidget hands initialize() and render() different proxies of one model, so a WeakMap keyed
// by model never matches; a default export that is a function is called once per model instead.
export default () => {
  let cap = null;
  return {
    initialize({ model }) {
      cap = makeCapture(model);
      return () => cap.dispose();
    },

    render({ model, el }) {
      const root = h("div", { class: "audiolab-recorder" });
      const row = h("div", { class: "alr-row" });
      const button = h("button", { class: "alr-button", type: "button" }, "● Record");
      const clock = h("span", { class: "alr-clock" }, "0:00.0");
      const meterBox = h("div", { class: "alr-meter", title: "input level (peak)" });
      const meterBar = h("div", { class: "alr-meter-bar" });
      meterBox.appendChild(meterBar);
      const status = h("span", { class: "alr-status" });
      row.append(button, clock, meterBox, status);
      const take = h("div", { class: "alr-row alr-take" });
      const player = h("audio", { controls: "" });
      const use = h("button", { class: "alr-use", type: "button" }, "✓ Use this take");
      take.append(player, use);
      const error = h("div", { class: "alr-error", role: "alert" });
      const note = h("div", { class: "alr-note" });
      root.append(row, take, error, note);
      el.appendChild(root);

      button.addEventListener("click", () => (cap.recording ? cap.stop() : cap.start()));
      use.addEventListener("click", () => model.send({ type: "use" }));

      let shownUrl = null;
      function update() {
        const webrtc = model.get("engine") !== "worklet";
        row.style.display = webrtc ? "none" : "";
        note.textContent = webrtc ? "Record with the ipywebrtc recorder above; the take appears here." : "";
        button.textContent = cap.recording ? "■ Stop" : "● Record";
        button.classList.toggle("alr-recording", cap.recording);
        const secs = cap.recording ? (performance.now() - cap.t0) / 1000 : model.get("duration");
        clock.textContent = fmtTime(secs || 0);
        const db = cap.level > 0 ? 20 * Math.log10(cap.level) : -60;
        const pct = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
        meterBar.style.width = `${pct}%`;
        meterBar.classList.toggle("alr-clip", cap.level >= 0.99);
        status.textContent = model.get("status");
        error.textContent = model.get("error");
        error.style.display = model.get("error") ? "" : "none";
        if (cap.takeUrl !== shownUrl) {
          shownUrl = cap.takeUrl;
          if (shownUrl) player.src = shownUrl; else player.removeAttribute("src");
        }
        take.style.display = shownUrl ? "" : "none";
        use.textContent = model.get("used") ? "✓ Take in use" : "✓ Use this take";
      }
      cap.listeners.add(update);
      const traits = ["status", "error", "duration", "used", "engine"];
      traits.forEach((t) => model.on(`change:${t}`, update));
      update();
      return () => {
        cap.listeners.delete(update);
        traits.forEach((t) => model.off(`change:${t}`, update));
      };
    },
  };
};
