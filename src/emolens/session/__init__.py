"""One session runner for live and recorded video, used by ``emolens video``, the service's WebSockets and the
dashboard.

A session wires, once, what each of them needs::

    source ──► video pipeline ──► tracks (+ identities) ──► event log / alert rules ──► sinks
    (file, folder, camera,        (Analyzer.analyze_video:    (one row per track per         (files, callbacks,
     stream, PushSource)           decode, detect+track,       second; alerts)                fusion)
                                   classify+smooth)

- :class:`SessionConfig`: sampling (``every_n_frames``, ``target_fps``, ``max_frames``, ``live``), smoothing,
  attention, the event log (``log_events``, ``event_interval_s``, ``event_flush_s``, ``source_name``) and alert
  rules (``alerts`` specs, ``webhook``).
- :class:`Session` ``(analyzer, source, config, sinks)``: :meth:`~Session.open` (models, source, sinks),
  iterate for :class:`SessionStep` (``result``: :class:`~emolens.types.FrameResult`, ``frame``, ``alerts`` fired at
  that frame), or :meth:`~Session.run`; :meth:`~Session.stop` (any thread) ends the iteration after the current
  frame; :meth:`~Session.close` flushes events, drains the webhook, closes the sinks and returns the
  :class:`SessionSummary` (``stats``, ``complete``, ``error``, ``alerts``, ``events_written``, ``files``).
- Sinks (:class:`Sink`: ``needs_frames``, ``open(info)``, ``write(step)``, ``close(summary) -> files``):
  :class:`VideoOutputSink` (frame tables, tracks.json, plots, summary sheet, annotated.mp4),
  :class:`FrameTableSink` (the frame records alone), :class:`AlertsJsonSink`, :class:`AttentionJsonSink`,
  :class:`FusionSink` (voice/text fused with the faces in memory), :class:`CallbackSink` (a function per step:
  WebSockets, dashboards, metrics).

Example: a live consumer, in a worker thread, pushing each result to an asyncio queue::

    session = Session(analyzer, PushSource("websocket"), SessionConfig(live=True, log_events=True,
                      event_flush_s=2.0, source_name="door"),
                      [CallbackSink(lambda step: loop.call_soon_threadsafe(q.put_nowait, step.result.to_dict()))])
    with session:
        session.run()
"""

from emolens.session.config import (
    ATTENTION_KINDS,
    SessionConfig,
    attention_kinds,
    attention_stage,
    attention_target,
    check_attention,
    parse_rules,
)
from emolens.session.fused import FusionSink
from emolens.session.runner import Session, SessionInfo, SessionStep, SessionSummary, Sink
from emolens.session.sinks import (
    AlertsJsonSink,
    AttentionJsonSink,
    CallbackSink,
    FrameTableSink,
    VideoOutputSink,
    output_fps,
)

__all__ = [
    "ATTENTION_KINDS",
    "AlertsJsonSink",
    "AttentionJsonSink",
    "CallbackSink",
    "FrameTableSink",
    "FusionSink",
    "Session",
    "SessionConfig",
    "SessionInfo",
    "SessionStep",
    "SessionSummary",
    "Sink",
    "VideoOutputSink",
    "attention_kinds",
    "attention_stage",
    "attention_target",
    "check_attention",
    "output_fps",
    "parse_rules",
]
