"""The AWS Step Functions state machine of scheduled runs (definition.py is its only source)."""
