"""lstm_course.teach.claims: how measured numbers print in the prose, and claims that fail loudly."""

import pytest

from lstm_course.teach.claims import ClaimBroken, claim, shown


@pytest.mark.parametrize("value, fmt, text", [
    (0.98123, ".2f", "0.98"),
    (0.847, ".1%", "84.7%"),
    (8.2e13, ".1e", "8.2 × 10¹³"),
    (2.6e-8, ".1e", "2.6 × 10⁻⁸"),
    (12345.6, ",.0f", "12,346"),
])
def test_shown_prints_in_its_format_and_computes_as_the_number(value, fmt, text):
    number = shown(value, fmt)
    assert repr(number) == str(number) == f"{number}" == text
    assert number * 2 == pytest.approx(value * 2) and type(number * 2) is float


def test_claim_passes_silently_when_true_and_names_the_sentence_when_false():
    claim(0.9 > 0.5, "the LSTM beats chance")
    with pytest.raises(ClaimBroken, match=r"'the LSTM beats chance'.*acc = 0\.40") as err:
        claim(0.4 > 0.5, "the LSTM beats chance", acc=shown(0.4, ".2f"))
    assert isinstance(err.value, AssertionError)
