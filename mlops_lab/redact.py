"""Secrets out of what the lab shows and ships: the one rule for secret-looking names, and
the one URL redaction every display, log message and manifest goes through."""

from __future__ import annotations

import re
import urllib.parse

MASK = "***"

# A name is secret-looking when one of its words (split on _ - . and case changes) is one
# of these, or ends with one of the long ones (accesstoken, dbpassword, apikey). The short
# words that are also ordinary words count only as the name's last word: db_pass and api_key
# are secrets, pass_rate and key_column are not.
SECRET_WORDS = (
    "secret",
    "token",
    "password",
    "passwd",
    "pwd",
    "credential",
    "credentials",
    "auth",
    "signature",
)
_LAST_WORDS = ("pass", "key", "sig")
_SUFFIXES = ("secret", "token", "password", "passwd", "credentials", "apikey")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s'\"<>]+")


def secret_rule(name: str) -> str | None:
    """Why ``name`` looks like a secret ("word 'pass'"), or None when it does not."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    words = [word for word in re.split(r"[_\-.\s]+", spaced.lower()) if word]
    for position, word in enumerate(words, start=1):
        if word in SECRET_WORDS or (word in _LAST_WORDS and position == len(words)):
            return f"word '{word}'"
        for suffix in _SUFFIXES:
            if word.endswith(suffix):
                return f"ending '{suffix}'"
    return None


def redact_url(url: str) -> str:
    """``url`` with the userinfo password and secret-looking query values masked."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(secret_rule(k) for k, _ in pairs):
            query = "&".join(
                f"{urllib.parse.quote(k, safe='')}="
                + (MASK if secret_rule(k) else urllib.parse.quote(v, safe=""))
                for k, v in pairs
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def public_url(url: str) -> str:
    """``url`` without its userinfo and secret-looking query parameters (for configuration
    others can read, where the reader takes the credentials from its own environment)."""
    bare = without_credentials(url)[0]
    parts = urllib.parse.urlsplit(bare)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not secret_rule(k)]
    if len(kept) == len(pairs):
        return bare
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))


def has_secret(url: str) -> bool:
    """True when ``url`` carries a password or a secret-looking query parameter."""
    return redact_url(url) != url


def redact_text(text: str) -> str:
    """``text`` with every URL inside it redacted (error messages, log lines)."""
    if "://" not in text:
        return text
    return URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    core = url.rstrip(".,;:!?)]}")  # punctuation after a URL in a sentence is not part of it
    return redact_url(core) + url[len(core) :]


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and (user, password) when it had one (for a probe)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    bare = urllib.parse.urlunsplit(parts._replace(netloc=host))
    user = urllib.parse.unquote(parts.username)
    return bare, (user, urllib.parse.unquote(parts.password or ""))
