"""Request bodies of POST /v1/messages (and the batch), their validation: clear, field-named
errors. `SendBody` is the body's shape as the OpenAPI document gives it (`api/openapi.py`) and
the set of fields the validator accepts; its limits are the constants the validator applies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Required,  # pydantic needs this one before 3.12
)

from pydantic import Field, with_config
from typing_extensions import TypedDict

from api.wire import CLOSED
from messaging import (
    CallbackPolicy,
    CallbackScope,
    CallbackTarget,
    EmptyBody,
    InvalidInput,
    MessageClass,
    PhoneNumber,
    Segmentation,
    parse_e164,
    segment,
)

_ALPHANUMERIC_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]{3,15}$")
MAX_BODY_CHARS = 1600  # 10 GSM-7 segments or about 24 UCS-2 segments; longer is a mistake
MAX_SEGMENTS = 10
MAX_URL_CHARS = 2048
MAX_BATCH_ITEMS = 1000
# NANP 555-0100..0199 are kept for fiction (NANPA): valid, never anyone's. (The UK drama range,
# +447700900xxx, is not valid to phonenumbers: the example the document showed was refused 422.)
EXAMPLE_NUMBER = "+12025550123"
MIN_VALIDITY, MAX_VALIDITY = 60, 72 * 3600

SendBody = TypedDict(
    "SendBody",
    {
        "to": Required[Annotated[str, Field(description="E.164", examples=[EXAMPLE_NUMBER])]],
        "body": Required[
            Annotated[
                str,
                Field(
                    min_length=1,
                    max_length=MAX_BODY_CHARS,
                    description=f"the text (at most {MAX_SEGMENTS} segments)",
                ),
            ]
        ],
        "from": Annotated[
            str | None,
            Field(description="1-11 letters/digits, or a number of 3-15 digits"),
        ],
        "class": MessageClass | None,
        "callback_url": Annotated[
            str | None,
            Field(max_length=MAX_URL_CHARS, description="http(s) URL on a public host"),
        ],
        "callback_events": CallbackScope | None,
        "callback_batch": bool,
        "validity": Annotated[
            int | None,
            Field(ge=MIN_VALIDITY, le=MAX_VALIDITY, description="seconds"),
        ],
    },
    total=False,
)
with_config(CLOSED)(SendBody)
SendBody.__doc__ = "One message to send."
_FIELDS = SendBody.__required_keys__ | SendBody.__optional_keys__


@with_config(CLOSED)
class Recipient(TypedDict, total=False):
    """One recipient of a template batch and the values of its `{{name}}` placeholders."""

    to: Required[Annotated[str, Field(examples=[EXAMPLE_NUMBER])]]
    variables: dict[str, str | int | float]


@with_config(CLOSED)
class MessagesBatch(TypedDict):
    """A batch of whole messages."""

    messages: Annotated[list[SendBody], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


TemplateBatch = TypedDict(
    "TemplateBatch",
    {
        "recipients": Required[
            Annotated[list[str | Recipient], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]
        ],
        "body": Required[Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]],
        "from": str | None,
        "class": MessageClass | None,
        "callback_url": Annotated[str | None, Field(max_length=MAX_URL_CHARS)],
        "callback_events": CallbackScope | None,
        "callback_batch": bool,
        "validity": Annotated[int | None, Field(ge=MIN_VALIDITY, le=MAX_VALIDITY)],
    },
    total=False,
)
with_config(CLOSED)(TemplateBatch)
TemplateBatch.__doc__ = "One body (with `{{name}}` placeholders) to many recipients."
BatchBody = MessagesBatch | TemplateBatch


@with_config(CLOSED)
class OptOutBody(TypedDict):
    """POST /v1/opt-outs."""

    number: Annotated[str, Field(examples=[EXAMPLE_NUMBER])]


@dataclass(frozen=True)
class SendRequest:
    """A validated send request."""

    to: PhoneNumber
    sender: str
    body: str
    message_class: MessageClass
    callback_url: str | None
    validity_seconds: int | None
    segmentation: Segmentation
    callback_events: CallbackScope = CallbackScope.ALL
    callback_batch: bool = False
    callback_target: CallbackTarget | None = None  # its host still to resolve when a name


def _string(data: dict[str, Any], name: str, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, "must be a string")
    return value


def parse_send_request(
    data: Any, default_sender: str, callback_policy: CallbackPolicy | None = None
) -> SendRequest:
    """Validate a decoded JSON body (a `callback_url` as far as it can be without DNS: the
    caller resolves `callback_target.host` when it is a name, `api.accept.check_callbacks`).

    Raises:
        InvalidInput: (and InvalidNumber, EmptyBody) naming the field at fault.
    """
    if not isinstance(data, dict):
        raise InvalidInput("body", "the request body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    to = parse_e164(_string(data, "to", required=True) or "")
    body = _string(data, "body", required=False)
    if body is None or not body.strip():
        raise EmptyBody("body", "the message body is empty")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput("body", f"longer than {MAX_BODY_CHARS} characters")
    seg = segment(body)
    if seg.segments > MAX_SEGMENTS:
        raise InvalidInput(
            "body", f"needs {seg.segments} segments; at most {MAX_SEGMENTS} are allowed"
        )
    sender = _string(data, "from", required=False) or default_sender
    if not (
        _ALPHANUMERIC_SENDER.match(sender) and not sender.isdigit()
    ) and not _NUMERIC_SENDER.match(sender):
        raise InvalidInput(
            "from", "must be 1-11 letters/digits (alphanumeric) or a number of 3-15 digits"
        )
    raw_class = _string(data, "class", required=False) or MessageClass.TRANSACTIONAL.value
    try:
        message_class = MessageClass(raw_class)
    except ValueError:
        allowed = ", ".join(c.value for c in MessageClass)
        raise InvalidInput("class", f"must be one of {allowed}") from None
    callback_url = _string(data, "callback_url", required=False)
    callback_target = None
    if callback_url is not None:
        if len(callback_url) > MAX_URL_CHARS:
            raise InvalidInput("callback_url", f"longer than {MAX_URL_CHARS} characters")
        callback_target = (callback_policy or CallbackPolicy()).check_url(callback_url)
    validity = data.get("validity")
    if validity is not None and (
        not isinstance(validity, int)
        or isinstance(validity, bool)
        or not MIN_VALIDITY <= validity <= MAX_VALIDITY
    ):
        raise InvalidInput(
            "validity", f"must be a whole number of seconds from {MIN_VALIDITY} to {MAX_VALIDITY}"
        )
    raw_events = _string(data, "callback_events", required=False) or CallbackScope.ALL.value
    try:
        callback_events = CallbackScope(raw_events)
    except ValueError:
        allowed = ", ".join(f'"{s.value}"' for s in CallbackScope)
        raise InvalidInput("callback_events", f"must be one of {allowed}") from None
    callback_batch = data.get("callback_batch", False)
    if not isinstance(callback_batch, bool):
        raise InvalidInput("callback_batch", "must be true or false")
    return SendRequest(
        to,
        sender,
        body,
        message_class,
        callback_url,
        validity,
        seg,
        callback_events=callback_events,
        callback_batch=callback_batch,
        callback_target=callback_target,
    )
