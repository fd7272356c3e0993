"""Templates: every locale GSM-7 and one segment, WebOTP line last, custom templates checked."""

from __future__ import annotations

import pytest

from messaging import InvalidInput, is_gsm7, segment
from otp import TEMPLATES, OtpText, render, resolve_locale


@pytest.mark.parametrize("locale", sorted(TEMPLATES))
def test_every_builtin_locale_is_gsm7_and_one_segment(locale: str) -> None:
    body = render(
        OtpText(locale, web_otp_domain="login.example.com"), "1234567890", "Acme Bank", 3600
    )
    assert is_gsm7(body) and segment(body).segments == 1
    assert body.startswith("1234567890") and "Acme Bank" in body and "60" in body


def test_english_text_and_webotp_suffix() -> None:
    body = render(OtpText("en-GB", web_otp_domain="example.com"), "123456", "Acme", 600)
    assert body == "123456 is your Acme code. It expires in 10 minutes.\n\n@example.com #123456"


def test_locale_resolution() -> None:
    assert resolve_locale("pt_BR") == "pt"
    with pytest.raises(InvalidInput) as raised:
        resolve_locale("xx")
    assert raised.value.field == "locale"


def test_non_gsm7_app_name_needs_allow_unicode() -> None:
    with pytest.raises(InvalidInput) as raised:
        render(OtpText(), "123456", "Банк", 600)
    assert raised.value.field == "app"
    assert "Банк" in render(OtpText(allow_unicode=True), "123456", "Банк", 600)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("Your code", "must contain {code}"),
        ("{code} {secret}", "unknown placeholder"),
        ("{code", "malformed"),
    ],
)
def test_bad_custom_templates_are_refused(template: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        render(OtpText(template=template), "123456", "Acme", 600)


def test_custom_template_and_bad_domain() -> None:
    assert render(OtpText(template="{app}: {code}"), "9876", "Acme", 300) == "Acme: 9876"
    with pytest.raises(InvalidInput) as raised:
        render(OtpText(web_otp_domain="https://x"), "9876", "Acme", 300)
    assert raised.value.field == "web_otp_domain"
