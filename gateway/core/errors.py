"""The gateway's errors: one hierarchy, raised by the domain, mapped to problem+json here only.

A domain step (declaring, filing, forcing a step, pacing, the saga's retry and cancel) says
what is wrong and with what facts; it knows nothing of HTTP. `STATUS` and `as_problem` make
the answer (RFC 9457), for the app's exception handler, the accept lane and nothing else.
`retriable` errors say "try again": the idempotency middleware does not replay their answer.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.problems import PROBLEM_BASE, Problem, problem_of


class GatewayError(Exception):
    """Something the caller asked that cannot be done as things stand: `detail` says why,
    `facts` (the declaration's state, the field at fault …) go into the answer as they are."""

    kind: ClassVar[str] = "error"  # the problem type's stable last segment
    title: ClassVar[str] = "Error"
    retriable: ClassVar[bool] = False

    def __init_subclass__(cls, *, kind: str = "", title: str = "", retriable: bool = False) -> None:
        super().__init_subclass__()
        cls.kind = kind or cls.kind
        cls.title = title or cls.title
        cls.retriable = retriable or cls.retriable

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class Unauthorized(GatewayError, kind="unauthorized", title="Unauthorized"):
    """No API key (or admin token) the gateway knows."""


class Forbidden(GatewayError, kind="forbidden", title="Forbidden"):
    """Not for this caller: a sandbox feature outside the sandbox, an API key where the
    admin token is needed."""


class NotFound(GatewayError, kind="not-found", title="Not found"):
    """No such thing, or another enterprise's (as invisible as one that does not exist)."""


class Gone(NotFound, kind="gone", title="Gone"):
    """A declaration made before the retention period and purged since."""


class Invalid(GatewayError, kind="validation", title="Invalid request"):
    """A request that is well formed but breaks a rule: the field and the rule are named."""

    def __init__(self, detail: str, *, field: str, rule: str, message: str) -> None:
        super().__init__(detail, errors=[{"field": field, "rule": rule, "message": message}])


class Refused(GatewayError):
    """What the request asks does not apply to the declaration (or resource) as it stands."""


class NotApplicable(Refused, kind="not-applicable", title="Not applicable"):
    """The filing or operation does not apply in the declaration's state; NotStalled (an
    operator's retry) and AlreadyEnded (a cancel) are its cases."""


class NotStalled(NotApplicable): ...


class AlreadyEnded(NotApplicable): ...


class ReferenceInUse(Refused, kind="reference-in-use", title="Reference already used"):
    """The trader's reference is another declaration's already (unique per enterprise)."""


class NoPendingStep(Refused, kind="no-pending-step", title="No pending step for this outcome"):
    """The declaration has no pending step the forced outcome applies to."""


class NothingHeld(Refused, kind="nothing-held", title="Nothing to advance"):
    """A paced declaration has no held command to release."""


class NotReplayable(Refused, kind="not-replayable", title="Not replayable"):
    """A dead letter its service recorded as handled: sent again, it would be ignored."""


class TooManyEndpoints(
    Refused, kind="too-many-webhook-endpoints", title="Too many webhook endpoints"
):
    """An enterprise has as many webhook endpoints as it may."""


class ChangedMeanwhile(Refused, kind="conflict", title="Changed meanwhile", retriable=True):
    """Another writer moved the declaration while this request acted on it: try again."""


STATUS: Final[dict[type[GatewayError], int]] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Gone: 410,
    Refused: 409,
    Invalid: 422,
}


def status_of(error: GatewayError) -> int:
    """The HTTP status of an error: its own class's, or the nearest base class's."""
    return next(STATUS[c] for c in type(error).__mro__ if c in STATUS)


def as_problem(error: GatewayError) -> Problem:
    """The problem+json an error is answered with."""
    return Problem(status_of(error), error.kind, error.title, error.detail, **error.facts)


def _kinds(cls: type[GatewayError]) -> set[type[GatewayError]]:
    return {cls}.union(*(_kinds(sub) for sub in cls.__subclasses__()))


# The problem types that say "try again" (never replayed for an Idempotency-Key).
RETRY_TYPES: Final = frozenset(PROBLEM_BASE + c.kind for c in _kinds(GatewayError) if c.retriable)


def install_error_handler(app: FastAPI) -> None:
    """Answer every GatewayError a route raises as problem+json."""

    @app.exception_handler(GatewayError)
    async def _answer(_req: Request, exc: GatewayError) -> JSONResponse:
        return problem_of(as_problem(exc))
