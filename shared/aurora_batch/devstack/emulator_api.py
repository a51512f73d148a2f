"""The Snowflake emulator's own HTTP routes (beside fakesnow's), shared by the server and its clients.

GET HEALTH_ROUTE   -> {"ok": true, "shims": [<shim name>, ...]}
GET HISTORY_ROUTE  -> {"queries": [{"session": <n>, "query_tag": <str|null>, "sql_text": <str>}, ...]}
"""

from __future__ import annotations

HEALTH_ROUTE = "/aurora-batch/health"
HISTORY_ROUTE = "/aurora-batch/query-history"
