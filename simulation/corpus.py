"""Phrase material for the simulated world's mentions, as plain immutable data.

Why a separate module: the world (:mod:`simulation.world`) and its incidents
are logic, this file is *language*. Keeping them apart lets someone who writes
Albanian or Spanish improve the texts without reading any Python beyond
tuples, and lets a test render every template to catch a broken slot.

How texts are built: a mention is ``[opener] body [closer]`` drawn from the
:class:`Phrases` of one intent, then rendered with :meth:`str.format_map`.
Bodies are grouped by *topic* (``delivery``, ``refund``, ``support``,
``broken``, ``billing``, ``app`` for complaints), so a brand reply can answer
the topic that was complained about. Slots, filled per text:

``{brand}``            the brand as this author writes it (``Acme``, ``acme``, ``@acme``, ``Акме``)
``{item[<form>]}``     one product; the forms a language needs (case, article, verb agreement)
                       are the keys of that language's ``items`` mappings
``{city[<form>]}``     one city; forms as in ``cities`` (``in`` = "in X", ``to`` = "to X")
``{model}``            a model name (never inflected)
``{order}``            an order number (digits only; the template adds "№"/"#")
``{amount}``           a sum of money in the local style
``{version}``          an app version (only in incident texts)
``{name}``             the first name of the person a brand reply answers
``{original}``         a deleted complaint, quoted again by its author
``{wait_days}`` ...    other ``slots`` of the language, in the grammatical form its templates need
gender slots           per language (``{a}`` in Russian: заказал{a}; ``{o}`` in Spanish:
                       hart{o}; ``{i}`` in Albanian: {i} kënaqur), from the author's gender

Everything here is a tuple or a read-only mapping: the module holds no mutable
state. The texts are written for this project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "COMPLAINT_TOPICS",
    "EMOJI",
    "LANGUAGES",
    "LATIN_TO_CYRILLIC",
    "MODELS",
    "SPIKE_ISSUES",
    "ChannelTemplate",
    "LanguagePack",
    "Phrases",
]


def _m(data: Mapping[str, Any] | None = None, /, **kw: Any) -> Mapping[str, Any]:
    """A read-only mapping: corpus data must not be mutated by a running stream."""
    return MappingProxyType({**(data or {}), **kw})


#: complaint topics every language's ``negative.bodies`` covers (``sarcasm`` aside)
COMPLAINT_TOPICS = ("delivery", "refund", "support", "broken", "billing", "app")

#: the concrete issues a negativity spike can be about
SPIKE_ISSUES = ("outage", "bad_update", "double_charge")

#: model names are not inflected in any language, so they are shared
MODELS = ("X200", "Nova 5", "AirLite 2", "K3 Pro", "S9 Lite", "Max 12", "Mini 4", "Pulse 7", "Zen 3")

EMOJI = _m(
    negative=("😡", "🤬", "😤", "👎", "🙄", "😒", "😠", "🤦", "💩", "😞"),
    neutral=("🤔", "🙂", "👀", "❓", "🙏"),
    positive=("😍", "🔥", "👍", "❤️", "🙌", "👏", "🥰", "😊", "💯", "✨"),
)

#: how Russian and Ukrainian speakers often spell a Latin brand name (longest match first)
LATIN_TO_CYRILLIC = _m(
    sh="ш",
    ch="ч",
    zh="ж",
    ya="я",
    yu="ю",
    ph="ф",
    ck="к",
    ee="и",
    oo="у",
    kh="х",
    ts="ц",
    a="а",
    b="б",
    c="к",
    d="д",
    e="е",
    f="ф",
    g="г",
    h="х",
    i="и",
    j="дж",
    k="к",
    l="л",
    m="м",
    n="н",
    o="о",
    p="п",
    q="к",
    r="р",
    s="с",
    t="т",
    u="у",
    v="в",
    w="в",
    x="кс",
    y="и",
    z="з",
)


@dataclass(frozen=True)
class ChannelTemplate:
    """A place where mentions of a brand appear, for speakers of one language.

    ``path`` may contain ``{slug}`` (the brand) and ``{video}`` (expanded into a
    few stable video ids per brand). ``owned`` channels are run by the brand:
    only there can it hide or delete comments.
    """

    platform: str
    path: str
    owned: bool
    weight: float


@dataclass(frozen=True)
class Phrases:
    """Openers, topic-grouped bodies and closers of one intent."""

    openers: tuple[str, ...]
    bodies: Mapping[str, tuple[str, ...]]
    closers: tuple[str, ...]


@dataclass(frozen=True)
class LanguagePack:
    """Everything the generator needs to write like a speaker of one language."""

    code: str
    #: share of background traffic written in this language
    share: float
    channels: tuple[ChannelTemplate, ...]
    negative: Phrases
    neutral: Phrases
    positive: Phrases
    #: complaints that read like praise (intent: negative)
    sarcasm: tuple[str, ...]
    #: short replies to someone else's mention, by the reply's intent
    followups: Mapping[str, tuple[str, ...]]
    #: news headlines for RSS items, by intent
    headlines: Mapping[str, tuple[str, ...]]
    #: "UPD: ..." lines appended by an edit, by the intent of the update
    edits: Mapping[str, tuple[str, ...]]
    #: the brand's support answers; bodies keyed by the topic they answer
    #: (complaint topics, ``question``, ``praise``, ``generic``)
    brand_reply: Phrases
    #: complaint bodies for a negativity spike, by issue (see SPIKE_ISSUES)
    spike: Mapping[str, tuple[str, ...]]
    spike_questions: tuple[str, ...]
    #: the brand's public answer during a spike, by issue
    incident_reply: Mapping[str, tuple[str, ...]]
    #: closers that turn a complaint into a furious one
    escalations: tuple[str, ...]
    #: a deleted complaint posted again from another account; quotes ``{original}``
    comebacks: tuple[str, ...]
    #: other people noticing that complaints get deleted
    censorship: tuple[str, ...]
    items: tuple[Mapping[str, str], ...]
    cities: tuple[Mapping[str, str], ...]
    slots: Mapping[str, tuple[str, ...]]
    #: gender -> gender slot values ("m"/"f"); every template's gender slots must be here
    genders: Mapping[str, Mapping[str, str]]
    #: gender -> (display name, latin handle stem)
    names: Mapping[str, tuple[tuple[str, str], ...]]
    surnames: tuple[str, ...]
    female_surname_suffix: str = ""
    #: characters people skip when typing fast (diacritics, ё), and how often they do
    casual: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    casual_rate: float = 0.0
    #: lower-case the first letter after "Короче," / "Buenas," (not in German: nouns stay capitalised)
    lower_after_comma: bool = True


# --------------------------------------------------------------------------- ru

RU = LanguagePack(
    code="ru",
    share=0.28,
    channels=(
        ChannelTemplate("vk", "club_{slug}", True, 5.0),
        ChannelTemplate("vk", "public_{slug}_fans", False, 1.5),
        ChannelTemplate("vk", "public_otzyvy_{slug}", False, 1.0),
        ChannelTemplate("telegram", "@{slug}_support", True, 3.5),
        ChannelTemplate("telegram", "@{slug}_news", True, 1.5),
        ChannelTemplate("telegram", "@{slug}_community", False, 1.5),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.5),
        ChannelTemplate("youtube", "obzor_tech/{video}", False, 1.0),
        ChannelTemplate("instagram", "@{slug}", True, 1.0),
        ChannelTemplate("reviews", "otzovik.com/reviews/{slug}", False, 1.2),
        ChannelTemplate("reviews", "irecommend.ru/content/{slug}", False, 0.8),
        ChannelTemplate("rss", "vc.ru", False, 0.3),
        ChannelTemplate("rss", "rbc.ru", False, 0.2),
    ),
    negative=Phrases(
        openers=(
            "Ну что за дела?",
            "Люди, помогите!",
            "Короче,",
            "Это просто жесть.",
            "{brand}, вы издеваетесь?",
            "Пишу уже третий раз.",
            "Не знаю, куда ещё писать.",
            "Хочу предупредить всех.",
            "Добрый день.",
            "Ребят, вы серьёзно?",
            "Ну здравствуйте.",
            "Слов нет.",
        ),
        bodies=_m(
            delivery=(
                "Заказ №{order} жду уже {wait_days}, трек не обновляется, в поддержке отвечают шаблонами.",
                "Оформил{a} доставку {city[to]} на вторник, сегодня уже пятница — ни курьера, ни звонка.",
                "Курьер отметил, что заказ доставлен, а я его в глаза не видел{a}. Где мой заказ?",
                "{wait_days} жду {item[acc]}, статус «передан в доставку» и всё.",
                "Перенесли доставку уже третий раз. Я специально взял{a} отгул!",
                "Пункт выдачи {city[in]} говорит, что посылки нет, а в приложении она там уже {wait_days}.",
                "zakaz {order} tak i ne priekhal, {brand} vy voobshche rabotaete?",
            ),
            refund=(
                "Вернул{a} {item[acc]} ещё {wait_days} назад, деньги до сих пор не пришли.",
                "Отказали в возврате денег ({amount}) без объяснения причин. Это вообще законно?",
                "Оформил{a} возврат, а мне пишут, что «товар не соответствует условиям». Какие условия, коробку даже не открывал{a}!",
                "Деньги за отменённый заказ №{order} обещали вернуть за три дня. Жду уже {wait_days}.",
            ),
            support=(
                "Поддержка просто издевается: {wait_short} висел{a} на линии, потом сбросили.",
                "Оператор в чате хамит и закрывает обращения, даже не дочитав.",
                "Написал{a} в поддержку {wait_short} назад — тишина. Зачем вообще этот чат?",
                "В чате бот, на горячей линии автоответчик, живого человека не найти.",
                "Девушка на кассе {city[in]} нахамила и отказалась пробить товар по акции.",
                "Саппорт вообще не отвечает, ну такое себе customer experience.",
            ),
            broken=(
                "{item[nom]} {model} {item[broke]} {soon}.",
                "Привезли {item[acc]} с трещиной на корпусе, а курьер уехал, не дождавшись проверки.",
                "{item[nom]} {item[dead]} {soon}, в сервисе говорят «не гарантийный случай».",
                "Купил{a} {item[acc]} за {amount} — и это просто кусок пластика, ничего не работает.",
            ),
            billing=(
                "Списали {amount} дважды за один заказ, в поддержке говорят «ждите».",
                "С карты сняли деньги за подписку, которую я не оформлял{a}!",
                "Пришёл чек на {amount}, хотя в корзине было меньше. Откуда лишнее?",
                "Промокод не применился, а деньги списали полностью. Верните разницу.",
            ),
            app=(
                "Приложение вылетает каждый раз, когда нажимаю «Оплатить».",
                "После обновления не могу войти в аккаунт, код из СМС не приходит.",
                "Корзина в приложении сама очищается, третий раз собираю заказ заново.",
                "Приложение висит на заставке, переустанавливал{a} — без толку.",
                "Сайт выдаёт ошибку 500 при оформлении заказа, и так весь вечер.",
            ),
        ),
        closers=(
            "Больше ни ногой.",
            "Позорище.",
            "Верните деньги!",
            "Никому не советую.",
            "Буду писать жалобу.",
            "Очень {upset}.",
            "Ужас.",
            "Сил моих нет.",
            "Обходите стороной.",
            "Это какое-то издевательство.",
        ),
    ),
    neutral=Phrases(
        openers=(
            "Добрый день!",
            "Здравствуйте.",
            "Всем привет.",
            "Вопрос к {brand}:",
            "Ребят, подскажите.",
            "Такой вопрос:",
        ),
        bodies=_m(
            question=(
                "Подскажите, а доставка {city[to]} сколько идёт?",
                "А {item[nom]} {model} есть в наличии или только под заказ?",
                "Кто-нибудь брал {item[acc]} {model}? Стоит своих денег?",
                "Можно ли оплатить частями? Хочу взять {item[acc]}.",
                "Во сколько сегодня открывается магазин {city[in]}?",
                "Как отследить заказ №{order}? В приложении не вижу статус.",
                "Гарантия на {item[acc]} год или два?",
                "Самовывоз {city[in]} работает в выходные?",
                "podskazhite, dostavka {city[lat]} skolko idet?",
            ),
            chatter=(
                "Видел{a} рекламу {brand} в метро, прикольная.",
                "Сравниваю {item[acc]} у {brand} и у конкурентов, пока не решил{a}.",
                "Интересно, будет ли у {brand} распродажа к Чёрной пятнице.",
                "Кто-то уже пробовал новую программу лояльности {brand}?",
                "Сегодня {went} в {brand} {city[in]}, народу — тьма.",
                "{brand} сменили логотип? Что-то не узнаю.",
            ),
            promo=(
                "Промокод из рассылки действует на всё или только на технику?",
                "А скидка по карте суммируется с акцией?",
                "Бонусы за отзыв когда начисляют?",
            ),
        ),
        closers=("Спасибо!", "Заранее спасибо.", "Кто знает?", "Буду благодарн{en}."),
    ),
    positive=Phrases(
        openers=(
            "Хочу сказать спасибо!",
            "Приятно удивили.",
            "Ну наконец-то.",
            "Честно, не ожидал{a}.",
            "Респект {brand}!",
            "Всем советую.",
        ),
        bodies=_m(
            delivery_fast=(
                "Заказал{a} вечером, утром курьер уже был у двери. Так быстро {city[in]} ещё никто не возил.",
                "Доставили {item[acc]} на день раньше обещанного, всё целое и аккуратно упаковано.",
                "Курьер позвонил заранее, приехал минута в минуту. Вот бы все так работали.",
                "nu {brand} top, zakazal{a} vchera — segodnya uzhe doma",
            ),
            support_good=(
                "Поддержка решила вопрос с возвратом за {wait_short}, без лишних вопросов.",
                "Девушка в чате поддержки — просто золото, всё объяснила и сама оформила замену.",
                "Перепутали размер, так мне без разговоров привезли замену и ещё промокод дали.",
            ),
            product_good=(
                "{item[nom]} {model} {item[works]} уже полгода без нареканий, очень {pleased}.",
                "Взял{a} {item[acc]} по акции за {amount} — за эти деньги просто бомба.",
                "Качество {brand} приятно удивило, беру уже не первый раз.",
            ),
            general=(
                "{brand} — единственный магазин, где у меня ещё ни разу не было проблем.",
                "Приложение после обновления летает, оплата в два клика.",
            ),
        ),
        closers=("Спасибо!", "Так держать!", "Рекомендую.", "Буду заказывать ещё.", "Вы лучшие 🔥", "Молодцы."),
    ),
    sarcasm=(
        "Спасибо, {brand}, за увлекательный квест «найди свою посылку» длиной в {wait_days} 👏",
        "Обожаю, когда поддержка отвечает через {wait_short}. Прямо чувствую заботу 🙃",
        "Лучший сервис года: деньги списали, заказ отменили, а извиниться забыли. Браво, {brand}.",
        "Ну конечно, «доставка за один день». Какого года, не уточнили 😂",
        "Отличное обновление, теперь приложение вообще не открывается. Так держать 👍",
        "{brand} — единственный магазин, где за свои же деньги чувствуешь себя виноватым.",
    ),
    followups=_m(
        negative=(
            "+1, та же фигня.",
            "У меня точно так же, жду уже {wait_days}.",
            "Поддерживаю, сервис скатился.",
            "Аналогично. Даже не отвечают.",
            "Вот-вот, я тоже попал{a}.",
        ),
        neutral=(
            "А вы в поддержку писали?",
            "Тоже интересно.",
            "Попробуйте через приложение, там быстрее.",
            "Подписываюсь на вопрос.",
        ),
        positive=(
            "{agree}, у меня тоже всё пришло вовремя.",
            "Плюсую, нормальный магазин.",
            "Да, поддержка у них правда хорошая.",
        ),
    ),
    headlines=_m(
        negative=(
            "Покупатели жалуются на задержки доставки {brand}",
            "Приложение {brand} дало сбой: пользователи не могут оплатить заказы",
        ),
        neutral=(
            "{brand} открывает новый склад {city[in]}",
            "{brand} запускает доставку за два часа {city[in]}",
            "Компания {brand} меняет условия программы лояльности",
        ),
        positive=(
            "{brand} вошла в топ-10 онлайн-ритейлеров по качеству сервиса",
            "{brand} снизила цены на бытовую технику перед праздниками",
        ),
    ),
    edits=_m(
        negative=("UPD: до сих пор никто не ответил.", "UPD: в поддержке снова отписка."),
        positive=("UPD: поддержка связалась, деньги вернули. Спасибо!", "UPD: заказ всё-таки привезли, претензий нет."),
        neutral=("UPD: вопрос снят, спасибо.",),
    ),
    brand_reply=Phrases(
        openers=("Здравствуйте, {name}!", "{name}, добрый день!", "Добрый день, {name}.", "{name}, здравствуйте."),
        bodies=_m(
            delivery=(
                "Приносим извинения за задержку. Пожалуйста, пришлите номер заказа в личные сообщения — проверим, где посылка, и ускорим доставку.",
                "Очень жаль, что заказ задерживается. Мы уже передали информацию в службу доставки и вернёмся с ответом в течение дня.",
            ),
            refund=(
                "Разберёмся с возвратом. Напишите, пожалуйста, номер заказа в личные сообщения, и мы проверим статус платежа.",
                "Сожалеем о ситуации. Обычно деньги возвращаются в течение 10 рабочих дней, но ваш случай мы проверим отдельно.",
            ),
            support=(
                "Нам очень жаль, что общение с поддержкой оставило такое впечатление. Мы передали обращение руководителю смены, с вами свяжутся.",
            ),
            broken=(
                "Сожалеем, что так вышло. Обратитесь, пожалуйста, в любой наш пункт выдачи с чеком — оформим замену или возврат без диагностики.",
            ),
            billing=(
                "Проверим списание. Пришлите, пожалуйста, в личные сообщения последние 4 цифры карты и дату операции — вернём лишнее.",
            ),
            app=(
                "Спасибо, что сообщили! Обновите, пожалуйста, приложение до последней версии; если проблема останется — напишите нам модель телефона, передадим разработчикам.",
            ),
            question=(
                "Подскажем! Напишите, пожалуйста, в личные сообщения — менеджер ответит в течение 15 минут.",
                "Актуальное наличие и сроки доставки видны на странице товара, а если что-то непонятно — мы на связи в чате.",
            ),
            praise=("Спасибо за тёплые слова! Передадим команде — им будет очень приятно 😊",),
            generic=("Спасибо за обратную связь! Разберёмся и обязательно вернёмся с ответом.",),
        ),
        closers=("Хорошего дня!", "С уважением, команда {brand}.", "Спасибо за терпение."),
    ),
    spike=_m(
        outage=(
            "{brand} лежит? Ни сайт, ни приложение не открываются.",
            "Не могу оплатить заказ — висит на оплате и выкидывает.",
            "Сайт {brand} выдаёт 502, приложение тоже мёртвое. Что происходит?",
            "У меня корзина на {amount}, а оформить невозможно, всё падает.",
            "Курьер приехал, а оплатить через приложение нельзя — сервис недоступен. Прекрасно.",
        ),
        bad_update=(
            "После обновления {version} приложение вылетает сразу при запуске.",
            "Обновил{a} приложение до {version} — слетела авторизация, а код не приходит.",
            "Кто выпустил {version}? Корзина пустая, бонусы пропали!",
            "Новая версия {version} — это просто катастрофа, верните старую.",
        ),
        double_charge=(
            "Списали деньги дважды за один заказ! Проверьте свои карты, люди.",
            "Только что пришло два списания по {amount}. {brand}, что у вас происходит?",
            "Сняли оплату два раза, а заказ висит как неоплаченный.",
        ),
    ),
    spike_questions=(
        "У кого-то ещё {brand} не работает?",
        "Это только у меня так или у всех?",
        "Есть официальный комментарий, когда починят?",
    ),
    incident_reply=_m(
        outage=(
            "Мы знаем о проблеме и уже работаем над её устранением. Приносим извинения за неудобства!",
            "Команда уже занимается сбоем. Как только всё заработает, сообщим здесь. Спасибо за терпение.",
        ),
        bad_update=(
            "Спасибо за сообщения! Исправление для версии {version} уже в пути, пока, пожалуйста, не выходите из аккаунта.",
        ),
        double_charge=(
            "Извините за ситуацию! Все ошибочные списания вернутся автоматически в течение 3 рабочих дней.",
        ),
    ),
    escalations=(
        "Если до завтра не решите — пишу в Роспотребнадзор и иду в суд.",
        "Это уже мошенничество. Готовлю заявление в полицию.",
        "Соберу всех пострадавших, и пойдём к журналистам.",
        "ВЕРНИТЕ МОИ ДЕНЬГИ!!!",
    ),
    comebacks=(
        "Удалили мой комментарий? Серьёзно? Повторю ещё раз: {original}",
        "Мой отзыв тут почему-то пропал. Пишу с другого аккаунта: {original}",
        "Затыкать рот клиентам — это ваш уровень, {brand}. Напомню: {original}",
        "Вы стёрли мой пост, но проблема никуда не делась. {original}",
    ),
    censorship=(
        "Они тут все негативные комменты трут, не удивляйтесь.",
        "У меня тоже удалили отзыв, видимо, правда глаза колет.",
        "Скриньте всё, модерация тут работает быстрее, чем поддержка.",
    ),
    items=(
        _m(nom="наушники", acc="наушники", broke="сломались", dead="сдохли", works="работают"),
        _m(nom="чайник", acc="чайник", broke="сломался", dead="сдох", works="работает"),
        _m(nom="пылесос", acc="пылесос", broke="сломался", dead="сдох", works="работает"),
        _m(nom="смарт-часы", acc="смарт-часы", broke="сломались", dead="сдохли", works="работают"),
        _m(nom="колонка", acc="колонку", broke="сломалась", dead="сдохла", works="работает"),
        _m(nom="кофемашина", acc="кофемашину", broke="сломалась", dead="сдохла", works="работает"),
        _m(nom="роутер", acc="роутер", broke="сломался", dead="сдох", works="работает"),
        _m(nom="пауэрбанк", acc="пауэрбанк", broke="сломался", dead="сдох", works="работает"),
        _m(nom="телефон", acc="телефон", broke="сломался", dead="сдох", works="работает"),
    ),
    cities=(
        _m({"in": "в Москве", "to": "в Москву", "lat": "v Moskvu"}),
        _m({"in": "в Казани", "to": "в Казань", "lat": "v Kazan"}),
        _m({"in": "в Новосибирске", "to": "в Новосибирск", "lat": "v Novosib"}),
        _m({"in": "в Екатеринбурге", "to": "в Екатеринбург", "lat": "v Ekb"}),
        _m({"in": "в Питере", "to": "в Питер", "lat": "v Piter"}),
        _m({"in": "в Краснодаре", "to": "в Краснодар", "lat": "v Krasnodar"}),
        _m({"in": "в Самаре", "to": "в Самару", "lat": "v Samaru"}),
        _m({"in": "в Нижнем", "to": "в Нижний", "lat": "v Nizhniy"}),
    ),
    slots=_m(
        # accusative of duration: "жду уже ...", "... назад", "длиной в ..."
        wait_days=(
            "три дня",
            "пять дней",
            "неделю",
            "полторы недели",
            "две недели",
            "10 дней",
            "месяц",
            "полтора месяца",
            "12 дней",
        ),
        # accusative: "висел ... на линии", "... назад", "за ...", "через ..."
        wait_short=("сорок минут", "час", "полтора часа", "два часа", "полдня", "сутки", "три часа"),
        soon=(
            "через два дня после покупки",
            "через неделю",
            "на второй день",
            "через месяц после покупки",
            "на следующий день после доставки",
            "ровно после окончания гарантии",
        ),
        amount=("2 490 ₽", "15 990 руб.", "890р", "3 200 рублей", "7490₽", "1 199 ₽", "24 990 р."),
    ),
    genders=_m(
        m=_m(a="", pleased="доволен", upset="разочарован", went="зашёл", agree="Согласен", en="ен"),
        f=_m(a="а", pleased="довольна", upset="разочарована", went="зашла", agree="Согласна", en="на"),
    ),
    names=_m(
        m=(
            ("Алексей", "aleksey"),
            ("Дмитрий", "dmitry"),
            ("Сергей", "sergey"),
            ("Иван", "ivan"),
            ("Андрей", "andrey"),
            ("Михаил", "misha"),
            ("Никита", "nikita"),
            ("Артём", "artem"),
        ),
        f=(
            ("Анна", "anna"),
            ("Мария", "masha"),
            ("Екатерина", "katya"),
            ("Ольга", "olga"),
            ("Наталья", "natasha"),
            ("Юлия", "yulia"),
            ("Елена", "lena"),
            ("Дарья", "dasha"),
        ),
    ),
    surnames=("petrov", "smirnov", "ivanov", "kuznetsov", "sokolov", "popov", "volkov", "morozov"),
    female_surname_suffix="a",
    casual=_m({"ё": "е", "Ё": "Е"}),
    casual_rate=0.6,
)

# --------------------------------------------------------------------------- en

EN = LanguagePack(
    code="en",
    share=0.20,
    channels=(
        ChannelTemplate("facebook", "{slug}official", True, 2.5),
        ChannelTemplate("instagram", "@{slug}", True, 2.5),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 2.0),
        ChannelTemplate("youtube", "techcheck_reviews/{video}", False, 1.0),
        ChannelTemplate("telegram", "@{slug}_support", True, 0.8),
        ChannelTemplate("telegram", "@{slug}_community", False, 0.5),
        ChannelTemplate("reviews", "trustpilot.com/review/{slug}", False, 1.5),
        ChannelTemplate("rss", "techcrunch.com", False, 0.2),
        ChannelTemplate("rss", "theverge.com", False, 0.2),
    ),
    negative=Phrases(
        openers=(
            "Seriously?",
            "Unbelievable.",
            "PSA for anyone thinking of ordering:",
            "Hey {brand},",
            "Third time writing about this.",
            "Not happy.",
            "ok so,",
            "Honestly,",
            "Just a heads up:",
        ),
        bodies=_m(
            delivery=(
                "Order #{order} has been 'out for delivery' for {wait_days}. Tracking hasn't moved since Monday.",
                "Tracking says delivered. It was not delivered. Nobody at {brand} seems to care.",
                "Paid for next-day shipping {city[to]}, still waiting {wait_days} later.",
                "I took a day off work for the delivery window and the courier never showed.",
                "my parcel's been sitting at the depot {city[in]} for {wait_days} and nobody can tell me why",
            ),
            refund=(
                "Returned the {item[n]} {wait_days} ago and still no refund.",
                "Refund request denied with zero explanation. {amount} just gone?",
                "They keep saying the refund is 'being processed'. It's been {wait_days}.",
                "Sent it back unopened and now they claim it's 'not eligible for a refund'. How??",
            ),
            support=(
                "Spent {wait_short} on hold just to get disconnected.",
                "The support agent was honestly rude, kept cutting me off and then closed the chat.",
                "Their chat bot just loops and there's no way to reach a human.",
                "Emailed support {wait_days} ago, not even an automated reply.",
            ),
            broken=(
                "My {item[n]} {model} died {soon}.",
                "The {item[n]} arrived with a cracked case and they want ME to pay for the return shipping.",
                "Paid {amount} for this {item[n]} and it stopped working {soon}. Warranty claim rejected, obviously.",
            ),
            billing=(
                "Got charged twice for the same order, {amount} each.",
                "There's a subscription charge on my card I never signed up for.",
                "Promo code didn't apply at checkout but they charged full price anyway.",
            ),
            app=(
                "The app crashes every single time I hit 'Pay'.",
                "Can't log in since the update, the verification code never arrives.",
                "My cart keeps emptying itself in the app. Third time rebuilding the order.",
                "Website throws an error at checkout, been like this all evening.",
            ),
        ),
        closers=(
            "Never again.",
            "Avoid.",
            "Absolute joke.",
            "Do better.",
            "I want my money back.",
            "Shocking service.",
            "Done with this company.",
            "smh",
        ),
    ),
    neutral=Phrases(
        openers=("Hi!", "Quick question:", "Hey all,", "Hello {brand},"),
        bodies=_m(
            question=(
                "Do you ship {city[to]}? How long does it usually take?",
                "Is the {item[n]} {model} back in stock anywhere?",
                "Anyone tried the {model} {item[n]}? Worth it?",
                "What's the warranty on the {item[n]}, one year or two?",
                "How do I track order #{order}? The app just shows 'processing'.",
                "Is the store {city[in]} open on Sundays?",
                "Can I pay in instalments?",
            ),
            chatter=(
                "Saw an ad for {brand} on the tube this morning, pretty clever tbh",
                "Comparing the {item[n]} from {brand} with the other brands, still can't decide.",
                "Does anyone know if {brand} is doing a Black Friday sale this year?",
                "Went to the new {brand} store {city[in]} today, it was packed.",
                "Did {brand} just change their logo? Looks different.",
            ),
            promo=(
                "Does the newsletter promo code work on sale items?",
                "Can loyalty points be combined with the discount?",
            ),
        ),
        closers=("Thanks!", "Thanks in advance.", "Cheers", "Anyone?"),
    ),
    positive=Phrases(
        openers=("Have to say,", "Credit where it's due:", "Wow.", "Honestly impressed.", "Big thanks to {brand}!"),
        bodies=_m(
            delivery_fast=(
                "Ordered last night, the {item[n]} was at my door by 10am. Impressive.",
                "Delivery came a day early and everything was packed really well.",
                "Courier called ahead and showed up right on time. Wish everyone worked like this.",
            ),
            support_good=(
                "Support sorted my refund in {wait_short}, no hassle at all.",
                "They sent the wrong size and just shipped a replacement next day, plus a discount code. Class act.",
                "Shoutout to the {brand} support team, really patient and helpful.",
            ),
            product_good=(
                "Had my {item[n]} {model} for six months now, zero issues.",
                "Got the {item[n]} on sale for {amount}, honestly amazing value.",
                "{brand} quality keeps surprising me, fourth order and not one problem.",
            ),
            general=(
                "The new app update is so much faster, checkout takes seconds now.",
                "{brand} is the only online shop I actually trust at this point.",
            ),
        ),
        closers=("Thank you!", "Will order again.", "Highly recommend.", "Keep it up!", "10/10"),
    ),
    sarcasm=(
        "Love how {brand} turns a simple delivery into a mystery that lasts {wait_days}. 10/10 would wait again 🙃",
        "Great job {brand}, charging me twice really shows how much you value loyal customers 👏",
        "Wow, a reply from support after only {wait_short}. I'm honoured.",
        "Brilliant update. The app doesn't open at all now, very minimalist.",
        "Customer service so good I got to enjoy the hold music for {wait_short}.",
    ),
    followups=_m(
        negative=(
            "+1, same thing happened to me.",
            "Same here, been waiting {wait_days} now.",
            "Yep, their support is useless lately.",
            "Glad it's not just me.",
        ),
        neutral=(
            "Did you try contacting them by email?",
            "Following, want to know too.",
            "Try the app, it's usually faster there.",
        ),
        positive=(
            "Agreed, never had a problem with them.",
            "Same, my order came super quick too.",
            "Their support really is great.",
        ),
    ),
    headlines=_m(
        negative=(
            "{brand} customers report widespread delivery delays",
            "{brand} app outage leaves shoppers unable to pay",
        ),
        neutral=(
            "{brand} opens new fulfilment centre {city[in]}",
            "{brand} to expand same-day delivery to more cities",
            "{brand} announces changes to its loyalty programme",
        ),
        positive=(
            "{brand} tops customer satisfaction ranking for online retail",
            "{brand} cuts prices on home electronics ahead of the holidays",
        ),
    ),
    edits=_m(
        negative=("UPDATE: still nothing from support.", "Edit: they closed my ticket without replying."),
        positive=(
            "UPDATE: support got back to me and refunded everything. Thanks!",
            "Edit: the parcel finally arrived, all good.",
        ),
        neutral=("Edit: found the answer, thanks everyone.",),
    ),
    brand_reply=Phrases(
        openers=("Hi {name},", "Hello {name},", "Hi {name}, thanks for reaching out."),
        bodies=_m(
            delivery=(
                "We're really sorry your order is late. Could you DM us the order number so we can check with the courier and get it moving?",
            ),
            refund=(
                "Sorry for the trouble with your refund. Please send us your order number by DM and we'll check the payment status right away.",
            ),
            support=(
                "We're sorry the conversation with our team didn't go as it should have. We've escalated this to a team lead who will contact you today.",
            ),
            broken=(
                "Sorry to hear that! Please bring the item and the receipt to any pickup point and we'll replace it or refund you, no diagnostics needed.",
            ),
            billing=(
                "We'll look into that charge. Please DM us the last 4 digits of the card and the date of the transaction and we'll refund any duplicate.",
            ),
            app=(
                "Thanks for letting us know! Please update to the latest version of the app; if it still happens, DM us your phone model and we'll pass it to our developers.",
            ),
            question=("Happy to help! Send us a DM and someone from the team will get back to you within 15 minutes.",),
            praise=("Thank you so much for the kind words! We'll pass them on to the team 😊",),
            generic=("Thanks for the feedback! We're looking into it and will get back to you shortly.",),
        ),
        closers=("Have a great day!", "— {brand} Support", "Thanks for your patience."),
    ),
    spike=_m(
        outage=(
            "Is {brand} down? Neither the site nor the app will load.",
            "Can't check out, payment just spins and then kicks me out.",
            "{brand} website giving 502 errors and the app is dead too. What's going on?",
            "Got {amount} in my cart and literally can't place the order.",
        ),
        bad_update=(
            "The {version} update crashes on launch, every time.",
            "Updated to {version} and now I'm logged out and the code never arrives.",
            "Who approved {version}?? My cart is empty and my points are gone.",
        ),
        double_charge=(
            "Just got charged twice for one order. Check your bank statements, people!",
            "Two charges of {amount} for the same order. {brand}, what is happening?",
            "Payment taken twice and the order still shows as unpaid.",
        ),
    ),
    spike_questions=(
        "Is {brand} down for everyone or just me?",
        "Anyone else having issues with {brand} right now?",
        "Any official update on when this will be fixed?",
    ),
    incident_reply=_m(
        outage=("We're aware of the issue and our engineers are working on a fix. Sorry for the inconvenience!",),
        bad_update=(
            "Thanks for the reports. A fix for version {version} is on its way; until then, please don't log out of the app.",
        ),
        double_charge=("We're sorry! All duplicate charges will be refunded automatically within 3 business days.",),
    ),
    escalations=(
        "If this isn't fixed by tomorrow I'm filing a chargeback and reporting you to Trading Standards.",
        "This is basically theft. I'm going to the press.",
        "Reporting this to my bank and the consumer ombudsman.",
        "GIVE ME MY MONEY BACK.",
    ),
    comebacks=(
        "Deleted my comment, huh? Posting it again: {original}",
        "My review mysteriously vanished from this page. Writing from another account: {original}",
        "Silencing customers won't fix anything, {brand}. Reminder: {original}",
    ),
    censorship=(
        "They delete every negative comment here, don't be surprised.",
        "Same, my review got removed too. Truth hurts I guess.",
        "Screenshot everything, moderation here is faster than support.",
    ),
    items=tuple(
        _m(n=n)
        for n in (
            "headphones",
            "kettle",
            "vacuum",
            "smartwatch",
            "speaker",
            "coffee machine",
            "router",
            "power bank",
            "phone",
        )
    ),
    cities=tuple(
        _m({"in": f"in {c}", "to": f"to {c}"})
        for c in ("London", "Manchester", "Leeds", "Dublin", "Austin", "Toronto", "Glasgow")
    ),
    slots=_m(
        wait_days=("three days", "a week", "10 days", "two weeks", "almost a month", "5 days", "over a month"),
        wait_short=("40 minutes", "an hour", "two hours", "half a day", "3 hours"),
        soon=(
            "after two days",
            "within a week",
            "on day two",
            "a month in",
            "the day after delivery",
            "right after the warranty ran out",
        ),
        amount=("$49.99", "£39", "$129", "€79.90", "$15.49", "£240", "$1,099"),
    ),
    genders=_m(m=_m(), f=_m()),
    names=_m(
        m=(
            ("James", "james"),
            ("Tom", "tom"),
            ("Daniel", "dan"),
            ("Chris", "chris"),
            ("Ryan", "ryan"),
            ("Mike", "mike"),
        ),
        f=(
            ("Emily", "emily"),
            ("Sarah", "sarah"),
            ("Jess", "jess"),
            ("Laura", "laura"),
            ("Hannah", "hannah"),
            ("Chloe", "chloe"),
        ),
    ),
    surnames=("smith", "jones", "taylor", "brown", "walker", "evans", "wright", "oconnor"),
)

# --------------------------------------------------------------------------- sq

SQ = LanguagePack(
    code="sq",
    share=0.16,
    channels=(
        ChannelTemplate("facebook", "{slug}.shqiperi", True, 4.0),
        ChannelTemplate("facebook", "groups/{slug}.klientet", False, 1.5),
        ChannelTemplate("instagram", "@{slug}.al", True, 3.0),
        ChannelTemplate("instagram", "@{slug}", True, 1.0),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.2),
        ChannelTemplate("youtube", "tekno_shqip/{video}", False, 0.8),
        ChannelTemplate("telegram", "@{slug}_support", True, 0.3),
        ChannelTemplate("reviews", "maps.google.com/{slug}-tirana", False, 1.0),
        ChannelTemplate("rss", "top-channel.tv", False, 0.25),
        ChannelTemplate("rss", "balkanweb.com", False, 0.2),
    ),
    negative=Phrases(
        openers=(
            "Turp!",
            "Ç'është kjo punë?",
            "Njerëz, kujdes!",
            "Po shkruaj për herë të tretë.",
            "{brand}, po talleni me ne?",
            "Mirëdita.",
            "Nuk e di më ku të ankohem.",
            "Seriozisht?",
        ),
        bodies=_m(
            delivery=(
                "Kam {wait_days} që pres porosinë nr. {order} dhe ende asgjë.",
                "Gjurmimi thotë 'në dorëzim' prej ditësh, por korrieri s'ka ardhur kurrë.",
                "Pagova transportin e shpejtë {city[to]}, por porosia ende s'ka mbërritur.",
                "Korrieri e shënoi porosinë si të dorëzuar, por mua s'më ka ardhur gjë.",
                "Mora leje nga puna për ta pritur korrierin dhe s'u duk fare.",
                "shume bad experience me {brand} sot, porosia ska ardhur akoma",
            ),
            refund=(
                "E ktheva {item[acc]} {ago} dhe paratë ende s'më janë kthyer.",
                "Ma refuzuan rimbursimin pa asnjë shpjegim. {amount} të humbura kot?",
                "Më thonë 'rimbursimi është në proces' dhe kaq, asnjë lajm.",
                "E ktheva të pahapur dhe tani më thonë që 'nuk plotëson kushtet'. Si është e mundur?",
            ),
            support=(
                "Prita {wait_short} në linjë dhe pastaj ma mbyllën telefonin.",
                "Operatorja më foli me një arrogancë të pabesueshme dhe ma mbylli bisedën.",
                "Në chat përgjigjet vetëm një robot, njeri s'gjen dot.",
                "U shkrova në email {ago} dhe as përgjigje automatike s'kam marrë.",
            ),
            broken=(
                "{item[def]} {model} {item[broke]} {soon}.",
                "{item[def]} {item[came]} me kasë të plasaritur dhe duan që transportin e kthimit ta paguaj unë!",
                "Pagova {amount} për {item[acc]} dhe {soon} nuk punonte më. Garancinë ma refuzuan, natyrisht.",
            ),
            billing=(
                "Më tërhoqën dy herë nga {amount} për të njëjtën porosi.",
                "Më del një pagesë abonimi në kartë që s'e kam bërë kurrë.",
                "Kodi i zbritjes nuk u aplikua, por ma morën çmimin e plotë.",
            ),
            app=(
                "Aplikacioni mbyllet vetë sa herë shtyp 'Paguaj'.",
                "Që nga përditësimi s'hyj dot në llogari, kodi me SMS nuk vjen.",
                "Shporta në aplikacion fshihet vetë, po e bëj porosinë për të tretën herë.",
                "Faqja jep error kur dua të përfundoj porosinë, gjithë mbrëmjen kështu.",
            ),
        ),
        closers=(
            "Kurrë më!",
            "Mos blini këtu.",
            "Turp t'ju vijë!",
            "Më ktheni lekët!",
            "Jam shumë {i} zhgënjyer.",
            "Skandal.",
            "Zero respekt për klientin.",
        ),
    ),
    neutral=Phrases(
        openers=("Përshëndetje!", "Mirëdita!", "Një pyetje:", "Pyetje për {brand}:"),
        bodies=_m(
            question=(
                "A dërgoni edhe {city[in]}? Sa kohë zgjat?",
                "A e keni {item[acc]} {model} në gjendje?",
                "A e ka provuar dikush {item[acc]} {model}? Ia vlen?",
                "Sa është garancia për {item[acc]}, një apo dy vjet?",
                "Si mund ta gjurmoj porosinë nr. {order}? Në aplikacion del vetëm 'në proces'.",
                "A është i hapur dyqani {city[in]} të dielën?",
                "A mund të paguaj me këste?",
                "A dërgoni edhe në Kosovë?",
            ),
            chatter=(
                "Pashë reklamën e re të {brand} në TV, shumë e bukur.",
                "Po krahasoj produktet e {brand} me markat e tjera, ende s'kam vendosur.",
                "A do bëjë {brand} ulje për Black Friday këtë vit?",
                "Sot isha në dyqanin e ri {city[in]}, kishte plot njerëz.",
                "E di dikush nëse {brand} do hapë dyqan edhe në Shkodër?",
            ),
            promo=(
                "Kodi i zbritjes nga emaili vlen edhe për produktet në ofertë?",
                "Pikët e besnikërisë bashkohen me zbritjen?",
            ),
        ),
        closers=("Faleminderit!", "Flm paraprakisht.", "E di dikush?"),
    ),
    positive=Phrases(
        openers=("Bravo {brand}!", "Duhet ta them:", "Faleminderit!", "Sinqerisht, s'e prisja."),
        bodies=_m(
            delivery_fast=(
                "E porosita mbrëmë dhe në mëngjes porosia ishte te dera. Shumë shpejt!",
                "Porosia erdhi një ditë para afatit dhe ishte paketuar shumë mirë.",
                "Korrieri më telefonoi para se të vinte dhe erdhi në orar. Kështu duhet punuar!",
                "super {brand}, e porosita dje dhe sot e kam ne shtepi",
            ),
            support_good=(
                "Suporti ma zgjidhi problemin me rimbursimin për {wait_short}, pa asnjë telash.",
                "Më dërguan masën e gabuar dhe ma ndërruan të nesërmen, plus një kod zbritjeje. Respekt!",
                "Faleminderit ekipit të {brand} për durimin dhe ndihmën.",
            ),
            product_good=(
                "{item[acc]} {model} e kam prej gjashtë muajsh dhe asnjë problem.",
                "E mora {item[acc]} me ofertë për {amount}, ia vlen çdo lek.",
                "Cilësia e {brand} më befason gjithmonë, është porosia ime e katërt.",
                "Shumë {i} kënaqur me {item[acc]}, ju rekomandoj!",
            ),
            general=(
                "Aplikacioni i ri është shumë më i shpejtë, pagesa bëhet në dy sekonda.",
                "Më në fund një kompani serioze që i mban premtimet.",
            ),
        ),
        closers=("Ju rekomandoj!", "Vazhdoni kështu!", "Do porosis përsëri.", "Bravo djema!", "10/10"),
    ),
    sarcasm=(
        "Bravo {brand}, {wait_days} për një pako. Rekord botëror 👏",
        "Suporti m'u përgjigj vetëm pasi prita {wait_short}. Sa shpejtësi 🙃",
        "Përditësim fantastik, tani aplikacioni s'hapet fare. Vazhdoni kështu 👍",
        "Më tërhoqën paratë dy herë, ndoshta se më duan shumë 😂",
    ),
    followups=_m(
        negative=(
            "+1, edhe mua e njëjta gjë.",
            "Edhe unë kam {wait_days} që pres.",
            "Po, suporti s'vlen asnjë lek kohët e fundit.",
            "Mirë që s'jam vetëm unë.",
        ),
        neutral=(
            "I keni shkruar në email?",
            "Më intereson edhe mua.",
            "Provo nga aplikacioni, zakonisht është më shpejt.",
        ),
        positive=(
            "Dakord, s'kam pasur kurrë problem me ta.",
            "Edhe mua më erdhi shpejt porosia.",
            "Suporti i tyre është vërtet i mirë.",
        ),
    ),
    headlines=_m(
        negative=(
            "Klientët e {brand} ankohen për vonesa në dërgesa",
            "Aplikacioni i {brand} jashtë funksionit, klientët s'mund të paguajnë",
        ),
        neutral=(
            "{brand} hap qendër të re logjistike {city[in]}",
            "{brand} zgjeron shërbimin e dërgesave brenda ditës",
        ),
        positive=(
            "{brand} renditet e para për kënaqësinë e klientëve",
            "{brand} ul çmimet e elektronikës para festave",
        ),
    ),
    edits=_m(
        negative=("UPD: ende asnjë përgjigje nga suporti.", "Edit: ma mbyllën kërkesën pa përgjigje."),
        positive=(
            "UPD: suporti më kontaktoi dhe m'i kthyen paratë. Faleminderit!",
            "Edit: porosia më në fund erdhi, gjithçka në rregull.",
        ),
        neutral=("Edit: e gjeta përgjigjen, flm.",),
    ),
    brand_reply=Phrases(
        openers=("Përshëndetje {name},", "Mirëdita {name},", "{name}, faleminderit që na shkruat."),
        bodies=_m(
            delivery=(
                "Na vjen shumë keq për vonesën. Ju lutem na dërgoni numrin e porosisë në mesazh privat që ta kontrollojmë me korrierin.",
            ),
            refund=(
                "Na vjen keq për problemin me rimbursimin. Na shkruani numrin e porosisë në privat dhe do ta verifikojmë menjëherë.",
            ),
            support=(
                "Na vjen keq që komunikimi me ekipin tonë nuk shkoi siç duhej. Ia kemi kaluar rastin përgjegjësit, i cili do t'ju kontaktojë sot.",
            ),
            broken=(
                "Na vjen keq! Sillni produktin me faturën në çdo pikë tërheqjeje dhe do jua ndërrojmë ose do t'jua kthejmë paratë.",
            ),
            billing=(
                "Do ta kontrollojmë pagesën. Na dërgoni në privat 4 shifrat e fundit të kartës dhe datën e transaksionit, dhe do t'jua kthejmë shumën e tepërt.",
            ),
            app=(
                "Faleminderit që na njoftuat! Ju lutem përditësoni aplikacionin në versionin e fundit; nëse problemi vazhdon, na shkruani modelin e telefonit.",
            ),
            question=(
                "Me kënaqësi! Na shkruani në mesazh privat dhe një koleg do t'ju përgjigjet brenda 15 minutave.",
            ),
            praise=("Faleminderit shumë për fjalët e mira! Do t'ia përcjellim ekipit 😊",),
            generic=("Faleminderit për komentin! Po e shqyrtojmë dhe do t'ju kthejmë përgjigje së shpejti.",),
        ),
        closers=("Ju urojmë një ditë të mbarë!", "Ekipi {brand}", "Faleminderit për durimin."),
    ),
    spike=_m(
        outage=(
            "A ka rënë {brand}? As faqja, as aplikacioni nuk hapen.",
            "S'po arrij dot të paguaj, pagesa ngelet duke u ngarkuar dhe më nxjerr jashtë.",
            "Faqja e {brand} jep error 502 dhe aplikacioni s'punon fare. Çfarë po ndodh?",
        ),
        bad_update=(
            "Pas përditësimit {version} aplikacioni mbyllet sapo e hap.",
            "Bëra update në {version} dhe më nxori nga llogaria, kodi nuk vjen.",
            "Kush e lëshoi versionin {version}?? Shporta bosh dhe pikët m'u zhdukën.",
        ),
        double_charge=(
            "Më tërhoqën paratë dy herë për një porosi! Kontrolloni kartat, njerëz.",
            "Sapo më erdhën dy tërheqje nga {amount}. {brand}, çfarë po ndodh?",
        ),
    ),
    spike_questions=(
        "Vetëm mua nuk më punon {brand} apo të gjithëve?",
        "Dikush tjetër ka probleme me {brand} tani?",
        "Ka ndonjë njoftim zyrtar se kur do rregullohet?",
    ),
    incident_reply=_m(
        outage=("Jemi në dijeni të problemit dhe ekipi teknik po punon për ta zgjidhur. Na falni për shqetësimin!",),
        bad_update=(
            "Faleminderit për njoftimet. Po përgatisim një rregullim për versionin {version}; deri atëherë, ju lutem mos dilni nga llogaria.",
        ),
        double_charge=(
            "Na vjen shumë keq! Të gjitha pagesat e dyfishta do të kthehen automatikisht brenda 3 ditëve të punës.",
        ),
    ),
    escalations=(
        "Nëse s'ma zgjidhni deri nesër, do ankohem te Mbrojtja e Konsumatorit.",
        "Kjo është vjedhje e pastër. Do shkoj te mediat.",
        "Do ju padis, ta dini!",
        "MË KTHENI LEKËT!!!",
    ),
    comebacks=(
        "Ma fshitë komentin? Po e shkruaj prapë: {original}",
        "Komenti im u zhduk nga kjo faqe. Po shkruaj nga një llogari tjetër: {original}",
        "Duke u mbyllur gojën klientëve s'zgjidhni asgjë, {brand}. Po jua kujtoj: {original}",
    ),
    censorship=(
        "Këtu i fshijnë të gjitha komentet negative, mos u habisni.",
        "Edhe mua ma fshinë komentin, e vërteta dhemb.",
        "Bëni screenshot gjithçka, moderimi këtu punon më shpejt se suporti.",
    ),
    items=(
        _m(n="kufje", **{"def": "kufjet"}, acc="kufjet", broke="u prishën", came="erdhën"),
        _m(n="çajnik", **{"def": "çajniku"}, acc="çajnikun", broke="u prish", came="erdhi"),
        _m(n="fshesë elektrike", **{"def": "fshesa elektrike"}, acc="fshesën elektrike", broke="u prish", came="erdhi"),
        _m(n="orë inteligjente", **{"def": "ora inteligjente"}, acc="orën inteligjente", broke="u prish", came="erdhi"),
        _m(n="telefon", **{"def": "telefoni"}, acc="telefonin", broke="u prish", came="erdhi"),
        _m(n="altoparlant", **{"def": "altoparlanti"}, acc="altoparlantin", broke="u prish", came="erdhi"),
        _m(n="makinë kafeje", **{"def": "makina e kafesë"}, acc="makinën e kafesë", broke="u prish", came="erdhi"),
        _m(n="router", **{"def": "routeri"}, acc="routerin", broke="u prish", came="erdhi"),
    ),
    cities=tuple(
        _m(n=n, **{"in": f"në {loc}", "to": f"për në {loc}"})
        for n, loc in (
            ("Tirana", "Tiranë"),
            ("Durrësi", "Durrës"),
            ("Shkodra", "Shkodër"),
            ("Vlora", "Vlorë"),
            ("Prishtina", "Prishtinë"),
            ("Elbasani", "Elbasan"),
            ("Korça", "Korçë"),
            ("Fieri", "Fier"),
        )
    ),
    slots=_m(
        # nominative: "Kam ... që pres"
        wait_days=("tre ditë", "një javë", "dy javë", "10 ditë", "gati një muaj", "më shumë se një muaj", "5 ditë"),
        # ablative with "para": "... ago"
        ago=("para tre ditësh", "para një jave", "para dy javësh", "para 10 ditësh", "para një muaji"),
        # accusative: "prita ...", "për ..."
        wait_short=("40 minuta", "një orë", "dy orë", "gjysmë dite", "tre orë"),
        soon=(
            "pas dy ditësh",
            "pas një jave",
            "ditën e dytë",
            "pas një muaji",
            "të nesërmen pas dorëzimit",
            "sapo i mbaroi garancia",
        ),
        amount=("3500 lekë", "12.900 lekë", "45 €", "8 mijë lekë", "29,99 €", "2000 lekë"),
    ),
    genders=_m(m=_m(i="i"), f=_m(i="e")),
    names=_m(
        m=(
            ("Arben", "arben"),
            ("Erion", "erion"),
            ("Klajdi", "klajdi"),
            ("Dritan", "dritan"),
            ("Besnik", "besnik"),
            ("Endri", "endri"),
            ("Gent", "gent"),
        ),
        f=(
            ("Elira", "elira"),
            ("Jonida", "jonida"),
            ("Ardita", "ardita"),
            ("Besa", "besa"),
            ("Enkeleda", "enkeleda"),
            ("Klea", "klea"),
            ("Anisa", "anisa"),
        ),
    ),
    surnames=("hoxha", "shehu", "krasniqi", "gashi", "berisha", "dervishi", "leka", "kola"),
    casual=_m({"ë": "e", "Ë": "E", "ç": "c", "Ç": "C"}),
    casual_rate=0.45,
)

# --------------------------------------------------------------------------- es

ES = LanguagePack(
    code="es",
    share=0.18,
    channels=(
        ChannelTemplate("instagram", "@{slug}_es", True, 3.0),
        ChannelTemplate("instagram", "@{slug}", True, 1.0),
        ChannelTemplate("facebook", "{slug}official", True, 1.5),
        ChannelTemplate("facebook", "groups/{slug}-clientes-espana", False, 1.0),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.2),
        ChannelTemplate("youtube", "tecnoexplica/{video}", False, 0.8),
        ChannelTemplate("telegram", "@{slug}_support", True, 0.4),
        ChannelTemplate("reviews", "trustpilot.com/review/{slug}", False, 1.0),
        ChannelTemplate("reviews", "maps.google.com/{slug}-madrid", False, 0.7),
        ChannelTemplate("rss", "elpais.com", False, 0.2),
        ChannelTemplate("rss", "xataka.com", False, 0.25),
    ),
    negative=Phrases(
        openers=(
            "¿En serio?",
            "Increíble.",
            "Aviso a navegantes:",
            "{brand}, ¿os estáis riendo de nosotros?",
            "Es la tercera vez que escribo.",
            "Buenas.",
            "No sé ya dónde quejarme.",
            "Vaya tela.",
        ),
        bodies=_m(
            delivery=(
                "Llevo {wait_days} esperando el pedido {order} y nada, el seguimiento no se mueve.",
                "Según el seguimiento está entregado. Pues a mí no me ha llegado nada.",
                "Pagué envío urgente {city[to]} y sigo esperando.",
                "Me pedí el día libre para esperar al repartidor y no apareció.",
                "Mi paquete lleva {wait_days} parado en el almacén {city[in]} y nadie sabe decirme por qué.",
            ),
            refund=(
                "Devolví {item[the]} {ago} y el reembolso sin llegar.",
                "Me han denegado el reembolso sin ninguna explicación. ¿{amount} tirados a la basura?",
                "Cada vez que llamo me dicen que el reembolso 'está en trámite'. Llevo {wait_days} así.",
                "Lo devolví sin abrir y ahora dicen que 'no cumple las condiciones'. ¿Perdona?",
            ),
            support=(
                "{wait_short} al teléfono para que al final me colgaran.",
                "La chica del chat fue bastante borde, me cortaba todo el rato y luego cerró la conversación.",
                "El chat es un bot que da vueltas en círculo y no hay manera de hablar con una persona.",
                "Escribí al correo de soporte {ago} y ni una respuesta automática.",
                "el customer service de {brand} es un joke, llevo {wait_days} sin respuesta",
            ),
            broken=(
                "{item[my]} {model} {item[broke]} {soon}.",
                "{item[the]} {item[came]} con la carcasa rota y encima quieren que pague yo el envío de la devolución.",
                "Pagué {amount} por {item[the]} y {soon} ya no {item[worked]}. La garantía, denegada, cómo no.",
            ),
            billing=(
                "Me han cobrado dos veces el mismo pedido, {amount} cada vez. ¡¿Pero esto qué es?!",
                "Me aparece en la tarjeta un cargo de suscripción que nunca contraté.",
                "El código de descuento no se aplicó y me cobraron el precio completo.",
            ),
            app=(
                "La app se cierra sola cada vez que le doy a 'Pagar'.",
                "Desde la actualización no puedo entrar en mi cuenta, el código por SMS no llega.",
                "El carrito de la app se vacía solo, ya van tres veces que monto el pedido.",
                "La web da error al finalizar la compra, toda la tarde igual.",
            ),
        ),
        closers=(
            "Nunca más.",
            "No compréis aquí.",
            "Una vergüenza.",
            "Quiero mi dinero de vuelta.",
            "Estoy hart{o}.",
            "Qué desastre de servicio.",
            "Lamentable.",
        ),
    ),
    neutral=Phrases(
        openers=("¡Hola!", "Buenas,", "Una pregunta:", "Hola {brand},"),
        bodies=_m(
            question=(
                "¿Hacéis envíos {city[to]}? ¿Cuánto suele tardar?",
                "¿Tenéis {item[the]} {model} en stock?",
                "¿Alguien ha probado {item[the]} {model}? ¿Merece la pena?",
                "¿Cuánta garantía tiene {item[the]}, uno o dos años?",
                "¿Cómo sigo el pedido {order}? En la app solo pone 'en preparación'.",
                "¿La tienda {city[in]} abre los domingos?",
                "¿Se puede pagar a plazos?",
            ),
            chatter=(
                "He visto el anuncio nuevo de {brand} en la tele, está muy bien hecho.",
                "Estoy comparando {item[the]} de {brand} con otras marcas y no me decido.",
                "¿Alguien sabe si {brand} hará rebajas este Black Friday?",
                "Hoy fui a la tienda nueva {city[in]} y estaba a reventar.",
                "¿{brand} ha cambiado el logo? Lo veo distinto.",
            ),
            promo=(
                "¿El código de la newsletter vale para productos rebajados?",
                "¿Los puntos de fidelidad se pueden combinar con el descuento?",
            ),
        ),
        closers=("¡Gracias!", "Gracias de antemano.", "¿Alguien sabe?", "Un saludo."),
    ),
    positive=Phrases(
        openers=("¡Qué maravilla!", "Tengo que decirlo:", "¡Gracias {brand}!", "Sinceramente, no me lo esperaba."),
        bodies=_m(
            delivery_fast=(
                "Lo pedí anoche y esta mañana ya lo tenía en casa. ¡Qué rapidez!",
                "El pedido llegó un día antes de lo previsto y súper bien embalado.",
                "El repartidor avisó antes de venir y llegó puntualísimo. Así da gusto.",
                "{brand} top, pedí ayer y hoy ya lo tengo",
            ),
            support_good=(
                "Atención al cliente de 10, me resolvieron el reembolso en {wait_short}.",
                "Me mandaron la talla equivocada y al día siguiente ya tenía el cambio, y encima con un código de descuento. Chapó.",
                "Mil gracias al equipo de {brand}, tuvieron muchísima paciencia conmigo.",
            ),
            product_good=(
                "Llevo seis meses con {item[my]} {model} y ni un problema.",
                "Pillé {item[the]} en oferta por {amount} y la verdad es que merece cada céntimo.",
                "Muy content{o} con {item[my]}, 100% recomendable.",
                "La calidad de {brand} nunca falla, ya es mi cuarto pedido.",
            ),
            general=(
                "La nueva versión de la app va rapidísima, pagar es cuestión de segundos.",
                "Por fin una tienda online que cumple lo que promete.",
            ),
        ),
        closers=("¡Gracias!", "Repetiré seguro.", "Lo recomiendo.", "¡Seguid así!", "Sois los mejores 🙌"),
    ),
    sarcasm=(
        "Gracias {brand} por convertir un simple envío en una aventura de {wait_days}. Inolvidable 🙃",
        "Qué maravilla de atención: {wait_short} esperando para que me colgaran. Un 10 👏",
        "Genial la actualización, ahora la app ni abre. Muy minimalista todo.",
        "Me cobraron dos veces, supongo que es su forma de decir que me quieren 😂",
    ),
    followups=_m(
        negative=(
            "+1, a mí me pasó lo mismo.",
            "Igual, llevo {wait_days} esperando.",
            "Sí, el soporte últimamente no sirve para nada.",
            "Menos mal que no soy la única persona.",
        ),
        neutral=(
            "¿Probaste a escribirles por correo?",
            "Me apunto, yo también quiero saberlo.",
            "Prueba desde la app, suele ir más rápido.",
        ),
        positive=(
            "Totalmente de acuerdo, nunca he tenido problemas con ellos.",
            "A mí también me llegó rapidísimo.",
            "Su soporte es muy bueno, la verdad.",
        ),
    ),
    headlines=_m(
        negative=(
            "Clientes de {brand} denuncian retrasos generalizados en las entregas",
            "Caída de la app de {brand}: los usuarios no pueden pagar sus pedidos",
        ),
        neutral=(
            "{brand} abre un nuevo centro logístico {city[in]}",
            "{brand} amplía la entrega en el mismo día a más ciudades",
        ),
        positive=(
            "{brand} lidera el ranking de satisfacción del cliente en comercio electrónico",
            "{brand} rebaja los precios de la electrónica antes de las fiestas",
        ),
    ),
    edits=_m(
        negative=("EDITO: sigo sin respuesta del soporte.", "Actualizo: me han cerrado la incidencia sin contestar."),
        positive=(
            "EDITO: me han contactado y me han devuelto el dinero. ¡Gracias!",
            "Actualizo: por fin llegó el paquete, todo bien.",
        ),
        neutral=("Edito: ya encontré la respuesta, gracias.",),
    ),
    brand_reply=Phrases(
        openers=("¡Hola, {name}!", "Hola, {name}:", "{name}, gracias por escribirnos."),
        bodies=_m(
            delivery=(
                "Sentimos mucho el retraso. ¿Nos puedes enviar el número de pedido por mensaje privado? Lo revisamos con la empresa de transporte.",
            ),
            refund=(
                "Lamentamos las molestias con el reembolso. Escríbenos por privado el número de pedido y comprobamos el estado del pago enseguida.",
            ),
            support=(
                "Sentimos que la conversación con nuestro equipo no fuera como debía. Hemos trasladado tu caso a una responsable, que se pondrá en contacto contigo hoy.",
            ),
            broken=(
                "¡Lo sentimos! Lleva el producto con el ticket a cualquier punto de recogida y te lo cambiamos o te devolvemos el dinero, sin diagnóstico previo.",
            ),
            billing=(
                "Vamos a revisar ese cargo. Envíanos por privado los últimos 4 dígitos de la tarjeta y la fecha de la operación y te devolveremos cualquier cobro duplicado.",
            ),
            app=(
                "¡Gracias por avisarnos! Actualiza la app a la última versión y, si sigue pasando, dinos el modelo de tu móvil para pasárselo al equipo técnico.",
            ),
            question=(
                "¡Te ayudamos encantados! Escríbenos por mensaje privado y alguien del equipo te responderá en menos de 15 minutos.",
            ),
            praise=("¡Muchísimas gracias por tus palabras! Se las haremos llegar al equipo 😊",),
            generic=("¡Gracias por tu comentario! Lo estamos revisando y te respondemos lo antes posible.",),
        ),
        closers=("¡Que tengas un buen día!", "Un saludo, el equipo de {brand}.", "Gracias por tu paciencia."),
    ),
    spike=_m(
        outage=(
            "¿Se ha caído {brand}? No carga ni la web ni la app.",
            "No puedo pagar, se queda cargando y me echa.",
            "La web de {brand} da error 502 y la app tampoco va. ¿Qué está pasando?",
            "Tengo {amount} en el carrito y no hay manera de hacer el pedido.",
        ),
        bad_update=(
            "Desde la actualización {version} la app se cierra nada más abrirla.",
            "Actualicé a la {version} y me ha sacado de la cuenta, el código no llega.",
            "¿Quién ha aprobado la versión {version}? Carrito vacío y mis puntos han desaparecido.",
        ),
        double_charge=(
            "¡Me han cobrado dos veces el mismo pedido! Revisad vuestras tarjetas.",
            "Acabo de recibir dos cargos de {amount}. {brand}, ¿qué está pasando?",
            "Me han cobrado dos veces y el pedido sigue apareciendo como no pagado.",
        ),
    ),
    spike_questions=(
        "¿Solo me pasa a mí o {brand} no funciona para nadie?",
        "¿Alguien más tiene problemas con {brand} ahora mismo?",
        "¿Hay algún comunicado oficial de cuándo lo arreglan?",
    ),
    incident_reply=_m(
        outage=(
            "Estamos al tanto de la incidencia y nuestro equipo técnico ya está trabajando en ello. ¡Disculpad las molestias!",
        ),
        bad_update=(
            "Gracias por avisar. Estamos publicando una corrección para la versión {version}; mientras tanto, os pedimos que no cerréis sesión.",
        ),
        double_charge=(
            "¡Lo sentimos mucho! Todos los cobros duplicados se devolverán automáticamente en un plazo de 3 días hábiles.",
        ),
    ),
    escalations=(
        "Como no me lo solucionéis mañana, os denuncio en Consumo.",
        "Esto es un robo en toda regla. Voy a ir a los medios.",
        "Ya he puesto una reclamación en la OCU y no pienso parar.",
        "¡¡DEVOLVEDME MI DINERO!!",
    ),
    comebacks=(
        "¿Me habéis borrado el comentario? Pues lo vuelvo a escribir: {original}",
        "Mi reseña ha desaparecido misteriosamente. Escribo desde otra cuenta: {original}",
        "Borrar comentarios no arregla nada, {brand}. Os lo recuerdo: {original}",
    ),
    censorship=(
        "Aquí borran todos los comentarios negativos, no os extrañe.",
        "A mí también me borraron la reseña. Parece que la verdad escuece.",
        "Haced captura de todo, la moderación aquí va más rápida que el soporte.",
    ),
    items=(
        _m(
            the="los auriculares",
            my="mis auriculares",
            broke="dejaron de funcionar",
            came="llegaron",
            worked="funcionaban",
        ),
        _m(the="el hervidor", my="mi hervidor", broke="dejó de funcionar", came="llegó", worked="funcionaba"),
        _m(the="la aspiradora", my="mi aspiradora", broke="dejó de funcionar", came="llegó", worked="funcionaba"),
        _m(
            the="el reloj inteligente",
            my="mi reloj inteligente",
            broke="dejó de funcionar",
            came="llegó",
            worked="funcionaba",
        ),
        _m(the="el móvil", my="mi móvil", broke="se murió", came="llegó", worked="funcionaba"),
        _m(the="el altavoz", my="mi altavoz", broke="dejó de funcionar", came="llegó", worked="funcionaba"),
        _m(the="la cafetera", my="mi cafetera", broke="se estropeó", came="llegó", worked="funcionaba"),
        _m(the="el router", my="mi router", broke="dejó de funcionar", came="llegó", worked="funcionaba"),
    ),
    cities=tuple(
        _m(n=c, **{"in": f"en {c}", "to": f"a {c}"})
        for c in ("Madrid", "Barcelona", "Sevilla", "Valencia", "Bilbao", "Zaragoza", "Málaga", "Bogotá")
    ),
    slots=_m(
        # "Llevo ... esperando", "lleva ... parado"
        wait_days=("tres días", "una semana", "diez días", "dos semanas", "casi un mes", "cinco días", "más de un mes"),
        ago=("hace tres días", "hace una semana", "hace dos semanas", "hace un mes", "hace diez días"),
        wait_short=("40 minutos", "una hora", "dos horas", "media mañana", "tres horas"),
        soon=(
            "a los dos días",
            "en menos de una semana",
            "al segundo día",
            "al mes de la compra",
            "al día siguiente de la entrega",
            "justo cuando se acabó la garantía",
        ),
        amount=("49,99 €", "129 €", "39,90 €", "15 €", "240 €", "89 €", "1.099 €"),
    ),
    genders=_m(m=_m(o="o"), f=_m(o="a")),
    names=_m(
        m=(
            ("Javier", "javi"),
            ("Carlos", "carlos"),
            ("Pablo", "pablo"),
            ("Alejandro", "alex"),
            ("Diego", "diego"),
            ("Sergio", "sergio"),
        ),
        f=(
            ("Lucía", "lucia"),
            ("María", "maria"),
            ("Carmen", "carmen"),
            ("Paula", "paula"),
            ("Laura", "laura"),
            ("Marta", "marta"),
        ),
    ),
    surnames=("garcia", "martinez", "lopez", "sanchez", "fernandez", "ruiz", "gomez"),
    casual=_m({"á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "¿": "", "¡": ""}),
    casual_rate=0.25,
)

# --------------------------------------------------------------------------- ar

AR = LanguagePack(
    code="ar",
    share=0.06,
    channels=(
        ChannelTemplate("facebook", "{slug}official", True, 2.0),
        ChannelTemplate("instagram", "@{slug}", True, 2.0),
        ChannelTemplate("telegram", "@{slug}_support", True, 1.0),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.0),
        ChannelTemplate("reviews", "maps.google.com/{slug}-dubai", False, 0.5),
        ChannelTemplate("rss", "arabic.cnn.com", False, 0.2),
    ),
    negative=Phrases(
        openers=("بصراحة،", "حرام عليكم!", "يا {brand}،", "للمرة الثالثة أكتب."),
        bodies=_m(
            delivery=(
                "طلبت {item[n]} من {wait_days} والطلب ما وصل لحد الآن، والتتبع ما يتحدث.",
                "الطلب رقم {order} مكتوب إنه تم التوصيل، وأنا ما استلمت شي!",
                "دفعت توصيل سريع {city[to]} وما زلت أنتظر.",
                "el order bta3i mawsalsh lesa w mafish had byrod",
            ),
            refund=(
                "رجعت {item[the]} من {wait_days} والفلوس ما رجعت.",
                "رفضوا استرجاع المبلغ بدون أي سبب. {amount} راحت عليّ؟",
            ),
            support=(
                "انتظرت {wait_short} على الخط وبعدين سكّروا في وجهي.",
                "خدمة العملاء ما ترد أبداً، بس رد آلي.",
            ),
            broken=("{item[the]} {model} {item[broke]} {soon} من الاستلام.",),
            billing=(
                "انسحب المبلغ مرتين من البطاقة على نفس الطلب!",
                "خصموا مني {amount} على اشتراك ما طلبته.",
            ),
            app=(
                "التطبيق يقفل كل ما أضغط على الدفع.",
                "من بعد التحديث ما أقدر أدخل حسابي، كود التحقق ما يوصل.",
            ),
        ),
        closers=("ما أنصح فيهم أبداً.", "خدمة سيئة جداً.", "رجعوا لي فلوسي!", "آخر مرة أتعامل معكم."),
    ),
    neutral=Phrases(
        openers=("السلام عليكم،", "مرحباً،", "سؤال:"),
        bodies=_m(
            question=(
                "هل يوجد توصيل {city[to]}؟ وكم ياخذ وقت؟",
                "كم سعر {item[n]} {model}؟",
                "هل يتوفر عندكم {item[n]} {model}؟",
                "كيف أتابع الطلب رقم {order}؟",
                "هل الفرع {city[in]} يفتح يوم الجمعة؟",
            ),
            chatter=(
                "شفت إعلان {brand} الجديد، حلو.",
                "هل في عروض من {brand} بمناسبة رمضان؟",
            ),
        ),
        closers=("شكراً.", "جزاكم الله خير."),
    ),
    positive=Phrases(
        openers=("ما شاء الله،", "شكراً {brand}!"),
        bodies=_m(
            delivery_fast=(
                "طلبت بالليل ووصل الطلب الصبح، سرعة ممتازة.",
                "الطلب وصل قبل الموعد ومغلف بشكل ممتاز.",
            ),
            support_good=("خدمة العملاء حلّوا مشكلتي خلال {wait_short}، شكراً لكم.",),
            product_good=("صار لي ستة أشهر مع {item[the]} {model} وما فيه أي مشكلة.",),
            general=("أفضل متجر إلكتروني تعاملت معه بصراحة.", "{brand} دايماً في الموعد."),
        ),
        closers=("أنصح فيهم.", "الله يعطيكم العافية.", "شكراً لكم ❤️"),
    ),
    sarcasm=(
        "شكراً {brand} على الانتظار الممتع لمدة {wait_days} 🙃",
        "تحديث رائع، صار التطبيق ما يفتح أبداً 👏",
    ),
    followups=_m(
        negative=("نفس المشكلة عندي 😡", "وأنا كمان أنتظر من {wait_days}."),
        neutral=("جربت تكلمهم على الواتساب؟", "نفس السؤال."),
        positive=("صحيح، تعاملهم ممتاز.", "وأنا طلبي وصل بسرعة."),
    ),
    headlines=_m(
        negative=("عملاء {brand} يشتكون من تأخر التوصيل",),
        neutral=("{brand} تفتتح مركزاً لوجستياً جديداً {city[in]}",),
        positive=("{brand} تتصدر تصنيف رضا العملاء في التجارة الإلكترونية",),
    ),
    edits=_m(
        negative=("تحديث: لسا ما أحد رد.",),
        positive=("تحديث: تواصلوا معي ورجعوا المبلغ، شكراً.",),
        neutral=("تعديل: لقيت الجواب، شكراً.",),
    ),
    brand_reply=Phrases(
        openers=("مرحباً {name}،", "أهلاً {name}،"),
        bodies=_m(
            delivery=("نعتذر عن التأخير. يرجى إرسال رقم الطلب في رسالة خاصة لنتابع الأمر مع شركة الشحن.",),
            refund=("نعتذر عن الإزعاج. أرسل لنا رقم الطلب في الخاص وسنتحقق من حالة الاسترجاع فوراً.",),
            support=("نأسف لأن تجربتك مع فريقنا لم تكن كما يجب. تم تحويل طلبك إلى المشرف وسيتواصل معك اليوم.",),
            broken=("نأسف لذلك! يمكنك إحضار المنتج مع الفاتورة إلى أي نقطة استلام وسنستبدله أو نعيد لك المبلغ.",),
            billing=("سنراجع هذا الخصم. أرسل لنا آخر 4 أرقام من البطاقة وتاريخ العملية في الخاص وسنعيد أي مبلغ مكرر.",),
            app=("شكراً لإبلاغنا! يرجى تحديث التطبيق إلى آخر إصدار، وإذا استمرت المشكلة أرسل لنا نوع جوالك.",),
            question=("يسعدنا مساعدتك! راسلنا على الخاص وسيرد عليك أحد أعضاء الفريق خلال 15 دقيقة.",),
            praise=("شكراً جزيلاً على كلامك اللطيف! سننقله للفريق 😊",),
            generic=("شكراً لملاحظتك! نعمل على مراجعتها وسنعود إليك قريباً.",),
        ),
        closers=("نتمنى لك يوماً سعيداً!", "فريق {brand}"),
    ),
    spike=_m(
        outage=("هل {brand} واقف؟ لا الموقع ولا التطبيق يفتح.", "ما أقدر أدفع، الصفحة تعلق وتطلعني."),
        bad_update=("بعد تحديث {version} التطبيق يقفل أول ما أفتحه.",),
        double_charge=("انخصم المبلغ مرتين على طلب واحد! شيكوا على بطاقاتكم.",),
    ),
    spike_questions=("في أحد غيري {brand} عنده ما يشتغل؟",),
    incident_reply=_m(
        outage=("نحن على علم بالمشكلة وفريقنا التقني يعمل على حلها. نعتذر عن الإزعاج!",),
        bad_update=("شكراً لبلاغاتكم. نعمل على إصلاح للإصدار {version}.",),
        double_charge=("نعتذر! سيتم استرجاع جميع المبالغ المكررة تلقائياً خلال 3 أيام عمل.",),
    ),
    escalations=("إذا ما انحلت المشكلة بقدم شكوى لحماية المستهلك.", "هذا نصب واحتيال!"),
    comebacks=("حذفتوا تعليقي؟ بكتبه مرة ثانية: {original}", "تعليقي اختفى من الصفحة. أكتب من حساب ثاني: {original}"),
    censorship=("هنا يحذفون كل تعليق سلبي، لا تستغربوا.", "حتى أنا حذفوا تقييمي."),
    items=(
        _m(n="سماعات", the="السماعات", broke="خربت"),
        _m(n="غلاية", the="الغلاية", broke="خربت"),
        _m(n="جوال", the="الجوال", broke="خرب"),
        _m(n="مكنسة كهربائية", the="المكنسة الكهربائية", broke="خربت"),
        _m(n="ساعة ذكية", the="الساعة الذكية", broke="خربت"),
        _m(n="سماعة بلوتوث", the="سماعة البلوتوث", broke="خربت"),
    ),
    cities=tuple(
        _m(n=c, **{"in": f"في {c}", "to": f"إلى {c}"}) for c in ("الرياض", "جدة", "دبي", "القاهرة", "عمّان", "الدوحة")
    ),
    slots=_m(
        wait_days=("يومين", "ثلاثة أيام", "أسبوع", "أسبوعين", "عشرة أيام", "شهر كامل"),
        wait_short=("ساعة", "ساعتين", "نص ساعة", "40 دقيقة"),
        soon=("بعد يومين", "بعد أسبوع", "بعد شهر", "بعد ثلاثة أيام"),
        amount=("199 ريال", "350 درهم", "1200 جنيه", "450 ريال"),
    ),
    genders=_m(m=_m(), f=_m()),
    names=_m(
        m=(("أحمد", "ahmed"), ("محمد", "mohammed"), ("خالد", "khaled"), ("عمر", "omar"), ("يوسف", "yousef")),
        f=(("فاطمة", "fatima"), ("نور", "nour"), ("سارة", "sara"), ("ليلى", "layla"), ("مريم", "mariam")),
    ),
    surnames=("alharbi", "hassan", "alsaeed", "khalil", "mansour"),
)

# --------------------------------------------------------------------------- uk

UK = LanguagePack(
    code="uk",
    share=0.07,
    channels=(
        ChannelTemplate("telegram", "@{slug}_support", True, 2.0),
        ChannelTemplate("telegram", "@{slug}_community", False, 1.0),
        ChannelTemplate("instagram", "@{slug}", True, 1.5),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.0),
        ChannelTemplate("reviews", "rozetka.com.ua/{slug}/reviews", False, 0.6),
        ChannelTemplate("rss", "ain.ua", False, 0.2),
    ),
    negative=Phrases(
        openers=("Це просто жах.", "Люди, допоможіть!", "Пишу вже втретє.", "{brand}, ви знущаєтеся?"),
        bodies=_m(
            delivery=(
                "Замовлення №{order} чекаю вже {wait_days}, трек не оновлюється.",
                "Кур'єр позначив, що доставлено, а я нічого не отрима{v}.",
                "Оплати{v} експрес-доставку {city[to]}, а посилки досі немає.",
                "шо за прікол, {brand}, заказ вже {wait_days} не можу получить",
            ),
            refund=(
                "Поверну{v} {item[acc]} ще {wait_days} тому, а гроші досі не надійшли.",
                "Відмовили в поверненні коштів без жодного пояснення.",
            ),
            support=(
                "{wait_short} висі{v} на лінії, а потім зв'язок обірвався.",
                "У чаті бот, на гарячій лінії автовідповідач, живої людини не знайти.",
            ),
            broken=("{item[nom]} {model} {item[broke]} {soon}.",),
            billing=(
                "Гроші списали двічі за одне замовлення, {amount} кожного разу.",
                "З картки зняли гроші за підписку, яку я не оформлюва{v}.",
            ),
            app=(
                "Додаток вилітає щоразу, коли натискаю «Оплатити».",
                "Після оновлення не можу увійти, код з СМС не приходить.",
            ),
        ),
        closers=("Більше ніколи.", "Нікому не раджу.", "Ганьба.", "Поверніть гроші!"),
    ),
    neutral=Phrases(
        openers=("Добрий день!", "Привіт усім."),
        bodies=_m(
            question=(
                "Підкажіть, скільки йде доставка {city[to]}?",
                "А {item[nom]} {model} є в наявності?",
                "Хтось брав {item[acc]} {model}? Чи варто?",
                "Як відстежити замовлення №{order}?",
            ),
            chatter=(
                "Бачи{v} рекламу {brand} в метро, прикольна.",
                "Чи буде в {brand} розпродаж на Чорну п'ятницю?",
            ),
        ),
        closers=("Дякую!", "Заздалегідь дякую."),
    ),
    positive=Phrases(
        openers=("Хочу подякувати!", "Приємно здивували."),
        bodies=_m(
            delivery_fast=("Замови{v} увечері, а вранці кур'єр уже був біля дверей. Дуже швидко!",),
            support_good=("Підтримка вирішила питання з поверненням за {wait_short}.",),
            product_good=("Дуже задоволен{adj} покупкою, {item[nom]} {model} {item[works]} ідеально.",),
            general=("{brand} — єдиний магазин, де в мене ще не було жодних проблем.",),
        ),
        closers=("Рекомендую!", "Так тримати!", "Дякую! ❤️"),
    ),
    sarcasm=(
        "Дякую, {brand}, за незабутній квест «знайди свою посилку» завдовжки в {wait_days} 🙃",
        "Чудове оновлення, тепер додаток взагалі не відкривається 👏",
    ),
    followups=_m(
        negative=("+1, у мене те саме.", "Аналогічно, чекаю вже {wait_days}."),
        neutral=("А ви в підтримку писали?", "Теж цікаво."),
        positive=("{agree}, нормальний магазин.", "У мене теж усе прийшло вчасно."),
    ),
    headlines=_m(
        negative=("Клієнти {brand} скаржаться на затримки доставки",),
        neutral=("{brand} відкриває новий склад {city[in]}",),
        positive=("{brand} очолила рейтинг задоволеності клієнтів",),
    ),
    edits=_m(
        negative=("UPD: досі ніхто не відповів.",),
        positive=("UPD: гроші повернули, дякую підтримці!",),
        neutral=("UPD: питання знято, дякую.",),
    ),
    brand_reply=Phrases(
        openers=("Вітаємо, {name}!", "{name}, добрий день!"),
        bodies=_m(
            delivery=(
                "Перепрошуємо за затримку. Надішліть, будь ласка, номер замовлення в особисті повідомлення — перевіримо, де посилка.",
            ),
            refund=(
                "Розберемося з поверненням. Напишіть, будь ласка, номер замовлення в особисті, і ми перевіримо статус платежу.",
            ),
            support=(
                "Нам дуже прикро, що спілкування з підтримкою залишило таке враження. Ми передали звернення керівнику зміни.",
            ),
            broken=(
                "Шкода, що так сталося. Зверніться з чеком у будь-який пункт видачі — оформимо заміну або повернення.",
            ),
            billing=(
                "Перевіримо списання. Надішліть в особисті останні 4 цифри картки та дату операції — повернемо зайве.",
            ),
            app=(
                "Дякуємо, що повідомили! Оновіть, будь ласка, додаток до останньої версії; якщо проблема залишиться — напишіть модель телефону.",
            ),
            question=("Підкажемо! Напишіть нам в особисті — менеджер відповість протягом 15 хвилин.",),
            praise=("Дякуємо за теплі слова! Передамо команді 😊",),
            generic=("Дякуємо за відгук! Розберемося та обов'язково повернемося з відповіддю.",),
        ),
        closers=("Гарного дня!", "З повагою, команда {brand}."),
    ),
    spike=_m(
        outage=("{brand} лежить? Ні сайт, ні додаток не відкриваються.", "Не можу оплатити замовлення, все висне."),
        bad_update=("Після оновлення {version} додаток вилітає одразу після запуску.",),
        double_charge=("Списали гроші двічі за одне замовлення! Перевірте свої картки.",),
    ),
    spike_questions=("У когось ще {brand} не працює?",),
    incident_reply=_m(
        outage=("Ми знаємо про проблему й уже працюємо над її усуненням. Перепрошуємо за незручності!",),
        bad_update=("Дякуємо за повідомлення. Готуємо виправлення для версії {version}.",),
        double_charge=("Перепрошуємо! Усі помилкові списання повернемо автоматично протягом 3 робочих днів.",),
    ),
    escalations=("Якщо не вирішите — пишу скаргу в Держпродспоживслужбу.", "Це вже шахрайство, піду до поліції."),
    comebacks=(
        "Видалили мій коментар? Повторю ще раз: {original}",
        "Мій відгук тут чомусь зник. Пишу з іншого акаунта: {original}",
    ),
    censorship=("Тут усі негативні коменти видаляють, не дивуйтеся.", "Мені теж видалили відгук."),
    items=(
        _m(nom="навушники", acc="навушники", broke="зламалися", works="працюють"),
        _m(nom="чайник", acc="чайник", broke="зламався", works="працює"),
        _m(nom="пилосос", acc="пилосос", broke="зламався", works="працює"),
        _m(nom="колонка", acc="колонку", broke="зламалася", works="працює"),
        _m(nom="смарт-годинник", acc="смарт-годинник", broke="зламався", works="працює"),
        _m(nom="кавоварка", acc="кавоварку", broke="зламалася", works="працює"),
    ),
    cities=(
        _m({"in": "у Києві", "to": "до Києва"}),
        _m({"in": "у Львові", "to": "до Львова"}),
        _m({"in": "в Одесі", "to": "до Одеси"}),
        _m({"in": "у Харкові", "to": "до Харкова"}),
        _m({"in": "у Дніпрі", "to": "до Дніпра"}),
    ),
    slots=_m(
        wait_days=("три дні", "тиждень", "два тижні", "десять днів", "майже місяць", "п'ять днів"),
        wait_short=("сорок хвилин", "годину", "дві години", "пів дня"),
        soon=("через два дні", "через тиждень", "на другий день", "через місяць після покупки"),
        amount=("1 299 грн", "850 грн", "2 499 ₴", "399 грн"),
    ),
    genders=_m(m=_m(v="в", adj="ий", agree="Згоден"), f=_m(v="ла", adj="а", agree="Згодна")),
    names=_m(
        m=(("Олександр", "oleksandr"), ("Тарас", "taras"), ("Андрій", "andriy"), ("Богдан", "bohdan")),
        f=(("Оксана", "oksana"), ("Ірина", "iryna"), ("Юлія", "yulia"), ("Наталія", "nataliia")),
    ),
    surnames=("shevchenko", "kovalenko", "bondarenko", "melnyk", "tkachenko"),
)

# --------------------------------------------------------------------------- de

DE = LanguagePack(
    code="de",
    share=0.05,
    channels=(
        ChannelTemplate("facebook", "{slug}official", True, 1.0),
        ChannelTemplate("instagram", "@{slug}", True, 1.0),
        ChannelTemplate("youtube", "{slug}_official/{video}", True, 1.0),
        ChannelTemplate("reviews", "trustpilot.com/review/{slug}", False, 2.0),
        ChannelTemplate("rss", "heise.de", False, 0.3),
    ),
    negative=Phrases(
        openers=("Echt jetzt?", "Unglaublich.", "Zum dritten Mal:", "Hallo {brand},"),
        bodies=_m(
            delivery=(
                "Meine Bestellung {order} ist seit {wait_days} unterwegs, die Sendungsverfolgung bewegt sich nicht.",
                "Laut Tracking zugestellt, aber bei mir ist nichts angekommen.",
            ),
            refund=(
                "Ich habe {item[acc]} vor {wait_days} zurückgeschickt und warte immer noch auf mein Geld.",
                "Rückerstattung ohne Begründung abgelehnt. Frechheit!",
            ),
            support=(
                "{wait_short} in der Warteschleife und dann einfach aufgelegt.",
                "Der Kundenservice ist eine Katastrophe, niemand geht ans Telefon.",
            ),
            broken=("{item[my]} {model} ist {soon} kaputtgegangen.",),
            billing=("Mir wurde der Betrag doppelt abgebucht, {amount} zweimal!",),
            app=("Die App stürzt beim Bezahlen ständig ab.", "Seit dem Update kann ich mich nicht mehr einloggen."),
        ),
        closers=("Nie wieder.", "Finger weg!", "Absolute Frechheit.", "Ich will mein Geld zurück."),
    ),
    neutral=Phrases(
        openers=("Hallo!", "Kurze Frage:"),
        bodies=_m(
            question=(
                "Liefert ihr auch {city[to]}? Wie lange dauert das?",
                "Ist {item[the]} {model} wieder lieferbar?",
                "Wie kann ich Bestellung {order} verfolgen?",
                "Hat {item[the]} zwei Jahre Garantie?",
            ),
            chatter=(
                "Hat jemand Erfahrung mit {brand}? Überlege, dort zu bestellen.",
                "Macht {brand} dieses Jahr beim Black Friday mit?",
            ),
        ),
        closers=("Danke!", "Danke im Voraus."),
    ),
    positive=Phrases(
        openers=("Muss mal gesagt werden:", "Großes Lob an {brand}!"),
        bodies=_m(
            delivery_fast=("Gestern Abend bestellt, heute Morgen schon da. Top!",),
            support_good=("Der Support hat mein Problem sofort gelöst, super unkompliziert.",),
            product_good=("Bin mit {item[dat]} {model} total zufrieden.",),
            general=("{brand} ist der einzige Onlineshop, dem ich wirklich vertraue.",),
        ),
        closers=("Gerne wieder!", "Absolute Empfehlung.", "Weiter so!"),
    ),
    sarcasm=(
        "Danke {brand}, dass ich seit {wait_days} so spannend auf mein Paket warten darf 🙃",
        "Tolles Update, jetzt startet die App gar nicht mehr 👏",
    ),
    followups=_m(
        negative=("+1, bei mir genau dasselbe.", "Geht mir auch so, warte seit {wait_days}."),
        neutral=("Hast du es schon per E-Mail versucht?", "Würde mich auch interessieren."),
        positive=("Stimmt, hatte nie Probleme mit denen.", "Bei mir kam's auch super schnell."),
    ),
    headlines=_m(
        negative=("Kunden von {brand} klagen über Lieferverzögerungen",),
        neutral=("{brand} eröffnet neues Logistikzentrum {city[in]}",),
        positive=("{brand} führt Ranking zur Kundenzufriedenheit im Onlinehandel an",),
    ),
    edits=_m(
        negative=("EDIT: Immer noch keine Antwort vom Support.",),
        positive=("EDIT: Support hat sich gemeldet, Geld ist zurück. Danke!",),
        neutral=("EDIT: Hat sich erledigt, danke.",),
    ),
    brand_reply=Phrases(
        openers=("Hallo {name},", "Hi {name},"),
        bodies=_m(
            delivery=(
                "Das tut uns sehr leid! Schick uns bitte deine Bestellnummer per Direktnachricht, dann klären wir das mit dem Versanddienstleister.",
            ),
            refund=(
                "Sorry für den Ärger mit der Rückerstattung. Schick uns bitte die Bestellnummer per DM, wir prüfen den Zahlungsstatus sofort.",
            ),
            support=(
                "Es tut uns leid, dass das Gespräch mit unserem Team nicht so gelaufen ist, wie es sollte. Eine Teamleitung meldet sich noch heute bei dir.",
            ),
            broken=(
                "Das tut uns leid! Bring das Gerät mit Beleg zu einer unserer Abholstationen – wir tauschen es um oder erstatten den Betrag.",
            ),
            billing=(
                "Wir schauen uns die Abbuchung an. Schick uns per DM die letzten 4 Ziffern der Karte und das Datum, doppelte Beträge erstatten wir natürlich.",
            ),
            app=(
                "Danke für den Hinweis! Bitte aktualisiere die App auf die neueste Version; falls es weiter passiert, schick uns dein Handymodell.",
            ),
            question=(
                "Wir helfen gern! Schreib uns eine Direktnachricht, jemand aus dem Team meldet sich innerhalb von 15 Minuten.",
            ),
            praise=("Vielen Dank für das tolle Feedback! Wir geben es ans Team weiter 😊",),
            generic=("Danke für dein Feedback! Wir kümmern uns darum und melden uns in Kürze.",),
        ),
        closers=("Viele Grüße, dein {brand}-Team", "Einen schönen Tag noch!"),
    ),
    spike=_m(
        outage=(
            "Ist {brand} down? Weder Website noch App laden.",
            "Kann nicht bezahlen, die Seite lädt ewig und wirft mich raus.",
        ),
        bad_update=("Seit dem Update auf {version} stürzt die App direkt beim Start ab.",),
        double_charge=("Mir wurde eine Bestellung doppelt abgebucht! Checkt eure Konten, Leute.",),
    ),
    spike_questions=("Geht {brand} bei euch auch nicht?",),
    incident_reply=_m(
        outage=(
            "Wir wissen von der Störung und arbeiten mit Hochdruck an einer Lösung. Sorry für die Unannehmlichkeiten!",
        ),
        bad_update=("Danke für eure Meldungen. Ein Fix für Version {version} ist unterwegs.",),
        double_charge=(
            "Das tut uns leid! Alle doppelten Abbuchungen werden innerhalb von 3 Werktagen automatisch erstattet.",
        ),
    ),
    escalations=(
        "Wenn das bis morgen nicht geklärt ist, geht das an die Verbraucherzentrale.",
        "Das ist Betrug. Ich schalte meinen Anwalt ein.",
    ),
    comebacks=(
        "Meinen Kommentar gelöscht? Dann eben nochmal: {original}",
        "Meine Bewertung ist hier einfach verschwunden. Ich schreibe von einem anderen Account: {original}",
    ),
    censorship=(
        "Hier wird jeder negative Kommentar gelöscht, wundert euch nicht.",
        "Meine Bewertung wurde auch entfernt.",
    ),
    items=(
        _m(my="mein Wasserkocher", the="der Wasserkocher", acc="den Wasserkocher", dat="meinem Wasserkocher"),
        _m(my="meine Smartwatch", the="die Smartwatch", acc="die Smartwatch", dat="meiner Smartwatch"),
        _m(my="mein Staubsauger", the="der Staubsauger", acc="den Staubsauger", dat="meinem Staubsauger"),
        _m(my="mein Handy", the="das Handy", acc="das Handy", dat="meinem Handy"),
        _m(my="meine Powerbank", the="die Powerbank", acc="die Powerbank", dat="meiner Powerbank"),
        _m(my="meine Kaffeemaschine", the="die Kaffeemaschine", acc="die Kaffeemaschine", dat="meiner Kaffeemaschine"),
    ),
    cities=tuple(
        _m({"in": f"in {c}", "to": f"nach {c}"}) for c in ("Berlin", "München", "Hamburg", "Köln", "Wien", "Zürich")
    ),
    slots=_m(
        # dative: "seit ...", "vor ..."
        wait_days=("drei Tagen", "einer Woche", "zwei Wochen", "zehn Tagen", "fast einem Monat"),
        wait_short=("40 Minuten", "eine Stunde", "zwei Stunden", "einen halben Tag"),
        soon=("nach zwei Tagen", "nach einer Woche", "am zweiten Tag", "nach einem Monat"),
        amount=("49,99 €", "129 €", "79,90 €", "CHF 89"),
    ),
    genders=_m(m=_m(), f=_m()),
    names=_m(
        m=(("Jonas", "jonas"), ("Lukas", "lukas"), ("Felix", "felix"), ("Tobias", "tobi")),
        f=(("Lena", "lena"), ("Anna", "anna"), ("Sophie", "sophie"), ("Julia", "julia")),
    ),
    surnames=("mueller", "schmidt", "wagner", "becker"),
    casual=_m({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}),
    casual_rate=0.05,
    lower_after_comma=False,
)

#: language code -> pack; the shares sum to 1
LANGUAGES: Mapping[str, LanguagePack] = MappingProxyType({p.code: p for p in (RU, EN, SQ, ES, AR, UK, DE)})
