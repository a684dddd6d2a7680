"""CloudWatch behaviour moto 5.2 lacks, patched in for rollgate's tests: alarm history.

moto keeps only each alarm's previous state and has no DescribeAlarmHistory. This records
every state change as AWS reports it (a ``StateUpdate`` item whose ``HistoryData`` holds
``oldState`` and ``newState``) and serves DescribeAlarmHistory over those items, with the
parameters rollgate uses: AlarmName, HistoryItemType, StartDate, EndDate, ScanBy, MaxRecords
and NextToken. Timestamps are moto's wall clock, like every other moto timestamp.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.models import Alarm
from moto.core.responses import ActionResult

_installed = False


def _naive_utc(value: Any) -> datetime | None:
    """A request's timestamp (ISO 8601 text, epoch seconds or a datetime) as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)):
        parsed = datetime.fromtimestamp(value, timezone.utc)
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True

    original_update_state = Alarm.update_state

    def update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
        old_value, old_reason = self.state_value, self.state_reason
        original_update_state(self, reason, reason_data, state_value)
        items = self.__dict__.setdefault("rollgate_history", [])
        items.append({
            "AlarmName": self.name,
            "AlarmType": "CompositeAlarm" if self.rule is not None else "MetricAlarm",
            "Timestamp": self.state_updated_timestamp,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old_value} to {state_value}",
            "HistoryData": json.dumps({
                "version": "1.0",
                "oldState": {"stateValue": old_value, "stateReason": old_reason},
                "newState": {"stateValue": state_value, "stateReason": reason},
            }),
        })

    Alarm.update_state = update_state

    def describe_alarm_history(self: cw_responses.CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        item_type = self._get_param("HistoryItemType")
        start = _naive_utc(self._get_param("StartDate"))
        end = _naive_utc(self._get_param("EndDate"))
        newest_first = self._get_param("ScanBy", "TimestampDescending") != "TimestampAscending"
        max_records = int(self._get_param("MaxRecords") or 100)
        offset = int(self._get_param("NextToken") or 0)
        items = [
            item
            for alarm in self.cloudwatch_backend.alarms.values()
            if name in (None, "", alarm.name)
            for item in alarm.__dict__.get("rollgate_history", [])
            if item_type in (None, "", item["HistoryItemType"])
            and (start is None or item["Timestamp"] >= start)
            and (end is None or item["Timestamp"] <= end)
        ]
        items.sort(key=lambda item: item["Timestamp"], reverse=newest_first)
        page = items[offset:offset + max_records]
        result: dict[str, Any] = {"AlarmHistoryItems": page}
        if offset + max_records < len(items):
            result["NextToken"] = str(offset + max_records)
        return ActionResult(result)

    cw_responses.CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]

