"""What the gateway's control path must remember across restarts to stay safe, in one small
JSON file replaced atomically (write, fsync, rename):

- the highest command number taken (``last_seq``), so a restart does not reopen replays;
  the number is on disk before the write it allows reaches the plant;
- ``pending_id``: the command taken with that number, so a redelivery after a crash in the
  middle of it is decided again rather than refused as a replay;
- answers the broker has not taken yet, by command id, so a command it redelivers gets
  its answer again, not a second write;
- each node's rate allowance (`gateway.control_limits.Allowance`).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from gateway.control_limits import Allowance

REMEMBERED_ANSWERS = 200


class ControlStateError(RuntimeError):
    """The state file exists but cannot be read: the gateway will not guess its contents."""


class ControlState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_seq = 0
        self.pending_id: str | None = None
        self.answers: OrderedDict[str, str] = OrderedDict()  # command id -> result JSON
        self.allowances: dict[str, Allowance] = {}

    @classmethod
    def load(cls, path: Path) -> ControlState:
        state = cls(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return state
        try:
            data = json.loads(text)
            state.last_seq = int(data["last_seq"])
            state.pending_id = data.get("pending_id")
            state.answers = OrderedDict(data.get("answers", []))
            state.allowances = {node: Allowance(float(a["units"]),
                                                datetime.fromisoformat(a["at"]))
                                for node, a in data.get("allowances", {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ControlStateError(
                f"{path}: cannot read the control state ({exc}). It holds the last command "
                "number taken; removing it lets old commands be replayed. Restore it, or "
                "remove it only after the service's pending commands have expired") from None
        return state

    def take(self, seq: int, command_id: str) -> None:
        self.last_seq = seq
        self.pending_id = command_id

    def answer(self, command_id: str, result_json: str) -> None:
        self.answers[command_id] = result_json
        self.answers.move_to_end(command_id)
        while len(self.answers) > REMEMBERED_ANSWERS:
            self.answers.popitem(last=False)
        if self.pending_id == command_id:
            self.pending_id = None

    def save(self) -> None:
        data = {"last_seq": self.last_seq, "pending_id": self.pending_id,
                "answers": list(self.answers.items()),
                "allowances": {node: {"units": a.units, "at": a.at.isoformat()}
                               for node, a in self.allowances.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        # The rename itself must survive a power cut too.
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
