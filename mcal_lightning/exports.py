"""Lazy re-exports for the subpackages' ``__init__``: a name's module is imported on first use.

So importing one light module of a subpackage (``tracking.store``, ``sweep.config``) never
imports its heavy siblings (torch, Lightning), and ``mcal --help`` stays free of torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], Any], list[str]]:
    """``__getattr__`` and ``__all__`` for `package`, whose `modules` define those names.

    A name may not also be a submodule's: once that submodule is imported, the package's
    attribute would be the module, not the name.
    """
    owner = {name: module for module, names in modules.items() for name in names}
    clashes = sorted(set(owner) & set(modules))
    if clashes:
        raise ValueError(f"{package}: exported names that are also submodules: {clashes}")

    def getattr_(name: str) -> Any:
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{owner[name]}"), name)

    return getattr_, sorted(owner)
