"""Schema extensions' hooks found once per extension class, not once per request and stage.

strawberry runs an operation's extensions through four context managers (operation, parsing,
validation, execution). Each, made anew for every request, asks every extension whether it
has that stage's hook (``get_hook``: a ``getattr`` on its class, ``inspect`` for generator and
async generator functions) and wraps each hook it finds as a context manager by decorating the
bound method (``contextlib.contextmanager(types.MethodType(hook, extension))``, whose
``functools.wraps`` copies five attributes); then it asks every extension for its results,
awaiting each answer. With omnigraph's twelve extensions that is 48 lookups, 14 decorations
and 12 result calls a request, about 400 Python calls: 6% of a support lookup's.

:class:`LeanExtensionsRunner` answers the same questions once per extension class and stage:
a hook's kind is a property of the class's function, so the decorated function
(``contextlib.contextmanager(hook)``, unbound) is made once and called with each request's
extension, which makes the same generator context manager around the same generator. The
context managers are strawberry's own classes with the hooks it would have found, in the same
order, entered and left by its own code (its exit stacks): hooks run, nest, see exceptions
and suppress them exactly as before. Results are asked only of extensions whose class has its
own ``get_results`` (strawberry's default answers ``{}``, which adds nothing).

Anything else, a hook that is neither a generator function, an async generator function nor
a plain function, is left to strawberry's ``get_hook`` for that extension, which wraps it or
refuses it as it always does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.utils.await_maybe import await_maybe

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

__all__ = ["LeanExtensionsRunner"]

Stage = TypeVar("Stage", bound=ExtensionContextManagerBase)

_DEFAULT_RESULTS = SchemaExtension.get_results


class _Hook(NamedTuple):
    """A class's hook for one stage: the context manager made from an extension (``None``:
    strawberry's ``get_hook`` decides, per extension) and whether it is entered with ``await``."""

    factory: Callable[[SchemaExtension], Any] | None
    is_async: bool


_ASK_STRAWBERRY = _Hook(None, False)


def _hook_of(extension_class: type[SchemaExtension], hook_name: str) -> _Hook | None:
    """What ``extension_class`` does at the stage ``hook_name`` (``None``: nothing), as
    strawberry's ``get_hook`` decides it for each of its instances."""
    hook = getattr(extension_class, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook):
        return _Hook(contextlib.contextmanager(hook), False)
    if inspect.isasyncgenfunction(hook):
        return _Hook(contextlib.asynccontextmanager(hook), True)
    if inspect.isfunction(hook):
        return _from_function(hook)
    return _ASK_STRAWBERRY  # a callable object, or something strawberry refuses


def _from_function(hook: Callable[[SchemaExtension], Any]) -> _Hook:
    """strawberry's ``from_callable``: a plain hook (or a coroutine function) run on entry."""
    if asyncio.iscoroutinefunction(hook):

        @contextlib.asynccontextmanager
        async def awaited(extension: SchemaExtension) -> Any:
            await hook(extension)
            yield

        return _Hook(awaited, True)

    @contextlib.contextmanager
    def called(extension: SchemaExtension) -> Iterator[None]:
        hook(extension)
        yield

    return _Hook(called, False)


# per stage, per extension class: its hook (both fixed once the class is defined)
_HOOKS: dict[str, dict[type[SchemaExtension], _Hook | None]] = {}
# per extension class: whether it has results of its own to add
_RESULTS: dict[type[SchemaExtension], bool] = {}


def _stage(manager: type[Stage], extensions: list[SchemaExtension]) -> Stage:
    """``manager(extensions)`` with the hooks strawberry's ``__init__`` would find."""
    stage = manager.__new__(manager)
    name = manager.HOOK_NAME
    stage.default_hook = getattr(SchemaExtension, name)
    hooks: list[WrappedHook] = []
    known = _HOOKS.setdefault(name, {})
    for extension in extensions:
        kind = type(extension)
        try:
            found = known[kind]
        except KeyError:
            found = known[kind] = _hook_of(kind, name)
        if found is None:
            continue
        if found.factory is None:
            # the class has a hook of its own, so strawberry wraps it or raises, never None
            hooks.append(cast(WrappedHook, stage.get_hook(extension)))
            continue
        hooks.append(
            WrappedHook(extension, functools.partial(found.factory, extension), found.is_async)
        )
    stage.hooks = hooks
    return stage


class LeanExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner with each stage's hooks found once per extension class."""

    def operation(self) -> OperationContextManager:
        return _stage(OperationContextManager, self.extensions)

    def validation(self) -> ValidationContextManager:
        return _stage(ValidationContextManager, self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _stage(ParsingContextManager, self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _stage(ExecutingContextManager, self.extensions)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self.extensions:
            kind = type(extension)
            own = _RESULTS.get(kind)
            if own is None:
                own = _RESULTS[kind] = kind.get_results is not _DEFAULT_RESULTS
            if own:
                data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data
