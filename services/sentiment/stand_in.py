"""Stand-in classifiers built offline with the transformers API, for tests and demos.

They exercise the plumbing (tests, and ``make run`` before the default model is
built) through exactly the code path a real model takes. They are not sentiment
models, and whoever shows their output must say so. The lexicon that knows the
simulated world's words is built in :mod:`simulation.lexicon` (a production
service does not import the simulation).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SAMPLE_TEXTS = (
    "the delivery is late again and support does not answer",
    "доставка опять опоздала, поддержка молчит",
    "shërbimi ishte shumë i mirë, faleminderit",
    "el pedido llegó roto y nadie responde",
    "great app, thanks for the quick fix",
    "الخدمة سيئة جدا",
    "where can I find the opening hours?",
)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def _save_bert_tokenizer(tok: object, out_dir: Path) -> None:
    """Add [CLS] … [SEP] framing to a ``tokenizers.Tokenizer`` and save it as a HF fast tokenizer."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")  # type: ignore[attr-defined]
    tok.post_processor = processors.TemplateProcessing(  # type: ignore[attr-defined]
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    ).save_pretrained(out_dir)


def _three_label_config(**kw: object) -> object:
    from transformers import BertConfig

    return BertConfig(
        max_position_embeddings=512,
        num_labels=3,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
        **kw,
    )


def build_random_model(out_dir: Path, *, seed: int = 0, extra_texts: Iterable[str] = ()) -> Path:
    """Write a 3-label BERT-shaped classifier with a small WordPiece tokenizer to ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertForSequenceClassification

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        [*SAMPLE_TEXTS, *extra_texts], trainers.WordPieceTrainer(vocab_size=2000, special_tokens=SPECIAL_TOKENS)
    )
    _save_bert_tokenizer(tok, out_dir)
    torch.manual_seed(seed)
    config = _three_label_config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertForSequenceClassification(config).save_pretrained(out_dir)
    return out_dir


def build_lexicon_model(
    out_dir: Path, negative_words: Iterable[str], positive_words: Iterable[str], vocabulary: Iterable[str] = ()
) -> Path:
    """A hand-wired BERT classifier whose label follows a word list — for end-to-end tests.

    It is a real ``BertForSequenceClassification`` (loaded by the same code as any
    model), with weights set by hand instead of trained, so a test can know what
    label a text must get: texts with more negative than positive words are
    negative, the reverse positive, neither neutral.

    How: each word embedding is [neg, pos, 1, 0...]; all-zero query/key weights
    make attention uniform, so the [CLS] position receives the mean of the
    embeddings; the feed-forward block is zeroed; the pooler reads
    ``mean(neg) - mean(pos)``, and the classifier turns its sign into a label.
    LayerNorms rescale but keep the sign of that difference.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertForSequenceClassification

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    neg = {w.lower() for w in negative_words}
    pos = {w.lower() for w in positive_words} - neg
    words = sorted(neg | pos | {w.lower() for w in vocabulary} - set(SPECIAL_TOKENS))
    vocab = {w: i for i, w in enumerate(SPECIAL_TOKENS + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    _save_bert_tokenizer(tok, out_dir)

    hidden = 8
    config = _three_label_config(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        emb = model.bert.embeddings
        emb.word_embeddings.weight[:, 2] = 1.0
        for w, i in vocab.items():
            emb.word_embeddings.weight[i, 0] = 1.0 if w in neg else 0.0
            emb.word_embeddings.weight[i, 1] = 1.0 if w in pos else 0.0
        emb.LayerNorm.weight.fill_(1.0)
        layer = model.bert.encoder.layer[0]
        layer.attention.self.value.weight.copy_(torch.eye(hidden))
        layer.attention.output.dense.weight.copy_(torch.eye(hidden))
        layer.attention.output.LayerNorm.weight.fill_(1.0)
        layer.output.LayerNorm.weight.fill_(1.0)
        pooler = model.bert.pooler.dense.weight
        pooler[0, 0], pooler[0, 1] = 4.0, -4.0
        clf = model.classifier
        clf.weight[0, 0], clf.weight[2, 0] = 10.0, -10.0
        clf.bias[0], clf.bias[2] = -1.0, -1.0
    model.save_pretrained(out_dir)
    return out_dir
