"""One error family for every service, mapped to gRPC status codes.

Services raise these; the gRPC server interceptor turns them into a status with a message and
the stable machine-readable `code` in trailing metadata (`kefu-error-code`). Anything else is
logged with its traceback and becomes INTERNAL with a generic message.
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc

ERROR_CODE_METADATA_KEY = "kefu-error-code"


class ServiceError(Exception):
    status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidArgument(ServiceError):
    status = grpc.StatusCode.INVALID_ARGUMENT
    default_code = "invalid_argument"


class NotFound(ServiceError):
    status = grpc.StatusCode.NOT_FOUND
    default_code = "not_found"


class AlreadyExists(ServiceError):
    status = grpc.StatusCode.ALREADY_EXISTS
    default_code = "already_exists"


class FailedPrecondition(ServiceError):
    status = grpc.StatusCode.FAILED_PRECONDITION
    default_code = "failed_precondition"


class Aborted(ServiceError):
    """A conflict the caller may resolve by re-reading and retrying (e.g. a stale version)."""

    status = grpc.StatusCode.ABORTED
    default_code = "conflict"


class PermissionDenied(ServiceError):
    status = grpc.StatusCode.PERMISSION_DENIED
    default_code = "permission_denied"


class Unauthenticated(ServiceError):
    status = grpc.StatusCode.UNAUTHENTICATED
    default_code = "unauthenticated"


class ResourceExhausted(ServiceError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = "resource_exhausted"


class Unavailable(ServiceError):
    status = grpc.StatusCode.UNAVAILABLE
    default_code = "unavailable"
