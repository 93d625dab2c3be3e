"""Simulated brands, traffic and labelled incidents, for measuring how well alerting works.

Nothing here is a production service: :mod:`simulation.world` invents a seeded
stream of scored mentions (several brands of very different volume, daily and
weekly seasonality in each brand's own time zone, brand replies, spam clean-up),
:mod:`simulation.incidents` stages one kind of incident per module (mirroring
the detectors) and says where each one is, :mod:`simulation.scenarios` names
whole deterministic worlds (``demo`` is what ``make run`` streams),
:mod:`simulation.evaluate` replays a scenario through the alerting engine and
scores the alerts against the labels, :mod:`simulation.corpus` holds the phrases
the world writes in seven languages, and :mod:`simulation.lexicon` picks the
stand-in sentiment model's words from them.
"""
