"""The gateway's saga timing and each run's pace: what the roles read of the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.api import Pace


@dataclass(frozen=True)
class GatewayConfig:
    """Saga timing the handlers need."""

    step_deadline_s: float
    step_max_attempts: int
    demo_stage_s: float = 3.0
    # Each enterprise's default pace for its run (gateway/dashboard); absent: instant.
    run_pace: dict[str, Pace] = field(default_factory=dict)
