"""Typed response models and the one cattrs converter that decodes them.

GatePay's documents spell the same field several ways (``card_num`` / ``cardNumber`` /
``card_number``, ``card_key`` / ``key``, ``card_temp_id`` / ``templateId``). Each model
field lists its spellings once, in its metadata; one generic hook renames them, keeps
every field it does not know in ``extra``, and hands the rest to cattrs.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from gatepay_async._balances import per_currency
from gatepay_async._secrets.redact import mask_secret

__all__ = [
    "GiftCard",
    "GiftCardBalance",
    "GiftCardStatus",
    "GiftCardTemplate",
    "MerchantBalance",
    "converter",
    "structure",
]

T = TypeVar("T")


class GiftCardStatus(enum.Enum):
    """A gift card's status: GatePay's integer codes 0–8 and the older string statuses."""

    UNKNOWN = 0
    PENDING_PAYMENT = 1
    NOT_REDEEMED = 2
    REDEEMED = 3
    FROZEN = 4
    PAYMENT_FAILED = 5
    MANUAL_REVIEW = 6
    REVIEW_REJECTED = 7
    REVIEW_PAYMENT_FAILED = 8
    CREATED = "CREATED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @classmethod
    def parse(cls, value: object) -> GiftCardStatus:
        """Decode any status GatePay sends; an unrecognised value is UNKNOWN, never an error."""
        if isinstance(value, bool):
            return cls.UNKNOWN
        if isinstance(value, int):
            return _STATUS_BY_CODE.get(value, cls.UNKNOWN)
        if isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdigit() and len(text) <= 3:
                return _STATUS_BY_CODE.get(int(text), cls.UNKNOWN)
            return _STATUS_BY_NAME.get(text.upper(), cls.UNKNOWN)
        return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        """True for a status a card does not leave on its own."""
        return self in _FINAL_STATUSES


_STATUS_BY_CODE = {m.value: m for m in GiftCardStatus if isinstance(m.value, int)}
_STATUS_BY_NAME = {m.name: m for m in GiftCardStatus}
_FINAL_STATUSES = frozenset(
    {
        GiftCardStatus.REDEEMED,
        GiftCardStatus.PAYMENT_FAILED,
        GiftCardStatus.REVIEW_REJECTED,
        GiftCardStatus.REVIEW_PAYMENT_FAILED,
        GiftCardStatus.EXPIRED,
        GiftCardStatus.CANCELLED,
    }
)

# Metadata keys understood by the generic structure hook.
_ALIASES = "gatepay_aliases"
_RAW_COPY = "gatepay_raw_copy"


def _aliased(*aliases: str, raw_copy: str | None = None, **kwargs: Any) -> Any:
    metadata: dict[str, object] = {_ALIASES: aliases}
    if raw_copy:
        metadata[_RAW_COPY] = raw_copy
    return attrs.field(metadata=metadata, **kwargs)


def _key_repr(key: str) -> str:
    return repr(mask_secret(key))


def json_safe(value: Any) -> Any:
    """``value`` with only JSON types: a Decimal as its exact text, a datetime in ISO 8601,
    a status by name; mappings and sequences converted inside."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _frozen_items(value: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(value.items())


#: ``extra`` (and ``raw_status``) hold what GatePay sent as it was parsed, a fraction as
#: a Decimal: they compare by their JSON form, so that a model read back from its
#: ``to_dict()`` (where that Decimal is its text) equals the model. Not hashed: they may
#: hold lists and objects.
def _extra_field(**kwargs: Any) -> Any:
    return attrs.field(eq=json_safe, hash=False, **kwargs)


T_Model = TypeVar("T_Model", bound="_Serialisable")


class _Serialisable:
    """``to_dict()``, ``to_json()`` and ``from_dict()`` of a model.

    ``to_dict()`` is JSON-safe: a Decimal as its exact text, datetimes in ISO 8601, the
    status by name, ``extra`` kept, and the card key included (it is the caller's data:
    keep the output as you keep the key). ``from_dict(m.to_dict()) == m``.

    Models are hashable: the hash covers every field but ``extra`` and ``raw_status``
    (what GatePay sent besides, which may hold lists); equal models hash equal.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The model's fields by name, JSON-safe."""
        return {
            field.name: json_safe(getattr(self, field.name))
            for field in attrs.fields(cast(Any, type(self)))
        }

    def to_json(self, **dumps_kwargs: Any) -> str:
        """``to_dict()`` as JSON text (``json.dumps`` keyword arguments pass through)."""
        return json.dumps(self.to_dict(), **dumps_kwargs)

    @classmethod
    def from_dict(cls: type[T_Model], data: Mapping[str, Any]) -> T_Model:
        """The model from a ``to_dict()`` (field names, JSON-safe values). A value of the
        wrong kind raises ValidationError naming the field."""
        from gatepay_async._errors import ValidationError  # the errors import models

        if not isinstance(data, Mapping):
            raise ValidationError("data", f"must be a mapping, got {type(data).__name__}")
        fields = attrs.fields(attrs.resolve_types(cast(Any, cls)))
        known = {field.name: field for field in fields}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValidationError("data", f"unknown fields {', '.join(map(repr, unknown))}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            try:
                values[name] = _from_json_value(value, known[name].type)
            except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
                raise ValidationError(name, f"cannot read {value!r}: {exc}") from None
        try:
            return cls(**values)
        except TypeError as exc:  # a required field missing
            raise ValidationError("data", str(exc)) from None


def _from_json_value(value: Any, kind: Any) -> Any:
    """One field's value from its JSON-safe form."""
    if kind == GiftCardStatus:
        return GiftCardStatus[value] if isinstance(value, str) else GiftCardStatus(value)
    if kind == Decimal | None:
        return None if value is None else _to_decimal(value, None)
    if kind == dt.datetime | None:
        return None if value is None else dt.datetime.fromisoformat(value)
    if kind == dict[str, Decimal]:
        return {str(k): _to_decimal(v, None) for k, v in value.items()}
    if kind in (str, str | None) and not (value is None or isinstance(value, str)):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if kind == dict[str, Any] and not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


@attrs.frozen(kw_only=True)
class GiftCard(_Serialisable):
    """One gift card, as create or query returns it. ``key`` is a bearer secret.

    Only ``card_number`` and ``key`` identify a card; every other field is description.
    A description field whose value cannot be read (a date written as text, a count as
    a word) is None, and its raw value is kept in ``extra`` under its name on the wire.
    """

    card_number: str = _aliased("card_num", "cardNumber", "card_number", "cardNum")
    key: str = _aliased("card_key", "key", "cardKey", default="", repr=_key_repr)
    amount: Decimal | None = _aliased("amount", default=None)
    currency: str | None = _aliased("currency", default="")
    status: GiftCardStatus = _aliased(
        "status", raw_copy="raw_status", default=GiftCardStatus.UNKNOWN
    )
    raw_status: Any = _aliased(default=None, eq=json_safe, hash=False)
    title: str | None = _aliased("title", default="")
    template_id: str | None = _aliased("card_temp_id", "templateId", "template_id", default="")
    creator: int | str | None = _aliased("creator", default=None)
    creator_name: str | None = _aliased("creator_name", "creatorName", default="")
    owner: int | str | None = _aliased("owner", default=None)
    exchange_uid: int | str | None = _aliased("exchange_uid", "exchangeUid", default=None)
    give_count: int | None = _aliased("give_count", "giveCount", default=0)
    created_at: dt.datetime | None = _aliased("create_time", "createTime", default=None)
    exchanged_at: dt.datetime | None = _aliased("exchange_time", "exchangeTime", default=None)
    last_given_at: dt.datetime | None = _aliased("last_give_time", "lastGiveTime", default=None)
    extra: dict[str, Any] = _extra_field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class GiftCardBalance(_Serialisable):
    """A card's balance; an answer in the per-currency shape fills ``balances``."""

    card_number: str = _aliased("card_num", "cardNumber", "card_number", default="")
    currency: str = _aliased("currency", default="")
    amount: Decimal | None = _aliased("amount", "balance", "available", default=None)
    status: GiftCardStatus = _aliased(
        "status", raw_copy="raw_status", default=GiftCardStatus.UNKNOWN
    )
    raw_status: Any = _aliased(default=None, eq=json_safe, hash=False)
    balances: dict[str, Decimal] = _aliased("balances", factory=dict, eq=_frozen_items)
    extra: dict[str, Any] = _extra_field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class MerchantBalance(_Serialisable):
    """The merchant's available funds per currency (``GET /v1/pay/balance``, no parameters).

    ``balances`` maps each currency code to its amount. ``extra`` keeps everything else
    GatePay sent: per currency, the other fields of its entry (say ``{"frozen": "0"}``), and
    any top-level field that is not a balance. An amount that is not a decimal is never
    dropped: decoding raises ResponseValidationError instead.
    """

    balances: dict[str, Decimal] = attrs.field(factory=dict, eq=_frozen_items)
    extra: dict[str, Any] = _extra_field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class GiftCardTemplate(_Serialisable):
    """A cover template for new cards."""

    template_id: str = _aliased("card_temp_id", "templateId", "template_id", "id")
    name: str = _aliased("templateName", "name", "template_name", default="")
    cover_url: str = _aliased("image_url", "coverUrl", "cover_url", "imageUrl", default="")
    status: str = _aliased("status", default="")
    title_en: str = _aliased("title_en", "titleEn", default="")
    title_cn: str = _aliased("title_cn", "titleCn", default="")
    cover_type: str = _aliased("cover_type", "coverType", default="")
    extra: dict[str, Any] = _extra_field(factory=dict, repr=False)


# --------------------------------------------------------------------------- converter

converter = cattrs.Converter(forbid_extra_keys=False, prefer_attrib_converters=False)


def _to_decimal(value: object, _: object) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    else:
        raise TypeError(f"not a decimal amount: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def _to_optional_decimal(value: object, _: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return _to_decimal(value, None)


def _to_datetime(value: object, _: object) -> dt.datetime | None:
    """Milliseconds since the epoch (int or digits) or ISO 8601; 0, "" and null are None."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, Decimal)) or (isinstance(value, str) and value.isdigit()):
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.timezone.utc)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    raise TypeError(f"not a timestamp: {value!r}")


def _to_str(value: object, _: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_int(value: object, _: object) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _to_id(value: object, _: object) -> int | str | None:
    if value is None or (isinstance(value, (int, str)) and not isinstance(value, bool)):
        return value
    raise TypeError(f"expected an id, got {type(value).__name__}")


def _to_balances(value: object, _: object) -> dict[str, Decimal]:
    """Per-currency balances: ``{"USDT": "1.5"}`` or ``[{"currency": "USDT", ...}]``."""
    return per_currency(value)[0]


converter.register_structure_hook(Decimal, _to_decimal)
converter.register_structure_hook(Decimal | None, _to_optional_decimal)
converter.register_structure_hook(dt.datetime | None, _to_datetime)
converter.register_structure_hook(str, _to_str)
converter.register_structure_hook(str | None, _to_str)
converter.register_structure_hook(int, _to_int)
converter.register_structure_hook(int | None, _to_int)
converter.register_structure_hook(int | str | None, _to_id)
converter.register_structure_hook(GiftCardStatus, lambda v, _: GiftCardStatus.parse(v))
converter.register_structure_hook_func(lambda t: t == dict[str, Decimal], _to_balances)


def _make_model_hook(cls: type[T]) -> Callable[[Any, Any], T]:
    """Build the structure hook for one model: aliases → fields, unknown keys → ``extra``."""
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    rename: dict[str, str] = {}
    raw_copies: dict[str, str] = {}
    for field in fields:
        for alias in field.metadata.get(_ALIASES, ()):
            rename[alias] = field.name
        if _RAW_COPY in field.metadata:
            raw_copies[field.name] = field.metadata[_RAW_COPY]
    has_extra = any(f.name == "extra" for f in fields)
    typed = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False)
    resolved: Any = attrs.resolve_types(cls)  # type: ignore[type-var]
    types = {f.name: f.type for f in attrs.fields(resolved)}
    lenient = _DESCRIPTION_FIELDS.get(cls, frozenset())

    def hook(data: Any, _: Any) -> T:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known: dict[str, Any] = {}
        wire: dict[str, str] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = rename.get(key)
            if name is None:
                extra[key] = value
            elif name not in known or value not in (None, ""):
                known[name] = value
                wire[name] = key
        for name, raw_name in raw_copies.items():
            if name in known:
                known[raw_name] = known[name]
        if has_extra:
            known["extra"] = extra
        try:
            return typed(known, cls)
        except Exception:
            if not lenient:
                raise
        # Slow path, only for an odd answer: each description field that cannot be read
        # becomes None, its raw value kept in extra; a required field still fails.
        values: dict[str, Any] = {}
        for name, value in known.items():
            if name == "extra" or name in raw_copies.values():
                values[name] = value
                continue
            try:
                values[name] = converter.structure(value, types[name])
            except Exception:
                if name not in lenient:
                    raise
                values[name] = None
                extra[wire[name]] = value
        return cls(**values)

    return hook


#: Fields that are description only: a value that cannot be read makes the field None
#: instead of failing the whole model.
_DESCRIPTION_FIELDS: dict[type, frozenset[str]] = {
    GiftCard: frozenset(
        f.name for f in attrs.fields(GiftCard) if f.name not in ("card_number", "key", "extra")
    ),
}

for _model in (GiftCard, GiftCardBalance, GiftCardTemplate):
    converter.register_structure_hook(_model, _make_model_hook(_model))


def structure(data: Any, cls: type[T]) -> T:
    """Decode JSON-shaped data into a model with the one converter."""
    return converter.structure(data, cls)
