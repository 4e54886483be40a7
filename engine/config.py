"""The one base of every config dataclass: ``to_dict`` for JSON, ``from_dict`` back, unknown keys refused.

Configs are frozen dataclasses of plain values saved beside what they built (model cards, checkpoints,
run summaries, scene sidecars) and read back later, so each must survive a JSON round trip exactly.
JSON has no tuples: :meth:`ConfigBase.to_dict` writes them as lists and :meth:`ConfigBase.from_dict`
turns a list back into a tuple wherever the field's annotation is a tuple. A key that is not a field
is refused with one line naming the key and the config, so a typo in a card or a ``--set`` never
passes silently (the same rule as diffusers' ``from_config``).

Example::

    @dataclass(frozen=True)
    class MyConfig(ConfigBase):
        size: tuple[int, int] = (8, 8)

    MyConfig.from_dict(json.loads(json.dumps(MyConfig().to_dict()))) == MyConfig()
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

ConfigT = TypeVar("ConfigT", bound="ConfigBase")


class ConfigBase:
    """Mixin for config dataclasses (put it first among the bases of a ``@dataclass``).

    Attributes:
        config_error: exception raised for an unknown key or a malformed tuple (a subclass may use
            :class:`engine.errors.InputError` where the dict comes from a user's file).
    """

    config_error: ClassVar[type[Exception]] = ValueError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (tuples become lists, nested dicts are copied)."""
        fields = dataclasses.fields(typing.cast(Any, self))
        return {field.name: _jsonable(getattr(self, field.name)) for field in fields}

    @classmethod
    def from_dict(cls: type[ConfigT], values: Mapping[str, Any], source: str | None = None) -> ConfigT:
        """Build the config from a (partial) dict, as :meth:`to_dict` or a JSON file gives it.

        Missing keys keep their defaults; lists become tuples where the field is a tuple.

        Args:
            values: field names and values.
            source: what the dict came from (a file name), first in error messages; default the class name.

        Raises:
            config_error: an unknown key, or a list of the wrong length for a fixed-size tuple field.
        """
        where = source or cls.__name__
        hints = _field_hints(cls)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise cls.config_error(
                f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; "
                + _valid_keys_hint(unknown[0], list(hints))
            )
        kwargs = {name: _restore(value, hints[name], name, where, cls.config_error) for name, value in values.items()}
        return cls(**kwargs)


def _valid_keys_hint(unknown: str, valid: list[str]) -> str:
    """Return the end of the unknown-key message: the closest names, or all of them when there are few."""
    close = difflib.get_close_matches(unknown, valid, n=3)
    if close:
        return f"did you mean {' or '.join(close)}?"
    if len(valid) <= 15:
        return f"valid keys: {', '.join(valid)}"
    return f"valid keys are the {len(valid)} fields of the class"


def _field_hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation, in field order (annotations may be strings under PEP 563)."""
    resolved = typing.get_type_hints(cls)
    return {field.name: resolved.get(field.name, Any) for field in dataclasses.fields(cls) if field.init}


def _tuple_hint(hint: Any) -> Any:
    """Return the ``tuple[...]`` arm of ``hint`` (also inside ``X | None``), else None."""
    if typing.get_origin(hint) is tuple or hint is tuple:
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            if typing.get_origin(arm) is tuple or arm is tuple:
                return arm
    return None


def _restore(value: Any, hint: Any, name: str, where: str, error: type[Exception]) -> Any:
    """Turn a JSON list back into a tuple when the field is a tuple (check a fixed length), a dict into a config."""
    if isinstance(hint, type) and issubclass(hint, ConfigBase) and isinstance(value, Mapping):
        return hint.from_dict(value, f"{where}: {name}")
    tuple_hint = _tuple_hint(hint)
    if tuple_hint is None or value is None:
        return value
    args = typing.get_args(tuple_hint)
    fixed = bool(args) and args[-1] is not Ellipsis
    if not isinstance(value, (list, tuple)) or (fixed and len(value) != len(args)):
        size = f"{len(args)} values" if fixed else "values"
        raise error(f"{where}: {name} must be a list of {size}, got {value!r}")
    item_hint = args[0] if len(args) == 2 and args[1] is Ellipsis else None
    return tuple(_restore(item, item_hint, name, where, error) if item_hint is not None else item for item in value)


def _jsonable(value: Any) -> Any:
    """Return ``value`` with tuples as lists, paths as strings and nested dataclasses as dicts."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    return value
