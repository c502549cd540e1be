"""Every exception class of the project derives from its package's root and a standard type.

``client/`` (and ``migrations/``, which is part of the client's deployment) derive from
:class:`client.errors.FppdlError`; ``trainer/`` from ``TrainerError``; ``storage/`` from
``StorageError`` (those two layers import nothing of ``client``). Each also derives from the
standard exception type that fits, so generic handlers keep working.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

from client.errors import FppdlError, error_roots
from storage.errors import StorageError
from trainer.errors import TrainerError

ROOTS = {"client": FppdlError, "migrations": FppdlError, "trainer": TrainerError,
         "storage": StorageError}
#: Modules that run something when imported (entry points), not libraries.
SKIP = {"client.cli.__main__", "migrations.__main__", "trainer.baselines.__main__"}


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    names = [package] + [
        info.name for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    ]
    return [importlib.import_module(n) for n in names if n not in SKIP]


def _exception_classes() -> list[tuple[str, type[BaseException]]]:
    found = []
    for package in ROOTS:
        for module in _modules(package):
            for _name, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                    found.append((package, cls))
    return found


CLASSES = _exception_classes()


def test_the_enumeration_finds_every_layer() -> None:
    packages = {p for p, _ in CLASSES}
    assert packages >= {"client", "trainer", "storage"}
    assert len(CLASSES) >= 40


@pytest.mark.parametrize(("package", "cls"), CLASSES, ids=[c.__qualname__ for _, c in CLASSES])
def test_each_error_has_its_root_and_a_standard_type(
    package: str, cls: type[BaseException]
) -> None:
    root = ROOTS[package]
    assert issubclass(cls, root), f"{cls.__module__}.{cls.__qualname__} is not a {root.__name__}"
    if cls in error_roots():
        return
    standard = [b for b in cls.__mro__ if b.__module__ == "builtins"
                and b not in (Exception, BaseException, object)]
    assert standard, f"{cls.__module__}.{cls.__qualname__} derives from no standard type"


def test_the_cli_reports_exactly_the_three_roots() -> None:
    assert error_roots() == (FppdlError, TrainerError, StorageError)
