"""aurora-batch: batch replication from Aurora PostgreSQL to Snowflake."""

__version__ = "0.1.0"
