"""Does synthesized audio say the free text it was given? (an LLM's answer, read aloud)."""

from __future__ import annotations

from audiolab.audio import Audio
from audiolab.eval.metrics import as_spoken, cer, wer


def spoken_cer(said: str, heard: str) -> float:
    """CER of what whisper heard against the text the TTS read out.

    Two things make WER the wrong yardstick here. Whisper's normaliser drops words in brackets
    (annotations, in a reference transcript), but a TTS reads them aloud: "(the proudest king)"
    would count as three insertions. And a small LLM invents names ("Il Coriobergio") that whisper
    spells its own way ("Corio Bergio"): a word or two each, but only a few characters.
    """
    return cer(as_spoken(said), as_spoken(heard))


def clean_take(lab, text: str, *, voice: str = "alloy", takes: int = 3) -> Audio:
    """A spoken prompt for tests whose subject is what happens *after* the speech is heard.

    Piper samples its prosody afresh on every request, and about one take in thirty of a short
    question is misheard by whisper-base ("capital of Italy" -> "capital of the only"). Like a
    person re-recording a prompt, keep the first take that whisper-1 hears word for word; if no
    take is clean, the last one is returned and the test's own assertions report it.
    """
    for _ in range(takes):
        body = lab.client.audio.speech.create(
            model="gpt-4o-mini-tts", voice=voice, input=text, response_format="wav"
        )
        clip = Audio.from_bytes(body.content, text=text)
        heard = lab.client.audio.transcriptions.create(model="whisper-1", file=("take.wav", body.content),
                                                       language="en").text
        if wer(text, heard) == 0:
            break
    return clip
