# RepWatch: every target sets up what it needs (venv, packages, Kafka jars) idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.repwatch-installed
PYTEST_ARGS ?=

.PHONY: run test unit setup kafka-jars model eval bench-sentiment broker-start broker-stop broker-status clean help

help:
	@echo "make run     - start the whole pipeline (embedded Kafka, workers, synthetic incidents) with a live view"
	@echo "make test    - unit and integration tests against a real embedded Kafka broker"
	@echo "make unit    - only the tests that need no broker"
	@echo "make setup   - venv + pinned packages (done automatically by run/test)"

$(STAMP): pyproject.toml constraints.txt
	@deploy/dev/setup-venv.sh

setup: $(STAMP)

# Broker jars come from Maven Central once, into ~/.cache/repwatch/kafka (REPWATCH_KAFKA_CACHE).
kafka-jars: $(STAMP)
	@$(PY) -c "from shared.kafka.embedded import ensure_kafka_jars; ensure_kafka_jars()"

run: kafka-jars
	@$(PY) -m services.cli demo

# pytest exits 5 when a selection collects no tests: report it, don't fail on it.
test: kafka-jars
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected (exit 5)"; exit 0; fi; exit $$rc

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
