"""The Jinja2 environment of every HTML page the harness writes (`harness/report/templates/`).

Autoescape is on for every template, so a string from a run (a message's content, a process name, a
scenario field) is always text on the page, never markup. The only markup passed in is the SVG that
`timeline` and `charts` build, which escape their own labels; it is marked with `Markup` where it is made
into page content, so every other value stays escaped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def environment() -> Environment:
    return Environment(loader=PackageLoader("harness.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def render(template: str, **context: Any) -> str:
    """The named template of `harness/report/templates/` rendered with `context`."""
    return environment().get_template(template).render(**context)
