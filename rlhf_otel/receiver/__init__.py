"""An OTLP/HTTP receiver that writes the interaction and feedback spans it gets to a store."""

from __future__ import annotations

from rlhf_otel.receiver._server import OTLPReceiver, ReceiverConfig

__all__ = [
    "OTLPReceiver",
    "ReceiverConfig",
]
