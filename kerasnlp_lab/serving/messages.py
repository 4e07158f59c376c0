"""The ModelService / metadata response messages and their JSON form, exactly as TF Serving's REST
API prints them (so REST and gRPC clients see the same dictionaries)."""

from collections.abc import Mapping

from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

SIGNATURE_DEF_FIELD = "signature_def"


def model_spec(name: str, version: int, signature_name: str = "") -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_name)
    spec.version.value = version
    return spec


def status_response(
    entries: list[tuple[int, str, str, str]],
) -> get_model_status_pb2.GetModelStatusResponse:
    """A GetModelStatusResponse from (version, state, error code name, error message) entries."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state, error_code, error_message in entries:
        status = response.model_version_status.add(version=version, state=state)
        status.status.error_code = error_code
        status.status.error_message = error_message
    return response


def metadata_response(
    name: str, version: int, signature_defs: Mapping[str, meta_graph_pb2.SignatureDef]
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """A GetModelMetadataResponse carrying the SignatureDefMap, as TF Serving builds it."""
    response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(name, version))
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for signature_name, signature_def in signature_defs.items():
        signature_map.signature_def[signature_name].CopyFrom(signature_def)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def status_to_dict(response: get_model_status_pb2.GetModelStatusResponse) -> dict:
    """`{"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {...}}]}`."""
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)


def metadata_to_dict(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    """`{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": {...}}}}` with proto
    field names, as TF Serving's REST metadata endpoint prints it."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    options = {"always_print_fields_with_no_presence": True, "preserving_proto_field_name": True}
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, **options),
        "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_map, **options)},
    }
