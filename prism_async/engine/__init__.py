"""The one engine: submitting, polling, waiting, deadlines, cadence, budgets, fan-out."""

from prism_async.engine._create import BeforeCreate
from prism_async.engine._engine import Engine, EngineConfig
from prism_async.engine._fanout import FanOutPlan, Slot
from prism_async.engine._scheduler import PollPolicy

__all__ = ["BeforeCreate", "Engine", "EngineConfig", "FanOutPlan", "PollPolicy", "Slot"]
