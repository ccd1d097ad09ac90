"""Local emulators of the three APIs, for tests, benchmarks and the offline demo.

They speak JSON as the public documents describe it and never import the client's wire
models, so a wire-format mistake in a provider shows up as a failing test.
"""

from prism_async.testing._clock import AUTOJUMP_THRESHOLD, VirtualClock
from prism_async.testing._faults import Fault, FaultKind, Faults, RequestCounts
from prism_async.testing._jobs import FAKE_MP4, Outcome
from prism_async.testing._mock import MockTransport, drive, json_response
from prism_async.testing._recording import RecordedRequest, RecordingServer
from prism_async.testing._server import EmulatorApp, EmulatorServer
from prism_async.testing._webhooks import WebhookDelivery, WebhookSender

__all__ = [
    "AUTOJUMP_THRESHOLD",
    "FAKE_MP4",
    "EmulatorApp",
    "EmulatorServer",
    "Fault",
    "FaultKind",
    "Faults",
    "MockTransport",
    "Outcome",
    "RecordedRequest",
    "RecordingServer",
    "RequestCounts",
    "VirtualClock",
    "WebhookDelivery",
    "WebhookSender",
    "drive",
    "json_response",
]
