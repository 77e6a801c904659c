// The official OpenAI Node SDK, unmodified, against the audiolab local backend. Configured only
// through the environment, as a user would: OPENAI_BASE_URL (https://localhost:PORT/v1),
// OPENAI_API_KEY and NODE_EXTRA_CA_CERTS (the local CA). Prints one JSON line of what it saw.
import OpenAI, { toFile } from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const client = new OpenAI();
const out = { node: process.version };

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const speech = await client.audio.speech.create({
  model: "gpt-4o-mini-tts", voice: "alloy", input: "Hello from the Node SDK.", response_format: "wav",
});
const wav = Buffer.from(await speech.arrayBuffer());
out.speech_bytes = wav.length;
out.speech_riff = wav.subarray(0, 4).toString("latin1");

const heard = await client.audio.transcriptions.create({ model: "whisper-1", file: await toFile(wav, "hello.wav") });
out.transcript = heard.text;

const chat = await client.chat.completions.create({
  model: "gpt-4o-audio-preview", modalities: ["text", "audio"], audio: { voice: "alloy", format: "wav" },
  messages: [{ role: "user", content: "Say hello." }], max_tokens: 16,
});
out.chat_audio_bytes = Buffer.from(chat.choices[0].message.audio.data, "base64").length;

try {
  await client.chat.completions.create({ model: "gpt-9-imaginary", messages: [{ role: "user", content: "Hi" }] });
} catch (err) {
  out.error_class = err.constructor.name;
  out.error_status = err.status;
  out.error_code = err.code;
}

// Realtime over wss://: OpenAIRealtimeWS always dials TLS.
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
out.realtime_url_scheme = rt.url.protocol;
const events = [];
let text = "";
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no response.done within 120 s")), 120_000);
  rt.on("error", (err) => { clearTimeout(timer); reject(err); });
  rt.socket.on("open", () => {
    rt.send({ type: "session.update", session: { type: "realtime", output_modalities: ["text"],
                                                 instructions: "Answer in one short sentence." } });
    rt.send({ type: "conversation.item.create",
              item: { type: "message", role: "user", content: [{ type: "input_text", text: "Say hello." }] } });
    rt.send({ type: "response.create" });
  });
  rt.on("event", (ev) => {
    events.push(ev.type);
    if (ev.type === "response.output_text.delta") text += ev.delta;
    if (ev.type === "response.done") { clearTimeout(timer); out.realtime_status = ev.response.status; resolve(); }
  });
});
rt.close();
out.realtime_events = events;
out.realtime_text = text;
console.log(JSON.stringify(out));
