import grpc
import pytest

from kefu_common.errors import ERROR_CODE_METADATA_KEY
from kefu_common.problem import GRPC_TO_HTTP, problem_from_grpc


@pytest.mark.parametrize(
    ("status", "http"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.ABORTED, 409),
        (grpc.StatusCode.FAILED_PRECONDITION, 400),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_grpc_status_maps_to_http_per_google_rpc_code(status, http) -> None:
    assert GRPC_TO_HTTP[status] == http
    assert problem_from_grpc(status, "x").status == http


def test_every_grpc_status_has_an_http_mapping() -> None:
    assert set(GRPC_TO_HTTP) == set(grpc.StatusCode)


def test_service_error_code_from_trailer_becomes_the_problem_code() -> None:
    problem = problem_from_grpc(
        grpc.StatusCode.NOT_FOUND, "ticket 1 not found", ((ERROR_CODE_METADATA_KEY, "ticket_not_found"),)
    )
    assert problem.code == "ticket_not_found"
    assert problem.detail == "ticket 1 not found"


def test_internal_errors_never_leak_their_message() -> None:
    problem = problem_from_grpc(grpc.StatusCode.INTERNAL, "KeyError: 'secret_column'")
    assert problem.status == 500
    assert problem.code == "internal_error"
    assert "secret_column" not in problem.detail


@pytest.mark.parametrize("status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_unreachable_downstream_asks_the_client_to_retry(status) -> None:
    problem = problem_from_grpc(status, "connection refused 10.0.0.3")
    assert problem.headers == {"Retry-After": "1"}
    assert "10.0.0.3" not in problem.detail


def test_problem_body_is_rfc9457_with_stable_code() -> None:
    body = problem_from_grpc(grpc.StatusCode.ABORTED, "stale").body(instance="/v1/x", request_id="r1")
    assert body == {
        "type": "https://kefu.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "code": "conflict",
        "detail": "stale",
        "instance": "/v1/x",
        "request_id": "r1",
    }


def test_reused_idempotency_key_is_422_whatever_the_grpc_status() -> None:
    trailer = ((ERROR_CODE_METADATA_KEY, "idempotency_key_reused"),)
    assert problem_from_grpc(grpc.StatusCode.ALREADY_EXISTS, "reused", trailer).status == 422
