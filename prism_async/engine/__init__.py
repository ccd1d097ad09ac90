"""The one engine: submitting, polling, waiting, deadlines, cadence, budgets, fan-out."""

from prism_async._policy import PollPolicy
from prism_async.engine._create import BeforeCreate
from prism_async.engine._engine import Engine, EngineConfig
from prism_async.engine._fanout import FanOutPlan, Slot

__all__ = ["BeforeCreate", "Engine", "EngineConfig", "FanOutPlan", "PollPolicy", "Slot"]
