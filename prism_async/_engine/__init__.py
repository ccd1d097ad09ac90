"""The one engine: submitting, polling, waiting, deadlines, cadence, budgets, fan-out."""

from prism_async._engine._create import BeforeCreate
from prism_async._engine._engine import Engine, EngineConfig
from prism_async._engine._fanout import FanOutPlan, Slot
from prism_async._policy import PollPolicy

__all__ = ["BeforeCreate", "Engine", "EngineConfig", "FanOutPlan", "PollPolicy", "Slot"]
