"""Words of the suite's own records that are spelled like a message type of the shipped Pitchey contract.

They name no message of any service: RFC 6455's control frames, and fields of the probes' observations. They
are stored in every run (the frames table's ``type``, a result's ``observed``) and read back as they were
written, so they keep their spelling; they are defined here once, and nowhere else outside ``contract/`` may a
message type be spelled (``tests/test_layers_literals.py``).
"""

from __future__ import annotations

#: The frames table's ``type`` of a ping control frame (RFC 6455 §5.5.2) the target sent (README, the frames
#: table: "ping/pong/close/binary/invalid"), and an opcode's name in the description of raw frames.
CONTROL_PING = "ping"
#: ... of a pong control frame (RFC 6455 §5.5.3).
CONTROL_PONG = "pong"

#: Observation fields. The answer to the contract's liveness round trip, whatever its kind
#: (``connection.ping_on_connected``, ``resilience.invalid_then_working``).
ROUND_TRIP_ANSWER = "pong"
#: ``resilience.sustained_sessions``: how many held sessions began (their declared first frame arrived) ...
SESSIONS_BEGAN = "connected"
#: ... and whether a final round trip was planned.
ROUND_TRIP_PLANNED = "ping"
