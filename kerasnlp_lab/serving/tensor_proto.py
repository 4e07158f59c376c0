"""Tensors on the gRPC wire: NumPy arrays <-> tensorflow.TensorProto.

Arrays are written with their values in the typed fields (`float_val`, `string_val`, ...), which is
how TF Serving writes Predict responses; any valid TensorProto (typed fields or `tensor_content`)
is read. DT_STRING tensors are NumPy object arrays of `bytes`.

A TensorProto is read only when the values it carries match its declared shape: one value per
element in the typed field, or exactly elements x item size bytes of `tensor_content`. So memory
follows the bytes sent, never a shape a client declares (TensorFlow would fill a declared shape of
10^9 strings from one value; TF Serving answers "tensor parsing error" for protos it cannot read).
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from kerasnlp_lab.serving.errors import ServingError

_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


# Typed value fields holding two numbers per element.
_PAIRED_FIELDS = {types_pb2.DT_COMPLEX64: "scomplex_val", types_pb2.DT_COMPLEX128: "dcomplex_val"}
_READ_FIELD = {**_VALUE_FIELD, types_pb2.DT_HALF: "half_val", types_pb2.DT_BFLOAT16: "half_val"}


def dtype_enum(array: np.ndarray) -> int:
    """The tensorflow.DataType of a NumPy array (object, bytes and str arrays are DT_STRING)."""
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    return tf.as_dtype(array.dtype).as_datatype_enum


def dtype_name(enum: int) -> str:
    """TensorFlow's short name of a DataType, as in its error messages: DT_FLOAT -> "float"."""
    return types_pb2.DataType.Name(enum).removeprefix("DT_").lower()


def numpy_dtype(enum: int) -> np.dtype:
    """The NumPy dtype that holds a DataType (object for DT_STRING)."""
    if enum == types_pb2.DT_STRING:
        return np.dtype(object)
    return np.dtype(tf.dtypes.as_dtype(enum).as_numpy_dtype)


def as_string_array(array: np.ndarray) -> np.ndarray:
    """An object array of bytes from an array of str or bytes (str is UTF-8 encoded)."""
    flat = [
        item.encode("utf-8") if isinstance(item, str) else bytes(item) for item in array.ravel()
    ]
    result = np.empty(len(flat), dtype=object)
    result[:] = flat
    return result.reshape(array.shape)


def to_tensor_proto(array) -> tensor_pb2.TensorProto:
    """A TensorProto with the array's dtype, shape and values (in the typed value field)."""
    array = np.asarray(array)
    enum = dtype_enum(array)
    proto = tensor_pb2.TensorProto(
        dtype=enum,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape]
        ),
    )
    if enum == types_pb2.DT_STRING:
        proto.string_val.extend(as_string_array(array).ravel().tolist())
    elif enum == types_pb2.DT_HALF:
        proto.half_val.extend(array.view(np.uint16).ravel().tolist())
    elif enum in _VALUE_FIELD:
        getattr(proto, _VALUE_FIELD[enum]).extend(array.ravel().tolist())
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


def declared_shape(proto: tensor_pb2.TensorProto, name: str) -> tuple[int, ...]:
    """The shape a TensorProto declares; an unknown rank or a negative size is a parsing error."""
    if proto.tensor_shape.unknown_rank:
        raise _parsing_error(name, "its shape has an unknown rank")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise _parsing_error(name, f"its shape {_shape_text(shape)} has a negative size")
    return shape


def from_tensor_proto(proto: tensor_pb2.TensorProto, name: str = "tensor") -> np.ndarray:
    """The NumPy array a TensorProto holds, once its values are checked against its declared
    shape."""
    shape = declared_shape(proto, name)
    elements = math.prod(shape)
    field = _PAIRED_FIELDS.get(proto.dtype) or _READ_FIELD.get(proto.dtype)
    if field is None:
        raise _parsing_error(name, f"unsupported dtype {types_pb2.DataType.Name(proto.dtype)}")
    if proto.tensor_content:
        if proto.dtype == types_pb2.DT_STRING:
            raise _parsing_error(name, "DT_STRING values must be in string_val, not tensor_content")
        expected = elements * numpy_dtype(proto.dtype).itemsize
        if len(proto.tensor_content) != expected:
            raise _parsing_error(
                name,
                f"its shape {_shape_text(shape)} needs {expected} bytes of tensor_content, "
                f"got {len(proto.tensor_content)}",
            )
    else:
        sent = len(getattr(proto, field)) // (2 if proto.dtype in _PAIRED_FIELDS else 1)
        if sent != elements:
            raise _parsing_error(
                name,
                f"its shape {_shape_text(shape)} has {elements} elements, got {sent} "
                f"values in {field}",
            )
    return tf.make_ndarray(proto)


def _parsing_error(name: str, detail: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", f"tensor parsing error: {name} ({detail})")


def _shape_text(shape) -> str:
    return "[" + ",".join(str(size) for size in shape) + "]"
