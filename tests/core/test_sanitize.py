"""Redaction and capping of recorded values."""

from __future__ import annotations

import base64
import enum
import json
import string
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace import sanitize
from pytest_agenttrace.sanitize import (
    _SCHEMES,
    _SECRET_TEXT,
    _URL_PASSWORD,
    REDACTED,
    Limits,
    _redact_match,
    _redact_scheme,
    _redact_url_password,
    clean,
    is_secret_key,
    redact_text,
    scrub_known_secrets,
)


@pytest.mark.parametrize(
    "key", ["api_key", "OPENAI_API_KEY", "Authorization", "password", "client_secret", "x-api-key", "access_token", "cookie"]
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["input_tokens", "output_tokens", "max_tokens", "author", "query", "tokenizer", "keys"])
def test_harmless_keys(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdefghijklmnopqrstuvwx end", f"key {REDACTED} end"),
        ("Authorization: Bearer abc.def-ghi_jkl", f"Authorization: Bearer {REDACTED}"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123", REDACTED),
        ("AKIAABCDEFGHIJKLMNOP", REDACTED),
        ("https://x.org/?user=a&password=hunter2&q=1", f"https://x.org/?user=a&password={REDACTED}&q=1"),
        ("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", REDACTED),
        ("an ordinary sentence about tokens", "an ordinary sentence about tokens"),
    ],
)
def test_secret_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_clean_nested_values() -> None:
    value = {"headers": {"Authorization": "Bearer x"}, "items": list(range(5)), 3: ("a", {"password": None})}
    assert clean(value) == {"headers": {"Authorization": REDACTED}, "items": [0, 1, 2, 3, 4], "3": ["a", {"password": None}]}


def test_caps_are_explicit() -> None:
    limits = Limits(max_string=5, max_items=2, max_depth=2)
    assert clean("abcdefgh", limits) == "abcde…[agenttrace: truncated 3 of 8 chars]"
    assert clean([1, 2, 3, 4], limits) == [1, 2, "…[agenttrace: truncated 2 of 4 items]"]
    assert clean({"a": 1, "b": 2, "c": 3}, limits)["…"] == "[agenttrace: truncated 1 of 3 keys]"
    assert "nested deeper than 2" in clean([[[1]]], Limits(max_depth=2, max_string=100))[0][0]


def test_non_json_values_become_safe_text() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError

    assert clean(float("nan")) == "nan"
    assert clean(b"abc") == "<3 bytes>"
    assert clean(Weird()) == "<unrepresentable Weird>"
    assert clean({1, 2}) in ([1, 2], [2, 1])


def test_redaction_can_be_switched_off() -> None:
    assert clean({"api_key": "k"}, Limits(redact=False)) == {"api_key": "k"}


_fragments = st.sampled_from(
    ["sk-proj-abcdefghijklmnopqrstu", "Bearer abcdefgh123", "ghp_" + "a" * 24, "xoxb-1234567890ab", "AKIA" + "B" * 16,
     "AIza" + "c" * 32, "eyJabcdefgh.eyJabcdefgh.abcdefghij", " password=hunter2", "token=xyz", "plain words ", "=", "&",
     "bEaReR", "BASIC", "basic", "Token", "dXNlcjpwYXNzd29yZA==", "a1" * 20, "%20", "+", "\t", "~", "(PassWord='a b')",
     "postgres://user:hunter2@db", "://", "@", ":", "/"]
)  # fmt: skip


@given(st.lists(st.one_of(_fragments, st.text(max_size=12)), max_size=8).map("".join))
def test_property_trigger_prefilter_never_changes_the_result(text: str) -> None:
    passes = _URL_PASSWORD.sub(_redact_url_password, text)
    assert redact_text(text) == _SECRET_TEXT.sub(_redact_match, _SCHEMES.sub(_redact_scheme, passes))


@given(st.text(alphabet="sk-projghpux_AKIaIzaeyJbBeEaArRsScCtToOnN%20+\t .:/", min_size=8, max_size=13))
def test_property_no_secret_without_an_equals_sign_is_shorter_than_the_shortcut(text: str) -> None:
    # _redact_secrets returns text under 14 characters without "=" or "@" unscanned: nothing there can match.
    if "=" not in text and "@" not in text:
        assert _SECRET_TEXT.sub(_redact_match, _SCHEMES.sub(_redact_scheme, text)) == text
        assert _URL_PASSWORD.sub(_redact_url_password, text) == text
    for shortest in ("basic abcdefgh", "Bearer abcdefgh"):  # the shortest matches: at the shortcut's bound
        assert len(shortest) >= sanitize._SHORTEST_SECRET_WITHOUT_EQUALS
    assert redact_text("bearer abcdefgh") == "bearer [REDACTED]"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgres://user:hunter2hunter@host/db", "postgres://user:[REDACTED]@host/db"),
        ("redis://:s3cr3t@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
        ("dsn=mysql://root:p@ss@db:3306/x", "dsn=mysql://root:[REDACTED]@db:3306/x"),  # a raw "@" in it
        ("a://u:pw@h", "a://u:[REDACTED]@h"),  # short, and no "=": still scanned
        ("postgres://user:pw123456@[::1]:5432/db", "postgres://user:[REDACTED]@[::1]:5432/db"),  # an IPv6 host
        ("postgres://u:ab]cd1234@host/db", "postgres://u:[REDACTED]@host/db"),  # a raw bracket in it
        ("see http://[::1]:8080/x and a@b", "see http://[::1]:8080/x and a@b"),
        ("https://user@example.com/a@b", "https://user@example.com/a@b"),  # no password: kept
        ("http://host:8080/path", "http://host:8080/path"),  # a port is no password
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_a_urls_password_is_redacted_and_its_user_kept(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_a_urls_password_is_scrubbed_wherever_it_shows_up_later() -> None:
    clean({"dsn": "postgres://user:correct-horse-9@host/db"})
    assert "correct-horse-9" not in sanitize.scrub_known_secrets("the value was 'correct-horse-9'")


_TOKEN = "abcdefghijklmnop1234"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s.
        ("Bearer abcdefghij~klmnopqrstuvwxyz0123456789", "Bearer [REDACTED]"),
        ("Bearer abcd~efghijklmnop1234", "Bearer [REDACTED]"),
        ("Bearer ab+c/d.e_f-g~h==", "Bearer [REDACTED]"),
        # The scheme word in any case, after any run of whitespace, %20 or + (URL or form encoded).
        (f"BEARER {_TOKEN}", "BEARER [REDACTED]"),
        (f"bEaReR {_TOKEN}", "bEaReR [REDACTED]"),
        (f"Bearer  {_TOKEN}", "Bearer  [REDACTED]"),
        (f"Bearer\t{_TOKEN}", "Bearer\t[REDACTED]"),
        (f"GET /x?auth=Bearer%20{_TOKEN}&page=2", "GET /x?auth=Bearer%20[REDACTED]&page=2"),
        ("Authorization=Bearer+abcdefgh%2Bij%2F%3D%3D", "Authorization=Bearer+[REDACTED]"),
        # A word an earlier match ate still introduces a token.
        (f"token=Bearer {_TOKEN}", "token=[REDACTED] [REDACTED]"),
        # Prose keeps its short words; a long one after "bearer" is taken for a token (the safe side).
        ("the bearer of this letter is entitled to the sum", "the bearer of this letter is entitled to the sum"),
        ("bearer authentication (RFC 6750)", "bearer [REDACTED] (RFC 6750)"),
        ("Bearer short", "Bearer short"),
    ],
)
def test_bearer_tokens_are_redacted_whole(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert clean({"hdr": text}) == {"hdr": expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=", "Authorization: Basic [REDACTED]"),  # username:password
        ("authorization: BASIC YWRtaW46YWRtaW4", "authorization: BASIC [REDACTED]"),  # padding left off
        ("auth=Basic%20c2tfdGVzdF8xMjM6%3D%3D", "auth=Basic%20[REDACTED]"),  # "sk_test_123:" URL-encoded
        # "basic" is a word: what follows is kept unless it decodes to printable user:password text.
        ("Basic Overview of the API", "Basic Overview of the API"),  # decodes to b":\xbd..."
        ("basic information about tokens", "basic information about tokens"),
        ("Basic abcdefghAKIA" + "B" * 16, "Basic abcdefgh[REDACTED]"),  # a kept word is still searched
        # GitHub's and Django REST framework's "token <40 hex>"; other hex runs are kept.
        ("Authorization: token 0123456789abcdef0123456789abcdef01234567", "Authorization: token [REDACTED]"),
        ("Authorization: Token 9944B09199C62BCF9418AD846DD0E4BBDFC6EE4B", "Authorization: Token [REDACTED]"),
        ("commit 0123456789abcdef0123456789abcdef01234567", "commit 0123456789abcdef0123456789abcdef01234567"),
        ("token " + "a" * 41, "token " + "a" * 41),
    ],
)
def test_basic_and_token_credentials(text: str, expected: str) -> None:
    assert redact_text(text) == expected


_B64TOKEN = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(alphabet=string.ascii_letters + string.digits + "-._~+/", min_size=8, max_size=40).filter(
        lambda body: not body.startswith("+")  # a leading "+" reads as part of the separator (below)
    ),
    st.integers(0, 2),
)


@given(
    st.sampled_from(["", "Authorization: ", "GET /x?auth=", "headers={'a': '"]),
    st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]),
    st.sampled_from([" ", "  ", "\t", " \t ", "%20", "+", "\n"]),
    _B64TOKEN,
    st.sampled_from(["", " next", "&page=2", "'}", "\n", ", x"]),
)
def test_property_a_bearer_token_is_redacted_whole(prefix: str, word: str, sep: str, token: str, suffix: str) -> None:
    assert redact_text(f"{prefix}{word}{sep}{token}{suffix}") == f"{prefix}{word}{sep}{REDACTED}{suffix}"


def test_a_leading_plus_of_a_bearer_token_reads_as_the_separator() -> None:
    # "+" is a space in a form-encoded body (Bearer+abc...): one "+" of a token may stay in view.
    assert redact_text("Bearer +abcdefgh12") == "Bearer +[REDACTED]"


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "_.@-!", min_size=1, max_size=12),
    st.text(alphabet=string.printable.strip(), min_size=4, max_size=24),
    st.sampled_from(["Basic", "basic", "BASIC"]),
    st.sampled_from([" ", "  ", "%20"]),
)
def test_property_basic_credentials_are_redacted_whole(user: str, password: str, word: str, sep: str) -> None:
    cred = base64.b64encode(f"{user}:{password}".encode()).decode()
    if sep == "%20":
        cred = quote(cred, safe="")
    assert redact_text(f"Authorization: {word}{sep}{cred}\n") == f"Authorization: {word}{sep}{REDACTED}\n"


def test_a_redacted_basic_credential_is_remembered() -> None:
    redact_text("Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=")
    assert scrub_known_secrets("E   assert '...Nlcm5hbWU6cGFzc3' == 'x'") == "E   assert '...[REDACTED]' == 'x'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A repr: the first field follows "(", a quoted value is taken whole (spaces included).
        ("Settings(password='correct horse battery', host='x')", "Settings(password=[REDACTED], host='x')"),
        ('Settings(host="x", api_key="a b c")', 'Settings(host="x", api_key=[REDACTED])'),
        ("PASSWORD=hunter2 next", "PASSWORD=[REDACTED] next"),
        ("x&Secret=abc&y=1", "x&Secret=[REDACTED]&y=1"),
        # Query parameters of Azure/APIM (api-key) and OAuth 2 (access_token, RFC 6750 2.3).
        ("https://gw/v1?api-key=0123abcd&x=1", "https://gw/v1?api-key=[REDACTED]&x=1"),
        ("https://gw/v1?Api-Key=0123abcd", "https://gw/v1?Api-Key=[REDACTED]"),
        ("https://idp/cb?access_token=ya29.abc&state=s", "https://idp/cb?access_token=[REDACTED]&state=s"),
        ("refresh_token=rt-abc client_secret=cs-abc", "refresh_token=[REDACTED] client_secret=[REDACTED]"),
    ],
)
def test_name_value_pairs_in_reprs_and_any_case(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_cleaning_what_was_cut_keeps_the_counts() -> None:
    limits = Limits(max_string=5, max_items=2, max_depth=4)
    once = clean({"text": "abcdefgh", "items": [1, 2, 3, 4], "keys": {"a": 1, "b": 2, "c": 3}}, limits)
    assert clean(once, limits) == once
    assert once["text"] == "abcde…[agenttrace: truncated 3 of 8 chars]"
    # A tighter limit later cuts again, counting from the original length.
    assert clean(once["text"], Limits(max_string=2)) == "ab…[agenttrace: truncated 6 of 8 chars]"
    # Text that only looks like a marker (its counts do not match) is cut as any text.
    fake = "abcdef…[agenttrace: truncated 1 of 2 chars]"
    assert clean(fake, limits) == f"abcde…[agenttrace: truncated {len(fake) - 5} of {len(fake)} chars]"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.sampled_from(["sk-proj-abcdefghijklmnopqrstu"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=20,
)


@given(_json_values, st.integers(1, 12), st.integers(1, 4), st.integers(1, 5))
def test_property_cleaning_is_idempotent(value: object, max_string: int, max_items: int, max_depth: int) -> None:
    """Clean data cleaned again is unchanged: a trace exported and imported again keeps every value."""
    limits = Limits(max_string=max_string, max_items=max_items, max_depth=max_depth)
    once = clean(value, limits)
    assert clean(once, limits) == once


@pytest.mark.parametrize(
    "marker",
    [
        "…[agenttrace: truncated " + "1" * 5000 + " of " + "1" * 5000 + " chars]",  # past int()'s digit limit
        "…[agenttrace: truncated " + "1" * 4000 + " of " + "1" * 4000 + " chars]",
        "x" * 30 + "…[agenttrace: truncated 05 of 35 chars]",
    ],
)
def test_text_that_only_looks_like_a_cut_is_capped_as_any_text(marker: str) -> None:
    limits = Limits(max_string=20, max_items=1)
    out = clean(marker, limits)
    assert out == f"{marker[:20]}…[agenttrace: truncated {len(marker) - 20} of {len(marker)} chars]"
    listed = clean(["a", marker.replace("chars]", "items]")], limits)
    assert len(listed) == 2 and listed[1].startswith("…[agenttrace: truncated 1 of 2 items]")


KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6"


def test_fragments_of_a_redacted_secret_are_scrubbed_from_report_text() -> None:
    text = "assert {'note': 'the...U1v2W3x4Y5z6'} == {}; key = 'sk-proj-' + 'A1b2C3d4E5f6G7h8I9j0'; pw 'horse battery'"
    assert scrub_known_secrets(text) == text  # nothing redacted yet: only what looks like a secret goes
    assert clean({"note": f"the key is {KEY}", "password": "correct horse battery"}) == {
        "note": "the key is [REDACTED]",
        "password": REDACTED,
    }
    assert scrub_known_secrets(text) == (
        "assert {'note': 'the...[REDACTED]'} == {}; key = 'sk-proj-' + '[REDACTED]'; pw '[REDACTED]'"
    )
    # Pieces shorter than ten characters are kept: they are too short to tell from ordinary text.
    assert scrub_known_secrets("A1b2C3d4E and W3x4Y5z6") == "A1b2C3d4E and W3x4Y5z6"
    assert scrub_known_secrets(f"full: {KEY}.") == "full: [REDACTED]."


def test_the_remembered_secrets_are_bounded() -> None:
    for i in range(600):
        redact_text(f"token sk-test-{i:04d}abcdefghijklmnop")
    assert len(sanitize._REDACTED_SEEN) == 512
    assert scrub_known_secrets("0599abcdefghij") == REDACTED  # the newest are kept
    assert scrub_known_secrets("sk-test-0000abcdefgh") == REDACTED  # still a secret by its pattern
    assert scrub_known_secrets("0000abcdefghij") == REDACTED  # a window shared with newer secrets


_ALNUM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=60)


@given(_ALNUM, st.lists(st.tuples(st.integers(0, 59), st.integers(10, 60)), max_size=4), st.text(max_size=40))
def test_property_no_ten_character_piece_of_a_redacted_secret_survives(
    secret: str, cuts: list[tuple[int, int]], filler: str
) -> None:
    sanitize._forget_redacted()
    clean({"api_key": secret})
    pieces = [secret[start : start + length] for start, length in cuts]
    text = filler.join(["before", *pieces, "after"])
    scrubbed = scrub_known_secrets(text)
    assert not any(secret[i : i + 10] in scrubbed for i in range(len(secret) - 9))
    assert scrub_known_secrets(scrubbed) == scrubbed


def test_default_reprs_lose_their_memory_address() -> None:
    # The address changes from run to run: kept, it made every golden of such a value fail.
    class Obj:
        pass

    def gen() -> object:
        yield 1

    assert clean(Obj()) == f"<{__name__}.test_default_reprs_lose_their_memory_address.<locals>.Obj object>"
    assert clean({"g": gen()}) == {"g": "<generator object test_default_reprs_lose_their_memory_address.<locals>.gen>"}
    assert clean("text at 0x10>") == "text at 0x10>"  # strings are data: kept as they are


def test_keys_redacted_alike_are_both_kept() -> None:
    out = clean({"Bearer abcdefghijklmnop": "user-a quota", "Bearer qrstuvwxyz012345": "user-b quota"})
    assert out == {"Bearer [REDACTED]": "user-a quota", "Bearer [REDACTED]'": "user-b quota"}


def test_a_label_redacted_from_the_cache_is_remembered_again() -> None:
    url = "GET https://x?api_key=sk-proj-AbCdEfGhIjKlMnOp1234"
    assert sanitize.redact_label(url) == "GET https://x?api_key=[REDACTED]"
    for i in range(600):  # pushes the key out of the bounded memory of redacted secrets
        redact_text(f"Bearer tok-{i:04d}-abcdefghij")
    assert sanitize.redact_label(url) == "GET https://x?api_key=[REDACTED]"  # from the cache
    assert scrub_known_secrets("E   assert '...IjKlMnOp1234' == 'x'") == "E   assert '...[REDACTED]' == 'x'"


def test_a_redacted_key_never_replaces_a_key_given_as_such() -> None:
    assert clean({"Bearer abcdefghijklmnop": 1, "Bearer [REDACTED]": 2}) == {
        "Bearer [REDACTED]": 1,
        "Bearer [REDACTED]'": 2,
    }


def test_a_value_nested_too_deep_shows_no_value_of_a_secret_key() -> None:
    # Past max_depth a value is shown as its repr; the repr showed {'password': 'hunter2'} as it was.
    value = [[{"password": "hunter2", "n": (1, {"api_key": "k-12345678"}), "ok": None}]]
    out = clean(value, Limits(max_depth=1))
    assert out == [
        "…[agenttrace: nested deeper than 1] "
        "[{'password': '[REDACTED]', 'n': (1, {'api_key': '[REDACTED]'}), 'ok': None}]"
    ]
    cyclic: dict[str, object] = {"password": "hunter2"}
    cyclic["self"] = cyclic
    assert clean([cyclic], Limits(max_depth=1)) == [
        "…[agenttrace: nested deeper than 1] {'password': '[REDACTED]', 'self': {...}}"
    ]
    assert clean([cyclic], Limits(max_depth=1, redact=False))[0].endswith("{'password': 'hunter2', 'self': {...}}")


_SECRET = "s3cr3t-correct-horse"
_holding_a_secret = st.recursive(
    st.sampled_from([{"password": _SECRET}, {"headers": {"Authorization": _SECRET}, "n": 1}]),
    lambda inner: st.lists(inner, min_size=1, max_size=2)
    | st.dictionaries(st.sampled_from(["a", "b", "note"]), inner, min_size=1, max_size=2)
    | inner.map(lambda value: (value, 0)),
    max_leaves=6,
)


@given(_holding_a_secret, st.integers(0, 6))
def test_property_a_secret_keys_value_never_shows_at_any_depth(value: object, max_depth: int) -> None:
    out = clean(value, Limits(max_depth=max_depth))
    assert _SECRET not in json.dumps(out)
    assert REDACTED in json.dumps(out)


def test_a_value_nested_too_deep_never_raises() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError

    deep: list[object] = []
    inner = deep
    for _ in range(5000):  # repr() of it raises RecursionError
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    assert clean([[Weird()]], Limits(max_depth=1)) == ["…[agenttrace: nested deeper than 1] <unrepresentable list>"]
    shown = clean({"x": deep}, Limits(max_depth=1))["x"]
    assert shown == "…[agenttrace: nested deeper than 1] " + "[" * 100 + "…" + "]" * 100  # 100 levels looked at


def test_str_subclasses_and_odd_keys_become_plain_redacted_strings() -> None:
    class Broken(str):
        def __str__(self) -> str:
            raise RuntimeError

    class Shouting(str):
        def __str__(self) -> str:
            return Shouting("sk-proj-abcdefghijklmnopqrstuv")

    class BadKey:
        def __str__(self) -> str:
            raise RuntimeError

    out = clean({Broken("k"): Broken("Bearer abcdefghij12"), "s": Shouting("x"), BadKey(): 1})
    assert out == {"k": "Bearer [REDACTED]", "s": REDACTED, "<unrepresentable BadKey>": 1}
    assert all(type(key) is str and type(item) is str for key, item in out.items() if key != "<unrepresentable BadKey>")
    assert clean({b"Bearer abcdefghijk1": 1}) == {"b'Bearer [REDACTED]'": 1}
    assert sanitize.redact_stamps({Broken("prompt:p"): Broken("p@Bearer abcdefghij12")}) == {
        "prompt:p": "p@Bearer [REDACTED]"
    }


class _Param(str, enum.Enum):  # noqa: UP042 - equal to "key" and hashed alike, str() "_Param.API_KEY"
    API_KEY = "key"


_KEYS_TO_LEARN = st.sampled_from(
    ["q", "key", _Param.API_KEY, "city", "password", "api_key", "token", "max_tokens", "Bearer abcdefghijklmnop",
     "Bearer [REDACTED]", "query_text", "sk-proj-AbCdEfGhIjKlMnOp1234", "ключ", "n\ud800", "password=abcdefgh",
     "password=[REDACTED]", "password=[REDACTED]'"]
)  # fmt: skip
_VALUES_TO_LEARN = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.text(min_size=8, max_size=40),
    st.sampled_from(["sk-proj-AbCdEfGhIjKlMnOp1234", "Bearer abcdefghijkl", "x\ud800", "y" * 4100, "café au lait"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(_KEYS_TO_LEARN, st.text(max_size=3), max_size=2),
)  # fmt: skip


@given(st.lists(st.dictionaries(_KEYS_TO_LEARN, _VALUES_TO_LEARN, max_size=5), min_size=1, max_size=4))
def test_property_a_dict_of_keys_learned_harmless_is_cleaned_as_the_full_pass_does(values: list[dict[str, object]]) -> None:
    # clean() copies a dict whose keys earlier passes found harmless and whose values are plain
    # scalars, skipping the per-key checks (long or non-ASCII text still gets the secret scan and the
    # cap); whatever was learned before, the result is the full pass's.
    for value in values + values:  # Limits() equals the default but is not it: no fast path, no learning
        assert json.dumps(clean(value)) == json.dumps(clean(value, Limits()))  # what is written


def test_an_enum_key_is_its_value_in_every_path() -> None:
    # Sets match by equality: _Param.API_KEY == "key" passed the learned-keys check and was written
    # "key" with its value kept, while the full pass named it str(key), "_Param.API_KEY", a secret
    # key's name.  Now every path writes a str subclass key as its own text, as JSON does.
    assert clean({_Param.API_KEY: "hunter2"}, Limits()) == {"key": "hunter2"}
    clean({"key": 1})
    assert json.dumps(clean({_Param.API_KEY: "hunter2"})) == '{"key": "hunter2"}'
    assert json.dumps(sanitize._clean_values({_Param.API_KEY: "x" * 30})) == json.dumps({"key": "x" * 30})
    assert clean({_Param.API_KEY: "api_key=abcdefgh"}) == {"key": "api_key=[REDACTED]"}  # the value: as any


def test_a_key_another_was_redacted_into_is_not_learned_as_kept() -> None:
    clean({"Bearer abcdefghijklmnop": 1, "Bearer [REDACTED]": 2})
    assert clean({"Bearer [REDACTED]": 3}) == {"Bearer [REDACTED]": 3}
    assert clean({"q": "x1"}) == {"q": "x1"} and "q" in sanitize._SAFE_KEYS_SEEN
    value = {"q": "x2"}
    assert clean(value) == value and clean(value) is not value  # a copy: the caller may change its dict
    long_text = {"q": "x2 and some more text"}
    assert clean(long_text) == long_text and clean(long_text) is not long_text
