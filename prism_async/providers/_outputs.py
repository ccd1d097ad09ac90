"""A terminal success counts only with an output to fetch: every provider's status parsing
turns a success without a usable URL into a failure, so nothing downstream trusts it."""

from __future__ import annotations

from prism_async._results import Failure, FailureKind

__all__ = ["NO_OUTPUT", "no_output_failure", "usable_url"]

#: The failure code of a job the API called a success but gave no output for.
NO_OUTPUT = "no_output"


def usable_url(value: object) -> str | None:
    """The value if it is an http(s) URL with something after the scheme; else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    lowered = url.lower()
    for scheme in ("https://", "http://"):
        if lowered.startswith(scheme) and len(url) > len(scheme):
            return url
    return None


def no_output_failure(raw_status: str) -> Failure:
    """The failure for a success with no output. Not retryable: the job may well have been
    charged, and submitting again pays again."""
    return Failure(
        kind=FailureKind.ERROR,
        code=NO_OUTPUT,
        message=f"the API reported success ({raw_status}) without an output URL",
        retryable=False,
    )
