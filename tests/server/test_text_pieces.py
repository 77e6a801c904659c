"""Cutting text into the pieces a voice speaks: whole texts (TTS engines) and streamed answers
(Chat Completions audio and Realtime responses), with one rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audiolab.server import text_pieces as T


def test_sentences_split_at_ends_but_not_at_abbreviations_or_decimals():
    text = "Dr. Smith paid $3.50 at 5 p.m. on Main St. today. Was it fair? Yes!\nA new line"
    assert T.split_pieces(text, first_max_chars=300) == [
        "Dr. Smith paid $3.50 at 5 p.m. on Main St. today.",
        "Was it fair?",
        "Yes!",
        "A new line",
    ]


def test_a_long_first_sentence_is_cut_at_a_phrase_so_streaming_starts_fast():
    pieces = T.split_pieces("It was the best of times, it was the worst of times. It was the age of wisdom.")
    assert pieces == ["It was the best of times,", "it was the worst of times.", "It was the age of wisdom."]
    assert T.split_pieces("Hello there, my friend. Bye.") == [
        "Hello there, my friend.",
        "Bye.",
    ]  # short: kept
    pieces = T.split_pieces("word, " * 300, max_chars=300, first_max_chars=30)
    assert len(pieces[0]) <= 30 and all(len(p) <= 300 for p in pieces)


def test_pieces_cut_mid_sentence_get_a_continuation_comma_and_a_short_gap():
    first, rest = T.split_pieces("The quick brown fox jumps over the lazy dog.")
    assert T.speakable(first).endswith(",") and T.speakable(rest) == rest
    assert (
        T.gap_after(first, last=False) == T.CLAUSE_GAP_S < T.gap_after(rest, last=False) == T.SENTENCE_GAP_S
    )
    assert T.gap_after(rest, last=True) == 0.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(list("ab .,!?\n") + ["Dr. ", "3.5", "...", "word "]), max_size=150).map("".join)
)
def test_splitting_never_loses_or_reorders_text(text):
    pieces = T.split_pieces(text, max_chars=40, first_max_chars=20)
    assert "".join("".join(pieces).split()) == "".join(text.split())
    assert all(p.strip() for p in pieces) and all(len(p) <= 40 for p in pieces)


def _streamed(deltas: list[str]) -> list[str]:
    cutter = T.PieceCutter()
    return [p for d in deltas for p in cutter.feed(d)] + cutter.finish()


def test_a_streamed_sentence_waits_for_the_space_after_its_end_mark():
    assert T.ready_pieces("It costs 3.") == ([], "It costs 3.")
    assert _streamed(["It costs 3", ".", "50 today", ". Bye", "."]) == ["It costs 3.50 today.", "Bye."]
    assert _streamed(["Dr", ". Smith is here. ", "Hi"]) == ["Dr. Smith is here.", "Hi"]


def test_the_first_streamed_piece_is_a_phrase_of_a_long_sentence_then_whole_sentences_follow():
    words = (
        "I am a voice assistant designed to provide information on many topics. It is fun, really it is. Ok."
    )
    pieces = _streamed([w + " " for w in words.split()])
    assert pieces[0] == "I am a voice assistant"
    assert pieces[1:] == [
        "designed to provide information on many topics.",
        "It is fun, really it is.",
        "Ok.",
    ]
    so_far = ""  # a speculative answer looks for its first piece the same way
    for w in words.split():
        so_far += w + " "
        if T.first_piece(so_far)[0] is not None:
            break
    assert T.first_piece(so_far)[0] == pieces[0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(list("ab .,!?\n") + ["Dr. ", "3.5", "...", "word ", "yes, "]), max_size=80),
    st.integers(1, 7),
)
def test_streaming_never_loses_or_reorders_text_whatever_the_delta_sizes(parts, step):
    text = "".join(parts)
    deltas = [text[i : i + step] for i in range(0, len(text), step)]
    pieces = _streamed(deltas)
    assert "".join("".join(pieces).split()) == "".join(text.split())
    assert all(p.strip() for p in pieces)


def test_markdown_marks_are_not_read_out():
    assert T.spoken_text("## Steps\n1. **Mix** the `flour`.") == "Steps\n1.  Mix  the  flour ."
