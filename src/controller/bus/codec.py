"""Outbox rows → AMQP messages: canonical proto3 JSON of Event or AgentCommand."""

from __future__ import annotations

import aio_pika
from google.protobuf import json_format, timestamp_pb2

from controller.storage.outbox import OutboxRow
from overcast.v1 import agent_pb2, events_pb2

EVENT_VERSION = "1.0"


def encode(row: OutboxRow, publisher: str) -> aio_pika.Message:
    m = row.message
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(row.created_at)
    if m.kind == "event":
        event = events_pb2.Event(
            event_id=str(m.message_id),
            event_type=m.message_type,
            version=EVENT_VERSION,
            publisher=publisher,
            project=m.project,
            resource=m.resource,
            occurred_at=occurred,
        )
        target = event.instance if m.message_type.startswith("instance.") else event.host
        json_format.ParseDict(m.payload, target)
        body = json_format.MessageToJson(event, indent=None).encode()
    else:
        cmd = json_format.ParseDict(m.payload, agent_pb2.AgentCommand())
        cmd.issued_at.CopyFrom(occurred)
        body = json_format.MessageToJson(cmd, indent=None).encode()
    return aio_pika.Message(
        body,
        content_type="application/json",
        message_id=str(m.message_id),
        type=m.message_type,
        timestamp=row.created_at,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        app_id=publisher,
    )
