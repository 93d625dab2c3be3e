"""The registry of detectors: which ones exist, in the order the engine runs them.

Each detector lives in its own module here and implements
:class:`services.alerting.types.Detector`. The registry names them by module
path and imports them only when asked, so importing the package stays cheap
and one detector's module never needs another's. The order is fixed because it
is the order alerts of one event come out in, and a backtest must be
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from services.alerting.types import Detector

#: detector name -> "module:Class". The name is the key in snapshots, in the brands
#: file's ``detectors:`` map and in ``--set name.key=value``.
REGISTRY: dict[str, str] = {
    "negativity_spike": "services.alerting.detectors.negativity_spike:NegativitySpikeDetector",
    "deleted_complaint": "services.alerting.detectors.deleted_complaint:DeletedComplaintDetector",
    "returning_complainant": "services.alerting.detectors.returning_complainant:ReturningComplainantDetector",
    "deletion_bias": "services.alerting.detectors.deletion_bias:DeletionBiasDetector",
    "unanswered_complaint": "services.alerting.detectors.unanswered_complaint:UnansweredComplaintDetector",
    "silent_community": "services.alerting.detectors.silent_community:SilentCommunityDetector",
}


def detector_names() -> list[str]:
    return list(REGISTRY)


def detector_class(name: str) -> type[Detector]:
    """The class registered as ``name``; ValueError for an unknown name, ImportError if its module is missing."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r} (known: {', '.join(REGISTRY)})") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the module exists but one of its own imports is missing
            raise
        raise ImportError(f"detector {name!r}: module {module_name} not found") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ImportError(f"detector {name!r}: {module_name} has no class {class_name}")
    # The registered name is what snapshots are keyed by: a class that calls itself
    # something else would restore into the wrong detector's state.
    if getattr(cls, "name", None) != name:
        raise ImportError(f"detector {name!r}: {module_name}.{class_name}.name is {getattr(cls, 'name', None)!r}")
    return cls


def detector_classes(names: Iterable[str] | None = None) -> list[type[Detector]]:
    """The detector classes, in registry order (or in the order of ``names``)."""
    return [detector_class(n) for n in (REGISTRY if names is None else names)]
