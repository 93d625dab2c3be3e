from datetime import timedelta

from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry

from services.alerting.detectors import NegativitySpikeConfig, NegativitySpikeDetector
from services.alerting.processor import AlertingProcessor
from shared.schemas import Alert
from tests.factories import T0, mention, scored


def record(value, offset=0):
    return ConsumerRecord("mentions.scored", 0, -1, offset, 0, 0, b"acme", value, [], None, 0, len(value or b""), 0)


def test_alerts_and_dead_letters():
    proc = AlertingProcessor(
        [NegativitySpikeDetector(NegativitySpikeConfig(threshold=2, window=timedelta(minutes=5)))],
        "alerts",
        "alerting",
        CollectorRegistry(),
        max_record_bytes=100_000,
    )
    recs = [record(scored(mention(i)).to_bytes(), i) for i in range(2)] + [record(b"garbage", 2)]
    result = proc(recs)
    assert [o.topic for o in result.outputs] == ["alerts"]
    alert = Alert.model_validate_json(result.outputs[0].value)
    assert alert.brand == "acme" and result.outputs[0].key == b"acme"
    assert [(d.reason, d.source_offset) for d in result.dead_letters] == [("invalid_json", 2)]
    # a much later event on any brand resolves the quiet brand's alert
    later = scored(mention(9, brand="globex", at=T0 + timedelta(hours=1)), label="neutral")
    result = proc([record(later.to_bytes(), 3)])
    assert [Alert.model_validate_json(o.value).status.value for o in result.outputs] == ["resolved"]
