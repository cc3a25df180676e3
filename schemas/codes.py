"""Identifier checks and code lists of the single window (domain.md §2.5)."""

from __future__ import annotations

import re
from functools import lru_cache

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_PATTERN = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

HS_CODE_PATTERN = re.compile(r"\d{10}")
# Customs registration code: 4 location + zone (1-5, 9) + type (1-9) + 4 sequence (letters allowed).
CUSTOMS_CODE_PATTERN = re.compile(r"\d{4}[1-59][1-9][0-9A-Z]{4}")

# ISO 3166-1 alpha-3 codes the simulator knows (a working subset of real codes).
COUNTRIES: frozenset[str] = frozenset(
    "ARE ARG AUS AUT BEL BGD BRA CAN CHE CHL CHN COL CZE DEU DNK EGY ESP FIN FRA GBR GRC HKG "
    "HUN IDN IND IRL ISR ITA JPN KAZ KEN KHM KOR LAO LIE LKA MAC MEX MMR MNG MYS NGA NLD NOR "
    "NZL PAK PER PHL POL PRT QAT ROU RUS SAU SGP SWE THA TUR TWN UKR USA VNM ZAF".split()
)

# ISO 4217 codes with the CEB numeric code beside each (domain.md §2.5).
CURRENCIES: dict[str, str] = {
    "CNY": "142",
    "HKD": "110",
    "JPY": "116",
    "SGD": "132",
    "EUR": "300",
    "GBP": "303",
    "CAD": "501",
    "USD": "502",
    "AUD": "601",
}


def uscc_check_char(first17: str) -> str:
    """Return the check character of a unified social credit code (GB 32100-2015)."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """Return the check character of a 9-character organisation code (GB 11714)."""
    total = sum(ORG_CHARSET.index(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


@lru_cache(maxsize=65536)
def uscc_problem(code: str) -> str | None:
    """Say what is wrong with a unified social credit code, or None if it is valid.

    Remembered: every message carrying a declaration validates its parties again, and the
    same few traders' codes come back all day (pure, so the cache changes no answer).
    """
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    if not USCC_PATTERN.fullmatch(code):
        return "must use digits and the letters A-H, J-N, P, Q, R, T, U, W, X, Y only"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    org = code[8:17]
    if all(c in ORG_CHARSET for c in org[:8]):
        org_expected = org_code_check_char(org[:8])
        if org[8] != org_expected:
            return (
                f"organisation code check character (position 17) is {org[8]!r}, "
                f"expected {org_expected!r}"
            )
    return None


def make_uscc(first16: str) -> str:
    """Complete 16 leading characters into a valid USCC (both check characters)."""
    org_check = org_code_check_char(first16[8:16])
    first17 = first16 + org_check
    return first17 + uscc_check_char(first17)
