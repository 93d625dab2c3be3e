"""Near-duplicate detection: normalisation, MinHash estimates, determinism, the LSH index."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from services.alerting.similarity import (
    LshIndex,
    MinHasher,
    Signature,
    containment,
    exact_similarity,
    jaccard,
    normalize,
    shingle_hashes,
    shingle_set,
    true_jaccard,
)

#: (removed complaint, how it came back): reordering, a changed word or two, added emoji,
#: punctuation, capitals, links and handles, digits for words, ё/е, Arabic tanween, and
#: the "you deleted my comment, so again:" prefix
PARAPHRASES = [
    (
        "I ordered a blender from Acme three weeks ago and it still hasn't arrived. Support keeps ignoring my "
        "emails. Worst service ever!",
        "Ordered a blender from Acme 3 weeks ago, STILL not arrived!!! Support keeps ignoring my emails 😡 worst "
        "service ever",
    ),
    (
        "Your app charged my card twice for the same subscription and nobody from support answers. I want my money "
        "back.",
        "Nobody from support answers and your app charged my card twice for the same subscription. I want my money "
        "back!",
    ),
    (
        "The courier threw my parcel over the fence and the screen arrived cracked. Acme refuses to replace it.",
        "Courier threw my parcel over the fence, the screen arrived broken. @acme refuses to replace it. "
        "https://imgur.com/abc123",
    ),
    (
        "The heater I bought in October stopped working after two days and the warranty service refuses to repair it.",
        "You deleted my comment, so I'll say it again: the heater I bought in October stopped working after two "
        "days and the warranty service refuses to repair it.",
    ),
    (
        "Been waiting on hold for 2 hours to cancel my contract. This company makes it impossible to leave.",
        "Been on hold for two hours trying to cancel my contract. This company makes it impossible to leave!",
    ),
    (
        "ACME BANK BLOCKED MY ACCOUNT FOR NO REASON AND I CAN'T PAY RENT",
        "Acme bank blocked my account for no reason and now I can't pay my rent",
    ),
    (
        "Заказал у вас холодильник, привезли с вмятиной, а служба поддержки уже неделю не отвечает. Позор!",
        "Заказал холодильник, привезли с вмятиной, а поддержка уже неделю не отвечает!!! Позор",
    ),
    (
        "Списали деньги дважды за одну и ту же подписку, верните деньги! Поддержка молчит.",
        "Поддержка молчит, а деньги списали дважды за одну и ту же подписку. Верните деньги!!!",
    ),
    (
        "Курьер опоздал на три часа и нагрубил, товар пришёл разбитым.",
        "Удалили мой отзыв? Повторю: курьер опоздал на три часа и нагрубил, товар пришел разбитым.",
    ),
    (
        "Третий раз пишу: интернет не работает с понедельника, мастер так и не пришёл, а абонентскую плату "
        "списываете исправно.",
        "Пишу уже в третий раз: интернет не работает с понедельника, мастер так и не пришел, а абонентку "
        "списываете исправно",
    ),
    (
        "Ваш магазин на Ленина продал мне просроченный творог, продавец отказался вернуть деньги.",
        "Магазин на Ленина продал мне просроченный творог!! Продавец отказался вернуть деньги 🤬",
    ),
    (
        "طلبت هاتف من متجركم منذ شهر ولم يصل حتى الآن وخدمة العملاء لا ترد على رسائلي",
        "طلبت هاتفاً من متجركم منذ شهر ولم يصل حتى الآن، وخدمة العملاء لا ترد على رسائلي!!",
    ),
    (
        "我在你们店买的洗衣机用了两天就坏了，客服一直不回复，太失望了",
        "在你们店买的洗衣机才用两天就坏了！客服一直不回复。太失望了😡",
    ),
]

#: complaints on the same topics, in the same languages, that are not the same complaint
UNRELATED = [
    "The delivery was late again and the food was cold. Never ordering from Acme again.",
    "Your support chat bot is useless, it just sends me links to the FAQ.",
    "Prices went up 30% this month and the quality got worse. Disappointed.",
    "My order was cancelled without any explanation and the refund still hasn't come.",
    "Support ignored my emails about the broken blender for a month.",
    "I was charged for a subscription I never signed up for. Give me my money back.",
    "Доставка опять опоздала, еда холодная. Больше не закажу.",
    "Ваш чат-бот бесполезен, отправляет ссылки на FAQ и всё.",
    "Цены выросли на 30%, а качество стало хуже. Разочарован.",
    "Заказ отменили без объяснений, деньги до сих пор не вернули.",
    "Холодильник работает шумно, вызвал мастера, сказали что это норма.",
    "Курьер нагрубил и не донёс заказ до квартиры, ужасный сервис.",
    "الخدمة سيئة جدا والموظفون لا يحترمون العملاء",
    "你们的快递太慢了，等了一个星期还没到",
]

#: the detector's defaults (see returning_complainant.ReturningComplainantSettings)
SIMILARITY, CONTAINMENT, CONTAINMENT_MIN = 0.45, 0.8, 40


def _match(a: Signature, b: Signature) -> bool:
    j = jaccard(a, b)
    return j >= SIMILARITY or (min(a.size, b.size) >= CONTAINMENT_MIN and containment(a, b, j) >= CONTAINMENT)


def test_normalize_folds_what_people_vary() -> None:
    assert normalize("  WORST   Service!!! 😡😡 https://t.co/x @acme_support ") == "worst service"
    assert normalize("Sooooo baaad") == "soo baad"
    assert normalize("пришёл") == normalize("ПРИШЕЛ")
    assert normalize("ｆｕｌｌ－ｗｉｄｔｈ") == "full width"  # NFKC
    assert normalize("مُتَجَرِكُم") == "متجركم"  # harakat dropped
    assert normalize("أحمد") == normalize("احمد")
    assert normalize("客服，一直不回复！") == "客服 一直不回复"
    assert normalize("e-mail me at a@b.c") == "e mail me at a b c"  # an address is not a handle
    assert normalize("!!! 🤬") == ""


def test_shingles_cover_any_script_and_short_texts() -> None:
    for text in ["ok", "я", "ب", "好", "hello world", "Привет", "مرحبا بكم", "太失望了"]:
        h = shingle_hashes(normalize(text))
        assert h.dtype == np.uint64 and h.size >= 1
    assert shingle_hashes("").size == 0
    assert MinHasher().signature("!!! ...") is None


def test_paraphrases_match_and_unrelated_complaints_do_not() -> None:
    mh = MinHasher()
    for removed, returned in PARAPHRASES:
        a, b = mh.signature(removed), mh.signature(returned)
        assert _match(a, b), (removed, jaccard(a, b), containment(a, b))
    pairs = {frozenset(p) for p in PARAPHRASES}
    texts = [t for p in PARAPHRASES for t in p] + UNRELATED
    for x, y in itertools.combinations(texts, 2):
        if frozenset((x, y)) in pairs:
            continue
        a, b = mh.signature(x), mh.signature(y)
        assert not _match(a, b), (x, y, jaccard(a, b), containment(a, b))


def test_estimate_tracks_the_true_jaccard() -> None:
    mh = MinHasher()
    texts = [t for p in PARAPHRASES for t in p] + UNRELATED
    errors = [
        abs(jaccard(mh.signature(x), mh.signature(y)) - true_jaccard(x, y))
        for x, y in itertools.combinations(texts[:20], 2)
    ]
    # standard error at most 0.044 with 128 functions: the mean error is well under it
    assert float(np.mean(errors)) < 0.04 and max(errors) < 0.2
    assert jaccard(mh.signature(texts[0]), mh.signature(texts[0])) == 1.0


def test_signatures_are_identical_in_another_process() -> None:
    # Python's str hash is salted per process; nothing here may depend on it
    text = PARAPHRASES[6][0]
    here = MinHasher().signature(text).encode()
    code = f"from services.alerting.similarity import MinHasher;print(MinHasher().signature({text!r}).encode())"
    env_runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
        for env in ({"PYTHONHASHSEED": "1", "PYTHONPATH": "."}, {"PYTHONHASHSEED": "987", "PYTHONPATH": "."})
    ]
    assert [r.strip() for r in env_runs] == [here, here]


def test_signature_round_trips_through_json() -> None:
    sig = MinHasher().signature("Верните деньги за подписку")
    back = Signature.decode(json.loads(json.dumps(sig.encode())), sig.size)
    assert np.array_equal(back.values, sig.values) and back.size == sig.size and back.values.dtype == np.uint32
    with pytest.raises(ValueError):
        Signature.decode("AAA=", 3)


def test_lsh_index_finds_near_duplicates_expires_and_caps() -> None:
    mh = MinHasher()
    index = LshIndex(64, 2, capacity=5)
    for i, (removed, _) in enumerate(PARAPHRASES[:5]):
        index.add(f"r{i}", mh.signature(removed), at=float(i))
    for i, (_, returned) in enumerate(PARAPHRASES[:5]):
        assert f"r{i}" in index.query(mh.signature(returned))
    assert index.query(mh.signature("完全无关的文字内容在这里")) == []
    evicted = index.add("r5", mh.signature(PARAPHRASES[5][0]), at=5.0)
    assert evicted == ["r0"] and len(index) == 5
    assert index.expire(before=3.0) == ["r1", "r2"]
    assert list(index.items) == ["r3", "r4", "r5"]
    assert index.remove("r4") and not index.remove("r4")
    assert "r4" not in index.query(mh.signature(PARAPHRASES[4][1]))
    again = LshIndex.from_json(json.loads(json.dumps(index.to_json())), bands=64, rows=2, capacity=5)
    assert list(again.items) == list(index.items)
    assert again.query(mh.signature(PARAPHRASES[3][1])) == index.query(mh.signature(PARAPHRASES[3][1]))
    with pytest.raises(ValueError):
        LshIndex(32, 2, 5).add("x", mh.signature("some text here"), 0.0)


def test_lsh_index_stays_bounded_and_consistent_under_churn() -> None:
    mh = MinHasher()
    index = LshIndex(64, 2, capacity=50)
    texts = [t for p in PARAPHRASES for t in p] + UNRELATED
    for i in range(2_000):
        index.add(f"k{i % 120}", mh.signature(texts[i % len(texts)] + f" #{i % 7}"), float(i))
        if i % 10 == 0:
            index.expire(float(i - 300))
    assert len(index) <= 50
    # every bucket entry points at a live item: no leaks when keys are replaced, evicted, expired
    live = set(index.items)
    assert all(set(b) <= live for b in index._buckets.values())
    assert sum(len(b) for b in index._buckets.values()) <= 64 * len(live)


@pytest.mark.parametrize("dense_below", [0, 10_000])
def test_near_agrees_with_pairwise_estimates_on_both_paths(dense_below) -> None:
    mh = MinHasher()
    index = LshIndex(64, 2, capacity=100, dense_below=dense_below)
    for i, (removed, _) in enumerate(PARAPHRASES):
        index.add(f"r{i}", mh.signature(removed), at=float(i))
    for text in UNRELATED:
        index.add(f"u{len(index)}", mh.signature(text), at=50.0)
    for i, (removed, returned) in enumerate(PARAPHRASES):
        sig = mh.signature(returned)
        got = index.near(sig, jaccard=SIMILARITY, containment=CONTAINMENT, containment_min_size=CONTAINMENT_MIN)
        assert [k for k, _ in got] == [f"r{i}"]
        other = mh.signature(removed)
        j = jaccard(sig, other)
        expected = j if j >= SIMILARITY else containment(sig, other)
        assert got[0][1] == pytest.approx(expected)
    assert index.near(mh.signature(UNRELATED[0]), jaccard=0.99) == [("u13", 1.0)]


def test_exact_similarity_confirms_what_the_estimates_suggest() -> None:
    for removed, returned in PARAPHRASES:
        j, c = exact_similarity(shingle_set(removed), shingle_set(returned))
        assert j >= SIMILARITY or c >= CONTAINMENT
        assert j == pytest.approx(true_jaccard(removed, returned))
    # a short complaint sharing its opening words with a long one is not contained in it
    long = (
        "Seriously? My order #20921589 from February 9, a vacuum S9 Lite for $15.49, is the problem. After 25 days "
        "the hinge stopped working completely. Support keeps sending me the same template."
    )
    j, c = exact_similarity(shingle_set(long), shingle_set("Seriously? My vacuum Zen 3 died a month in. 😒"))
    assert j < SIMILARITY and c < CONTAINMENT
    assert exact_similarity(frozenset(), frozenset()) == (1.0, 1.0)
    assert exact_similarity(frozenset({1}), frozenset()) == (0.0, 0.0)
