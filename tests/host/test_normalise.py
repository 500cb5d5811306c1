"""Values normalised once, at the door (graph/normalise.py): a declared value typed in any
case, spacing or Unicode form means it, an email in any spelling is one person, and names
that look alike share a key (tests/postmark/test_normalise.py: Postmark's member file
stored as declared; test_member_columns.py: look-alike servers)."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from idgraph.graph.model import person_id
from idgraph.graph.normalise import canonical, canonical_email, fold, lookalike_keys

# declared values as a member format declares them: words with a space, case that matters
ROLES = ("Account Owner", "Account Admin", "User")
ACCESS = ("full", "view", "none")
CYRILLIC_O = "\u043e"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE


def test_fold_and_canonical():
    assert fold("  ACCOUNT   admin ") == "account admin"
    assert canonical(" account OWNER", ROLES) == "Account Owner"
    assert canonical("Superuser", ROLES) is None
    assert canonical("Ｆull", ("full", "view")) is None  # a full-width letter is not folded


def _respelled(draw, text: str) -> str:
    """`text` as a person may type it: any case per letter, spaces around and doubled
    inside, composed or decomposed."""
    letters = [c.upper() if draw(st.booleans()) else c.lower() for c in text]
    spaced = "".join(letters).replace(" ", " " * draw(st.integers(1, 3)))
    form = draw(st.sampled_from(["NFC", "NFD"]))
    pad = " " * draw(st.integers(0, 2))
    return pad + unicodedata.normalize(form, spaced) + pad


@st.composite
def typed_choice(draw):
    choices = draw(st.sampled_from([ROLES, ACCESS, ("yes", "no", "unknown")]))
    choice = draw(st.sampled_from(choices))
    return choices, choice, _respelled(draw, choice)


@given(typed_choice())
def test_any_spelling_of_a_declared_value_means_it(case):
    choices, choice, typed = case
    assert canonical(typed, choices) == choice


@given(st.data(), st.sampled_from(["josé.núñez@acme-corp.example", "ÅSA@b.example", "x@y.example"]))
def test_any_spelling_of_an_email_is_one_person(data, email):
    typed = _respelled(data.draw, email)
    assert person_id(typed) == person_id(email) == f"person:{canonical_email(email)}"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Acme Production", f"Acme Pr{CYRILLIC_O}duction"),
        ("Padded", " Padded "),
        ("Billing", "BILLING"),
        ("Billing", f"Bill{RLO}ing"),
        ("Legacy Importer", "Legacy  Importer"),
        ("mail1", "maill"),
    ],
)
def test_lookalike_names_share_a_key(one, other):
    assert lookalike_keys(one) & lookalike_keys(other)


@pytest.mark.parametrize(("one", "other"), [("Billing", "Marketing"), ("Café", "Cafe")])
def test_different_names_share_no_key(one, other):
    assert not lookalike_keys(one) & lookalike_keys(other)
