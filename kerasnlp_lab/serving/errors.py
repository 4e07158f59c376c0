"""Errors of the serving APIs: one exception carrying a TensorFlow status code, and how that code
maps to an HTTP status (REST) and a gRPC status code, as TF Serving maps them."""

import grpc

from kerasnlp_lab.errors import UserError

# tensorflow.error.Code name -> HTTP status, as in TF Serving's http_server.cc.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(UserError):
    """A request the server refused or could not run.

    Args:
        code: the tensorflow.error.Code name, e.g. "NOT_FOUND", "INVALID_ARGUMENT".
        message: the text TF Serving would put in `{"error": ...}` or the gRPC status details.
    """

    def __init__(self, code: str, message: str):
        if code not in HTTP_STATUS or code == "OK":
            raise ValueError(f"expected a tensorflow.error.Code name other than OK, got {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return grpc.StatusCode[self.code]


def code_name(number: int) -> str:
    """The tensorflow.error.Code name of a numeric code (TensorFlow and gRPC share the numbers)."""
    return _CODE_NAMES.get(number, "UNKNOWN")


_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)
