"""Input validation at the edge: pydantic models that accept what Joi accepts and fail the way Joi fails.

A WildDuck client reads `{"error": "<messages joined by '. '>", "code": "InputValidationError",
"details": {<path>: <first message>}}`; the messages follow Joi's wording so client-side checks keep working.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from chainmail.domain.bounds import SAFE_INTEGER_MAX
from chainmail.http.bodies import loads_json, printable
from chainmail.http.errors import IndexerError, WildDuckError

M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger(__name__)

TRUTHY = {"y", "true", "yes", "on", "1"}
FALSY = {"n", "false", "no", "off", "0"}


def joi(message: str) -> PydanticCustomError:
    """An error whose text follows the field label, as Joi words it: `"<label>" <message>`."""
    return PydanticCustomError("joi", "{joi}", {"joi": message})


def empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _joi_bool(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUTHY:
            return True
        if lowered in FALSY:
            return False
    raise joi("must be a boolean")


def _from_millis(value: float) -> datetime:
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise joi("must be a valid date") from None


def _joi_date(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_millis(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return _from_millis(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            parsed.astimezone(UTC)  # in UTC, still a date Python can hold (not before year 1 or after 9999)
        except (ValueError, OverflowError):
            raise joi("must be a valid date") from None
        return parsed
    raise joi("must be a valid date")


def _joi_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise joi("must be a number")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise joi("must be a number") from None
        if not math.isfinite(number):
            raise joi("must be a number")
        value = int(text) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise joi("must be a number")
        if abs(value) > SAFE_INTEGER_MAX:  # Joi refuses what a JavaScript number cannot hold exactly
            raise joi("must be a safe number")
        return value
    raise joi("must be a number")


def _ip(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        raise joi(
            "must be a valid ip address of one of the following versions [ipv4, ipv6] with a forbidden CIDR"
        ) from None
    return str(value)


def _cursor(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).strip()
    if text == "":
        return None
    if len(text) > 1024:
        raise joi("length must be less than or equal to 1024 characters long")
    if re.search(r"[^a-zA-Z0-9\-_]", text):
        raise joi("contains an invalid value")
    try:
        loads_json(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise joi("contains an invalid value") from None
    return text


JoiBool = Annotated[bool | None, BeforeValidator(_joi_bool)]
JoiDate = Annotated[datetime | None, BeforeValidator(_joi_date)]
RequiredJoiDate = Annotated[datetime, BeforeValidator(_joi_date)]  # Joi's date().required()
Number = Annotated[int | float, BeforeValidator(_joi_number)]
OptionalText = Annotated[str | None, BeforeValidator(empty_to_none)]


def text(max_length: int) -> Any:
    """An optional string of at most `max_length` characters; an empty string counts as absent."""
    return Annotated[Annotated[str, Field(max_length=max_length)] | None, BeforeValidator(empty_to_none)]


def plain_text(max_length: int) -> Any:
    """An optional string of at most `max_length` characters, kept as given (empty included)."""
    return Annotated[str, Field(max_length=max_length)] | None


Cursor = Annotated[str | None, BeforeValidator(_cursor)]
IpAddress = Annotated[str | None, BeforeValidator(_ip)]


def _object_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    text = value.lower()
    if not re.fullmatch(r"[0-9a-f]*", text):
        raise joi("must only contain hexadecimal characters")
    if len(text) != 24:
        raise joi("length must be 24 characters long")
    return text


ObjectIdParam = Annotated[str, BeforeValidator(_object_id)]


class WildDuckInput(BaseModel):
    """Every WildDuck route accepts `sess` and `ip` for its logs and refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)

    sess: text(255) = None
    ip: IpAddress = None


class WildDuckListing(WildDuckInput):
    """Listing routes ignore unknown keys (a stray `page` included) and page with cursors."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    limit: Annotated[Number, Field(ge=1, le=250)] = 20
    next: Cursor = None
    previous: Cursor = None


def _label(loc: tuple[int | str, ...]) -> str:
    label = ""
    for part in loc:
        if isinstance(part, int):
            label += f"[{part}]"
        else:
            label += ("." if label else "") + part
    return label


def _message(error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    label = f'"{_label(loc)}"' if loc else '"value"'
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "joi":
        return f"{label} {ctx['joi']}"
    if kind == "missing":
        return f"{label} is required"
    if kind == "extra_forbidden":
        return f"{label} is not allowed"
    if kind in ("string_type",):
        return f"{label} must be a string"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return f"{label} is not allowed to be empty"
        return f"{label} length must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"{label} length must be less than or equal to {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        return f'{label} with value "{error.get("input")}" fails to match the required pattern: /{ctx.get("pattern")}/'
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"):
        return f"{label} must be a number"
    if kind in ("greater_than_equal", "greater_than"):
        op = "greater than or equal to" if kind == "greater_than_equal" else "greater than"
        return f"{label} must be {op} {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        op = "less than or equal to" if kind == "less_than_equal" else "less than"
        return f"{label} must be {op} {ctx.get('le', ctx.get('lt'))}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label} must be a boolean"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"{label} must be an array"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{label} must be of type object"
    if kind in ("literal_error", "enum"):
        return f"{label} must be one of [{ctx.get('expected', '')}]"
    if kind in ("too_long",):
        return f"{label} must contain less than or equal to {ctx.get('max_length')} items"
    if kind == "value_error":
        return f"{label} {ctx.get('error', 'is invalid')!s}"
    return f"{label} is invalid"


def validation_error(error: ValidationError) -> WildDuckError:
    messages: list[str] = []
    details: dict[str, str] = {}
    for item in error.errors(include_url=False):
        message = printable(_message(item))  # a message may quote the input, and the input may not be UTF-8
        messages.append(message)
        loc = [str(p) for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        details.setdefault(printable(",".join(loc)), message)
    return WildDuckError(400, "InputValidationError", ". ".join(messages), details=details)


def _nul_at(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where a NUL character hides in the parameters (PostgreSQL text cannot store one), if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _nul_at(str(key), (*path, str(key))) or _nul_at(item, (*path, str(key)))
        if found is not None:
            return found
    return None


def parse(model: type[M], params: dict[str, Any]) -> M:
    """Validate merged request parameters, or answer 400 InputValidationError."""
    nul = _nul_at(params)
    if nul is not None:
        message = f'"{".".join(nul) or "value"}" must not contain null characters'
        raise WildDuckError(400, "InputValidationError", message, details={",".join(nul): message})
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise validation_error(error) from None
    except (TypeError, ValueError) as error:
        # A validator that tripped over an unexpected shape: still the caller's bad input, never a 500.
        log.warning("validator failed", model=model.__name__, error=str(error))
        raise WildDuckError(400, "InputValidationError", "Invalid input", details={}) from None


def indexer_body(model: type[M], params: dict[str, Any]) -> M:
    """Validate an indexer request body, or answer 400 VALIDATION_ERROR naming the first bad field."""
    try:
        return model.model_validate(params)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise IndexerError(400, "VALIDATION_ERROR", printable(f"{where}: {first['msg']}")) from None
    except (TypeError, ValueError) as error:  # a validator that tripped over an unexpected shape: bad input
        log.warning("validator failed", model=model.__name__, error=str(error))
        raise IndexerError(400, "VALIDATION_ERROR", "Invalid input") from None
