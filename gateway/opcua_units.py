"""The unit of each OPC UA node: declared in the config, else the node's EngineeringUnits.

OPC UA describes an analog item's unit with the ``EngineeringUnits`` property, an
``EUInformation`` whose ``UnitId`` is a UN/CEFACT Recommendation 20 common code (OPC 10000-8
5.6.3). The gateway reads it once per connection, for every node in one request, and sends
it with each reading: the service converts into the series' unit or refuses with a reason,
instead of storing a flow in l/s as if it were m³/h.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asyncua import ua as _ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError

from gateway.config import OpcUaNode
from heatlink.units import UNITS, unit_from_symbol, unit_from_unece

log = logging.getLogger("gateway.opcua")
# asyncua types its structures with its own integer and string subclasses: Any keeps strict
# mypy useful for the rest.
ua: Any = _ua


def _path(node_id: str) -> Any:
    element = ua.RelativePathElement()
    element.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    element.IsInverse = False
    element.IncludeSubtypes = True
    element.TargetName = ua.QualifiedName("EngineeringUnits", 0)
    path = ua.BrowsePath()
    path.StartingNode = ua.NodeId.from_string(node_id)
    path.RelativePath = ua.RelativePath()
    path.RelativePath.Elements = [element]
    return path


def eu_unit(eu: object) -> str | None:
    """heatlink's name of an EUInformation's unit; its display text when heatlink does not
    know the code (the service then refuses the readings, naming the unit); None if empty."""
    if not isinstance(eu, ua.EUInformation):
        return None
    known = unit_from_unece(eu.UnitId)
    if known is not None:
        return known
    text = (eu.DisplayName.Text or "").strip() if eu.DisplayName is not None else ""
    return (unit_from_symbol(text) or text) if text else None


async def node_units(client: Client, nodes: Sequence[OpcUaNode], source: str,
                     warned: set[str]) -> list[str | None]:
    """The unit of each node, in order. A server without the property (or that refuses the
    look-up) gives None: the readings then go without a unit, as before."""
    units: list[str | None] = [n.unit for n in nodes]
    wanted = [i for i, n in enumerate(nodes) if n.unit is None]
    if not wanted:
        return units
    try:
        found = await client.uaclient.translate_browsepaths_to_nodeids(
            [_path(nodes[i].node_id) for i in wanted])
        targets = [(i, r.Targets[0].TargetId) for i, r in zip(wanted, found, strict=True)
                   if r.StatusCode.is_good() and r.Targets]
        if not targets:
            return units
        values = await client.uaclient.read_attributes(
            [ua.NodeId(t.Identifier, t.NamespaceIndex) for _, t in targets],
            ua.AttributeIds.Value)
    except UaError as exc:
        log.info("source %s: EngineeringUnits not readable (%s); readings go without a unit",
                 source, exc)
        return units
    for (i, _), dv in zip(targets, values, strict=True):
        unit = eu_unit(dv.Value.Value if dv.Value is not None else None)
        units[i] = unit
        node_id = nodes[i].node_id
        if unit is not None and unit not in UNITS and node_id not in warned:
            warned.add(node_id)
            log.warning("source %s: %s is in %r, a unit heatlink does not know; the service "
                        "will refuse its readings until the node declares `unit:`",
                        source, node_id, unit)
    return units
