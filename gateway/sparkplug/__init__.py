"""Sparkplug B 3.0 (``spBv1.0``) for the gateway's Sparkplug source, as a host application.

``sparkplug_b.proto`` is the schema printed in the Eclipse Sparkplug 3.0 specification
(chapter 6, "Google Protocol Buffer Schema"), kept with its EPL-2.0 licence header;
``sparkplug_b_pb2.py`` and ``.pyi`` were generated from it, never edited::

    python -m grpc_tools.protoc --proto_path=gateway/sparkplug \\
        --python_out=gateway/sparkplug --pyi_out=gateway/sparkplug sparkplug_b.proto

(grpcio-tools 1.85, protobuf gencode 7.35: the gateway extra requires protobuf 7.35 or
newer within major version 7.) Nothing here parses protobuf by hand.

The modules are pure: ``topic`` names what a topic is, ``metrics`` reads values, units and
quality out of a decoded metric, ``sequence`` keeps an edge node's ``seq`` and the reorder
timer, ``host`` holds births and deaths and turns messages into readings, ``messages``
builds what the host publishes (STATE, rebirth requests). ``gateway.sparkplug_source``
connects them to a broker.
"""
