"""Simulated brands, traffic and labelled incidents, for measuring how well alerting works.

Nothing here is a production service: :mod:`simulation.world` invents a seeded
stream of scored mentions (several brands of very different volume, daily and
weekly seasonality in each brand's own time zone, brand replies, spam clean-up),
:mod:`simulation.incidents` stages one kind of incident per module (mirroring
the detectors) and says where each one is, :mod:`simulation.scenarios` names
whole deterministic worlds, and :mod:`simulation.evaluate` replays a scenario
through the alerting engine and scores the alerts against the labels.
"""
