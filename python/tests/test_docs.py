"""docs/python.md shows every public function and method with the signature the code has, and
names every exported name and property: a renamed argument or a new method fails here rather
than in a user's hands."""

from __future__ import annotations

import enum
import inspect
import re
from types import ModuleType
from typing import Any, Callable, Iterator

import plumbline
from plumbline import protocol, seal

from .conftest import REPO

#: The guide with its lines joined: a code span may wrap.
GUIDE = " ".join((REPO / "docs/python.md").read_text(encoding="utf-8").split())
#: The classes whose methods the guide's tables list.
CLASSES = (plumbline.Client, plumbline.Experiment, plumbline.Labeler, plumbline.Task, plumbline.Batch, plumbline.Export)


def shown_default(value: Any) -> str:
    if isinstance(value, enum.Enum):  # Client's key: read from the environment
        return "<environment>"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def shown(name: str, fn: Callable[..., Any]) -> str:
    """A call as the guide writes it: ``name(a, b=1, *, c=None, **options)``, without ``self``."""
    parts: list[str] = []
    star = False
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={shown_default(p.default)}")
    return f"{name}({', '.join(parts)})"


def module_functions(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(module).items():
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__:
            yield name, value


def callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in plumbline.__all__:
        value = getattr(plumbline, name)
        if inspect.isfunction(value):
            yield name, value
    for constructor in (plumbline.Client, plumbline.Labeler, plumbline.Task):
        yield constructor.__name__, constructor
    for cls in CLASSES:
        for name, value in vars(cls).items():
            if not name.startswith("_") and isinstance(value, (staticmethod, type(shown))):
                yield name, getattr(cls, name)
    for module in (protocol, seal):
        yield from module_functions(module)


def test_every_function_and_method_is_shown_with_its_signature() -> None:
    # A call ends its code span or goes on (`labeler(key=None)` → `Labeler`, `Batch.of(...)`).
    missing = [shown(name, fn) for name, fn in callables()]
    assert [call for call in missing if not re.search(rf"[`.]{re.escape(call)}[`, ]", GUIDE)] == []


def test_every_exported_name_and_property_is_named() -> None:
    names = list(plumbline.__all__)
    for cls in CLASSES + (plumbline.Balance, plumbline.Progress, plumbline.Session):
        names += [name for name, value in vars(cls).items() if not name.startswith("_") and isinstance(value, property)]
        names += [name for name in getattr(cls, "__dataclass_fields__", {})]
    for error in (plumbline.ApiError, plumbline.WaitTimeout, plumbline.AuditError):
        names += list(error.__annotations__)
    unnamed = sorted({name for name in names if not re.search(rf"`[^`]*\b{re.escape(name)}\b[^`]*`", GUIDE)})
    assert unnamed == []
