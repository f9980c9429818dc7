"""TOML data files (settings, authority rules, the exception catalogue, the allocation policy,
the permission matrix) read and validated into a pydantic model, failing with the file's name
and the path of each bad entry in it.

>>> from pydantic import BaseModel
>>> class Rule(BaseModel):
...     owner: str
>>> validate_document({"owner": 3}, Rule, what="rules.toml")
Traceback (most recent call last):
...
omnigraph.core.errors.ConfigurationError: rules.toml: owner: Input should be a valid string
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from omnigraph.core.errors import ConfigurationError

__all__ = ["load_toml", "read_toml", "validate_document"]

Model = TypeVar("Model", bound=BaseModel)


def read_toml(path: Path, *, what: str) -> dict[str, Any]:
    """The document in ``path``; ``what`` says what the file is in the error when it cannot be
    read or is not TOML."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigurationError(f"{what} {path} does not exist") from None
    except OSError as error:
        raise ConfigurationError(f"{what} {path} cannot be read: {error.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{what} {path} is not valid TOML: {error}") from None


def validate_document(document: Any, model: type[Model], *, what: str) -> Model:
    """``document`` as a ``model``; the error names ``what`` and every bad entry by its path."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ConfigurationError.from_validation(what, error) from None


def load_toml(path: Path, model: type[Model], *, what: str) -> Model:
    """The TOML file ``path`` validated as a ``model``: ``what`` (e.g. "authority rules") and
    the path name the file in any error, the error the entries in it."""
    return validate_document(read_toml(path, what=what), model, what=f"{what} {path}")
