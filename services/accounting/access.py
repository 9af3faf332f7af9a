"""Who sees an exchange's figures and who acts on them.

Only the two parties of a contract see its figures; the cluster facilitator sees them where
the contract's settlement terms grant it. Anyone else is told the exchange does not exist
(404), as for a series. Writes (closing, comments, substitution rules) are the parties'
alone and need the ``settle`` scope: the facilitator coordinates but decides nothing.
"""

from __future__ import annotations

from heatlink.cluster.index import ClusterIndex
from heatlink.cluster.model import Exchange


def parties(exchange: Exchange) -> tuple[str, str]:
    return (exchange.supplier, exchange.recipient)


def may_read(index: ClusterIndex, exchange: Exchange, org: str) -> bool:
    if org in parties(exchange):
        return True
    granted = exchange.settlement is not None and exchange.settlement.facilitator_access
    return granted and index.is_facilitator(org)


def may_act(exchange: Exchange, org: str) -> bool:
    return org in parties(exchange)


def visible_exchange(index: ClusterIndex, exchange_id: str, org: str) -> Exchange | None:
    """The exchange when ``org`` may read its accounting, else None (answered 404)."""
    exchange = next((e for e in index.cluster.exchanges if e.id == exchange_id), None)
    if exchange is None or not exchange.metering_points or exchange.settlement is None:
        return None
    return exchange if may_read(index, exchange, org) else None
