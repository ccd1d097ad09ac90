"""What the command line says if it is interrupted: the paid jobs it knows of.

A command notes each job it creates, and whether a create is on its way, so that Ctrl-C
never leaves a paid job unnamed: ``main`` prints these notes before exiting 130.
"""

from __future__ import annotations

import shlex

import attrs

from prism_async._results import JobHandle

__all__ = ["RunNotes"]


@attrs.define
class RunNotes:
    """The paid jobs of one command run, as far as it got."""

    created: list[JobHandle] = attrs.field(factory=list)
    #: A create's bytes were about to leave and its answer has not been read yet.
    create_in_flight: bool = False
    #: How to find and resume every job a batch created (its journal), if it has one.
    resume: str | None = None

    async def sending(self) -> None:
        """A ``before_create`` hook: the create is about to leave."""
        self.create_in_flight = True

    def answered(self, handles: tuple[JobHandle, ...]) -> None:
        self.created.extend(handles)
        self.create_in_flight = False

    def on_interrupt(self) -> list[str]:
        """The lines to print on Ctrl-C, most important first."""
        lines = []
        if self.created and self.resume is None:
            handles = " ".join(shlex.quote(str(h)) for h in self.created)
            lines.append(f"interrupted; jobs already created go on: {handles}")
            lines.append(f"wait for them with: prism-async wait {handles}")
        if self.resume is not None:
            lines.append(f"interrupted; {self.resume}")
        if self.create_in_flight:
            lines.append(
                "warning: interrupted while a create was on its way: a job may have been "
                "created and charged for; check with the provider before running it again"
            )
        return lines or ["interrupted"]
