"""What a projector is: a pure function from (event, prior state) to commands, parks and flags.

Projectors do no I/O and read no clock, so replaying the log always derives the same commands
(deterministic ids) and a rebuild after a mapping change can be diffed against what was posted.
The runner (engine/projectors/runner.py) persists their output, their state and their tracking
position in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.commands.vocabulary import Command, Park
from engine.log.records import NewEvent, StoredEvent

__all__ = ["Projection", "Projector"]

State = dict[str, Any]


@dataclass(slots=True)
class Projection:
    """The output of projecting one event."""

    commands: list[Command] = field(default_factory=list)
    parks: list[Park] = field(default_factory=list)
    # Record keys whose earlier parks this event resolves (e.g. the order now posts).
    resolved: list[str] = field(default_factory=list)
    # Derived facts worth keeping in the log, e.g. settlement lines booked to suspense.
    flags: list[NewEvent] = field(default_factory=list)
    # New state per state key; None deletes the key.
    state: dict[str, State | None] = field(default_factory=dict)

    def apply_to(self, state: dict[str, State]) -> None:
        """Fold this projection's state changes into ``state`` (None deletes the key)."""
        for key, value in self.state.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value


class Projector(Protocol):
    """A named, pure projector over some streams."""

    name: str
    streams: tuple[str, ...]

    def state_keys(self, event: StoredEvent) -> list[str]:
        """The state keys ``project`` needs for this event (loaded by the runner)."""
        ...

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        """Derive commands from one event given the prior state of its keys."""
        ...
