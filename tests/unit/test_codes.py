"""Unified social credit code checks (GB 32100-2015, domain.md §2.5)."""

from __future__ import annotations

import pytest

from schemas.codes import make_uscc, org_code_check_char, uscc_check_char, uscc_problem

DEMO = "91350100M000100Y43"


def test_domain_example_uscc_passes_both_checks() -> None:
    """91350100M000100Y43 (domain.md §2.5).

    Organisation code M000100Y|4, weights 3 7 9 10 5 8 4 2:
      M=22 → 22×3 = 66; 1×5 = 5; Y=34 → 34×2 = 68; Σ = 139; 139 mod 11 = 7; 11 − 7 = 4 → '4'.
    USCC, charset indices 9 1 3 5 0 1 0 0 M=21 0 0 0 1 0 0 Y=30 4,
      weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28:
      9 + 3 + 27 + 135 + 26 + 420 + 8 + 900 + 112 = 1640; 1640 mod 31 = 28; 31 − 28 = 3 → '3'.
    """
    assert org_code_check_char("M000100Y") == "4"
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_problem(DEMO) is None


def test_changed_check_character_fails_naming_the_expected_one() -> None:
    problem = uscc_problem(DEMO[:17] + "4")
    assert problem == "check character is '4', expected '3'"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_forbidden_letters_are_refused(letter: str) -> None:
    """I, O, S, V and Z are not in the USCC charset, wherever they stand."""
    for position in (0, 8, 15):
        code = DEMO[:position] + letter + DEMO[position + 1 :]
        problem = uscc_problem(code)
        assert problem is not None
        assert "letters A-H, J-N, P, Q, R, T, U, W, X, Y only" in problem


def test_letter_in_the_administrative_division_is_refused() -> None:
    """Characters 3-8 are the 6-digit division code: digits only."""
    problem = uscc_problem("9135A100M000100Y43")
    assert problem is not None and "letters" in problem


def test_lowercase_is_refused() -> None:
    assert uscc_problem(DEMO.lower()) is not None


@pytest.mark.parametrize("code", ["", DEMO[:17], DEMO + "0", "9135"])
def test_wrong_length_is_refused_naming_the_length(code: str) -> None:
    assert uscc_problem(code) == f"must be 18 characters, got {len(code)}"


def test_wrong_inner_organisation_check_fails_even_with_a_valid_outer_check() -> None:
    """M000100Y must end in 4 (see above); end it in 5 and recompute the outer check character."""
    first17 = "91350100M000100Y5"
    code = first17 + uscc_check_char(first17)
    assert code[17] != "3"  # the outer check now agrees with the wrong inner one
    assert uscc_problem(code) == (
        "organisation code check character (position 17) is '5', expected '4'"
    )


def test_organisation_check_ten_becomes_x() -> None:
    """71526726: 7×3 + 1×7 + 5×9 + 2×10 + 6×5 + 7×8 + 2×4 + 6×2 = 199; 199 mod 11 = 1; 11 − 1 = 10 → X."""
    assert org_code_check_char("71526726") == "X"
    code = make_uscc("9144030071526726")
    assert code[16] == "X"
    assert uscc_problem(code) is None


def test_organisation_check_eleven_becomes_zero() -> None:
    """00000000: Σ = 0; 0 mod 11 = 0; 11 − 0 = 11 → '0'."""
    assert org_code_check_char("00000000") == "0"


def test_uscc_check_thirty_one_becomes_zero() -> None:
    """All zeros: Σ = 0; 31 − 0 = 31 → 0 → '0'."""
    assert uscc_check_char("0" * 17) == "0"


def test_make_uscc_completes_the_domain_example() -> None:
    assert make_uscc("91350100M000100Y") == DEMO


@pytest.mark.parametrize(
    "first16",
    [
        "91350100M000100Y",
        "9144030071526726",
        "1211000040000709",
        "Y1110000MA01234A",
        "00000000" * 2,
    ],
)
def test_make_uscc_round_trips_through_the_check(first16: str) -> None:
    code = make_uscc(first16)
    assert len(code) == 18
    assert code.startswith(first16)
    assert uscc_problem(code) is None
