"""The package's public names: ``agentflow.__all__`` is complete, sorted, and each name loads.

Modelled on httpx's tests/test_exported_members.py. ``agentflow/__init__.py`` lists each
public name once, by module, and repeats it only in the ``TYPE_CHECKING`` block that type
checkers read; this test ties the two together and to the objects they name.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import agentflow


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(Path(inspect.getfile(agentflow)).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and ast.unparse(node.test) == "TYPE_CHECKING")
    names: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name} is re-exported under another name"
            names[alias.name] = node.module
    return names


def test_all_is_sorted_and_has_no_duplicates():
    assert agentflow.__all__ == sorted(set(agentflow.__all__))


def test_type_checkers_see_exactly_the_public_names_from_the_same_modules():
    lazy = {name: module for module, names in agentflow._EXPORTS.items() for name in names}
    assert _type_checking_imports() == lazy


def test_every_public_name_loads_and_is_defined_where_it_is_listed():
    for module, names in agentflow._EXPORTS.items():
        for name in names:
            value = getattr(agentflow, name)
            assert value is getattr(importlib.import_module(module), name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue  # an instance, such as the hookimpl marker
            defined_in = value.__module__
            assert defined_in == module or defined_in.startswith(f"{module}."), name


def test_dir_lists_the_public_names():
    assert set(agentflow.__all__) <= set(dir(agentflow))


def test_every_public_error_is_in_the_one_tree():
    errors = importlib.import_module("agentflow.errors")
    classes = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, errors.LLMError)}
    assert classes == set(errors.__all__)
    documented = errors.__doc__ or ""
    assert all(name in documented for name in classes), "the docstring's tree misses an error"
    exported = {name for name in agentflow.__all__ if name.endswith("Error")}
    assert exported == classes


def test_public_modules_are_exactly_the_user_and_plugin_author_surface():
    package = Path(inspect.getfile(agentflow)).parent
    public = sorted(path.stem if path.is_file() else path.name
                    for path in package.iterdir()
                    if not path.name.startswith(("_", ".")) and path.name != "py.typed"
                    and (path.suffix == ".py" or (path / "__init__.py").exists()))
    assert public == ["cli", "config", "errors", "hookspecs", "limitstore", "sse", "testing",
                      "types", "vendor"]
