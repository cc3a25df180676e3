"""The gateway's errors are answered in one place: each class's status, type and facts."""

from __future__ import annotations

import pytest

from gateway.core import errors
from gateway.core.errors import (
    RETRY_TYPES,
    AlreadyEnded,
    ChangedMeanwhile,
    GatewayError,
    Gone,
    Invalid,
    NotFound,
    NothingHeld,
    NotStalled,
    ReferenceInUse,
    Unauthorized,
    as_problem,
    status_of,
)
from services.common.changes import VersionConflict, is_conflict
from services.common.handling import HandlerError
from services.common.problems import PROBLEM_BASE


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (NotFound("no declaration d1"), 404, "not-found"),
        (Gone("declaration d1 was purged"), 410, "gone"),  # its own status, not NotFound's
        (NotStalled("declaration d1 is not stalled"), 409, "not-applicable"),
        (AlreadyEnded("declaration d1 has already ended"), 409, "not-applicable"),
        (NothingHeld("no stage is waiting"), 409, "nothing-held"),
        (ChangedMeanwhile("the declaration moved; try again"), 409, "conflict"),
        (Unauthorized("unknown API key"), 401, "unauthorized"),
        (Invalid("x: bad", field="x", rule="r", message="bad"), 422, "validation"),
    ],
)
def test_each_error_has_the_status_of_its_nearest_class(
    error: GatewayError, status: int, kind: str
) -> None:
    assert (status_of(error), error.kind) == (status, kind)


def test_the_problem_carries_the_detail_and_the_facts_the_domain_gave() -> None:
    problem = as_problem(
        ReferenceInUse("reference 'PO-1' is taken", field="reference", declaration_id="d0")
    )
    assert (problem.status, problem.slug, problem.title) == (
        409,
        "reference-in-use",
        "Reference already used",
    )
    assert problem.detail == "reference 'PO-1' is taken"
    assert problem.extra == {"field": "reference", "declaration_id": "d0"}


def test_an_invalid_request_names_its_field_and_rule() -> None:
    problem = as_problem(
        Invalid(
            "received_on: 2026-01-01 is before the goods were released (2026-01-02)",
            field="received_on",
            rule="forex.received_after_release",
            message="must be on or after 2026-01-02",
        )
    )
    assert problem.extra["errors"] == [
        {
            "field": "received_on",
            "rule": "forex.received_after_release",
            "message": "must be on or after 2026-01-02",
        }
    ]


def test_only_a_changed_meanwhile_says_try_again() -> None:
    assert RETRY_TYPES == {PROBLEM_BASE + "conflict"}
    assert [c.__name__ for c in vars(errors).values() if isinstance(c, type) and
            issubclass(c, GatewayError) and c.retriable] == ["ChangedMeanwhile"]  # fmt: skip


def test_every_error_class_maps_to_a_status() -> None:
    def all_of(cls: type[GatewayError]) -> list[type[GatewayError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in all_of(sub))]

    unmapped = [c.__name__ for c in all_of(GatewayError)[1:] if not _mapped(c)]
    assert unmapped == []


def _mapped(cls: type[GatewayError]) -> bool:
    return any(c in errors.STATUS for c in cls.__mro__)


def test_the_group_commit_retries_what_says_it_is_retriable_and_refuses_the_rest() -> None:
    assert is_conflict(VersionConflict("records moved"))
    assert not is_conflict(HandlerError("unknown_declaration", "no such declaration"))
