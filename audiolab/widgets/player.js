// audiolab StreamingPlayer: float32 PCM chunks from Python, scheduled gap-free with WebAudio.
// Playback state lives in initialize() (one per model): showing the widget twice plays once.
// Browsers block audio until a user gesture, so chunks queue until "Enable audio" is clicked.

const LEAD_S = 0.08; // jitter buffer before the first chunk of a stream

function makeEngine(model) {
  const st = {
    ctx: null, nextTime: 0, queue: [], sources: new Set(), received: 0,
    firstArrival: null, lead: null, listeners: new Set(), playing: false,
  };
  const notify = () => st.listeners.forEach((f) => f());

  function schedule(chunk) {
    const ctx = st.ctx;
    const buf = ctx.createBuffer(1, chunk.samples.length, chunk.sr);
    buf.copyToChannel(chunk.samples, 0);
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    const now = ctx.currentTime;
    // Late chunk (underrun): restart the clock with a small lead instead of playing in the past.
    const when = st.nextTime < now + 0.01 ? now + LEAD_S : st.nextTime;
    if (st.lead === null) {
      st.lead = when - now + (performance.now() - chunk.arrived) / 1000;
      const ttfa = (chunk.elapsedMs || 0) + st.lead * 1000;
      model.set("ttfa_ms", Math.round(ttfa));
      model.save_changes();
    }
    src.start(when);
    st.nextTime = when + buf.duration;
    st.sources.add(src);
    st.playing = true;
    src.onended = () => {
      st.sources.delete(src);
      if (st.sources.size === 0) { st.playing = false; notify(); }
    };
  }

  function flushQueue() {
    while (st.queue.length) schedule(st.queue.shift());
    notify();
  }

  async function enable() {
    if (!st.ctx) st.ctx = new AudioContext({ latencyHint: "interactive" });
    await st.ctx.resume();
    model.set("enabled", st.ctx.state === "running");
    model.save_changes();
    flushQueue();
  }

  function stopAll() {
    st.sources.forEach((s) => { try { s.stop(); } catch (e) { /* already ended */ } });
    st.sources.clear();
    st.queue = [];
    st.nextTime = 0;
    st.playing = false;
  }

  let reportTimer = null;
  function reportReceived() {
    if (reportTimer) return;
    reportTimer = setTimeout(() => {
      reportTimer = null;
      model.set("received", st.received);
      model.save_changes();
    }, 100);
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "begin") {
      stopAll();
      st.received = 0;
      st.lead = null;
      model.set("received", 0);
      model.set("ttfa_ms", -1);
      model.save_changes();
    } else if (msg.type === "chunk" && buffers && buffers.length) {
      const view = buffers[0];
      // Copy out: the DataView's offset need not be 4-byte aligned for a Float32Array.
      const bytes = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
      const samples = new Float32Array(bytes);
      st.received += samples.length;
      const chunk = { samples, sr: msg.sr, arrived: performance.now(), elapsedMs: msg.elapsed_ms };
      if (st.ctx && st.ctx.state === "running") schedule(chunk); else st.queue.push(chunk);
      reportReceived();
      notify();
    } else if (msg.type === "end") {
      model.set("received", st.received);
      model.save_changes();
      notify();
    } else if (msg.type === "stop") {
      stopAll();
      notify();
    }
  });

  st.enable = enable;
  st.stop = () => { stopAll(); notify(); };
  st.dispose = () => { stopAll(); if (st.ctx) st.ctx.close().catch(() => {}); };
  return st;
}

// anywidget hands initialize() and render() different proxies of one model, so a WeakMap keyed
// by model never matches; a default export that is a function is called once per model instead.
export default () => {
  let eng = null;
  return {
    initialize({ model }) {
      eng = makeEngine(model);
      return () => eng.dispose();
    },

    render({ model, el }) {
      const root = document.createElement("div");
      root.className = "audiolab-player";
      const enable = document.createElement("button");
      enable.type = "button";
      enable.textContent = "🔊 Enable audio";
      const stop = document.createElement("button");
      stop.type = "button";
      stop.textContent = "■ Stop";
      const info = document.createElement("span");
      info.className = "alp-info";
      root.append(enable, stop, info);
      el.appendChild(root);

      enable.addEventListener("click", () => eng.enable());
      stop.addEventListener("click", () => { eng.stop(); model.send({ type: "stopped" }); });

      function update() {
        const on = model.get("enabled") && eng.ctx && eng.ctx.state === "running";
        enable.style.display = on ? "none" : "";
        const sr = model.get("sample_rate") || 24000;
        const parts = [];
        if (!on && eng.queue.length) parts.push(`${eng.queue.length} chunk(s) waiting: click Enable audio`);
        parts.push(`${(eng.received / sr).toFixed(2)} s received`);
        const ttfa = model.get("ttfa_ms"), ttfb = model.get("ttfb_ms");
        if (ttfa >= 0) parts.push(`first audio ${ttfa} ms`);
        if (ttfb >= 0) parts.push(`first byte ${ttfb} ms`);
        if (eng.playing) parts.push("▶ playing");
        info.textContent = parts.join(" · ");
      }
      eng.listeners.add(update);
      const traits = ["enabled", "ttfa_ms", "ttfb_ms", "sample_rate"];
      traits.forEach((t) => model.on(`change:${t}`, update));
      update();
      return () => {
        eng.listeners.delete(update);
        traits.forEach((t) => model.off(`change:${t}`, update));
      };
    },
  };
};
