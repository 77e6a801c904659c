# The audio cells of OpenAI Cookbook's steering_tts notebook, in their shape: a plain TTS call
# with tts-1-hd, then audio chat completions on gpt-4o-audio-preview steered by a system prompt,
# mp3 out, written under ./sounds/.
import base64
import os

from openai import OpenAI

client = OpenAI()
os.makedirs("sounds", exist_ok=True)

story = """
A small fox found a red kite caught in an old oak tree.
She tugged the string gently until the kite floated free.
"""

response = client.audio.speech.create(model="tts-1-hd", voice="alloy", input=story)
response.write_to_file("./sounds/plain.mp3")

for name, style in [
    ("child", "Speak in a British accent and enunciate like you're talking to a child."),
    ("fast", "Speak in a British accent and speak really fast."),
]:
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "mp3"},
        messages=[
            {
                "role": "system",
                "content": "You are a helpful assistant that can generate audio from text. " + style,
            },
            {"role": "user", "content": story},
        ],
    )
    mp3_bytes = base64.b64decode(completion.choices[0].message.audio.data)
    with open(f"./sounds/{name}.mp3", "wb") as f:
        f.write(mp3_bytes)
    print(name, completion.choices[0].message.audio.transcript)
