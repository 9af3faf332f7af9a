from typing import Any

def take(raw: bytes | bytearray, slots: dict[Any, Any], good: int, /
         ) -> tuple[int | None, int, int] | None: ...
