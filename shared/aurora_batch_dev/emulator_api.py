"""The Snowflake emulator's own HTTP routes (beside fakesnow's), shared by the server and its clients.

GET HEALTH_ROUTE   -> {"ok": true, "shims": [<shim name>, ...]}
GET HISTORY_ROUTE  -> {"queries": [{"session": <n>, "query_tag": <str|null>, "sql_text": <str>}, ...]}
POST HOLDS_ROUTE {"pattern": <regex>} -> hold statements matching it running (see emulator_statements)
GET HOLDS_ROUTE    -> {"patterns": [<regex>, ...], "held": <statements waiting>}
DELETE HOLDS_ROUTE -> release every held statement and forget the patterns
"""

from __future__ import annotations

HEALTH_ROUTE = "/aurora-batch/health"
HISTORY_ROUTE = "/aurora-batch/query-history"
HOLDS_ROUTE = "/aurora-batch/holds"
