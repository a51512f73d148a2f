"""The DynamoDB state table's key schema. Terraform (modules/state_table) and the local
stack create the table with exactly this shape."""

from __future__ import annotations

PARTITION_KEY = "pk"  # "TABLE#<schema>.<table>"; admin audit records: "AUDIT#<schema>.<table>"
SORT_KEY = "sk"  # "STATE" | "RUN#<started_at iso>#<run_id>" | "AUDIT#<at iso>#<request id>"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; set on RUN# and AUDIT# items only

KEY_SCHEMA = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]
