"""Settings of the sentiment worker (env prefix ``REPWATCH_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.config import WorkerSettings


class SentimentSettings(WorkerSettings):
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    #: consumer group; every replica of the worker joins it and they split partitions
    sentiment_group_id: str = "repwatch-sentiment"
    #: Hugging Face hub id or local model directory; empty: the built default model
    sentiment_model: str = ""
    #: "auto" (GPU when present), "cpu", "cuda", "cuda:1"
    sentiment_device: str = "auto"
    #: texts per forward pass (0: 64 on CPU, 1024 on GPU; on GPU raise max_poll_records to match)
    sentiment_batch_size: int = Field(default=0, ge=0)
    #: texts are cut to this many tokens (tweets and comments rarely need more)
    sentiment_max_tokens: int = Field(default=128, ge=8, le=4096)
    #: explicit model-label mapping, e.g. "LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive"
    sentiment_label_map: str = ""
    #: torch CPU threads (0: one per core)
    sentiment_cpu_threads: int = Field(default=0, ge=0)
    #: auto (bf16 on GPU and on CPUs with AMX/AVX512-BF16, else fp32), fp32, bf16, fp16, int8 (CPU, torchao)
    sentiment_precision: str = "auto"
    #: shipped: the model's decision rule (calibration + per-language negative thresholds,
    #: argmax for a model without one); argmax: the most likely label
    sentiment_decision: Literal["shipped", "argmax"] = "shipped"
    #: one negative threshold for every language instead of the rule's (empty: the rule's own)
    sentiment_negative_threshold: float | None = Field(default=None, gt=0, le=1)
    #: tokenizer processes feeding the model (empty: 0 on CPU, up to 8 on GPU)
    sentiment_tokenizer_processes: int | None = Field(default=None, ge=0)
