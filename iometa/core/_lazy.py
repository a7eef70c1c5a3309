"""Fields computed on first access, for frozen dataclasses (results and batch fits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any


class _Deferred:
    """A field value computed on first access: ``MetaResult(..., studies=Deferred(fn))``.

    Lets the pool functions skip work most callers never look at (the per-study table, the
    Q-profile intervals); the attribute reads exactly as if the value had been given.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


class _LazyField:
    """Data descriptor of a dataclass field that may hold a :class:`Deferred`.

    The value lives in the instance ``__dict__`` under the field's name; a Deferred is replaced
    by its value on first access. ``__get__`` on the class raises AttributeError, so the
    dataclass sees a field without a default.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)
        value = obj.__dict__[self.name]
        if type(value) is _Deferred:
            value = value.fn()
            obj.__dict__[self.name] = value
        return value

    def __set__(self, obj, value):  # reached only through object.__setattr__ (frozen class)
        obj.__dict__[self.name] = value



if TYPE_CHECKING:
    # To type checkers a LazyField is a dataclass field without a default, typed by its
    # annotation (``tau2_ci: tuple[float, float] = LazyField()``), which is what the
    # dataclass sees at run time; and a Deferred passes for the value it will compute.
    from dataclasses import field as LazyField

    def Deferred(fn: Callable[[], Any]) -> Any: ...  # noqa: N802
else:
    LazyField = _LazyField
    Deferred = _Deferred
    LazyField.__name__ = LazyField.__qualname__ = "LazyField"
    Deferred.__name__ = Deferred.__qualname__ = "Deferred"
