"""Tensors in the TF Serving REST API: JSON values <-> NumPy arrays, following its JSON mapping.

- Row format: `{"instances": [...]}` -> `{"predictions": [...]}`; columnar format:
  `{"inputs": ...}` -> `{"outputs": ...}`. With one named tensor its name is left out.
- DT_STRING values are JSON strings; binary values are `{"b64": "<base64>"}`. Outputs whose name
  ends in `_bytes` are written as `{"b64": ...}` (as TF Serving does), and so is any string output
  that is not valid UTF-8 (TF Serving would write invalid JSON there).
- Floats accept `NaN`, `Infinity`, `-Infinity`; they are written in their shortest round-trip form.
- Numbers are read as TF Serving's parser reads them: integers beyond 64 bits become doubles, and a
  number too big for a double (`1e999`, a 5,000-digit integer) is a parse error, not infinity.
  Documents nested deeper than 1,024 levels are parse errors too.
- Numbers are checked as TF Serving checks them: a JSON string is not a float, 1.5 is not an int32,
  2**24 + 1 does not fit a float32 without loss of precision.
The error messages are TF Serving's. Documents are parsed with orjson, and with the standard
library's parser when orjson refuses them (NaN and Infinity, and the error messages of malformed
documents).
"""

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from kerasnlp_lab.serving.errors import ServingError, invalid_argument
from kerasnlp_lab.serving.tensor_proto import dtype_enum, dtype_name, numpy_dtype

BYTES_SUFFIX = "_bytes"
MAX_JSON_DEPTH = (
    1024  # orjson's limit; the standard library's parser stops at Python's recursion limit
)
_MAX_ERROR_VALUE_CHARS = 200
_DOUBLE_DIGITS = 309  # an integer with more digits does not fit a double
_FLOAT_TYPES = {types_pb2.DT_FLOAT: 24, types_pb2.DT_HALF: 11, types_pb2.DT_DOUBLE: 53}
_INT_RANGES = {
    types_pb2.DT_INT8: (-(2**7), 2**7 - 1),
    types_pb2.DT_UINT8: (0, 2**8 - 1),
    types_pb2.DT_INT16: (-(2**15), 2**15 - 1),
    types_pb2.DT_UINT16: (0, 2**16 - 1),
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}
_FLOAT_MAX = {
    types_pb2.DT_FLOAT: float(np.finfo(np.float32).max),
    types_pb2.DT_HALF: float(np.finfo(np.float16).max),
    types_pb2.DT_DOUBLE: float(np.finfo(np.float64).max),
}
_SPECIAL_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

TensorInfos = Mapping[str, meta_graph_pb2.TensorInfo]


class _NumberTooBig(ValueError):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


# ----------------------------------------------------------------------------------------- reading
def parse_request_body(body: bytes) -> dict:
    """The request's top-level JSON object."""
    if not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = _parse_with_nan_and_infinity(body)
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_value_text(document)} Is not object")
    return document


def has_boolean_literals(body: bytes) -> bool:
    """Whether a JSON text may hold `true` or `false` (then numeric tensors are decoded value by
    value, since NumPy would read booleans as numbers)."""
    return b"true" in body or b"false" in body


def _parse_with_nan_and_infinity(body: bytes):
    try:
        return json.loads(body, parse_float=_double, parse_int=_integer)
    except _NumberTooBig as error:
        offset = body.find(error.text.encode("ascii"))
        raise invalid_argument(
            f"JSON Parse error: Number too big to be stored in double. at offset: {offset}"
        ) from error
    except RecursionError:
        raise invalid_argument(
            f"JSON Parse error: The document nests deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except UnicodeDecodeError as error:
        raise invalid_argument(
            f"JSON Parse error: Invalid encoding in string. at offset: {error.start}"
        ) from error
    except json.JSONDecodeError as error:
        raise invalid_argument(f"JSON Parse error: {error.msg} at offset: {error.pos}") from error


def _double(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberTooBig(text)
    return value


def _integer(text: str) -> int | float:
    """A JSON integer as TF Serving reads it: a double beyond the 64-bit ranges."""
    if len(text) <= 18:
        return int(text)
    if len(text.lstrip("-")) > _DOUBLE_DIGITS:
        return _double(text)
    value = int(text)
    return value if -(2**63) <= value <= 2**64 - 1 else _double(text)


def signature_name_of(document: dict) -> str:
    """The optional `signature_name` of a request ("" when absent)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {_value_text(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def decode_request_tensors(
    document: dict, input_infos: TensorInfos, exact: bool = True
) -> tuple[dict[str, np.ndarray], bool]:
    """The input arrays of a predict request, and whether it used the row (`instances`) format.
    `exact=False` lets NumPy read numeric lists at once; only for documents without `true`/`false`
    (see has_boolean_literals), whose booleans NumPy would take for numbers."""
    if "instances" in document:
        if "inputs" in document:
            raise invalid_argument(
                f"JSON Value: {_value_text(document)} Not formatted correctly "
                "expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = document["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(
                f"JSON Value: {_value_text(document)} Excepting 'instances' to be an list/array"
            )
        if not instances:
            raise invalid_argument(
                f"JSON Value: {_value_text(document)} No values in 'instances' array"
            )
        return decode_instances(instances, input_infos, exact), True
    if "inputs" in document:
        return decode_inputs(document["inputs"], input_infos, exact), False
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def decode_instances(
    instances: list, input_infos: TensorInfos, exact: bool = True
) -> dict[str, np.ndarray]:
    """Row format: a list with one item per example, each an object of named inputs when the
    signature has several inputs."""
    names = sorted(input_infos)
    as_objects = _is_named_object(instances[0])
    if not as_objects and len(names) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple "
            "input tensors required as per tensorinfo_map"
        )
    if not as_objects and not exact:
        array = _numeric_array(instances, input_infos[names[0]].dtype)
        if array is not None:
            return {names[0]: array}
    rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for index, item in enumerate(instances):
        if as_objects:
            if not _is_named_object(item):
                raise invalid_argument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in item.items():
                if name not in input_infos:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {name} of "
                        "'instances' list. Error: INVALID_ARGUMENT: JSON object: "
                        f"does not have named input: {name}"
                    )
                _add_row(rows[name], value, input_infos[name].dtype, f"{index} key: {name}")
            if set(item) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"JSON object: {_value_text(item)} keys must be equal to: "
                    f"{','.join(names)}"
                )
        else:
            if _is_named_object(item):
                raise invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            _add_row(rows[names[0]], item, input_infos[names[0]].dtype, str(index))
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def decode_inputs(
    inputs: Any, input_infos: TensorInfos, exact: bool = True
) -> dict[str, np.ndarray]:
    """Columnar format: one value (a single input) or an object of named input values."""
    if not _is_named_object(inputs):
        if len(input_infos) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple "
                "input tensors required as per tensorinfo_map"
            )
        ((name, info),) = input_infos.items()
        return {name: decode_tensor(inputs, info.dtype, exact)}
    tensors = {}
    for name in sorted(input_infos):
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = decode_tensor(inputs[name], input_infos[name].dtype, exact)
    return tensors


def decode_tensor(value: Any, dtype: int, exact: bool = True) -> np.ndarray:
    """One dense tensor of the given DataType from its nested-list JSON value (`exact`: see
    decode_request_tensors)."""
    if not exact:
        array = _numeric_array(value, dtype)
        if array is not None:
            return array
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    convert = _leaf_converter(dtype)
    flat: list = []
    _collect_leaves(value, 0, shape, convert, flat)
    array = np.empty(len(flat), dtype=numpy_dtype(dtype))
    array[:] = flat
    return array.reshape(shape)


def _numeric_array(value: Any, dtype: int) -> np.ndarray | None:
    """A numeric tensor read by NumPy at once, or None where value-by-value decoding must decide (or
    explain the error): ragged lists, strings, objects, and numbers near the limits of the type."""
    if not isinstance(value, list) or not (
        dtype in _FLOAT_TYPES or dtype in _INT_RANGES or dtype == types_pb2.DT_BOOL
    ):
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    kind = array.dtype.kind
    if dtype in _FLOAT_TYPES:
        exact_integers = 2 ** _FLOAT_TYPES[dtype] - 1
        if kind == "i":
            if array.size and (array.max() > exact_integers or array.min() < -exact_integers):
                return None
        elif kind == "f":
            magnitude = np.abs(array)
            # Integers past the mantissa need their own check (they may have been JSON integers),
            # and finite values past the type's largest are errors: both go value by value. Most
            # requests have no value past the mantissa (nor NaN), and one comparison says so.
            if not (magnitude <= exact_integers).all() and np.any(
                (magnitude > exact_integers)
                & ((array == np.trunc(array)) | (magnitude > _FLOAT_MAX[dtype]))
            ):
                return None
        else:
            return None
    elif dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if kind != "i" or (array.size and (array.min() < low or array.max() > high)):
            return None
    elif kind != "b":
        return None
    return array.astype(numpy_dtype(dtype), copy=False)


def _add_row(rows: list[np.ndarray], value: Any, dtype: int, where: str) -> None:
    try:
        row = decode_tensor(value, dtype)
        if rows and rows[0].shape != row.shape:
            if rows[0].size != row.size:
                raise invalid_argument(f"Expecting tensor size: {rows[0].size} but got: {row.size}")
            raise invalid_argument(
                f"Expecting shape {_shape_text(rows[0].shape)} but got: {_shape_text(row.shape)}"
            )
    except ServingError as error:
        raise ServingError(
            error.code,
            f"Failed to process element: {where} of 'instances' list. "
            f"Error: {error.code}: {error.message}",
        ) from None
    rows.append(row)


def _collect_leaves(value: Any, level: int, shape: list[int], convert, flat: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {_value_text(value)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {rank}"
            )
        flat.append(convert(value))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    if level < rank - 1:
        for item in value:
            _collect_leaves(item, level + 1, shape, convert, flat)
        return
    for item in value:  # the innermost level: scalars only, converted without a call per level
        if isinstance(item, list):
            raise invalid_argument(
                f"Encountered list at unexpected level: {level + 1} expected < {rank}"
            )
    flat.extend(map(convert, value))


def _leaf_converter(dtype: int):
    """A function checking one JSON scalar against the DataType and returning the value to store."""
    name = dtype_name(dtype)
    if dtype in _FLOAT_TYPES:
        mantissa_bits, largest = _FLOAT_TYPES[dtype], _FLOAT_MAX[dtype]

        def to_float(value):
            if type(value) is float:
                if math.isfinite(value) and abs(value) > largest:
                    raise invalid_argument(
                        f"Cannot convert JSON value: {_value_text(value)} to {name} "
                        "without loss of precision."
                    )
                return value
            if type(value) is int:
                if abs(value) > 2**mantissa_bits - 1:
                    raise invalid_argument(
                        f"Cannot convert JSON value: {value} to {name} without loss of precision."
                    )
                return float(value)
            raise _type_error(value, name)

        return to_float
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]

        def to_int(value):
            if type(value) is not int or not low <= value <= high:
                raise _type_error(value, name)
            return value

        return to_int
    if dtype == types_pb2.DT_BOOL:

        def to_bool(value):
            if type(value) is not bool:
                raise _type_error(value, name)
            return value

        return to_bool
    if dtype == types_pb2.DT_STRING:
        return _to_bytes

    def unsupported(value):
        raise ServingError(
            "UNIMPLEMENTED", f"Conversion of JSON Value: {_value_text(value)} to type: {name}"
        )

    return unsupported


def _to_bytes(value: Any) -> bytes:
    if type(value) is str:
        return value.encode("utf-8")
    if isinstance(value, dict):
        if not _is_base64_object(value):
            raise invalid_argument(
                f"JSON Value: {_value_text(value)} not formatted correctly for base64 data"
            )
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise invalid_argument("Unable to base64 decode") from None
    raise _type_error(value, "string")


def _type_error(value: Any, expected: str) -> ServingError:
    return invalid_argument(
        f"JSON Value: {_value_text(value)} Type: {_json_type(value)} is not of "
        f"expected type: {expected}"
    )


def _is_base64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_base64_object(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _value_text(value: Any) -> str:
    text = json.dumps(value)
    if len(text) > _MAX_ERROR_VALUE_CHARS:
        return text[:_MAX_ERROR_VALUE_CHARS] + "..."
    return text


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(size) for size in shape) + "]"


# ----------------------------------------------------------------------------------------- writing
def encode_tensor(array: np.ndarray, binary: bool = False) -> str:
    """The JSON text of one tensor as nested lists; strings as `{"b64": ...}` when `binary`."""
    array = np.asarray(array)
    if (
        array.ndim
        and array.dtype.kind in "biuf"
        and (array.dtype.kind != "f" or np.isfinite(array).all())
    ):
        # orjson writes NumPy numbers in their shortest round-trip form (float32 as float32); NaN
        # and infinities, which it would write as null, take the general road below.
        return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY).decode(
            "ascii"
        )
    leaves = _leaf_texts(array, binary)
    shape = array.shape
    for axis in range(len(shape) - 1, -1, -1):
        size = shape[axis]
        groups = math.prod(shape[:axis])
        leaves = [
            "[" + ",".join(leaves[group * size : (group + 1) * size]) + "]"
            for group in range(groups)
        ]
    return leaves[0]


def encode_predictions(outputs: Mapping[str, np.ndarray]) -> str:
    """The row-format response body: `{"predictions": ...}`."""
    batch_size = None
    for name, array in sorted(outputs.items()):
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch_size is not None and array.shape[0] != batch_size:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} "
                f"expecting: {batch_size}"
            )
        batch_size = array.shape[0]
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return '{"predictions": ' + encode_tensor(array, name.endswith(BYTES_SUFFIX)) + "}"
    names = sorted(outputs)
    columns = {
        name: [encode_tensor(row, name.endswith(BYTES_SUFFIX)) for row in outputs[name]]
        for name in names
    }
    rows = [
        "{" + ",".join(f"{json.dumps(name)}: {columns[name][index]}" for name in names) + "}"
        for index in range(batch_size)
    ]
    return '{"predictions": [' + ",".join(rows) + "]}"


def encode_outputs(outputs: Mapping[str, np.ndarray]) -> str:
    """The columnar-format response body: `{"outputs": ...}`."""
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return '{"outputs": ' + encode_tensor(array, name.endswith(BYTES_SUFFIX)) + "}"
    fields = [
        f"{json.dumps(name)}: {encode_tensor(outputs[name], name.endswith(BYTES_SUFFIX))}"
        for name in sorted(outputs)
    ]
    return '{"outputs": {' + ",".join(fields) + "}}"


def _leaf_texts(array: np.ndarray, binary: bool) -> list[str]:
    enum = dtype_enum(array)
    flat = array.ravel()
    if enum == types_pb2.DT_STRING:
        return [_string_text(item, binary) for item in flat]
    if enum == types_pb2.DT_BOOL:
        return np.where(flat, "true", "false").tolist()
    if flat.dtype.kind == "f":
        texts = flat.astype(str).tolist()
        return [_SPECIAL_FLOATS.get(text, text) for text in texts]
    if flat.dtype.kind in "iu":
        return flat.astype(str).tolist()
    raise invalid_argument(f"Failed to write JSON value for tensor type: {dtype_name(enum)}")


def _string_text(item: Any, binary: bool) -> str:
    data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
    if not binary:
        try:
            return json.dumps(data.decode("utf-8"), ensure_ascii=False)
        except UnicodeDecodeError:
            pass
    return '{"b64": "' + base64.b64encode(data).decode("ascii") + '"}'
