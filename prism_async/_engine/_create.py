"""What became of a submit's paid create: not sent, answered, or unknown.

The engine keeps one :class:`CreateWatch` per submit. The transport tells it when the
create's bytes are about to leave (the caller's ``before_create`` runs then, once) and the
engine notes each answer. When the submit flow fails, :meth:`CreateWatch.verdict` says
whether the failure frees the submission to be sent again, or whether a job may exist:

- never sent (a :class:`~prism_async._errors.ConnectError` every time, or a failure before
  the create): the error as it is; sending again can never pay twice;
- answered with a 3xx or 4xx: the API refused it (a redirect is never followed, so the
  create was not carried out there either): the error as it is;
- anything else after the create may have been received (a 5xx, a timeout, a lost
  connection, a 2xx whose body could not be read, a refusal of a later try after a 5xx):
  :class:`~prism_async._errors.SubmissionOutcomeUnknown`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from prism_async._errors import PrismAsyncError, SubmissionOutcomeUnknown
from prism_async._http import HttpRequest, HttpResponse

__all__ = ["BeforeCreate", "CreateWatch"]

#: Awaited once, when the paid create's bytes are about to leave (a connection is in
#: hand). It may raise to stop the create: nothing is sent then.
BeforeCreate = Callable[[], Awaitable[None]]


@attrs.define
class CreateWatch:
    """One submit's paid create, as the engine saw it go."""

    provider: str
    idempotency_key: str | None
    before_create: BeforeCreate | None = None
    #: ``before_create`` has run: the create was about to leave.
    noted: bool = False
    #: The status of the create's last answer, if one came.
    answered: int | None = None
    #: An answer that did not settle it came before (a 5xx: the job may exist), so no
    #: later refusal frees it either (a provider may send its create more than once).
    ambiguous: bool = False
    #: ``METHOD URL`` of the create, once it was attempted.
    request: str | None = None

    async def before_send(self) -> None:
        if not self.noted:
            if self.before_create is not None:
                await self.before_create()
            self.noted = True

    def attempted(self, request: HttpRequest) -> None:
        self.request = f"{request.method} {request.url.split('?', 1)[0]}"

    def answer(self, response: HttpResponse) -> None:
        self.answered = response.status
        self.ambiguous = self.ambiguous or response.status >= 500

    def verdict(self, error: PrismAsyncError) -> PrismAsyncError:
        """The error a failed submit raises: ``error``, or outcome-unknown around it."""
        if isinstance(error, SubmissionOutcomeUnknown):
            error.provider = error.provider or self.provider
            error.idempotency_key = self.idempotency_key
            return error
        refused = self.answered is not None and 300 <= self.answered < 500
        if self.answered is None or (refused and not self.ambiguous):
            return error  # never received, or refused
        unknown = SubmissionOutcomeUnknown(
            f"the create was answered HTTP {self.answered} and the job it may have started "
            "is not known: a job may exist and be charged for",
            idempotency_key=self.idempotency_key,
            request=self.request,
            cause=error,
            provider=self.provider,
        )
        unknown.__cause__ = error
        return unknown
