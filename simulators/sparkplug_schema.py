"""The Sparkplug B payload, declared here in code from the field table of the Sparkplug 3.0
specification (chapter 6), for the simulated edge node.

The gateway decodes with code that protoc generated from the specification's
``sparkplug_b.proto``; the simulator must not share that code, or a mistake in it would be
invisible to the tests. So this module builds its own message descriptor (field numbers,
types and the ``value`` oneofs, written out from the specification's tables), in a pool of
its own, and messages are made from plain dicts with protobuf's ``json_format``: another
path from a dict to the same bytes. It declares only what an edge node sends (no DataSet,
Template or MetaData), which decoders skip as unknown fields anyway.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

PACKAGE = "org.eclipse.tahu.protobuf"
_F = descriptor_pb2.FieldDescriptorProto
# (name, number, type, label, message type, oneof index)
Field = tuple[str, int, int, int, str | None, int | None]
OPT, REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

DATATYPES = {"Int8": 1, "Int16": 2, "Int32": 3, "Int64": 4, "UInt8": 5, "UInt16": 6,
             "UInt32": 7, "UInt64": 8, "Float": 9, "Double": 10, "Boolean": 11, "String": 12,
             "DateTime": 13, "Text": 14}

_PROPERTY_VALUE: list[Field] = [
    ("type", 1, _F.TYPE_UINT32, OPT, None, None),
    ("is_null", 2, _F.TYPE_BOOL, OPT, None, None),
    ("int_value", 3, _F.TYPE_UINT32, OPT, None, 0),
    ("long_value", 4, _F.TYPE_UINT64, OPT, None, 0),
    ("float_value", 5, _F.TYPE_FLOAT, OPT, None, 0),
    ("double_value", 6, _F.TYPE_DOUBLE, OPT, None, 0),
    ("boolean_value", 7, _F.TYPE_BOOL, OPT, None, 0),
    ("string_value", 8, _F.TYPE_STRING, OPT, None, 0),
]
_PROPERTY_SET: list[Field] = [
    ("keys", 1, _F.TYPE_STRING, REP, None, None),
    ("values", 2, _F.TYPE_MESSAGE, REP, "Payload.PropertyValue", None),
]
_METRIC: list[Field] = [
    ("name", 1, _F.TYPE_STRING, OPT, None, None),
    ("alias", 2, _F.TYPE_UINT64, OPT, None, None),
    ("timestamp", 3, _F.TYPE_UINT64, OPT, None, None),
    ("datatype", 4, _F.TYPE_UINT32, OPT, None, None),
    ("is_historical", 5, _F.TYPE_BOOL, OPT, None, None),
    ("is_transient", 6, _F.TYPE_BOOL, OPT, None, None),
    ("is_null", 7, _F.TYPE_BOOL, OPT, None, None),
    ("properties", 9, _F.TYPE_MESSAGE, OPT, "Payload.PropertySet", None),
    ("int_value", 10, _F.TYPE_UINT32, OPT, None, 0),
    ("long_value", 11, _F.TYPE_UINT64, OPT, None, 0),
    ("float_value", 12, _F.TYPE_FLOAT, OPT, None, 0),
    ("double_value", 13, _F.TYPE_DOUBLE, OPT, None, 0),
    ("boolean_value", 14, _F.TYPE_BOOL, OPT, None, 0),
    ("string_value", 15, _F.TYPE_STRING, OPT, None, 0),
    ("bytes_value", 16, _F.TYPE_BYTES, OPT, None, 0),
]
_PAYLOAD: list[Field] = [
    ("timestamp", 1, _F.TYPE_UINT64, OPT, None, None),
    ("metrics", 2, _F.TYPE_MESSAGE, REP, "Payload.Metric", None),
    ("seq", 3, _F.TYPE_UINT64, OPT, None, None),
    ("uuid", 4, _F.TYPE_STRING, OPT, None, None),
    ("body", 5, _F.TYPE_BYTES, OPT, None, None),
]


def _message(parent: Any, name: str, fields: list[Field], oneof: str | None) -> Any:
    msg = parent.add()
    msg.name = name
    if oneof is not None:
        msg.oneof_decl.add().name = oneof
    for fname, number, ftype, label, type_name, oneof_index in fields:
        f = msg.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name is not None:
            f.type_name = f".{PACKAGE}.{type_name}"
        if oneof_index is not None:
            f.oneof_index = oneof_index
    return msg


@functools.cache
def payload_class() -> type[Message]:
    """The Payload message class, from a descriptor pool of the simulator's own."""
    file = descriptor_pb2.FileDescriptorProto(name="heatlink_sim_sparkplug_b.proto",
                                              package=PACKAGE, syntax="proto2")
    payload = _message(file.message_type, "Payload", _PAYLOAD, None)
    _message(payload.nested_type, "Metric", _METRIC, "value")
    _message(payload.nested_type, "PropertySet", _PROPERTY_SET, None)
    _message(payload.nested_type, "PropertyValue", _PROPERTY_VALUE, "value")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


def encode(payload: dict[str, Any]) -> bytes:
    """A payload given as a dict in the proto's field names, as protobuf bytes."""
    return bytes(json_format.ParseDict(payload, payload_class()()).SerializeToString())


def decode(raw: bytes) -> dict[str, Any]:
    message = payload_class()()
    message.ParseFromString(raw)
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))
