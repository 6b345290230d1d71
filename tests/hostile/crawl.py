"""Every URL the site answers, filled with realistic and junk values, and hostile payloads.

The URL list comes from the resolver itself, so a new page is crawled as soon as it is
routed: ``url_routes()`` walks ``get_resolver()`` (i18n prefixes included) into ``Route``
templates, and ``concrete_urls()`` fills their parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter, PathConverter, SlugConverter, UUIDConverter
from django.urls.resolvers import LocalePrefixPattern, RegexPattern, RoutePattern

LANGUAGE_SLOT = "{language}"
_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^()]*)\)")


@dataclass(frozen=True)
class Route:
    """One URL pattern as a template: ``/{language}/services/{slug}``."""

    name: str
    template: str
    # Parameter name -> the regular expression its value must match.
    parameters: dict[str, str] = field(default_factory=dict)
    # Parameter name -> its converter kind: slug, int, str, path, uuid or regex.
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def language_prefixed(self) -> bool:
        """Return True for pages under /en/ and /cy/."""
        return self.template.startswith("/" + LANGUAGE_SLOT)


def _converter_kind(converter: Any) -> str:
    for kind, cls in (
        ("uuid", UUIDConverter),
        ("int", IntConverter),
        ("slug", SlugConverter),
        ("path", PathConverter),
    ):
        if isinstance(converter, cls):
            return kind
    return "str"


def _route_piece(pattern: Any) -> tuple[str, dict[str, str], dict[str, str]]:
    """Return (template piece, parameter regexes, parameter kinds) of one pattern."""
    if isinstance(pattern, LocalePrefixPattern):
        return LANGUAGE_SLOT + "/", {}, {}
    if isinstance(pattern, RoutePattern):
        route = str(pattern)
        parameters: dict[str, str] = {}
        kinds: dict[str, str] = {}
        for match in _ROUTE_PARAMETER.finditer(route):
            name = match.group("name")
            converter = pattern.converters[name]
            parameters[name] = converter.regex
            kinds[name] = _converter_kind(converter)
        return _ROUTE_PARAMETER.sub(lambda m: "{" + m.group("name") + "}", route), parameters, kinds
    if isinstance(pattern, RegexPattern):
        regex = str(pattern).lstrip("^").rstrip("$")
        parameters = {m.group("name"): m.group("regex") for m in _REGEX_GROUP.finditer(regex)}
        piece = _REGEX_GROUP.sub(lambda m: "{" + m.group("name") + "}", regex)
        return piece.replace("\\", ""), parameters, dict.fromkeys(parameters, "regex")
    raise TypeError(f"unknown URL pattern type {type(pattern).__name__}")


def url_routes() -> list[Route]:
    """Return every URL pattern of the project as a ``Route``, namespaces in its name."""
    routes: list[Route] = []

    def walk(
        patterns: list[Any],
        prefix: str,
        parameters: dict[str, str],
        kinds: dict[str, str],
        namespace: str,
    ) -> None:
        for entry in patterns:
            piece, entry_parameters, entry_kinds = _route_piece(entry.pattern)
            all_parameters = {**parameters, **entry_parameters}
            all_kinds = {**kinds, **entry_kinds}
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + piece, all_parameters, all_kinds, inner)
            elif isinstance(entry, URLPattern):
                name = f"{namespace.strip(':')}:{entry.name or '<unnamed>'}"
                routes.append(
                    Route(name.lstrip(":"), "/" + prefix + piece, all_parameters, all_kinds)
                )

    walk(get_resolver().url_patterns, "", {}, {}, "")
    return routes


# --- Values for URL parameters -----------------------------------------------------------

JUNK_PATH_VALUES: dict[str, list[str]] = {
    "slug": ["no-such-thing", "a" * 300, "-", "0"],
    "int": ["0", "2147483648", "99999999999999999999999999"],
    "uuid": ["00000000-0000-0000-0000-000000000000"],
    "str": [
        "no-such-token",
        quote("' OR 1=1 --"),
        quote("{{ 7*7 }}{% debug %}"),
        "%C3%28%FF%FE",
        "..%2F..%2Fetc%2Fpasswd",
        "A" * 3000,
        "eyJ1IjoiMSJ9:1tZ:junk-signature",
    ],
    "path": ["no/such/thing", quote("<script>alert(1)</script>"), "%FF%FE/%C3%28"],
    "regex": ["no-such-app", "%FF"],
}

# Addresses no pattern produces, sent as they are.
EXTRA_JUNK_PATHS = [
    "/",
    "/zz/",
    "/en",
    "/en-GB/services",
    "/static/../../etc/passwd",
    "/en/%00",
    "/en/services/%00",
    "/%C3%28/",
    "/en/" + "a" * 3000,
    "/en/search/" + quote("{{ 7*7 }}"),
]


def _fits(value: str, regex: str) -> bool:
    return re.fullmatch(regex, unquote(value, errors="surrogateescape")) is not None


@dataclass(frozen=True)
class ConcreteUrl:
    """A URL to request, and whether its parameters are realistic or junk."""

    route: Route
    url: str
    language: str
    realistic: bool


def concrete_urls(
    routes: list[Route], realistic: Callable[[Route, str], list[str]]
) -> Iterator[ConcreteUrl]:
    """Fill each route: once with realistic values, then once per junk value that routes.

    ``realistic(route, parameter)`` gives the realistic values; a route whose parameter has
    none is only crawled with junk. Every language-prefixed route is filled in each language.
    """
    for route in routes:
        languages = [code for code, _ in settings.LANGUAGES] if route.language_prefixed else [""]
        for language in languages:
            base = route.template.replace(LANGUAGE_SLOT, language)
            names = list(route.parameters)
            values = {name: realistic(route, name) for name in names}
            if all(values.values()):
                filled = base.format(**{name: values[name][0] for name in names})
                yield ConcreteUrl(route, filled, language, realistic=True)
            for name in names:
                kind = route.kinds[name]
                for junk in JUNK_PATH_VALUES.get(kind, []) + JUNK_PATH_VALUES["str"][:1]:
                    if not _fits(junk, route.parameters[name]):
                        continue
                    others = {
                        other: (values[other][0] if values[other] else "x")
                        for other in names
                        if other != name
                    }
                    filled = base.format(**others, **{name: junk})
                    yield ConcreteUrl(route, filled, language, realistic=False)


# --- Payloads ----------------------------------------------------------------------------

CONTROL_CHARACTERS = "".join(chr(code) for code in range(0x20)) + "\x7f"
PAYLOADS: dict[str, str] = {
    "10kB string": "A" * 10_240,
    "control characters": f"a{CONTROL_CHARACTERS}z",
    "SQL metacharacters": "' \" ; -- /* */ OR 1=1; DROP TABLE accounts_user; --",
    "template metacharacters": "{{ 7*7 }} {% debug %} {% load static %} ${7*7} #{7*7} "
    "<script>alert(1)</script> {{ request.session }}",
}
# Raw bytes that are not valid UTF-8, both as they are and percent-encoded.
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc"
INVALID_UTF8_QUERY = b"q=\xff\xfe\xc3\x28&page=\xc3\x28&next=%ff%fe%c3%28&code=\xa0\xa1"

JUNK_HEADERS: dict[str, str] = {
    "HTTP_USER_AGENT": "Mozilla/5.0 " + "X" * 20_000,
    "HTTP_ACCEPT_LANGUAGE": "zz-ZZ;q=abc, ;;;, cy;q=2.5, *;q=-1, " + "x-" * 500 + ", \x00en",
    "HTTP_X_FORWARDED_FOR": "' OR 1=1 --, 999.999.999.999, ::ffff:junk, " + "1," * 500,
    "HTTP_X_FORWARDED_PROTO": "gopher",
    "HTTP_COOKIE": "civicstack_session=' OR 1=1; civicstack_csrftoken={{7*7}}; "
    "civicstack_language=\xff\xfe; junk=" + "a" * 5000 + "; ;;=;",
    "HTTP_REFERER": "javascript:alert(1)",
    "HTTP_ACCEPT": "application/json;q=junk, */*;q=-1",
}
JUNK_HOSTS = ["evil.example.com", "127.0.0.1:abc", "{{7*7}}", "a" * 300, "\xff\xfe"]

JUNK_CONTENT_TYPES: list[tuple[str, bytes]] = [
    ("application/x-www-form-urlencoded; charset=x-no-such-charset", b"q=abc&email=%ff"),
    ("application/x-www-form-urlencoded; charset=utf-16", b"q=\x00a\x00b\xff"),
    ("multipart/form-data", b"--no-boundary\r\n\r\njunk"),
    ("multipart/form-data; boundary=", b"junk"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\n"),
    ("application/json", b'{"q": [1, 2, {"unterminated'),
    (
        "text/xml; charset=utf-8",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    ),
    ("\xff\xfe/junk; ;;", b"\x00\x01\x02"),
]


def multipart_junk_body(fields: list[str]) -> tuple[str, bytes]:
    """Return a multipart body with junk in every field and a junk file upload."""
    boundary = "civicstack-hostile-boundary"
    parts: list[bytes] = []
    for name in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + PAYLOADS["template metacharacters"].encode()
            + INVALID_UTF8
            + b"\r\n"
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="../../{CONTROL_CHARACTERS[1:5]}evil.html"\r\n'
        "Content-Type: text/html\r\n\r\n".encode()
        + b"<script>alert(1)</script>"
        + INVALID_UTF8
        + b"\r\n"
    )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nx\r\n'.encode(
            "latin-1"
        )
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


_FIELD_NAME = re.compile(
    r"<(?:input|textarea|select|button)\b[^>]*\bname=\"(?P<name>[^\"]+)\"", re.IGNORECASE
)
COMMON_FIELDS = ["q", "page", "next", "code", "email", "password", "token", "language"]


def form_field_names(html: bytes) -> list[str]:
    """Return the names of the form fields in a page, plus common parameter names."""
    names = {match.group("name") for match in _FIELD_NAME.finditer(html.decode(errors="replace"))}
    names.discard("csrfmiddlewaretoken")
    return sorted(names | set(COMMON_FIELDS))
