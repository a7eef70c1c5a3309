"""Fields computed on first access, for frozen dataclasses (results and batch fits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Deferred:
    """A field value computed on first access: ``MetaResult(..., studies=Deferred(fn))``.

    Lets the pool functions skip work most callers never look at (the per-study table, the
    Q-profile intervals); the attribute reads exactly as if the value had been given.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


class LazyField:
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
        if type(value) is Deferred:
            value = value.fn()
            obj.__dict__[self.name] = value
        return value

    def __set__(self, obj, value):  # reached only through object.__setattr__ (frozen class)
        obj.__dict__[self.name] = value
