"""Summary templates: `str.format` syntax restricted to what a summary needs.

A rules file is operator input, and `str.format` is more than text substitution: `{value.__class__}`
reaches Python internals and `{value:>300000000}` builds a 300 MB string on every render. A
template may therefore only name fields offered to it, plainly (no attribute or index access, no
`!r`/`!s`/`!a` conversion, no nested `{}` in a spec), with a standard format specification whose
width and precision are bounded. `check` runs once when the rules are loaded and also renders the
template with sample values, so a spec that does not fit its field (`{service:.1%}`) is refused
then, not discovered while an alert fires.

Pure: no I/O.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

MAX_WIDTH = 60
MAX_PRECISION = 12
MAX_LENGTH = 1000  # of the template itself

# [[fill]align][sign][z][#][0][width][grouping][.precision][type]; fill is one plain character.
_SPEC = re.compile(
    r"^(?:[^{}]?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?"
    r"[bcdeEfFgGnosxX%]?$"
)


class TemplateError(ValueError):
    """A template that may not be used; the message names the offending field."""


def check(template: str, samples: Mapping[str, Any]) -> None:
    """Raise `TemplateError` unless `template` is safe and renders with `samples`."""
    if len(template) > MAX_LENGTH:
        raise TemplateError(f"longer than {MAX_LENGTH} characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"not a valid template: {exc}") from None
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field == "" or not field.isidentifier():
            what = "a positional field {}" if field == "" else f"field {{{field}}}"
            raise TemplateError(
                f"{what}: only plain field names are allowed (no attributes, no indexes); "
                f"valid: {', '.join(sorted(samples))}"
            )
        if field not in samples:
            raise TemplateError(f"unknown field {{{field}}}; valid: {', '.join(sorted(samples))}")
        if conversion is not None:
            raise TemplateError(f"field {{{field}}}: conversions (!{conversion}) are not allowed")
        _check_spec(field, spec or "")
        try:
            format(samples[field], spec or "")
        except (ValueError, TypeError) as exc:
            raise TemplateError(
                f"field {{{field}}}: format {spec!r} does not fit its value ({exc})"
            ) from None


def _check_spec(field: str, spec: str) -> None:
    match = _SPEC.match(spec)
    if match is None:
        raise TemplateError(
            f"field {{{field}}}: format {spec!r} is not a plain format specification "
            "(like .1%, .0f, >8)"
        )
    width, precision = match["width"], match["precision"]
    if width is not None and int(width) > MAX_WIDTH:
        raise TemplateError(f"field {{{field}}}: width {width} is above {MAX_WIDTH}")
    if precision is not None and int(precision) > MAX_PRECISION:
        raise TemplateError(f"field {{{field}}}: precision {precision} is above {MAX_PRECISION}")


def render(template: str, values: Mapping[str, Any]) -> str:
    """Render a template `check` accepted (plain fields only: no attribute lookups happen)."""
    return template.format_map(values)
