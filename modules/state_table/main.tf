# The key schema is the application's (shared/aurora_batch/state_schema.py);
# tests/unit/test_terraform.py checks that the two agree.
locals {
  partition_key = "pk"
  sort_key      = "sk"
  ttl_attribute = "expires_at"
}

resource "aws_dynamodb_table" "this" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.partition_key
  range_key                   = local.sort_key
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = local.partition_key
    type = "S"
  }

  attribute {
    name = local.sort_key
    type = "S"
  }

  # Run history and audit items carry an expiry; the watermark item does not.
  ttl {
    attribute_name = local.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
