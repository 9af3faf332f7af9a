from typing import Any

def take(raw: bytes | bytearray, slots: dict[Any, Any], now_us: int, good: int, /
         ) -> tuple[int | None, int, int] | None: ...
