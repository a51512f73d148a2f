mock_provider "aws" {}

variables {
  table_name  = "aurora-batch-test-state"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
}

run "key_schema_of_the_state_store" {
  command = plan

  assert {
    condition = (
      aws_dynamodb_table.this.hash_key == "pk" &&
      aws_dynamodb_table.this.range_key == "sk" &&
      toset([for attribute in aws_dynamodb_table.this.attribute : "${attribute.name}:${attribute.type}"]) == toset(["pk:S", "sk:S"])
    )
    error_message = "The table must be keyed pk (S) and sk (S), as shared/aurora_batch/state_schema.py says."
  }

  assert {
    condition     = aws_dynamodb_table.this.ttl[0].attribute_name == "expires_at" && aws_dynamodb_table.this.ttl[0].enabled
    error_message = "Run history must expire through the expires_at TTL attribute."
  }

  assert {
    condition = (
      aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.this.point_in_time_recovery[0].enabled &&
      aws_dynamodb_table.this.server_side_encryption[0].enabled &&
      aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == var.kms_key_arn &&
      aws_dynamodb_table.this.deletion_protection_enabled
    )
    error_message = "The table must be on demand, recoverable, encrypted with the key and protected from deletion."
  }
}
