"""The event log and the alert engine: analysis results become rows in the gallery's event log, and alert
rules (emotions shown for too long, from :mod:`emolens.events.rules`; attention states such as ``distracted``,
``drowsy`` and ``yawn``) fire :class:`Alert` s when they hold long enough.

    from emolens.events import AlertEngine, EventLogger, parse_rule
    engine = AlertEngine([parse_rule("angry,fear:3:unknown"), parse_rule("drowsy")], store=gallery.store)
    logger = EventLogger(gallery.store, interval_s=1.0, engine=engine)
"""

from emolens.events.engine import Alert, AlertEngine
from emolens.events.log import EventLogger
from emolens.events.rules import KINDS, AlertRule, AttentionRule, Rule, parse_rule

__all__ = ["KINDS", "Alert", "AlertEngine", "AlertRule", "AttentionRule", "EventLogger", "Rule", "parse_rule"]
