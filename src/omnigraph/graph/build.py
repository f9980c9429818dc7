"""Build the federated schema with the extensions every deployment needs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict, cast

import structlog
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaskErrors, ParserCache
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.federation import Schema
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult, Info
from strawberry.types.graphql import OperationType

from omnigraph.core.errors import OmnigraphError
from omnigraph.core.request_id import current_request_id
from omnigraph.graph.entities import EntityShape, check_representations, entity_shapes
from omnigraph.graph.error_codes import ErrorCodes, assign_code
from omnigraph.graph.limits.errors import code_token_limit, strip_suggestions
from omnigraph.graph.limits.query_limits import QueryLimits, limit_extensions
from omnigraph.graph.matrix import apply_matrix
from omnigraph.graph.overrides import (
    LeafExecutionContext,
    LeanExtensionsRunner,
    ValidationVerdicts,
    lighten,
)
from omnigraph.graph.response_cache import CachedResponses, ResponseCache
from omnigraph.graph.scalars import SCALAR_OVERRIDES
from omnigraph.graph.stale import StaleIfError
from omnigraph.graph.trusted_documents import TrustedDocuments

__all__ = ["SchemaOptions", "SubgraphSpec", "assemble_schema"]

FEDERATION_VERSION: Final = "2.9"
log = structlog.get_logger(__name__)


class MaskUnexpectedErrors(MaskErrors):
    """strawberry's masking, keeping a stable code and the request id that finds the log line."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": current_request_id()}
        return masked


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask only what a client cannot act on: what :func:`assign_code` found no code for but
    ``INTERNAL_SERVER_ERROR`` (coded, validation and input errors pass)."""
    code = (error.extensions or {}).get("code")
    if code is None:  # not seen by process_errors yet
        assign_code(error)
        code = (error.extensions or {}).get("code")
    return code == "INTERNAL_SERVER_ERROR" and not isinstance(error.original_error, OmnigraphError)


class OmnigraphSchema(Schema):
    """Logs expected, coded errors as one line and unexpected ones with their traceback; in
    production (``masking`` set) masks what is unexpected in every result ``execute`` returns,
    also when a step before execution raised (strawberry then answers outside its extensions,
    so the masking extension never sees the error)."""

    masking: MaskUnexpectedErrors | None = None
    # strawberry's runner, or the overrides' (``LeanExtensionsRunner``: hooks found per class)
    extensions_runner: type[SchemaExtensionsRunner] = SchemaExtensionsRunner

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return self.extensions_runner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            code_token_limit(error)
            if self.config.disable_field_suggestions:
                strip_suggestions(error)
            assign_code(error)
            if _is_unexpected(error):
                log.error(
                    "graphql_unexpected_error", path=error.path, exc_info=error.original_error
                )
            else:
                log.info(
                    "graphql_error",
                    message=error.message,
                    path=error.path,
                    code=(error.extensions or {}).get("code"),
                )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        result = await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed_operation_types,
            operation_extensions=operation_extensions,
        )
        if self.masking is not None and result.errors:
            masking = self.masking
            result.errors = [
                masking.anonymise_error(error) if _is_unexpected(error) else error
                for error in result.errors
            ]
        return result

    @functools.cached_property
    def entity_shapes(self) -> dict[str, EntityShape]:
        """What a representation of each entity type carries, read off the schema once."""
        return entity_shapes(self)

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """strawberry's, each malformed representation answered with ``BAD_USER_INPUT`` at its
        index instead of failing the whole list or raising inside strawberry
        (:mod:`omnigraph.graph.entities`)."""
        checked = check_representations(self.entity_shapes, representations)
        valid = [item for item in checked if not isinstance(item, Exception)]
        resolved = iter(super().entities_resolver(info, cast(list[FederationAny], valid)))
        return [
            cast(FederationAny, item) if isinstance(item, Exception) else next(resolved)
            for item in checked
        ]


@dataclass(frozen=True, slots=True)
class SubgraphSpec:
    """A root ``Query`` (and ``Mutation``, ``Subscription``) and the entity types a schema must
    include: what the assembly (``omnigraph.api``) hands the edge to build."""

    query: type[Any]
    types: list[type[Any]]
    mutation: type[Any] | None = None
    subscription: type[Any] | None = None


class SchemaOptions(TypedDict, total=False):
    """What ``assemble_schema`` takes besides the spec, for those that pass it on."""

    production: bool
    limits: QueryLimits | None
    trusted_documents: TrustedDocuments | None
    response_cache: ResponseCache | None
    observers: Sequence[Callable[[], SchemaExtension]]
    framework_overrides: bool


def assemble_schema(
    spec: SubgraphSpec,
    *,
    production: bool = False,
    limits: QueryLimits | None = None,
    trusted_documents: TrustedDocuments | None = None,
    response_cache: ResponseCache | None = None,
    observers: Sequence[Callable[[], SchemaExtension]] = (),
    framework_overrides: bool = True,
) -> Schema:
    """The schema of ``spec`` with the extensions every deployment needs.

    ``limits`` bound what one operation may ask for; ``trusted_documents`` turns on persisted
    queries (or the allow-list); with them, ``response_cache`` serves trusted documents' answers
    again for a moment. Production also turns introspection and field suggestions off.
    ``observers`` (metrics, tracing) watch each operation from outside everything else.
    ``framework_overrides`` off runs on strawberry's and graphql-core's ordinary paths only
    (``omnigraph.graph.overrides`` lists what it turns off and what each buys).
    """
    limits = limits or QueryLimits()
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        ErrorCodes,
        StaleIfError,
        lambda: ParserCache(maxsize=512),
        # with validation remembered per document text, when the overrides are on
        *limit_extensions(
            limits, validation=ValidationVerdicts().extension if framework_overrides else None
        ),
    ]
    if trusted_documents is not None:
        if response_cache is not None and response_cache.seconds > 0:
            # before ErrorCodes: it must see the degraded notices ErrorCodes adds on the way out
            store = trusted_documents.store
            extensions.insert(0, lambda: CachedResponses(response_cache, store))
        # first: it may supply the query the others parse, or refuse before any work
        extensions.insert(0, trusted_documents.extension)
    # outermost: they see refusals and time the whole operation
    extensions[0:0] = observers
    if production:
        extensions.append(DisableIntrospection)
        extensions.append(lambda: MaskUnexpectedErrors(should_mask_error=_is_unexpected))
    apply_matrix([spec.query, spec.mutation, spec.subscription, *spec.types])
    schema = OmnigraphSchema(
        query=spec.query,
        mutation=spec.mutation,
        subscription=spec.subscription,
        types=spec.types,
        extensions=extensions,
        federation_version=FEDERATION_VERSION,
        # one DateTime everywhere one is taken: with a UTC offset, or refused as the client's
        scalar_overrides=SCALAR_OVERRIDES,
        execution_context_class=LeafExecutionContext if framework_overrides else None,
        config=StrawberryConfig(
            auto_camel_case=True,
            disable_field_suggestions=production,
            batching_config=(
                {"max_operations": limits.max_batch_operations}
                if limits.max_batch_operations
                else None
            ),
        ),
    )
    if production:
        schema.masking = MaskUnexpectedErrors(should_mask_error=_is_unexpected)
    if framework_overrides:
        schema.extensions_runner = LeanExtensionsRunner
        lighten(schema)  # after the matrix: a guarded field keeps strawberry's wrapper
    return schema
