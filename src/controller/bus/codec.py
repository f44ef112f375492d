"""Outbox rows → AMQP messages: canonical proto3 JSON of Event or AgentCommand (written by
overcast.protojson: json_format's output, without its cost per message)."""

from __future__ import annotations

import aio_pika

from controller.storage.outbox import OutboxRow
from overcast import protojson
from overcast.agent.v1 import agent_pb2
from overcast.v1 import events_pb2

EVENT_VERSION = "1.0"

# An event type's first word → the Event field (oneof payload) its payload goes in.
PAYLOADS = {"instance": "instance", "host": "host", "scaling": "scaling"}


def payload_field(event_type: str) -> str:
    """ "scaling.member.added" → "scaling"; an event type of no known kind is a bug."""
    kind = event_type.split(".", 1)[0]
    try:
        return PAYLOADS[kind]
    except KeyError:
        raise ValueError(f"event type {event_type!r}: no payload for {kind!r} events") from None


def encode(row: OutboxRow, publisher: str) -> aio_pika.Message:
    m = row.message
    occurred = protojson.rfc3339(row.created_at)
    if m.kind == "event":
        payload = payload_field(m.message_type)
        body = protojson.dumps(
            events_pb2.Event,
            {
                "event_id": str(m.message_id),
                "event_type": m.message_type,
                "version": EVENT_VERSION,
                "occurred_at": occurred,
                "publisher": publisher,
                "project": m.project,
                "resource": m.resource,
                payload: m.payload,
            },
        )
    else:
        body = protojson.dumps(agent_pb2.AgentCommand, {**m.payload, "issued_at": occurred})
    return aio_pika.Message(
        body,
        content_type="application/json",
        message_id=str(m.message_id),
        type=m.message_type,
        timestamp=row.created_at,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        app_id=publisher,
    )
