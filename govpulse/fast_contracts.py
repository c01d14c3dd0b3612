"""A fast validator derived from each event's pydantic model: the same contract, far cheaper.

The pydantic models stay the one definition of every event. From a model this module derives a
msgspec Struct with the same fields, types, bounds and defaults (strict by nature: no
string-to-number or number-to-date coercion, unknown fields refused), and then applies in Python
what msgspec cannot express cheaply: string patterns, the fields' after-validators and the
model's own after-validators (the very functions the model runs, called on the decoded struct).

Exactness: an element the fast path accepts is one the model accepts with the same values
(`tests/unit/test_fast_contracts.py` checks both on valid and hostile corpora); an element it
refuses is handed to the model itself, whose verdict and message stand. So the fast path changes
only the cost of the common case, never a decision. A model using a construct this module does
not know is not derived (`derive` raises `Underivable`) and the model validates alone.
"""

from __future__ import annotations

import re
import types
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, StringConstraints

from govpulse.codec import ElementValidator, InvalidEvent, strict_validator
from govpulse.events.base import HighCardinality

Check = Callable[[Any], None]


class Underivable(TypeError):
    """The model uses something the fast path does not reproduce exactly."""


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            meta["ge"] = item.ge
        elif isinstance(item, annotated_types.Le):
            meta["le"] = item.le
        elif isinstance(item, annotated_types.Gt):
            meta["gt"] = item.gt
        elif isinstance(item, annotated_types.Lt):
            meta["lt"] = item.lt
        elif isinstance(item, annotated_types.MaxLen):
            meta["max_length"] = item.max_length
        elif isinstance(item, annotated_types.MinLen):
            meta["min_length"] = item.min_length
        elif isinstance(item, (StringConstraints, AfterValidator, HighCardinality)):
            continue
        else:
            raise Underivable(f"constraint {item!r}")
    return meta


def _string(constraints: StringConstraints) -> tuple[Any, re.Pattern[str] | None]:
    if constraints.strip_whitespace or constraints.to_lower or constraints.to_upper:
        raise Underivable("string transformations")
    meta: dict[str, Any] = {}
    if constraints.min_length is not None:
        meta["min_length"] = constraints.min_length
    if constraints.max_length is not None:
        meta["max_length"] = constraints.max_length
    pattern = re.compile(constraints.pattern) if constraints.pattern else None
    return (Annotated[str, msgspec.Meta(**meta)] if meta else str), pattern


class _Field:
    """One field's msgspec type and the Python checks of its values."""

    def __init__(self, annotation: Any, metadata: list[Any]) -> None:
        self.checks: list[Check] = []
        self.type = self._derive(annotation, metadata)

    def _derive(self, annotation: Any, metadata: list[Any]) -> Any:
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *extra = get_args(annotation)
            return self._derive(inner, [*extra, *metadata])
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1 or len(get_args(annotation)) != 2:
                raise Underivable(f"union {annotation!r}")
            inner_field = _Field(options[0], metadata)
            self.checks += [_unless_none(check) for check in inner_field.checks]
            return inner_field.type | None
        for item in metadata:
            if isinstance(item, AfterValidator):
                # Plain (value) -> value validators only; ValidationInfo ones are not derived.
                self.checks.append(cast(Check, item.func))
        if annotation is AwareDatetime:
            return Annotated[datetime, msgspec.Meta(tz=True)]
        if annotation is str:
            constraints = [m for m in metadata if isinstance(m, StringConstraints)]
            if len(constraints) > 1:
                raise Underivable("several string constraints")
            if not constraints:
                return str
            kind, pattern = _string(constraints[0])
            if pattern is not None:
                recurs = not any(isinstance(m, HighCardinality) for m in metadata)
                self.checks.append(PatternCheck(pattern, memoize=recurs))
            return kind
        if annotation is int or annotation is bool or annotation is uuid.UUID:
            meta = _bounds(metadata)
            return Annotated[annotation, msgspec.Meta(**meta)] if meta else annotation
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return annotation
        if origin is Literal:
            return annotation
        if origin is tuple:
            element, ellipsis = get_args(annotation)
            if ellipsis is not Ellipsis:
                raise Underivable(f"fixed tuple {annotation!r}")
            inner_field = _Field(element, [])
            for check in inner_field.checks:
                self.checks.append(_each(check))
            meta = _bounds(metadata)
            kind = tuple[inner_field.type, ...]  # type: ignore[name-defined]
            return Annotated[kind, msgspec.Meta(**meta)] if meta else kind
        raise Underivable(f"type {annotation!r}")


def _unless_none(check: Check) -> Check:
    def unless_none(value: Any) -> None:
        if value is not None:
            check(value)

    return unless_none


def _each(check: Check) -> Check:
    def each(values: tuple[Any, ...]) -> None:
        for value in values:
            check(value)

    return each


class PatternCheck:
    """A string pattern; unless `memoize` is off, the generated checker remembers the distinct
    values that matched."""

    def __init__(self, pattern: re.Pattern[str], memoize: bool = True) -> None:
        self.pattern = pattern
        self.memoize = memoize

    def __call__(self, value: str) -> None:
        if self.pattern.fullmatch(value) is None:
            raise ValueError(f"string does not match {self.pattern.pattern!r}")


# Codes (agencies, services) repeat endlessly: each distinct value is matched once, and an
# offset-only time check runs once per time zone. Memos are cleared when full, so hostile unique
# strings cost memory only up to this bound. Fields marked `HighCardinality` (an entity's own id)
# get no memo: filled to this bound one held about 7 MB, for few hits (an hour's dossier ids: one
# check in three, payment ids none; the CPU of an hour's non-NDXP events moved by less than 1%).
MEMO_SIZE = 65_536


def compile_checker(checks: list[tuple[str, Check]]) -> Callable[[Any], Any]:
    """One generated function running every check of a model on an event, memos inlined.

    Generated (as dataclasses does) because a loop of getattr and calls costs more than the
    checks themselves on the worker's hot path.
    """
    namespace: dict[str, Any] = {"MEMO_SIZE": MEMO_SIZE}
    lines = ["def checked(event):"]
    for number, (name, check) in enumerate(checks):
        function, memo = f"check{number}", f"memo{number}"
        namespace[function] = check
        value = f"event.{name}" if name else "event"
        if (isinstance(check, PatternCheck) and check.memoize) or getattr(
            check, "offset_only", False
        ):
            namespace[memo] = set()
            key = "v" if isinstance(check, PatternCheck) else "v.tzinfo"
            lines += [
                f"    v = {value}",
                f"    if {key} not in {memo}:",
                f"        {function}(v)",
                f"        if len({memo}) >= MEMO_SIZE: {memo}.clear()",
                f"        {memo}.add({key})",
            ]
        else:
            lines.append(f"    {function}({value})")
    lines.append("    return event")
    exec("\n".join(lines), namespace)
    return cast(Callable[[Any], Any], namespace["checked"])


@cache
def derive(model: type[BaseModel]) -> tuple[type[msgspec.Struct], list[tuple[str, Check]]]:
    """The Struct and the (field, check) list reproducing `model`; raises `Underivable`."""
    if model.model_config.get("extra") != "forbid":
        raise Underivable("only extra='forbid' models")
    fields: list[tuple[Any, ...]] = []
    checks: list[tuple[str, Check]] = []
    for name, info in model.model_fields.items():
        if info.alias is not None and info.alias != name:
            raise Underivable("aliases")
        field = _Field(info.annotation, list(info.metadata))
        checks += [(name, check) for check in field.checks]
        if info.is_required():
            fields.append((name, field.type))
        else:
            fields.append((name, field.type, info.default))
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            raise Underivable("before/wrap model validators")
        checks.append(("", decorator.func))
    if model.__pydantic_decorators__.field_validators:
        raise Underivable("field validators")
    # Required fields first, as msgspec wants; names and values are what matter, not order.
    fields.sort(key=lambda f: len(f) == 3)
    struct = msgspec.defstruct(
        f"Fast{model.__name__}", fields, forbid_unknown_fields=True, frozen=True
    )
    return struct, checks


class FastValidator:
    """Validates elements with the derived struct; refusals go to the model for its verdict."""

    def __init__(self, model: type[BaseModel]) -> None:
        struct, checks = derive(model)
        self.reference = strict_validator(model)
        self.one = msgspec.json.Decoder(struct)
        self.many = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]
        self._checked = compile_checker(checks)

    def __call__(self, raw: bytes) -> Any:
        try:
            return self._checked(self.one.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
            return self.reference(raw)  # the model decides, and says why in its own words

    def batch(self, value: bytes, raws: list[bytes]) -> tuple[list[Any], bool]:
        """Each element's event, or the `InvalidEvent` the model raised for it; and whether
        every element is an event (then the list is the events, in order)."""
        try:
            decoded = self.many.decode(value)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return [self._or_invalid(raw) for raw in raws], False
        if len(decoded) != len(raws):  # one array read twice: a mismatch is a bug, not input
            raise AssertionError(f"{len(decoded)} events decoded from {len(raws)} elements")
        # The common case, a record without one bad event: the checks alone, in one loop.
        checked = self._checked
        try:
            for event in decoded:
                checked(event)
        except ValueError:
            pass
        else:
            return decoded, True
        results: list[Any] = []
        for event, raw in zip(decoded, raws, strict=True):
            try:
                results.append(self._checked(event))
            except ValueError:
                results.append(self._or_invalid(raw))
        return results, False

    def _or_invalid(self, raw: bytes) -> Any:
        try:
            return self(raw)
        except InvalidEvent as exc:
            return exc


@cache
def fast_validator(model: type[BaseModel]) -> ElementValidator[Any]:
    """The validator the worker uses: derived when possible, the model itself otherwise."""
    try:
        return FastValidator(model)
    except Underivable:
        return strict_validator(model)
