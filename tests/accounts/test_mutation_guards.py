"""Credential checks at their boundaries (issue 18): the password policy, token lifetimes,
password verification and the login backoff, each at, just under and just over its limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from triggerpoint.accounts import throttle
from triggerpoint.accounts.service import (
    MAX_PASSWORD,
    MAX_TOKEN_DAYS,
    MIN_PASSWORD,
    MIN_SCORE,
    MIN_TOKEN_DAYS,
    AccountError,
    _token_lifetime,
    check_password_strength,
    hash_password,
    normalise_password,
    verify_password,
)
from triggerpoint.config import get_settings

STRONG = "violet tractor harbour quinoa"  # zxcvbn 4


def refusal(password: str, **kw) -> str:
    with pytest.raises(AccountError) as err:
        check_password_strength(password, **kw)
    assert err.value.field == "password"
    return str(err.value)


def _unguessable(n: int) -> str:
    """n visible characters zxcvbn scores as hard to guess."""
    return ("Vq7#mZ2!rT9@kW4$xL8%" * 20)[:n]


def test_a_password_of_exactly_the_minimum_length_is_accepted():
    check_password_strength(_unguessable(MIN_PASSWORD))


def test_a_password_one_character_short_is_refused_saying_how_long():
    assert refusal(_unguessable(MIN_PASSWORD - 1)) == (
        f"must be at least {MIN_PASSWORD} characters (not counting spaces or invisible "
        "characters); a few unrelated words make a good one"
    )


def test_spaces_and_invisible_characters_do_not_count_towards_the_length():
    padded = _unguessable(MIN_PASSWORD - 1) + " \u200b\t"
    assert "must be at least" in refusal(padded)


def test_a_password_of_only_spaces_or_invisible_characters_is_refused():
    assert refusal(" \u200b" * 10) == "must not be only spaces or invisible characters"


def test_a_password_one_character_over_the_maximum_is_refused():
    assert refusal(_unguessable(MAX_PASSWORD + 1)) == f"must be at most {MAX_PASSWORD} characters"


def test_a_long_passphrase_within_the_maximum_is_accepted():
    # zxcvbn 4.5 raised ValueError above 72 characters, which reached the user as a 500.
    check_password_strength(_unguessable(80))
    check_password_strength(_unguessable(MAX_PASSWORD))


def test_a_password_containing_the_username_is_refused_whatever_its_case():
    assert refusal(f"{STRONG} JoBloggs", username="jobloggs") == "must not contain the username"


def test_a_two_letter_username_inside_a_password_is_not_a_reason_to_refuse():
    check_password_strength(STRONG, username="ar")  # "ar" is in "harbour"


def test_a_password_containing_the_clinic_or_full_name_is_refused_naming_it():
    assert refusal(f"{STRONG} Oakwood", user_inputs=[" Oakwood "]) == "must not contain 'Oakwood'"


def test_a_name_of_three_letters_inside_a_password_is_not_a_reason_to_refuse():
    check_password_strength(STRONG, user_inputs=["our"])  # "our" is in "harbour"


def test_a_guessable_password_is_refused_with_zxcvbn_s_reason():
    text = refusal("password1234")
    assert text.startswith("is too easy to guess (")
    assert text.endswith("); a few unrelated words make a good one")
    assert ".)" not in text


def test_the_same_password_typed_with_decomposed_accents_verifies():
    composed, decomposed = (
        "café crème brûlée tartine",
        "cafe\u0301 cre\u0300me bru\u0302le\u0301e tartine",
    )
    assert normalise_password(decomposed) == composed
    assert verify_password(hash_password(composed), decomposed)
    assert not verify_password(hash_password(composed), "cafe creme brulee tartine")


def test_a_damaged_hash_never_verifies():
    assert not verify_password("not-a-hash", STRONG)
    assert not verify_password(hash_password(STRONG)[:-4] + "AAAA", STRONG)


@pytest.mark.parametrize(
    "days", [MIN_TOKEN_DAYS, MIN_TOKEN_DAYS + 1, MAX_TOKEN_DAYS - 1, MAX_TOKEN_DAYS]
)
def test_a_token_lifetime_inside_the_range_is_accepted(days):
    assert _token_lifetime(days) == timedelta(days=days)


@pytest.mark.parametrize("days", [MIN_TOKEN_DAYS - 1, MAX_TOKEN_DAYS + 1, -5])
def test_a_token_lifetime_outside_the_range_is_refused_naming_the_range(days):
    with pytest.raises(AccountError) as err:
        _token_lifetime(days)
    assert err.value.field == "expires_days"
    assert str(err.value) == f"must be between {MIN_TOKEN_DAYS} and {MAX_TOKEN_DAYS} days"


@pytest.mark.parametrize("days", [True, 2.5, "30"])
def test_a_token_lifetime_that_is_not_a_whole_number_of_days_is_refused_naming_the_field(days):
    with pytest.raises(AccountError) as err:
        _token_lifetime(days)
    assert err.value.field == "expires_days"
    assert str(err.value) == "must be a whole number of days"


def test_a_token_without_a_lifetime_gets_the_configured_default():
    assert _token_lifetime(None) == timedelta(days=get_settings().token_days)


def test_no_wait_before_the_free_failures_are_used_up():
    base = get_settings().login_backoff_seconds
    assert throttle.backoff_seconds(4, 5) == 0
    assert throttle.backoff_seconds(5, 5) == base
    assert throttle.backoff_seconds(6, 5) == 2 * base
    assert throttle.backoff_seconds(7, 5) == 4 * base


def test_the_wait_never_exceeds_the_lockout_cap():
    cap = get_settings().login_lockout_minutes * 60
    assert throttle.backoff_seconds(5 + 40, 5) == cap
    assert throttle.backoff_seconds(5 + 10_000, 5) == cap


def test_without_a_username_no_part_of_a_password_is_refused_as_one():
    # "xxxx" stands for any text: with no username given there is none to find in it.
    check_password_strength(f"{STRONG} xxxx")


def test_a_three_letter_username_inside_a_password_is_refused():
    # the boundary: two letters are allowed (above), three are refused
    assert refusal(f"{STRONG} bob", username="bob") == "must not contain the username"


def test_a_four_letter_name_inside_a_password_is_refused_naming_it():
    # the boundary: three letters are allowed (above), four are refused; "trac" is in "tractor"
    assert refusal(STRONG, user_inputs=["Trac"]) == "must not contain 'Trac'"


def test_a_password_built_from_the_words_of_the_full_name_is_too_easy_to_guess():
    # Neither the whole name nor the username is inside it, but its words are: zxcvbn is told
    # them one by one, and scores "vorqenzyxkla" 1 with them and 4 without.
    # zxcvbn gives no warning for it, so the refusal gives the general reason
    assert refusal("vorqenzyxkla", user_inputs=["Zyxkla Vorqen-Plimb"]) == (
        "is too easy to guess (it follows a common pattern); a few unrelated words make a good one"
    )


def test_a_password_zxcvbn_scores_exactly_the_minimum_is_accepted():
    # the boundary: score 1 is refused (above), MIN_SCORE (3) is accepted
    from zxcvbn import zxcvbn

    name = "Zyxkla Vorqen-Plimb"
    password = "plimbvorqenzyxkla"
    assert zxcvbn(password, user_inputs=[name, "Zyxkla", "Vorqen", "Plimb"])["score"] == MIN_SCORE
    check_password_strength(password, user_inputs=[name])


def test_a_common_password_is_refused_with_zxcvbn_s_own_warning():
    assert refusal("password1234") == (
        "is too easy to guess (This is a very common password); a few unrelated words make a "
        "good one"
    )


def test_a_hash_made_before_normalisation_still_verifies_the_password_as_typed():
    from triggerpoint.accounts import service

    typed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e tartine"  # decomposed accents
    assert normalise_password(typed) != typed
    old_hash = service._hasher().hash(typed)  # hashed raw, as before NFKC was applied
    assert verify_password(old_hash, typed)


def test_after_a_failure_the_address_may_try_once_per_backoff_window():
    base = get_settings().login_backoff_seconds
    window = throttle._wait_window(6, 5)
    assert window.amount == 1
    assert window.get_expiry() == throttle.backoff_seconds(6, 5) == 2 * base
