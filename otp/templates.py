"""OTP message text per locale: GSM-7 by default, with an optional WebOTP / SMS Retriever line."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from messaging import InvalidInput, is_gsm7

# Every built-in template is GSM-7 (3GPP TS 23.038 basic table), so a code costs one segment.
TEMPLATES: dict[str, str] = {
    "en": "{code} is your {app} code. It expires in {minutes} minutes.",
    "es": "{code} es tu codigo de {app}. Caduca en {minutes} minutos.",
    "fr": "{code} est votre code {app}. Il expire dans {minutes} minutes.",
    "de": "{code} ist Ihr {app} Code. Er läuft in {minutes} Minuten ab.",
    "it": "{code} è il tuo codice {app}. Scade tra {minutes} minuti.",
    "pt": "{code} e o seu codigo {app}. Expira em {minutes} minutos.",
    "nl": "{code} is je {app} code. Deze verloopt over {minutes} minuten.",
}
DEFAULT_LOCALE = "en"
PLACEHOLDERS = frozenset({"code", "app", "minutes"})
MAX_TEMPLATE_CHARS = 300
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class OtpText:
    """What to render: locale or a custom template, and the optional WebOTP domain."""

    locale: str = DEFAULT_LOCALE
    template: str | None = None
    web_otp_domain: str | None = None
    allow_unicode: bool = False


def resolve_locale(locale: str) -> str:
    """`en-GB` → `en`; the built-in locale for a BCP 47 tag.

    Raises:
        InvalidInput: no template for this language.
    """
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    if language not in TEMPLATES:
        raise InvalidInput(
            "locale", f"no template for {locale!r}; one of {', '.join(sorted(TEMPLATES))}"
        )
    return language


def check_template(template: str) -> None:
    """A custom template must contain `{code}` and use only {code}, {app}, {minutes}.

    Raises:
        InvalidInput: naming `template`.
    """
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput("template", f"longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        fields = [
            name for _, name, spec, conv in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as exc:
        raise InvalidInput("template", f"malformed placeholder: {exc}") from None
    unknown = sorted(set(fields) - PLACEHOLDERS)
    if unknown:
        raise InvalidInput(
            "template", f"unknown placeholder {{{unknown[0]}}}; use {{code}}, {{app}}, {{minutes}}"
        )
    if "code" not in fields:
        raise InvalidInput("template", "must contain {code}")


def check_domain(domain: str) -> None:
    """A WebOTP origin host, e.g. `example.com`.

    Raises:
        InvalidInput: naming `web_otp_domain`.
    """
    if not _DOMAIN.match(domain):
        raise InvalidInput(
            "web_otp_domain", f"{domain!r} is not a lowercase host name like example.com"
        )


def render(text: OtpText, code: str, app: str, ttl_seconds: int) -> str:
    """The SMS body with `code`; the WebOTP line `@domain #code` last (WICG WebOTP §format).

    Raises:
        InvalidInput: unknown locale, bad template or domain, or not GSM-7 without `allow_unicode`.
    """
    template = (
        text.template if text.template is not None else TEMPLATES[resolve_locale(text.locale)]
    )
    if text.template is not None:
        check_template(template)
    minutes = max(1, ttl_seconds // 60)
    body = template.format(code=code, app=app, minutes=minutes)
    if text.web_otp_domain is not None:
        check_domain(text.web_otp_domain)
        body = f"{body}\n\n@{text.web_otp_domain} #{code}"
    if not text.allow_unicode and not is_gsm7(body):
        field = "template" if text.template is not None else "app"
        raise InvalidInput(field, "the text is not GSM-7; pass allow_unicode to send it as UCS-2")
    return body
