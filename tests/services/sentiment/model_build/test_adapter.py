"""Tests for the sentiment adapter: LoRA merge, assembly, evaluation metrics.

Fast tests run on a tiny synthetic BERT encoder (hidden size 8, two layers)
and a tiny adapter made by the same code that trains the real one, so the
merge, the hash gates and the idempotent/atomic build are exercised in well
under a second each. The ``model`` test assembles the real default model
(cached under the model cache; the first run builds the ~470 MB encoder) and
checks that it loads with the stock classes and classifies the obvious.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from services.sentiment.model_build import assemble as asm
from services.sentiment.model_build import classifier as arch
from services.sentiment.model_build.data import load_split
from services.sentiment.model_build.evaluate import (
    confusion_matrix,
    decide,
    metrics_from_confusion,
    metrics_from_probs,
    summarize,
)
from services.sentiment.model_build.lora import LoRALinear, inject_lora, merge_lora

# --------------------------------------------------------------------------
# LoRA merge math


def test_merge_lora_is_w_plus_scaled_ba() -> None:
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (out=3, in=2)
    a = torch.tensor([[1.0, -1.0]])  # (r=1, in=2)
    b = torch.tensor([[2.0], [0.0], [-1.0]])  # (out=3, r=1)
    merged = merge_lora(w, a, b, scale=0.5)
    # B·A = [[2,-2],[0,0],[-1,1]]; half of it added to W.
    assert torch.equal(merged, torch.tensor([[2.0, 1.0], [3.0, 4.0], [4.5, 6.5]]))
    assert merged.dtype == w.dtype


def test_merged_weight_reproduces_the_unmerged_module() -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.Linear(6, 5)
    module = LoRALinear(base, rank=3, alpha=6.0, generator=gen)
    with torch.no_grad():
        module.lora_B.normal_(generator=gen)
    x = torch.randn(4, 6, generator=gen)
    merged = torch.nn.functional.linear(x, module.merged_weight(), base.bias)
    torch.testing.assert_close(module(x), merged, rtol=1e-6, atol=1e-6)


def test_fresh_lora_is_a_no_op() -> None:
    base = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    expected = base(x)
    module = LoRALinear(base, rank=2, alpha=4.0)
    torch.testing.assert_close(module(x), expected)
    assert not base.weight.requires_grad


def test_merge_lora_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        merge_lora(torch.zeros(3, 2), torch.zeros(1, 3), torch.zeros(3, 1), 1.0)


# --------------------------------------------------------------------------
# a tiny synthetic encoder + adapter

TINY_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 8,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "vocab_size": 40,
    "layer_norm_eps": 1e-12,
    "initializer_range": 0.02,
    "position_embedding_type": "absolute",
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}


def _make_encoder(path: Path) -> Path:
    from transformers import BertConfig, BertModel

    path.mkdir(parents=True)
    torch.manual_seed(1)
    model = BertModel(BertConfig(**TINY_CONFIG), add_pooling_layer=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))
    (path / "config.json").write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    for name in asm.TOKENIZER_FILES:
        (path / name).write_text(json.dumps({"placeholder": name}), encoding="utf-8")
    (path / asm.MARKER_NAME).write_text(
        json.dumps({"build_format": 1, "artifacts": asm.current_pins()}), encoding="utf-8"
    )
    return path


def _make_adapter(path: Path, encoder_dir: Path, pooling: str = "mean") -> Path:
    """An adapter with non-trivial values everywhere, written like training writes it."""
    model = arch.build_model(encoder_dir, pooling, seed=3)
    modules = inject_lora(
        model, arch.lora_module_names(range(1, 2)), rank=2, alpha=4.0, generator=torch.Generator().manual_seed(4)
    )
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in modules.values():
            m.lora_B.normal_(std=0.5, generator=gen)
    for p in model.parameters():
        p.requires_grad_(False)
    for m in modules.values():
        m.lora_A.requires_grad_(True)
        m.lora_B.requires_grad_(True)
    for name in arch.head_keys():
        model.get_parameter(name).requires_grad_(True)
    ln = model.bert.encoder.layer[1].output.LayerNorm.weight
    with torch.no_grad():
        ln.mul_(1.5)
    ln.requires_grad_(True)
    manifest = {
        "encoder": {
            "artifacts": asm.current_pins(),
            "model_safetensors_sha256": arch.sha256_path(encoder_dir / "model.safetensors"),
            "tokenizer_json_sha256": arch.sha256_path(encoder_dir / "tokenizer.json"),
        },
        "architecture": {
            "class": "BertForSequenceClassification",
            "pooling": pooling,
            "mean_pool_value_scale": arch.MEAN_POOL_VALUE_SCALE,
            "num_hidden_layers": 3 if pooling == "mean" else 2,
        },
        "lora": {"rank": 2, "alpha": 4.0, "modules": list(modules)},
    }
    arch.write_adapter(path, arch.export_adapter_tensors(model), manifest)
    return path


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    encoder = _make_encoder(tmp_path / "encoder")
    adapter = _make_adapter(tmp_path / "adapter", encoder)
    return encoder, adapter


def _batch() -> dict[str, torch.Tensor]:
    ids = torch.tensor([[0, 5, 9, 13, 7, 2], [0, 11, 4, 2, 1, 1]])
    return {"input_ids": ids, "attention_mask": (ids != 1).long()}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_assembled_tiny_model_matches_training_model(pooling: str, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    encoder = _make_encoder(tmp_path / "encoder")
    adapter = _make_adapter(tmp_path / "adapter", encoder, pooling)
    out = asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    assert config["repwatch_text_prefix"] == "query: "
    # "mean" adds the fixed mean-pooling layer on top of the 2 encoder layers
    assert config["num_hidden_layers"] == (3 if pooling == "mean" else 2)

    shipped = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    trained = arch.training_model_from_adapter(encoder, adapter)
    with torch.no_grad():
        got = shipped(**_batch()).logits
        want = trained(**_batch()).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # the LoRA really changed something: the merged weight differs from the encoder's
    enc_q = load_file(str(encoder / "model.safetensors"))["encoder.layer.1.attention.self.query.weight"]
    out_q = load_file(str(out / "model.safetensors"))["bert.encoder.layer.1.attention.self.query.weight"]
    assert not torch.allclose(enc_q, out_q)


def test_mean_pooling_layer_is_masked_mean(tiny: tuple[Path, Path]) -> None:
    """Padding must not change a text's prediction, and [CLS] must see the mean of all tokens."""
    encoder, _ = tiny
    model = arch.build_model(encoder, "mean", seed=0).eval()
    ids = torch.tensor([[0, 5, 9, 2]])
    padded = torch.tensor([[0, 5, 9, 2, 1, 1, 1]])
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        b = model(input_ids=padded, attention_mask=(padded != 1).long()).logits
        hs = model.bert(input_ids=ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    expected = torch.nn.functional.layer_norm(hs[2].mean(dim=1), (8,), eps=1e-12)
    cls = hs[3][:, 0]
    assert torch.nn.functional.cosine_similarity(cls, expected).item() > 0.999


def test_assemble_is_idempotent(tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder, adapter = tiny
    out = asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    before = (out / "model.safetensors").stat().st_mtime_ns
    assert asm.is_assembled(out, adapter)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("rebuilt although the marker matched")

    monkeypatch.setattr(asm, "_build_into", boom)
    assert asm.assemble(out, adapter, encoder_dir=encoder) == out  # boom() proves nothing was rebuilt
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".model.")]  # no temp dirs left


def test_assemble_rebuilds_when_the_adapter_changes(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    out = asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    first = load_file(str(out / "model.safetensors"))["classifier.weight"]
    tensors, manifest = arch.read_adapter(adapter)
    tensors["classifier.weight"] = tensors["classifier.weight"] + 1.0
    arch.write_adapter(adapter, tensors, manifest)
    assert not asm.is_assembled(out, adapter)
    asm.assemble(out, adapter, encoder_dir=encoder)
    torch.testing.assert_close(load_file(str(out / "model.safetensors"))["classifier.weight"], first + 1.0)


def test_the_fitted_decision_rule_travels_into_config_json(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    out = asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    assert "repwatch_decision_rule" not in json.loads((out / "config.json").read_text())
    tensors, manifest = arch.read_adapter(adapter)
    rule = {"version": 1, "temperature": 1.4, "thresholds": {"ru": 0.22}, "fallback": 0.3, "target_recall": 0.8}
    manifest["decision_rule"] = rule
    arch.write_adapter(adapter, tensors, manifest)
    assert not asm.is_assembled(out, adapter)  # a new rule is a new model
    asm.assemble(out, adapter, encoder_dir=encoder)
    assert json.loads((out / "config.json").read_text())["repwatch_decision_rule"] == rule

    manifest["decision_rule"] = {**rule, "fallback": 3}
    arch.write_adapter(adapter, tensors, manifest)
    with pytest.raises(asm.AssembleError, match="fallback"):
        asm.assemble(out, adapter, encoder_dir=encoder)


def test_assemble_refuses_other_encoder_weights(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    state = load_file(str(encoder / "model.safetensors"))
    state["encoder.layer.0.attention.self.query.weight"] += 1e-3
    save_file(state, str(encoder / "model.safetensors"))
    with pytest.raises(asm.AssembleError, match="model.safetensors sha256 mismatch"):
        asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    assert not (tmp_path / "model").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


def test_assemble_refuses_tampered_adapter_weights(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    weights = adapter / arch.ADAPTER_WEIGHTS
    state = load_file(str(weights))
    state["classifier.bias"] = state["classifier.bias"] + 1.0
    save_file(state, str(weights))
    with pytest.raises(asm.AssembleError, match="sha256"):
        asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)


def test_assemble_refuses_adapter_for_other_wheels(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    manifest_path = adapter / arch.ADAPTER_MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    first = next(iter(manifest["encoder"]["artifacts"]))
    manifest["encoder"]["artifacts"][first]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(asm.AssembleError, match="other wheels"):
        asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)


def test_assemble_keeps_a_good_build_when_a_rebuild_fails(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    out = asm.assemble(tmp_path / "model", adapter, encoder_dir=encoder)
    state = load_file(str(encoder / "model.safetensors"))
    state["embeddings.LayerNorm.bias"] += 1.0
    save_file(state, str(encoder / "model.safetensors"))
    with pytest.raises(asm.AssembleError):
        asm.assemble(out, adapter, encoder_dir=encoder, force=True)
    assert (out / "model.safetensors").is_file() and (out / asm.MARKER_NAME).is_file()


def test_assemble_will_not_replace_foreign_directory(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    encoder, adapter = tiny
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(asm.AssembleError, match="refusing to replace"):
        asm.assemble(foreign, adapter, encoder_dir=encoder)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_merged_state_dict_rejects_unknown_tensors(tiny: tuple[Path, Path]) -> None:
    encoder, adapter = tiny
    tensors, _ = arch.read_adapter(adapter)
    tensors["bert.encoder.layer.7.output.dense.bias"] = torch.zeros(8)
    with pytest.raises(arch.AdapterError, match="matches nothing"):
        arch.merged_state_dict(arch.base_state_dict(encoder, "mean"), tensors, 2.0)


def test_committed_adapter_is_small_and_self_consistent() -> None:
    manifest = json.loads((arch.DEFAULT_ADAPTER_DIR / arch.ADAPTER_MANIFEST).read_text(encoding="utf-8"))
    weights = arch.DEFAULT_ADAPTER_DIR / manifest["weights"]["file"]
    assert weights.stat().st_size < 8 * 1024 * 1024
    assert arch.sha256_path(weights) == manifest["weights"]["sha256"]
    assert manifest["encoder"]["artifacts"] == asm.current_pins()
    assert manifest["training"]["config"]["seed"] is not None
    assert set(manifest["validation"]["languages"]) >= {"english", "russian"}


# --------------------------------------------------------------------------
# evaluation metrics


def test_metrics_on_a_hand_made_confusion() -> None:
    # rows = true (neg, neu, pos), columns = predicted
    cm = np.array([[8, 2, 0], [1, 6, 3], [0, 0, 10]])
    m = metrics_from_confusion(cm)
    # negative: P = 8/9, R = 8/10 -> F1 = 16/19
    # neutral:  P = 6/8, R = 6/10 -> F1 = 2/3
    # positive: P = 10/13, R = 1 -> F1 = 20/23
    assert m["f1"]["negative"] == pytest.approx(16 / 19)
    assert m["f1"]["neutral"] == pytest.approx(2 / 3)
    assert m["f1"]["positive"] == pytest.approx(20 / 23)
    assert m["macro_f1"] == pytest.approx((16 / 19 + 2 / 3 + 20 / 23) / 3)
    assert m["accuracy"] == pytest.approx(24 / 30)
    assert m["negative_recall"] == pytest.approx(0.8)
    assert m["n"] == 30


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    cm = confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_absent_class_scores_zero_f1() -> None:
    m = metrics_from_confusion(np.array([[5, 0, 0], [0, 5, 0], [0, 0, 0]]))
    assert m["f1"]["positive"] == 0.0
    assert m["macro_f1"] == pytest.approx(2 / 3)


def test_negative_threshold_rule() -> None:
    probs = np.array(
        [
            [0.30, 0.50, 0.20],  # P(neg) 0.30
            [0.45, 0.10, 0.45],  # tie: argmax picks negative (lowest id)
            [0.10, 0.20, 0.70],
            [0.40, 0.35, 0.25],  # argmax already negative
        ]
    )
    assert decide(probs).tolist() == [1, 0, 2, 0]
    assert decide(probs, 0.3).tolist() == [0, 0, 2, 0]
    assert decide(probs, 0.5).tolist() == [1, 0, 2, 0]  # above 0.5 nothing changes
    assert decide(probs[0], 0.25).tolist() == 0
    with pytest.raises(ValueError):
        decide(probs, 1.5)


def test_threshold_trades_precision_for_negative_recall() -> None:
    probs = np.array([[0.35, 0.6, 0.05], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1], [0.3, 0.1, 0.6]])
    labels = [0, 1, 0, 2]
    plain = metrics_from_probs(probs, labels)
    lowered = metrics_from_probs(probs, labels, negative_threshold=0.3)
    assert plain["negative_recall"] == 0.5 and lowered["negative_recall"] == 1.0
    assert lowered["negative_precision"] < 1.0


def test_summarize_averages_only_umsab_languages() -> None:
    per = {
        "english": {"macro_f1": 0.6, "accuracy": 0.7, "negative_recall": 0.5},
        "german": {"macro_f1": 0.8, "accuracy": 0.9, "negative_recall": 0.7},
        "russian": {"macro_f1": 0.1, "accuracy": 0.1, "negative_recall": 0.1},
    }
    s = summarize(per)
    assert s["macro_f1"] == pytest.approx(0.7) and s["min_macro_f1"] == pytest.approx(0.6)
    assert s["languages"] == 2


def test_lines_split_only_on_newline(tmp_path: Path) -> None:
    lang = tmp_path / "umsab" / "xx"
    lang.mkdir(parents=True)
    (lang / "val_text.txt").write_text("one\u2028still one\ntwo\x0cstill two", encoding="utf-8")
    (lang / "val_labels.txt").write_text("0\n2\n", encoding="utf-8")
    s = load_split(tmp_path, "xx", "val")
    assert s.texts == ("one\u2028still one", "two\x0cstill two") and s.labels == (0, 2)
    with pytest.raises(ValueError):
        load_split(tmp_path, "xx", "test")


# --------------------------------------------------------------------------
# the real default model

OBVIOUS = [
    ("Terrible service, I want my money back", "negative"),
    ("I love this phone, best purchase ever!", "positive"),
    ("Спасибо, всё отлично!", "positive"),
    ("Ужасный сервис, больше никогда не закажу", "negative"),
    ("Das ist wirklich großartig, vielen Dank!", "positive"),
    ("Je suis très déçu, le produit est cassé.", "negative"),
    ("¡Me encanta, muchas gracias!", "positive"),
    ("Pessimo servizio, non lo consiglio a nessuno.", "negative"),
]


@pytest.mark.model
def test_default_model_loads_with_stock_classes_and_matches_training() -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from services.sentiment.defaults import default_model_path
    from services.sentiment.model_build.data import default_data_dir
    from services.sentiment.model_build.encoder import DEFAULT_MODEL_DIRNAME, default_cache_dir

    torch.set_num_threads(2)
    path = asm.assemble()
    assert path == default_model_path().absolute()
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    prefix = model.config.repwatch_text_prefix
    assert prefix == "query: "

    clf = pipeline("text-classification", model=str(path), device="cpu")
    got = [r["label"] for r in clf([prefix + text for text, _ in OBVIOUS])]
    assert got == [label for _, label in OBVIOUS]

    # Same predictions as the model training evaluated (unmerged LoRA, from the stored adapter).
    encoder_dir = default_cache_dir() / DEFAULT_MODEL_DIRNAME
    trained = arch.training_model_from_adapter(encoder_dir)
    texts = [text for text, _ in OBVIOUS]
    data_dir = default_data_dir()
    if (data_dir / "umsab").is_dir():
        for lang in ("english", "arabic", "hindi"):
            texts += list(load_split(data_dir, lang, "val").texts[:40])
    enc = tokenizer([prefix + t for t in texts], padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        shipped_logits = model(**enc).logits
        trained_logits = trained(**enc).logits
    assert torch.equal(shipped_logits.argmax(-1), trained_logits.argmax(-1))
    torch.testing.assert_close(shipped_logits, trained_logits, rtol=1e-3, atol=1e-3)
