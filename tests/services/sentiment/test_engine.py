"""The inference engine on small real transformers models built offline."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from services.sentiment.engine import (
    MASK_EXPANDABLE_MODEL_TYPES,
    EngineOptions,
    ModelLoadError,
    SentimentEngine,
    expand_attention_mask,
    pad_batch,
    tokenize_unpadded,
)
from services.sentiment.stand_in import build_lexicon_model, build_random_model

NEG = ["terrible", "broken", "ужас", "horrible", "keq"]
POS = ["great", "спасибо", "gracias", "faleminderit"]
VOCAB = ["the", "delivery", "is", "a", "very", "long", "text", "service", "и", "доставка", "la", "entrega"]


@pytest.fixture(scope="module")
def lexicon_dir(tmp_path_factory):
    return build_lexicon_model(tmp_path_factory.mktemp("lex"), NEG, POS, VOCAB)


@pytest.fixture(scope="module")
def engine(lexicon_dir):
    return SentimentEngine(str(lexicon_dir), EngineOptions(batch_size=4, precision="fp32"))


def test_results_come_back_aligned_with_inputs_across_length_sorted_batches(engine):
    texts = [
        "the delivery is great",
        "terrible",
        "la entrega " * 3 + "horrible",  # longest: sorted first
        "",
        "спасибо",
        "the service is a very long text and terrible",
        "   ",
        "delivery",
        "keq keq",
    ]
    labels = [s.label.value for s in engine.score(texts)]
    assert labels == [
        "positive",
        "negative",
        "negative",
        "neutral",
        "positive",
        "negative",
        "neutral",
        "neutral",
        "negative",
    ]


def test_edge_cases_empty_whitespace_emoji_long_and_mixed_script(engine):
    texts = ["", " \n\t ", "😡😡😡", "🙂", "terrible " * 5000, "Доставка terrible и delivery ужас"]
    out = engine.score(texts)
    assert len(out) == len(texts)
    for s in out:
        assert abs(s.negative + s.neutral + s.positive - 1) < 1e-4
    assert (out[0].neutral, out[1].neutral) == (1.0, 1.0) and out[0].lang is None
    assert out[2].lang is None  # emoji only: no language to detect
    assert out[4].label.value == "negative"  # truncated to max_tokens, still read
    assert out[5].label.value == "negative"


def test_negative_threshold_trades_labels_towards_negative(lexicon_dir):
    text = ["terrible great great"]  # more positive words: argmax positive, some negative mass
    plain = SentimentEngine(str(lexicon_dir)).predict_proba(text)
    assert plain[0].argmax() == 2 and plain[0, 0] > 0
    eager = SentimentEngine(str(lexicon_dir), EngineOptions(negative_threshold=float(plain[0, 0]) / 2))
    assert eager.score(text)[0].label.value == "negative"


def _with_rule(src, dst, rule):
    """A copy of a model directory whose config.json ships ``rule`` (as assemble.py writes it)."""
    import shutil

    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["repwatch_decision_rule"] = rule
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_shipped_rule_calibrates_and_thresholds_by_detected_language(lexicon_dir, tmp_path):
    texts = ["Доставка опять опоздала ужас, но спасибо спасибо", "the delivery terrible great great"]
    plain = SentimentEngine(str(lexicon_dir), EngineOptions(precision="fp32"))
    raw = plain.predict_proba(texts)
    assert [s.label.value for s in plain.score(texts)] == ["positive", "positive"]
    langs = [s.lang for s in plain.score(texts)]
    assert langs == ["ru", "en"]
    # Russian threshold just below its calibrated P(negative), English just above
    from services.sentiment.decision import DecisionRule

    cal = DecisionRule(temperature=2.0).calibrate(raw)
    rule = {
        "version": 1,
        "temperature": 2.0,
        "thresholds": {"ru": float(cal[0, 0]) * 0.9, "en": float(cal[1, 0]) * 1.1},
        "fallback": None,
        "target_recall": 0.8,
    }
    model = _with_rule(lexicon_dir, tmp_path / "ruled", rule)
    shipped = SentimentEngine(str(model), EngineOptions(precision="fp32"))
    out = shipped.score(texts)
    assert [s.label.value for s in out] == ["negative", "positive"]
    # the recorded probabilities are the calibrated ones the thresholds are on
    assert abs(out[0].negative - cal[0, 0]) < 1e-6 and abs(out[1].positive - cal[1, 2]) < 1e-4
    assert out[0].negative > raw[0, 0]  # T = 2 made the model less sure of "positive"
    # REPWATCH_SENTIMENT_DECISION=argmax ignores it; one configured threshold replaces the languages'
    argmax = SentimentEngine(str(model), EngineOptions(precision="fp32", decision="argmax"))
    assert [s.label.value for s in argmax.score(texts)] == ["positive", "positive"]
    one = SentimentEngine(str(model), EngineOptions(precision="fp32", negative_threshold=float(cal[:, 0].min()) * 0.9))
    assert [s.label.value for s in one.score(texts)] == ["negative", "negative"]


def test_a_bad_shipped_rule_is_a_load_error_naming_it(lexicon_dir, tmp_path):
    model = _with_rule(lexicon_dir, tmp_path / "bad", {"version": 1, "thresholds": {"ru": 7}})
    with pytest.raises(ModelLoadError, match="repwatch_decision_rule"):
        SentimentEngine(str(model), EngineOptions(precision="fp32"))


def test_tokenizer_processes_give_the_same_results(lexicon_dir, engine):
    texts = [f"the delivery {w} {i}" for i, w in enumerate((NEG + POS + VOCAB) * 4)]
    texts += ["", "Доставка опять опоздала, поддержка молчит", "Shërbimi ishte shumë i mirë, faleminderit", "ok"]
    opts = EngineOptions(batch_size=8, tokenizer_processes=2, precision="fp32")
    with SentimentEngine(str(lexicon_dir), opts) as pooled:
        assert np.allclose(pooled.predict_proba(texts), engine.predict_proba(texts), atol=1e-6)
        # Languages are detected in the tokenizer processes there, in process here.
        assert pooled._pool is not None and pooled._pool.detects_languages
        got, want = pooled.score(texts), engine.score(texts)
        assert [s.lang for s in got] == [s.lang for s in want]
        assert {"ru", "sq"} <= {s.lang for s in got} and got[texts.index("")].lang is None
        assert [s.label for s in got] == [s.label for s in want]
        # predict_proba has no use for languages: the processes skip detection for it.
        chunks = list(pooled._tokenize([texts[:3]]))
        assert chunks[0].langs is None
        assert next(pooled._tokenize([texts[-3:]], detect_languages=True)).langs == ["ru", "sq", None]


def test_bf16_stays_close_to_fp32(lexicon_dir, engine):
    texts = ["the delivery is great", "terrible service", "delivery"]
    bf16 = SentimentEngine(str(lexicon_dir), EngineOptions(precision="bf16", device="cpu"))
    assert bf16.precision == "bf16"
    assert np.abs(bf16.predict_proba(texts) - engine.predict_proba(texts)).max() < 0.05


def test_label_n_models_are_mapped_and_unknown_labels_are_refused(tmp_path):
    path = build_random_model(tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    cfg["id2label"] = {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    cfg["label2id"] = {v: int(k) for k, v in cfg["id2label"].items()}
    (path / "config.json").write_text(json.dumps(cfg))
    assert len(SentimentEngine(str(path)).score(["hello"])) == 1
    cfg["id2label"] = {"0": "joy", "1": "anger", "2": "fear"}
    cfg["label2id"] = {v: int(k) for k, v in cfg["id2label"].items()}
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="REPWATCH_SENTIMENT_LABEL_MAP"):
        SentimentEngine(str(path))


def test_missing_and_broken_model_dirs_fail_clearly(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        SentimentEngine(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        SentimentEngine(str(tmp_path / "empty"))
    broken = build_random_model(tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot load"):
        SentimentEngine(str(broken))
    with pytest.raises(ModelLoadError, match="precision"):
        SentimentEngine(str(broken), EngineOptions(precision="fp8"))


def test_int8_runs_and_stays_close_to_fp32(lexicon_dir, engine):
    texts = ["the delivery is great", "terrible service", "delivery"]
    int8 = SentimentEngine(str(lexicon_dir), EngineOptions(precision="int8", device="cpu"))
    assert [s.label for s in int8.score(texts)] == [s.label for s in engine.score(texts)]


def test_auto_precision_follows_the_hardware(lexicon_dir, monkeypatch):
    import services.sentiment.engine as eng

    monkeypatch.setattr(eng, "cpu_has_fast_bf16", lambda: True)
    assert SentimentEngine(str(lexicon_dir), EngineOptions(device="cpu")).precision == "bf16"
    monkeypatch.setattr(eng, "cpu_has_fast_bf16", lambda: False)
    assert SentimentEngine(str(lexicon_dir), EngineOptions(device="cpu")).precision == "fp32"
    with pytest.raises(ModelLoadError, match="int8 is a CPU option"):
        eng.resolve_precision("int8", eng.torch.device("cuda"))


@pytest.mark.parametrize("model_type", sorted(MASK_EXPANDABLE_MODEL_TYPES))
def test_expanded_attention_mask_gives_the_same_logits_as_the_padding_mask(model_type):
    # The GPU path hands these architectures a 4-D mask (or none) instead of the 2-D
    # padding mask; the logits must not change, padded batch or not.
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.for_model(
        model_type,
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa").eval()
    for lengths in ([9, 6, 3], [9, 9, 9]):
        flat = np.random.default_rng(0).integers(5, 120, size=sum(lengths)).astype(np.int32)
        offsets = np.concatenate([[0], np.cumsum(lengths[:-1])])
        tokens = pad_batch(flat, offsets, np.asarray(lengths, dtype=np.int32), 1, pin=False)
        assert tokens.padded == (lengths != [9, 9, 9])
        with torch.inference_mode():
            want = model(input_ids=tokens.ids, attention_mask=tokens.mask()).logits
            got = model(**expand_attention_mask(tokens.ids, tokens.lengths, tokens.padded)).logits
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_unpadded_tokens_rebuild_the_tokenizers_own_batch(lexicon_dir, padding_side):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(lexicon_dir), padding_side=padding_side)
    texts = ["the delivery is great", "ужас", "a very long text " * 50, "la entrega"]
    chunk = tokenize_unpadded(tok, texts, 16)
    want = tok(texts, padding=True, truncation=True, max_length=16)
    assert chunk.lengths.tolist() == [sum(m) for m in want["attention_mask"]]
    offsets = np.concatenate([[0], np.cumsum(chunk.lengths[:-1])])
    batch = pad_batch(
        chunk.ids,
        offsets,
        chunk.lengths,
        tok.pad_token_id,
        pin=False,
        left=padding_side == "left",
        flat_types=chunk.types,
    )
    assert batch.ids.tolist() == want["input_ids"]
    assert batch.mask().tolist() == want["attention_mask"]
    assert (None if batch.types is None else batch.types.tolist()) == want.get("token_type_ids")


def _left_padding_copy(model_dir, tmp_path):
    import shutil

    out = tmp_path / "left"
    shutil.copytree(model_dir, out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["padding_side"] = "left"
    cfg_path.write_text(json.dumps(cfg))
    return out


def test_left_padding_tokenizers_get_left_padded_batches(lexicon_dir, tmp_path):
    # Models that classify from the last position ship tokenizers that pad on the
    # left; the engine must give what the model gives on the tokenizer's own batch.
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    left_dir = _left_padding_copy(lexicon_dir, tmp_path)
    texts = ["the delivery is great", "terrible", "a very long text that is very long", "la entrega"]
    eng = SentimentEngine(str(left_dir), EngineOptions(batch_size=16, precision="fp32", text_prefix=""))
    tok = AutoTokenizer.from_pretrained(str(left_dir))
    assert tok.padding_side == "left"
    model = AutoModelForSequenceClassification.from_pretrained(str(left_dir)).eval()
    with torch.inference_mode():
        want = torch.softmax(model(**tok(texts, padding=True, return_tensors="pt")).logits, dim=-1)
    got = eng.predict_proba(texts) @ np.linalg.inv(eng._mapping.numpy())  # back to the model's label order
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


def test_texts_without_any_token_are_neutral_and_do_not_stop_the_batch(lexicon_dir, tmp_path):
    import shutil

    bare = tmp_path / "no-special-tokens"
    shutil.copytree(lexicon_dir, bare)
    tok_path = bare / "tokenizer.json"
    spec = json.loads(tok_path.read_text())
    spec["post_processor"] = None  # no [CLS]/[SEP] ...
    spec["normalizer"] = {"type": "Replace", "pattern": {"String": "~"}, "content": ""}  # ... and "~" vanishes
    tok_path.write_text(json.dumps(spec))
    eng = SentimentEngine(str(bare), EngineOptions(batch_size=2, precision="fp32", text_prefix=""))
    assert eng.tokenizer("~~~")["input_ids"] == []
    probs = eng.predict_proba(["~~~", "terrible", "~~~", "great"])
    np.testing.assert_array_equal(probs[[0, 2]], [[0, 1, 0], [0, 1, 0]])
    assert [lab.value for lab in eng.labels(probs[[1, 3]])] == ["negative", "positive"]
    assert eng.predict_proba(["~~~"]).tolist() == [[0.0, 1.0, 0.0]]


def test_gpu_path_keeps_rows_aligned(lexicon_dir, monkeypatch):
    # The CUDA path (no per-batch sync, one copy at the end, event timing) checked on
    # CPU with stand-in events, so CI covers its bookkeeping without a GPU.
    import torch

    class FakeEvent:
        def __init__(self, enable_timing=False):
            self.t = 0.0

        def record(self):
            self.t = time.perf_counter()

        def elapsed_time(self, other):
            return (other.t - self.t) * 1000.0

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    seen = []
    eng = SentimentEngine(
        str(lexicon_dir), EngineOptions(batch_size=3, precision="fp32"), observer=lambda n, w, s: seen.append((n, s))
    )
    texts = ["the delivery is great", "", "terrible", "a very long text " * 9, "ужас", "   ", "gracias"] * 5
    out = np.zeros((len(texts), 3), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    todo.sort(key=lambda i: len(texts[i]), reverse=True)
    chunks = [todo[s : s + 3] for s in range(0, len(todo), 3)]
    eng._run_cuda(eng._batches(chunks, eng._tokenize([[texts[i] for i in c] for c in chunks]), out), out)
    assert sum(n for n, _ in seen) == len(todo) and all(s >= 0 for _, s in seen)
    want = eng.predict_proba(texts)
    np.testing.assert_allclose(out[todo], want[todo], rtol=1e-5, atol=1e-6)


def test_tokenizer_process_start_up_failure_is_reported_at_once(lexicon_dir, monkeypatch):
    from services.sentiment import engine as engine_module

    class BrokenTokenizer:
        def save_pretrained(self, path):
            pass  # an empty directory: every tokenizer process fails to load it

    with pytest.raises(ModelLoadError, match="tokenizer processes could not start") as failed:
        engine_module._TokenizerPool(BrokenTokenizer(), 2, 128)
    # The processes' own error, not the parent giving up after its ready timeout.
    assert "not ready after" not in str(failed.value)


def test_batches_are_cut_by_token_count_and_results_stay_aligned(lexicon_dir):
    # Longest by characters is shortest in tokens (one unknown word): the window re-sort must
    # put similar token counts together and still return every row in input order.
    seen = []
    eng = SentimentEngine(
        str(lexicon_dir),
        EngineOptions(batch_size=2, precision="fp32"),
        observer=lambda n, longest, s: seen.append((n, longest)),
    )
    texts = ["great great great great great", "x" * 40, "ужас ужас ужас ужас", "q" * 38] * 3
    probs = eng.predict_proba(texts)
    singles = np.vstack([eng.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(probs, singles, rtol=1e-5, atol=1e-6)
    assert sum(n for n, _ in seen[: len(texts) // 2]) == len(texts)
    longest = [longest for _, longest in seen[: len(texts) // 2]]
    assert longest == sorted(longest, reverse=True)


@pytest.mark.parametrize("left", [False, True])
def test_pad_batch_places_ids_and_token_types_on_the_padding_side(left):
    flat = np.array([10, 11, 12, 20, 30, 31], dtype=np.int32)
    types = np.array([0, 1, 1, 0, 2, 2], dtype=np.int32)
    lengths = np.array([3, 1, 2], dtype=np.int32)
    batch = pad_batch(flat, np.array([0, 3, 4]), lengths, 9, pin=False, left=left, flat_types=types)
    if left:
        assert batch.ids.tolist() == [[10, 11, 12], [9, 9, 20], [9, 30, 31]]
        assert batch.types.tolist() == [[0, 1, 1], [0, 0, 0], [0, 2, 2]]
        assert batch.mask().tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 1]]
    else:
        assert batch.ids.tolist() == [[10, 11, 12], [20, 9, 9], [30, 31, 9]]
        assert batch.types.tolist() == [[0, 1, 1], [0, 0, 0], [2, 2, 0]]
        assert batch.mask().tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch.padded and batch.model_inputs()["token_type_ids"] is batch.types


def test_an_already_loaded_model_scores_like_its_directory(lexicon_dir, engine):
    # Training scores its in-memory result through the engine (loaded=...), so its
    # validation figures come from the same batching and label mapping as the worker's.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    loaded = (
        AutoModelForSequenceClassification.from_pretrained(str(lexicon_dir)),
        AutoTokenizer.from_pretrained(str(lexicon_dir)),
    )
    in_memory = SentimentEngine("in memory", EngineOptions(batch_size=4, precision="fp32"), loaded=loaded)
    texts = ["the delivery is great", "terrible service", "", "ужас", "a very long text " * 20]
    np.testing.assert_allclose(in_memory.predict_proba(texts), engine.predict_proba(texts), rtol=1e-6, atol=1e-7)
