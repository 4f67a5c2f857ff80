"""Topic regular expressions as Kafka 4's coordinator reads them (RE2J), in Python's ``re``.

``compile_topic_regex`` refuses what RE2J refuses and Python would accept (lookarounds,
backreferences, atomic groups, possessive quantifiers, ``\\Z``), and rewrites what the two
spell differently (``(?<name>``, ``\\z``, ``[[:alpha:]]``, a literal ``{,n}``), so that a
pattern matches the same topic names on both. What Python cannot express at all (``\\p{L}``,
a flag such as ``(?i)`` after the start) is refused here although Kafka accepts it.
"""

from __future__ import annotations

import re
import warnings

from ...errors import ConfigError

__all__ = ["compile_topic_regex"]

# Group openings RE2 has no syntax for ("invalid or unsupported Perl syntax").
_PERL_ONLY = ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?P=", "(?(", "(?#")
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "space": "\\t\\n\\v\\f\\r ",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_QUANTIFIERS = "*+?"
_REPEAT = re.compile(r"\{\d+(,\d*)?\}")

_cache: dict[str, re.Pattern[str]] = {}


def compile_topic_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled to match as RE2J's ``matches()`` does (use ``fullmatch``);
    ``ConfigError("pattern")`` with Kafka's INVALID_REGULAR_EXPRESSION message when RE2J
    (or Python) cannot compile it. Go: ``regexp.MustCompile`` (RE2 too)."""
    compiled = _cache.get(pattern)
    if compiled is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "possible nested set"
                compiled = re.compile(_translate(pattern), re.ASCII)
        except (re.error, _Refused) as exc:
            reason = exc.msg if isinstance(exc, re.error) else str(exc)
            raise ConfigError(
                "pattern",
                f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {reason}",
            ) from None
        if len(_cache) >= 256:
            _cache.clear()
        _cache[pattern] = compiled
    return compiled


class _Refused(Exception):
    """RE2J's reason for refusing the pattern."""


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = 0  # where a class's members begin (a ']' there is a member)
    quantified = ""  # the quantifier just emitted: "q", "lazy" (q followed by ?), or ""
    while i < n:
        c = pattern[i]
        if c == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not in_class and escaped in tuple("123456789"):
                raise _Refused("invalid escape sequence")  # a backreference
            if escaped == "Z":
                raise _Refused("invalid escape sequence")
            out.append("\\Z" if escaped == "z" else pattern[i : i + 2])
            i += 2
            quantified = ""
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2 : end] if end > 0 else ""
                if name.lstrip("^") in _POSIX and not name.startswith("^"):
                    out.append(_POSIX[name])
                    i = end + 2
                    continue
            if c == "[":
                out.append("\\[")  # RE2: a literal; Python may read a nested set
            elif c == "]" and i != class_start:
                in_class = False
                out.append(c)
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            class_start = i
            quantified = ""
            continue
        if c == "(":
            if pattern.startswith(_PERL_ONLY, i):
                raise _Refused("invalid or unsupported Perl syntax")
            if pattern.startswith("(?<", i):
                out.append("(?P<")  # Java's named group
                i += 3
                quantified = ""
                continue
        repeat = _REPEAT.match(pattern, i) if c == "{" else None
        if c in _QUANTIFIERS or repeat is not None:
            if quantified and not (c == "?" and quantified == "q"):
                raise _Refused("invalid nested repetition operator")
            quantified = "lazy" if quantified else "q"
            token = c if repeat is None else repeat.group()
        else:
            quantified = ""
            # RE2 reads "{,3}" and any other brace that is not a repeat literally.
            token = "\\{" if c == "{" else c
        out.append(token)
        i += len(token) if repeat is not None else 1
    return "".join(out)
