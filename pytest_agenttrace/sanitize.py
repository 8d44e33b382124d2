"""Make recorded values safe to write: JSON-ready, size-capped, secrets redacted.

Traces carry model output and tool arguments, so anything may be in them.
Before a value leaves the recorder it passes through :func:`clean`, which

* turns it into plain JSON data (dicts with string keys, lists, str, int,
  float, bool, None; anything else becomes its ``repr``, capped; a pydantic
  model its ``model_dump()``, when its class defines one);
* never raises: a value whose own code raises (a proxy outside its context,
  a mapping whose items cannot be read) becomes its ``repr`` (values under
  secret keys masked; a mapping it cannot read shows only its type), and a
  ``unittest.mock`` object becomes its ``repr`` without its id and is never
  asked anything (its ``mock_calls`` are the test's);
* replaces the value of every key that names a secret (``api_key``,
  ``authorization``, ``password``, ``token``, ...) with ``"[REDACTED]"``;
* replaces secret-looking substrings (``sk-...`` keys, ``Bearer ...``,
  ``Basic ...`` and ``token <40 hex>`` credentials, GitHub/Slack/AWS/Google
  keys, JWTs, ``password=...`` pairs) with ``[REDACTED]``;
* writes each lone surrogate as its escape (below);
* caps long strings and long lists with an explicit, visible marker:
  ``"abc…[agenttrace: truncated 9000 of 12000 chars]"`` and a final list item
  ``"…[agenttrace: truncated 400 of 500 items]"``.

Every string :func:`clean` returns (values and keys), and every string
:func:`redact_text` and :func:`redact_label` return, encodes as UTF-8: trace
files, the HTML report and pytest-xdist's channel to its workers all need it.
A Python ``str`` can hold a lone surrogate (U+D800-U+DFFF: model output cut in
the middle of an emoji, ``"\ud83d"``, or a byte ``os.fsdecode`` could not
decode, ``"\udcff"``); UTF-8 cannot.  Each is written as the six characters of
its escape, ``\ud83d``, as ``repr`` shows it: visible, ASCII (cleaning it
again changes nothing), and it keeps which code point was there, where U+FFFD
would not.  The price: the same six characters written by hand read the same.

Credentials after a scheme word (``Bearer``, ``Basic``, ``token``; any case)
are redacted after any run of whitespace, ``%20`` or ``+`` (a logged or
form-encoded header); the word and the separator stay.  A bearer token is any
run of eight or more of RFC 6750's token characters (``A-Z a-z 0-9 - . _ ~ + /``
and ``=``, here anywhere, and ``%XX``), so prose pays for it: "the bearer of
this letter" is kept, "bearer authentication" becomes "bearer [REDACTED]".  A
``Basic`` credential is redacted only when it decodes to printable
``user:password`` text, since "basic" is an ordinary word; a ``token``
credential is exactly 40 hex digits (GitHub's and Django REST framework's form).

The limits are :class:`Limits`; the recorder passes its own.
"""

from __future__ import annotations

import binascii
import math
import re
import sys
import threading
from base64 import b64decode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

__all__ = [
    "REDACTED",
    "Limits",
    "clean",
    "is_secret_key",
    "redact_label",
    "redact_stamps",
    "redact_text",
    "scrub_known_secrets",
]

REDACTED: Final = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(?i)(^|[_\-.])(api[_\-.]?key|apikey|secret|password|passwd|pwd|token|access[_\-.]?token|"
    r"refresh[_\-.]?token|auth|authorization|cookie|set-cookie|private[_\-.]?key|credentials?|"
    r"client[_\-.]?secret|session[_\-.]?id)($|[_\-.])"
)
# Keys that contain a secret word but are known to be harmless counters/metadata.
_SAFE_KEYS: Final = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "prompt_tokens",
        "completion_tokens",
        "max_tokens",
        "token_count",
        "tokens",
        "cached_tokens",
        "reasoning_tokens",
        "max_output_tokens",
        "max_completion_tokens",
        "auth_type",
    }
)

#: What follows ``Bearer`` and the like: whitespace, or its URL or form encoding.
_SEP: Final = r"(?:\s|%20|\+)+"
_SECRET_TEXT = re.compile(
    r"(?x)"
    r"(?:sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,})"  # OpenAI / Anthropic / Stripe style
    # A bearer token (RFC 6750): the match starts after the word (a lookbehind, so a word an earlier
    # match ate still counts: "token=Bearer abc..."); the separator is kept in _redact_match.  (The
    # one-character lookahead first: it fails fast where the lookbehind would not.)
    rf"|(?:(?=[\s%+])(?ai:(?<=bearer))(?P<bearer>{_SEP})(?:[A-Za-z0-9\-._~+/=]|%[0-9A-Fa-f]{{2}}){{8,}})"
    r"|(?:gh[pousr]_[A-Za-z0-9]{20,})"  # GitHub
    r"|(?:xox[abprs]-[A-Za-z0-9\-]{10,})"  # Slack
    r"|(?:AKIA[0-9A-Z]{16})"  # AWS access key id
    r"|(?:AIza[0-9A-Za-z_\-]{30,})"  # Google API key
    r"|(?:eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"  # JWT
    # name=value pairs, also in a repr (Settings(password='a b')): a quoted value is taken whole.
    # (api-key: Azure's query parameter; access_token, refresh_token: OAuth 2's, RFC 6750 2.3.)
    r"|(?:(?:(?<=[?&;\s,(\[{'\"])|^)"
    r"(?ai:password|passwd|pwd|api_key|api-key|apikey|access_token|refresh_token|client_secret|token|secret)="
    r"(?:'[^']*'|\"[^\"]*\"|[^\s&;,]+))"
)

#: Credentials after "Basic" (redacted only if they decode as such, see _redact_scheme) and after
#: "token" (40 hex digits: GitHub's and Django REST framework's form).  A pass of their own, run
#: first: text a match keeps is never matched again ("basic" + "AKIA..." in one word), and "token"
#: is too common a word in traces to run all of _SECRET_TEXT wherever it occurs.
_SCHEMES: Final = re.compile(
    rf"(?=[\s%+])(?:(?ai:(?<=basic))(?P<basic>{_SEP})(?P<cred>(?:[A-Za-z0-9+/=]|%(?i:2B|2F|3D)){{8,}})"
    rf"|(?ai:(?<=token))(?P<token>{_SEP})(?ai:[0-9a-f]{{40}})(?![0-9A-Za-z]))"
)


#: Where _SCHEMES can match, in the text lowered: a word before whitespace, "%" or "+" (not "tokens").
#: A literal prefix: the regex engine finds it about as fast as ``in``.
_BASIC_WORD: Final = re.compile(r"basic[\s%+]")
_TOKEN_WORD: Final = re.compile(r"token[\s%+]")

# Every alternative of _SECRET_TEXT contains one of _TRIGGERS as it is, or "bearer" or one of
# _PAIR_TRIGGERS in any case (looked for in the text lowered).
_TRIGGERS: Final = ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AKIA", "AIza", "eyJ")
#: ("access_token=" and the like contain "token=" or "secret=".)
_PAIR_TRIGGERS: Final = ("token=", "password=", "passwd=", "pwd=", "api_key=", "api-key=", "apikey=", "secret=")
#: Names of name=value pairs (lowered); their name stays shown.
_PAIR_NAMES: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "api_key",
        "api-key",
        "apikey",
        "access_token",
        "refresh_token",
        "client_secret",
        "token",
        "secret",
    }
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size caps applied to recorded values."""

    max_string: int = 4000
    max_items: int = 200
    max_depth: int = 12
    redact: bool = True


DEFAULT_LIMITS: Final = Limits()


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``Authorization``, ...)."""
    lowered = key.lower()
    if lowered in _SAFE_KEYS or lowered.endswith("_tokens") or lowered.startswith("token_"):
        return False
    return _SECRET_KEY.search(lowered) is not None


#: is_secret_key per key seen (keys repeat across spans: the regex runs once per key).
_KEY_IS_SECRET: dict[str, bool] = {}


def redact_text(text: str) -> str:
    """``text`` with secret-looking substrings replaced by ``[REDACTED]`` and lone surrogates escaped."""
    if not text.isascii():
        text = _encodable(text)
    return _redact_secrets(text)


#: Without "=" or "@", no secret _SECRET_TEXT or _SCHEMES knows is shorter than this ("basic" + one
#: separator + 8 characters); a name=value pair can be ("pwd=x"), and a URL's password
#: ("s://u:pw@h").  Short ids skip the scan.
_SHORTEST_SECRET_WITHOUT_EQUALS: Final = 14

#: The password of a URL's user information (``postgres://user:PASSWORD@host/db``, RFC 3986): the
#: user name stays shown.  A pass of its own, only where "://" and "@" both occur.
#: A raw "@" in the password (invalid, but written) belongs to it: the host follows the last "@".
#: The host may be an IPv6 literal in brackets (``@[::1]:5432``).
_URL_PASSWORD: Final = re.compile(
    r"(?<=://)(?P<user>[^\s/:@?#\[\]]*):(?P<password>[^\s/?#]+)"
    r"(?=@(?:\[[0-9A-Fa-f:.]*\])?[^\s/?#@\[\]]*(?:[/?#\s]|$))"
)


def _redact_url_password(match: re.Match[str]) -> str:
    password = match.group("password")
    if password == REDACTED:
        return match.group(0)
    _remember(password)
    return f"{match.group('user')}:{REDACTED}"


def _redact_secrets(text: str) -> str:
    if len(text) < 8 or (len(text) < _SHORTEST_SECRET_WITHOUT_EQUALS and "=" not in text and "@" not in text):
        return text
    if "@" in text and "://" in text:  # adds no trigger: the passes below see what they saw before
        text = _URL_PASSWORD.sub(_redact_url_password, text)
    # The alternation regex costs ~100x a substring scan: run it only where a secret could start.
    lowered = text.lower()  # for the words of any case
    if ("basic" in lowered and _BASIC_WORD.search(lowered)) or ("token" in lowered and _TOKEN_WORD.search(lowered)):
        text = _SCHEMES.sub(_redact_scheme, text)  # adds no trigger: ``lowered`` still serves
    for trigger in _TRIGGERS:
        if trigger in text:
            return _SECRET_TEXT.sub(_redact_match, text)
    if "bearer" in lowered:
        return _SECRET_TEXT.sub(_redact_match, text)
    if "=" in text:  # in every pair: most text skips these
        for word in _PAIR_TRIGGERS:
            if word in lowered:
                return _SECRET_TEXT.sub(_redact_match, text)
    return text


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud83d``): encodable as UTF-8.

    For text that is not ASCII (``str.isascii`` is the caller's free first check).  Encoding is
    the check: a lone surrogate is the one thing UTF-8 cannot encode, and the C encoder scans
    several times faster than a regex search for ``[\\ud800-\\udfff]`` (4k chars: ~5 us, ~35 us).
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def encodable(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud83d``): always encodable as UTF-8."""
    return text if text.isascii() else _encodable(text)


def _as_text(value: Any) -> str:
    """``str(value)`` as a plain ``str``, whatever its ``__str__`` does (a broken one never raises).

    A mock is shown by its ``repr``: ``str()`` of a MagicMock is a call it records.
    """
    if _is_text(value):
        try:
            text = str(value)
        except Exception:  # noqa: BLE001 - a broken __str__ must not break recording
            return str.__str__(value)  # its own text, without the hook
        return text if type(text) is str else str.__str__(text)
    if _is_mock(type(value)):
        return _safe_repr(value)
    try:
        text = str(value)
        return text if type(text) is str else str.__str__(text)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break recording
        return f"<unrepresentable {_type_name(value)}>"


def label_text(value: Any) -> str:
    """A name that is not text (a framework's span named by a number, bytes or None) as text; never raises."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str.__str__(_as_text(value))


def _is_text(value: Any) -> bool:
    """Whether ``value`` is a ``str`` (or a subclass) by its type: a ``__class__`` that claims so is not asked."""
    kind = type(value)
    return kind is str or issubclass(kind, str)


def _type_name(value: Any) -> str:
    """The name of ``value``'s type, for text that stands for it; never raises."""
    try:
        name = type(value).__name__
    except Exception:  # noqa: BLE001 - a metaclass's own __name__
        return "object"
    return encodable(name) if type(name) is str else "object"


#: unittest.mock's base class, once the program has imported unittest.mock (no value is a mock before).
_mock_base: type | None = None


def _is_mock(kind: type) -> bool:
    """Whether ``kind`` is a unittest.mock class (Mock, MagicMock, AsyncMock, ...), by its type alone.

    A mock answers every attribute and records every call, a MagicMock's ``str()`` and ``iter()``
    too: cleaning must not ask one anything (its ``mock_calls`` would show it, an AsyncMock's
    call makes a coroutine nobody awaits), and a ``spec`` makes it claim the spec's ``__class__``.
    """
    global _mock_base
    base = _mock_base
    if base is None:
        base = getattr(sys.modules.get("unittest.mock"), "NonCallableMock", None)
        if base is None:  # not imported (or still being imported): no mock exists yet
            return False
        _mock_base = base
    return issubclass(kind, base)


#: The id in a mock's repr ("<Mock name='client.search' id='140329138116240'>"): it changes every run.
_MOCK_ID: Final = re.compile(r" id='[0-9]+'(?=>\Z)")


def _mock_repr(value: Any) -> str:
    """A mock as its ``repr`` (which records nothing), without the id that changes every run."""
    return _MOCK_ID.sub("", _safe_repr(value))


#: Labels (span and agent names, version stamps, mapping keys) as redacted: they repeat from span to
#: span, so each is scanned once.  Bounded, since labels are data.
_LABELS: dict[str, str] = {}
_LABELS_MAX: Final = 65536


def redact_label(text: str) -> str:
    """A name, agent name, version stamp or mapping key as :func:`redact_text` shows it (cached: labels repeat)."""
    if len(text) < 8:
        return text if text.isascii() else _encodable(text)
    out = _LABELS.get(text)
    if out is None:
        out = redact_text(text)
        if out == text:
            out = text
        if len(_LABELS) < _LABELS_MAX:
            _LABELS[text] = out
    elif out is not text:  # a cached redaction: its secret is remembered again (it may have been evicted)
        redact_text(text)
    return out


def encodable_stamps(stamps: Mapping[str, Any]) -> Mapping[str, Any]:
    """Version stamps with lone surrogates escaped and nothing redacted (``Limits(redact=False)``)."""
    return _stamps_shown(stamps, encodable)


def redact_stamps(stamps: Mapping[str, Any]) -> Mapping[str, Any]:
    """Version stamps (name -> stamp) with secrets redacted: ``stamps`` itself when none was found."""
    return _stamps_shown(stamps, redact_label)


def _stamps_shown(stamps: Mapping[str, Any], show: Callable[[str], str]) -> Mapping[str, Any]:
    """``stamps`` with ``show`` applied to each text: ``stamps`` itself when nothing changed."""
    # A str subclass as its plain text, as the recorder takes names (an enum member's value).
    out = {
        (show(str.__str__(key)) if isinstance(key, str) else key): (
            show(str.__str__(value)) if isinstance(value, str) else value
        )
        for key, value in stamps.items()
    }
    return stamps if out == stamps else out


def _redact_match(match: re.Match[str]) -> str:
    token = match.group(0)
    sep = match.group("bearer")
    if sep is not None:  # the separator after "Bearer" stays as it was written
        _remember(token[len(sep) :])
        return sep + REDACTED
    if "=" in token and not token.startswith(("eyJ",)):
        name, _, value = token.partition("=")
        if name.lower() in _PAIR_NAMES:
            _remember(value)
            return f"{name}={REDACTED}"
    _remember(token)
    return REDACTED


def _redact_scheme(match: re.Match[str]) -> str:
    """Credentials after "Basic" or "token" redacted, the separator kept; "basic" + a word kept as it is."""
    text = match.group(0)
    sep = match.group("token")
    if sep is None:
        sep = match.group("basic")
        if not _is_basic_credential(match.group("cred")):
            return text  # "Basic Overview"
    _remember(text[len(sep) :])
    return sep + REDACTED


def _is_basic_credential(text: str) -> bool:
    """Whether ``text`` is Basic credentials: base64 of printable ``user:password`` text (RFC 7617)."""
    if "%" in text:
        text = unquote(text)
    try:
        decoded = b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, ValueError):  # not base64, or not UTF-8 (UnicodeDecodeError)
        return False
    return ":" in decoded and decoded.isprintable()


# -- secrets redacted so far, and their fragments in failure reports -----------------------------
#
# pytest prints the values an assertion compared, shortened ('...O5p6Q7r8S9t0') or in full, and
# the source and locals of the failing frames: a recorded secret can reach the terminal, the JUnit
# XML and the HTML report that way, where its fragments no longer look like a secret.  Every value
# clean() or redact_text() redacts is remembered (a bounded set, in memory only), and
# scrub_known_secrets() replaces any run of _FRAGMENT or more characters of one of them.

#: Secrets redacted in this process, most recent last (values only as keys: an ordered set).
_REDACTED_SEEN: dict[str, None] = {}
_REDACTED_MAX: Final = 512
_REDACTED_CHARS: Final = 1024  # of each secret (the pieces of 512 of them: at most ~0.5M strings)
#: The shortest run of a known secret's characters that scrub_known_secrets() replaces.
_FRAGMENT: Final = 10
_seen_lock = threading.Lock()
#: (how many secrets it was built from, the set of every _FRAGMENT-long piece of them).
_windows: tuple[int, frozenset[str]] = (0, frozenset())
_seen_version = 0


def _remember(secret: str) -> None:
    """Note a redacted secret (rare path: only values that were redacted get here)."""
    global _seen_version
    if len(secret) < _FRAGMENT:
        return
    secret = secret[:_REDACTED_CHARS]
    if not secret.isascii():  # as report text shows it, after redact_text
        secret = _encodable(secret)
    with _seen_lock:
        if secret in _REDACTED_SEEN:
            del _REDACTED_SEEN[secret]  # seen again: the most recent, last to be forgotten
            _REDACTED_SEEN[secret] = None
            return
        _REDACTED_SEEN[secret] = None
        if len(_REDACTED_SEEN) > _REDACTED_MAX:
            del _REDACTED_SEEN[next(iter(_REDACTED_SEEN))]
        _seen_version += 1


def _forget_redacted() -> None:
    """Forget every remembered secret (tests isolate themselves with it)."""
    global _seen_version
    with _seen_lock:
        _REDACTED_SEEN.clear()
        _seen_version += 1
    _LABELS.clear()


def _secret_windows() -> frozenset[str]:
    global _windows
    version, windows = _windows
    if version != _seen_version:
        with _seen_lock:
            version, secrets = _seen_version, list(_REDACTED_SEEN)
        k = _FRAGMENT
        windows = frozenset(secret[i : i + k] for secret in secrets for i in range(len(secret) - k + 1))
        _windows = (version, windows)
    return windows


def scrub_known_secrets(text: str) -> str:
    """``text`` redacted, and every run of 10+ characters of a secret redacted before replaced too.

    For text that quotes recorded values out of context (a failure report): a
    secret cut short (``'...O5p6Q7r8S9t0'``) or split over lines no longer
    matches a secret pattern, but its pieces are pieces of a value that was
    redacted.  Linear in the text; free when nothing was ever redacted.
    """
    text = redact_text(text)
    if not _REDACTED_SEEN or len(text) < _FRAGMENT:
        return text
    windows = _secret_windows()
    k = _FRAGMENT
    runs: list[list[int]] = []
    for i in range(len(text) - k + 1):
        if text[i : i + k] in windows:
            if runs and runs[-1][1] >= i:
                runs[-1][1] = i + k
            else:
                runs.append([i, i + k])
    if not runs:
        return text
    parts: list[str] = []
    done = 0
    for start, end in runs:
        parts.append(text[done:start])
        parts.append(REDACTED)
        done = end
    parts.append(text[done:])
    return "".join(parts)


#: The markers :func:`clean` leaves on what it cut.  Cleaning again keeps a marked value as it is
#: (when it fits the limits), so a trace exported and imported again keeps its counts.
_CUT_TEXT: Final = re.compile(r"…\[agenttrace: truncated ([1-9][0-9]{0,17}) of ([1-9][0-9]{0,17}) chars\]\Z")
_CUT_ITEMS: Final = re.compile(r"…\[agenttrace: truncated ([1-9][0-9]{0,17}) of ([1-9][0-9]{0,17}) items\]\Z")
_CUT_KEYS: Final = re.compile(r"\[agenttrace: truncated ([1-9][0-9]{0,17}) of ([1-9][0-9]{0,17}) keys\]\Z")


def _cap_string(text: str, limits: Limits) -> str:
    if not text.isascii():
        text = _encodable(text)  # redacted or not: a file or xdist's channel takes only UTF-8
    if limits.redact:
        text = _redact_secrets(text)
    if len(text) > limits.max_string:
        total = len(text)
        if text.endswith(" chars]") and (cut := _CUT_TEXT.search(text)) is not None:
            body = text[: cut.start()]
            if len(body) == int(cut.group(2)) - int(cut.group(1)):  # cut before: count from the original
                if len(body) <= limits.max_string:
                    return text
                text, total = body, int(cut.group(2))
        dropped = total - limits.max_string
        return f"{text[: limits.max_string]}…[agenttrace: truncated {dropped} of {total} chars]"
    return text


def _already_cut(items: list[Any], max_items: int) -> bool:
    """Whether ``items`` is a list :func:`clean` cut before: its kept items, then the marker."""
    last = items[-1]
    if type(last) is not str or (cut := _CUT_ITEMS.match(last)) is None:
        return False
    kept = len(items) - 1
    return kept <= max_items and kept == int(cut.group(2)) - int(cut.group(1))


def flat_dict(value: dict[Any, Any]) -> dict[Any, Any] | None:
    """``clean(value)`` (default limits) for a flat dict of learned harmless keys and plain scalars, else ``None``.

    A tool call's arguments, mostly: what the full pass would return, a copy, without its per-key
    checks; only text that is long or not ASCII gets its look (the secret scan and cap).  The set
    matches by equality: a str subclass key (an Enum member equal to "key") takes the full pass.
    The set is asked last, when every key is a plain str: it hashes each key again (a MagicMock
    records that, another key's __hash__ may raise).  ``value`` must be of type ``dict`` exactly;
    any depth below the limit (nothing nested is looked into).  The recorder's build calls it
    directly for a span's input and output; :func:`clean` calls it first for any such dict.
    """
    if len(value) > DEFAULT_LIMITS.max_items:
        return None
    texts = False
    for key, item in value.items():
        if type(key) is not str:
            return None
        kind = type(item)
        if kind is str:
            # ASCII text the secret scan skips (see _redact_secrets) and no cap cuts: as it is.
            if not (
                len(item) < _SHORTEST_SECRET_WITHOUT_EQUALS
                and item.isascii()
                and (len(item) < 8 or ("=" not in item and "@" not in item))
            ):
                texts = True
        elif kind is float:
            if item - item != 0.0:  # inf or nan: written as text by the full pass
                return None
        elif item is not None and kind is not int and kind is not bool:
            return None
    if not _SAFE_KEYS_SEEN.issuperset(value):
        return None
    if not texts:
        return value.copy()
    limits = DEFAULT_LIMITS
    return {
        key: _cap_string(item, limits) if type(item) is str and (len(item) >= 8 or not item.isascii()) else item
        for key, item in value.items()
    }


def clean(value: Any, limits: Limits = DEFAULT_LIMITS, _depth: int = 0) -> Any:
    """Return ``value`` as capped, redacted JSON data (see the module docstring)."""
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is int:
        return value
    if kind is str:
        if len(value) < 8 and value.isascii():
            return value if len(value) <= limits.max_string else _cap_string(value, limits)
        return _cap_string(value, limits)
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    # Anything else may run the value's own code (items(), __class__, __len__, __repr__...): whatever
    # it raises, cleaning does not; the value is recorded as text instead (_unreadable).
    try:
        if _depth >= limits.max_depth:
            return _cap_string(
                f"…[agenttrace: nested deeper than {limits.max_depth}] {_nested_repr(value, limits)}", limits
            )
        if kind is dict and limits is DEFAULT_LIMITS:
            flat = flat_dict(value)
            if flat is not None:
                return flat
            out = _clean_mapping(value, limits, _depth)
            if len(_SAFE_KEYS_SEEN) < _LEARN_MAX:
                _learn_keys(value)
            return out
        if kind is dict:
            return _clean_mapping(value, limits, _depth)
        if kind is not list and kind is not tuple:
            if _is_mock(kind):  # before any isinstance: a Mock(spec=dict) claims to be a dict
                return _cap_string(_mock_repr(value), limits)
            if isinstance(value, Mapping):
                return _clean_mapping(value, limits, _depth)
            if not isinstance(value, (list, tuple, set, frozenset)):
                return _clean_other(value, limits, _depth)
        items = list(value)
        if len(items) > limits.max_items and _already_cut(items, limits.max_items):
            return [clean(item, limits, _depth + 1) for item in items[:-1]] + [items[-1]]
        capped = [clean(item, limits, _depth + 1) for item in items[: limits.max_items]]
        if len(items) > limits.max_items:
            dropped = len(items) - limits.max_items
            capped.append(f"…[agenttrace: truncated {dropped} of {len(items)} items]")
        return capped
    except Exception:  # noqa: BLE001 - recording never raises because of a recorded value
        return _unreadable(value, limits)


def _clean_mapping(value: Mapping[Any, Any], limits: Limits, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    redact = limits.redact
    max_items = limits.max_items
    secret_cache = _KEY_IS_SECRET
    labels = _LABELS
    renamed_keys = False
    count = 0
    for key, item in value.items():
        if count >= max_items:
            cut = _CUT_KEYS.match(item) if type(item) is str and _is_text(key) and str.__eq__(key, "…") else None
            if cut is not None and count == len(value) - 1 == int(cut.group(2)) - int(cut.group(1)):
                out["…"] = item  # the marker of an earlier cut, and nothing after it: kept
            else:
                out["…"] = f"[agenttrace: truncated {len(value) - count} of {len(value)} keys]"
            break
        count += 1
        # A str subclass key is its own text, as JSON writes it and as stamps and names are taken (an
        # Enum member's value, not its str()): the learned-keys fast paths, matching by equality,
        # then write the same text as this pass.
        skey = key if type(key) is str else str.__str__(key) if _is_text(key) else _as_text(key)
        if not skey.isascii() and (shown := _encodable(skey)) is not skey:
            skey = shown
            renamed_keys = True
        secret: bool | None = False
        if redact and item is not None:
            secret = secret_cache.get(skey)
            if secret is None:
                secret = is_secret_key(skey)
                if len(secret_cache) < 65536:  # bounded: keys made of data must not grow it forever
                    secret_cache[skey] = secret
            if secret and type(item) is str:
                _remember(item)
        if redact and len(skey) >= 8 and labels.get(skey) != skey:  # a key is data too: {"Bearer sk-...": 1}
            shown = redact_label(skey)
            if shown != skey:
                skey = shown
                renamed_keys = True
        if renamed_keys:
            while skey in out:  # keys redacted or escaped alike (or like a key given as such): all kept
                skey += "'"
        if secret:
            out[skey] = REDACTED
            continue
        kind = type(item)
        # Inline the common scalars: most attributes are small numbers, flags and short names.
        if (
            item is None
            or kind is int
            or kind is bool
            or (kind is str and len(item) < 8 and item.isascii())
            or (kind is float and item - item == 0.0)  # finite: inf - inf and nan - nan are nan
        ):
            out[skey] = item
        else:
            out[skey] = clean(item, limits, depth + 1)
    return out


#: Keys known not to name a secret and scalar values known to need no change under the default
#: limits: with them, "is this span's attributes dict already clean?" is two C-level set checks.
#: Bounded, since keys and values are data.
_SAFE_KEYS_SEEN: set[str] = set()
_ABSENT: Final = object()
_CLEAN_SCALARS: set[Any] = set()
_SCALAR_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_LEARN_MAX: Final = 32768
_LEARN_MAX_CHARS: Final = 200


def _clean_and_learn(value: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """:func:`clean` for a span's own attributes, remembering what needed no change.

    The recorder first asks whether every key is in ``_SAFE_KEYS_SEEN`` and every
    value in ``_CLEAN_SCALARS`` (two C-level set checks, inlined on its hot path;
    membership is equality, so an IntEnum equal to 3 passes as 3 does); only
    attributes that fail that come here.  Most attributes are short names,
    numbers and flags under harmless keys that repeat from span to span, so
    this full pass runs for the first few spans of a kind, not for every span.
    """
    out = _clean_mapping(value, limits, 1)
    if limits is DEFAULT_LIMITS and len(_CLEAN_SCALARS) < _LEARN_MAX and len(_SAFE_KEYS_SEEN) < _LEARN_MAX:
        for key, item in value.items():
            # Learn only what the full pass kept unchanged, under a key it checked and found harmless.
            if _harmless_key(key) and out.get(key, _ABSENT) is item:
                _SAFE_KEYS_SEEN.add(key)
                if type(item) in _SCALAR_TYPES and (not isinstance(item, str) or len(item) <= _LEARN_MAX_CHARS):
                    _CLEAN_SCALARS.add(item)
    return out


def _clean_values(value: dict[str, Any]) -> dict[str, Any]:
    """:func:`_clean_and_learn` for attributes whose keys are all in ``_SAFE_KEYS_SEEN`` (default limits).

    The keys need no look, so only the values get one: short plain scalars
    and values learned clean are kept, other text gets the secret scan and
    cap, anything else the full clean at its depth.  Returns ``value`` itself
    when nothing changed (as the recorder keeps a known-clean dict), else a
    copy with the changes.  Nothing is learned: a value seen here is most
    often new every span (a call id), and would only fill the bounded sets.
    """
    limits = DEFAULT_LIMITS
    if len(value) > limits.max_items:
        return _clean_and_learn(value, limits)
    out = value
    for key, item in value.items():
        if type(key) is not str:  # a str subclass equal to a learned key: the full pass names it itself
            return _clean_and_learn(value, limits)
        kind = type(item)
        if kind is str:
            if (
                len(item) < _SHORTEST_SECRET_WITHOUT_EQUALS
                and item.isascii()
                and (len(item) < 8 or ("=" not in item and "@" not in item))
            ) or item in _CLEAN_SCALARS:  # text the secret scan skips (see _redact_secrets), or learned
                continue
            shown: Any = _cap_string(item, limits)
            if shown == item:
                continue
        elif item is None or kind is int or kind is bool or (kind is float and item - item == 0.0):
            continue
        else:
            shown = clean(item, limits, 2)  # at the depth _clean_and_learn gives an attribute's value
        if out is value:
            out = dict(value)  # the first change: a copy, the loop goes on over the original
        out[key] = shown
    return out


def _learn_keys(value: dict[Any, Any]) -> None:
    """Remember the keys of ``value`` the full pass checked, found harmless and kept as they were."""
    for key in value:
        if _harmless_key(key):
            _SAFE_KEYS_SEEN.add(key)


def _harmless_key(key: Any) -> bool:
    """Whether a full pass just checked ``key`` (a plain ``str``), found it names no secret and kept its text.

    Its own text, not "the output has this key": a key another one was redacted
    into ({"Bearer abc...": 1, "Bearer [REDACTED]": 2}) would look kept.
    """
    return (
        type(key) is str
        and _KEY_IS_SECRET.get(key) is False
        and ((len(key) < 8 and key.isascii()) or _LABELS.get(key) == key)
    )


def _clean_other(value: Any, limits: Limits, depth: int) -> Any:
    if isinstance(value, bool):  # bool subclasses
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return clean(float(value), limits, depth)
    if isinstance(value, str):
        return _cap_string(_as_text(value), limits)
    if isinstance(value, bytes):
        return _cap_string(f"<{len(value)} bytes>", limits)
    if _defines_model_dump(type(value)):  # pydantic models: keep their data, not a repr
        try:
            return clean(value.model_dump(), limits, depth + 1)
        except Exception:  # noqa: BLE001 - a broken model_dump must not break recording
            pass
    text = _safe_repr(value)
    if " at 0x" in text:  # "<app.Obj object at 0x7f3a...>": the address changes every run (and golden)
        text = _ADDRESS.sub("", text)
    return _cap_string(text, limits)


def _defines_model_dump(kind: type) -> bool:
    """Whether ``kind`` or a base class defines ``model_dump`` (pydantic models do).

    Looked up in the classes' own namespaces: an instance's ``__getattr__`` (a Mock's, a proxy's
    that raises outside its context) is never asked, nor a metaclass's.
    """
    try:
        for klass in kind.__mro__:
            if "model_dump" in klass.__dict__:
                return True
    except Exception:  # noqa: BLE001 - a metaclass's own __mro__ or __dict__: no model
        pass
    return False


def _unreadable(value: Any, limits: Limits) -> str:
    """What :func:`clean` records for a value it could not read: its ``repr``, as cleaning shows one.

    The values of secret keys masked (a mapping whose items cannot be read shows only its type)
    and secrets in the text redacted; never raises.
    """
    try:
        text = _nested_repr(value, limits)
        if " at 0x" in text:
            text = _ADDRESS.sub("", text)
        return _cap_string(text, limits)
    except Exception:  # noqa: BLE001 - recording never raises because of a recorded value
        return f"<unrepresentable {_type_name(value)}>"


#: A memory address in a default repr ("<... at 0x7f3a9c0e1d90>").
_ADDRESS: Final = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")


def _safe_repr(value: Any) -> str:
    """``repr(value)`` as a plain ``str``; a broken ``__repr__`` (or one nested too deep) never raises."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break recording
        return f"<unrepresentable {_type_name(value)}>"
    return text if type(text) is str else str.__str__(text)


class _Elided:
    """Stands for a part of a nested value that :func:`_nested_repr` leaves out."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


#: How much deeper than ``max_depth`` :func:`_nested_repr` looks for secret keys.
_MASK_DEPTH: Final = 100


def _nested_repr(value: Any, limits: Limits) -> str:
    """The ``repr`` of a value nested past ``max_depth``, values under secret keys redacted.

    ``repr`` shows every key and value: ``{'password': 'hunter2'}`` would pass as it is, since
    only :func:`clean` knows the key names a secret.  A copy with those values redacted is shown
    instead (the value itself when there are none; past _MASK_DEPTH more levels, ``…``).
    """
    if limits.redact:
        try:
            value = _masked(value, 0, set())
        except Exception:  # noqa: BLE001 - a broken mapping: its repr unmasked could show a secret
            return f"<unrepresentable {_type_name(value)}>"
    if _is_mock(type(value)):
        return _mock_repr(value)
    return _safe_repr(value)


def _masked(value: Any, depth: int, path: set[int]) -> Any:
    """``value``, or a copy with the values of secret keys redacted if it holds any."""
    if value is None or _is_mock(type(value)):  # a mock is asked nothing (see _is_mock)
        return value
    if isinstance(value, (str, bytes, int, float)):
        return value
    if isinstance(value, Mapping):
        kind = "{...}"
    elif isinstance(value, (list, tuple)):
        kind = "[...]" if isinstance(value, list) else "(...)"
    else:  # sets hold only hashable items (no dict), and other objects show what their repr shows
        return value
    if id(value) in path:  # a cycle: the original would show its secrets again
        return _Elided(kind)
    if depth >= _MASK_DEPTH:
        return _Elided("…")
    path.add(id(value))
    try:
        if isinstance(value, Mapping):
            masked: dict[Any, Any] = {}
            changed = False
            for key, item in value.items():
                text = key if type(key) is str else _as_text(key)
                new = REDACTED if item is not None and is_secret_key(text) else _masked(item, depth + 1, path)
                changed = changed or new is not item
                masked[key] = new
            return masked if changed else value
        items = [_masked(item, depth + 1, path) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return items if isinstance(value, list) else tuple(items)
    finally:
        path.discard(id(value))
