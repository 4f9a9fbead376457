"""Text emotion through the library: clear sentences, languages, batches, and bad inputs."""

from __future__ import annotations

import pytest

from emolens.errors import TextError
from emolens.labels import FER2013
from emolens.text import TextAnalyzer, analyze_text, detect_language

CLEAR = [
    ("Thank you so much, this made my day! I love it", "en", "happy"),
    ("I'm so angry, this is the worst service ever, I hate them", "en", "angry"),
    ("I'm really scared and nervous about the surgery tomorrow", "en", "fear"),
    ("I miss her so much, I've been crying all day", "en", "sad"),
    ("That is absolutely disgusting, gross", "en", "disgust"),
    ("Wow, I did not see that coming! Really? Is that true?", "en", "surprise"),
    ("The train leaves at 9 from platform 2.", "en", "neutral"),
    ("今天真开心，终于放假了，太幸福了！", "zh", "happy"),
    ("气死我了，这什么破服务，太过分了", "zh", "angry"),
    ("好害怕，晚上一个人不敢出门，吓死了", "zh", "fear"),
    ("他走了，我好难过，眼泪止不住", "zh", "sad"),
    ("天哪，居然是真的？！太震惊了", "zh", "surprise"),
]


@pytest.mark.parametrize(("text", "lang", "label"), CLEAR)
def test_clear_sentences(text, lang, label):
    r = analyze_text(text)
    assert r.language == lang
    assert r.label == label, r.scores.to_dict()
    assert r.scores.labels == FER2013
    assert abs(sum(r.scores.probs) - 1) < 1e-6


def test_language_detection():
    assert detect_language("hello there") == "en"
    assert detect_language("你好，世界") == "zh"
    assert detect_language("我今天用了 iPhone 拍照") == "zh"
    assert detect_language("The word 你好 means hello in Chinese") == "en"
    assert detect_language("123 !!! 😀") == "en"


def test_batch_matches_single_and_keeps_order():
    texts = [t for t, _, _ in CLEAR]
    batch = TextAnalyzer().analyze_batch(texts)
    assert [r.text for r in batch] == texts
    for r in batch[:3] + batch[-3:]:
        single = analyze_text(r.text)
        assert single.scores.probs == pytest.approx(r.scores.probs)


def test_forced_language_and_model_choice():
    r = TextAnalyzer(language="en", models={"en": "text-en-dair"}).analyze("i feel so loved and cherished")
    assert r.model == "text-en-dair" and r.label == "happy" and r.labels == ("happy",)
    assert r.scores["disgust"] == 0 and r.scores["neutral"] == 0  # dair has neither class
    zh = TextAnalyzer(language="zh").analyze("hello")
    assert zh.language == "zh" and zh.model == "text-zh-smp"


def test_multilabel_labels_follow_thresholds():
    r = analyze_text("I'm so happy and grateful but also really sad that you're leaving")
    assert set(r.labels) <= set(FER2013)
    assert "happy" in r.labels
    d = r.to_dict()
    assert d["label"] == r.label and set(d["probabilities"]) == set(FER2013)


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 42, b"bytes", "x" * 20_001])
def test_bad_inputs_raise_text_error(bad):
    with pytest.raises(TextError):
        TextAnalyzer().analyze(bad)


def test_bad_options_raise_text_error():
    with pytest.raises(TextError):
        TextAnalyzer(language="fr")
    with pytest.raises(TextError):
        TextAnalyzer(models={"fr": "text-en-dair"})


def test_batch_names_the_bad_text():
    with pytest.raises(TextError, match="text 1"):
        TextAnalyzer().analyze_batch(["fine", ""])


def test_stream_reports_bad_texts_and_goes_on():
    out = list(TextAnalyzer().iter_analyze(["great!", "", "terrible", 5], batch_size=2))
    assert [type(x).__name__ for x in out] == ["TextEmotion", "TextError", "TextEmotion", "TextError"]
    assert out[1].source == "text 2"
