"""The service contract as data: an AsyncAPI 3.0 document plus an ``x-readiness`` extension.

A contract says what the service under test does: the messages clients send
(``action: receive`` operations of the service, with their ``reply``), what it
pushes (``action: send``), their payloads as JSON Schema, and, in
``x-readiness`` (docs/contract.md), what a readiness suite needs besides:
logins, upgrade authentication, the first frame, endpoints with JSON pointers
to live figures, push triggers, limits with their close codes, targets.

Three steps, each a plain function:
    :func:`read_document` (file or shipped name -> text and mapping),
    :func:`validate_document` (-> :class:`ContractError` naming the JSON path of the first error),
    :func:`build` (-> :class:`Contract`, the typed model the rest of the code reads).
:func:`load_contract` does all three. Nothing here does network I/O.

The package is the one place that knows a protocol: ``model`` (pure dataclasses),
``load`` (read, validate, build, with bounds), ``schema`` (the document schema),
``pointers`` (JSON pointers), ``wire`` (how frames are told apart, matched to their
requests and numbered) and ``requests`` (the requests the suite builds from it).
"""

from __future__ import annotations

from .errors import ContractError
from .load import (
    CONTRACTS_DIR,
    DEFAULT,
    SUFFIXES,
    build,
    contract_from_text,
    contract_name,
    default_contract,
    load_contract,
    locate,
    parse_text,
    read_document,
    shipped,
    skip_unused_format_plugins,
    validate_document,
)
from .model import (
    ERROR_ROWS,
    Channel,
    Contract,
    Delivery,
    FirstFrame,
    HttpCall,
    Limit,
    Login,
    Message,
    Operation,
    SchemaIssue,
    Upgrade,
)
from .pointers import pointer_get, resolve_pointer
from .schema import DOCUMENT_SCHEMA, X_READINESS_OPERATION, X_READINESS_ROOT

__all__ = [
    "CONTRACTS_DIR",
    "DEFAULT",
    "DOCUMENT_SCHEMA",
    "ERROR_ROWS",
    "SUFFIXES",
    "X_READINESS_OPERATION",
    "X_READINESS_ROOT",
    "Channel",
    "Contract",
    "ContractError",
    "Delivery",
    "FirstFrame",
    "HttpCall",
    "Limit",
    "Login",
    "Message",
    "Operation",
    "SchemaIssue",
    "Upgrade",
    "build",
    "contract_from_text",
    "contract_name",
    "default_contract",
    "load_contract",
    "locate",
    "parse_text",
    "pointer_get",
    "read_document",
    "resolve_pointer",
    "shipped",
    "skip_unused_format_plugins",
    "validate_document",
]
