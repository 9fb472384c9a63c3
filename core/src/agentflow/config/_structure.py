"""Structuring plain data into the config classes with a project-owned cattrs converter.

The converter is strict where YAML is loose: ``true`` is not a number, ``1.5`` is not an
integer, ``42`` is not a string, and unknown keys are refused. It runs with detailed
validation, so every bad key and value of the document is collected in one pass; the nested
exception groups are then flattened into :class:`Problem` values whose paths are the keys
that cattrs notes on each exception (the idea of ``cattrs.transform_error``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

import attrs

from agentflow.config._fields import Setting, file_keys, required_keys, setting_of
from agentflow.config._problems import Path, Problem, describe_value, suggestion
from agentflow.config.models import Config

Hook = Callable[[Any, Any], Any]


class ConfigTypeError(TypeError):
    """A value of the wrong type; the message never shows a string value."""


class ConfigValueError(ValueError):
    """A value of the right type that breaks a limit."""


def structure_config(data: Mapping[Any, Any]) -> tuple[Config | None, list[Problem]]:
    """The :class:`Config` in ``data``, or None and every problem that prevents it.

    A file without a problem is structured by :func:`_quick_structure`, which applies the same
    hooks and checks without importing cattrs or generating its structuring code (the larger
    part of loading a configuration otherwise); at the first thing it does not decide, or the
    first problem, the cattrs converter structures the data again and finds every problem.
    """
    try:
        return _quick_structure(data, Config), []
    except Exception:  # anything at all: cattrs decides, and words every problem
        pass
    try:
        return _converter().structure(data, Config), []
    except Exception as exc:  # cattrs reports through exception groups of any exception
        return None, list(_problems(exc, ()))


class _Undecided(Exception):
    """A value or a type :func:`_quick_structure` leaves to the cattrs converter."""


_SCALAR_HOOKS: dict[Any, Hook] = {}  # filled below, once the hooks are defined


def _quick_structure(value: Any, type_: Any) -> Any:
    """``value`` structured as ``type_`` as the converter of :func:`_converter` does it, for
    the types of the configuration classes: the scalar hooks, ``X | None``, mappings,
    ``tuple[X, ...]``, ``Any`` and the classes themselves (:func:`_class_plan`). Raises at the
    first problem, and :class:`_Undecided` for anything else."""
    hook = _SCALAR_HOOKS.get(type_)
    if hook is not None:
        return hook(value, type_)
    if type_ is Any:
        return value
    if isinstance(type_, type) and attrs.has(type_):
        return _quick_class(value, type_)
    origin = get_origin(type_)
    args = get_args(type_)
    if origin in (UnionType, Union) and len(args) == 2 and type(None) in args:
        return None if value is None else _quick_structure(
            value, args[0] if args[1] is type(None) else args[1])
    if origin in (Mapping, dict) and len(args) == 2:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise _Undecided
        key_type, value_type = args
        return {_quick_structure(key, key_type): _quick_structure(item, value_type)
                for key, item in value.items()}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _Undecided
        return tuple(_quick_structure(item, args[0]) for item in value)
    raise _Undecided


def _quick_class(value: Any, cls: type) -> Any:
    fields, required = _class_plan(cls)
    if value is None and not required:
        return cls()
    if not isinstance(value, Mapping) or any(key not in fields for key in value) or any(
            name not in value for name in required):
        raise _Undecided
    given: dict[str, Any] = {}
    for key, item in value.items():
        alias, type_, meta = fields[key]
        result = _quick_structure(item, type_)
        if result is not None and (meta.check is not None or meta.has_limits) and (
                meta.problem(item)):
            raise _Undecided
        given[alias] = result
    return cls(**given)


@functools.cache
def _class_plan(cls: type) -> tuple[dict[str, tuple[str, Any, Setting]], tuple[str, ...]]:
    """The file keys of ``cls`` (each with its ``__init__`` argument, type and setting), and
    the required ones."""
    attrs.resolve_types(cls)
    fields = {field.name: (field.alias, field.type, meta) for field in attrs.fields(cls)
              if (meta := setting_of(field)) is not None}
    return fields, tuple(required_keys(cls))


@functools.cache
def _converter() -> Any:
    import cattrs

    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook_factory(_is_mapping, _mapping_hook_factory)
    converter.register_structure_hook_factory(_is_sequence, _sequence_hook_factory)
    converter.register_structure_hook_factory(attrs.has, _class_hook_factory)
    return converter


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigTypeError(f"expected a number, got {describe_value(value)}")
    return float(value)


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(f"expected a whole number, got {describe_value(value)}")
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigTypeError(f"expected true or false, got {describe_value(value)}")
    return value


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        hint = "; quote it to make it a string" if isinstance(value, int | float) or (
            value is not None and not isinstance(value, dict | list)) else ""
        raise ConfigTypeError(f"expected a string, got {describe_value(value)}{hint}")
    return value


_SCALAR_HOOKS.update({float: _structure_float, int: _structure_int, bool: _structure_bool,
                      str: _structure_str})


def _is_mapping(type_: Any) -> bool:
    return get_origin(type_) in (Mapping, dict)


def _mapping_hook_factory(type_: Any, converter: Any) -> Hook:
    from cattrs.gen import make_mapping_structure_fn

    inner = make_mapping_structure_fn(type_, converter)

    def structure(value: Any, _: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ConfigTypeError(f"expected a mapping, got {describe_value(value)}")
        return inner(value, type_)

    return structure


def _is_sequence(type_: Any) -> bool:
    return get_origin(type_) is tuple


def _sequence_hook_factory(type_: Any, converter: Any) -> Hook:
    """A YAML list into ``tuple[T, ...]``: only a list is accepted (a string is not a list of
    characters), and every bad item is reported with its index."""
    from cattrs.errors import IterableValidationError, IterableValidationNote

    item_type = get_args(type_)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigTypeError(f"expected a list, got {describe_value(value)}")
        items, errors = [], []
        for index, item in enumerate(value):
            try:
                items.append(item_hook(item, item_type))
            except Exception as exc:
                note = IterableValidationNote(f"Structuring item @ index {index}", index,
                                              item_type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
                errors.append(exc)
        if errors:
            raise IterableValidationError("invalid list items", errors, type_)
        return tuple(items)

    return structure


def _class_hook_factory(cls: type, converter: Any) -> Hook:
    from cattrs.gen import make_dict_structure_fn, override

    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        meta = setting_of(field)
        if meta is None:
            overrides[field.name] = override(omit=True)
        elif meta.check is not None or meta.has_limits:
            overrides[field.name] = override(
                struct_hook=_checked(converter.get_structure_hook(field.type), field.type, meta))
    inner: Hook = make_dict_structure_fn(cls, converter, **overrides)
    required = required_keys(cls)

    def structure(value: Any, _: Any) -> Any:
        if value is None and not required:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigTypeError(f"expected a mapping of settings, got {describe_value(value)}")
        missing = [name for name in required if name not in value]
        if missing:
            raise ConfigValueError(f"missing {', '.join(map(repr, missing))}: "
                                   f"{', '.join(required)} must all be set here")
        return inner(value, cls)

    return structure


def _checked(hook: Hook, type_: Any, meta: Setting) -> Hook:
    def structure(value: Any, _: Any) -> Any:
        result = hook(value, type_)
        message = None if result is None else meta.problem(value)
        if message:
            raise ConfigValueError(message)
        return result

    return structure


def _problems(exc: BaseException, path: Path) -> Iterator[Problem]:
    from cattrs.errors import BaseValidationError, ForbiddenExtraKeysError

    if isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            step = _note_step(sub)
            if step is None:
                yield from _problems(sub, path)
            elif step[1] == "key":
                yield Problem((*path, step[0]), "names must be strings, got "
                              f"{describe_value(step[0])}; quote it", "key")
            else:
                yield from _problems(sub, (*path, step[0]))
    elif isinstance(exc, ForbiddenExtraKeysError):
        allowed = file_keys(exc.cl)
        for name in sorted(exc.extra_fields, key=str):
            yield Problem((*path, name), _unknown_key(name, allowed), "key")
    elif isinstance(exc, ConfigTypeError | ConfigValueError):
        yield Problem(path, str(exc))
    else:  # pragma: no cover - every hook raises one of the two above
        yield Problem(path, f"{type(exc).__name__}: {exc}")


def _note_step(exc: BaseException) -> tuple[Any, str] | None:
    """The key that cattrs noted on ``exc`` at this level, and whether it is a mapping key."""
    from cattrs.errors import AttributeValidationNote, IterableValidationNote

    for note in reversed(getattr(exc, "__notes__", [])):
        if isinstance(note, AttributeValidationNote):
            return note.name, "value"
        if isinstance(note, IterableValidationNote):
            is_key = note.startswith("Structuring mapping key")
            return note.index, "key" if is_key else "value"
    return None


def _unknown_key(name: Any, allowed: list[str]) -> str:
    if not isinstance(name, str):
        return f"unknown key {name!r}; keys here are: {', '.join(allowed)}"
    hint = suggestion(name, allowed)
    return f"unknown key {name!r}{hint}" if hint else (
        f"unknown key {name!r}; keys here are: {', '.join(allowed)}")
