mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  bucket_name                        = "aurora-batch-test-staging"
  kms_key_arn                        = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  vpc_endpoint_ids                   = ["vpce-0123456789abcdef0"]
  vpc_endpoint_exempt_principal_arns = ["arn:aws:iam::123456789012:role/aurora-batch-test-snowflake-storage"]
}

run "secure_by_default" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets
    )
    error_message = "All public access must be blocked."
  }

  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == var.kms_key_arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled
    )
    error_message = "Objects must be encrypted with the given KMS key and a bucket key."
  }

  assert {
    condition = anytrue([
      for statement in data.aws_iam_policy_document.this.statement :
      statement.effect == "Deny" && anytrue([for condition in statement.condition : condition.variable == "aws:SecureTransport" && contains(condition.values, "false")])
    ])
    error_message = "The bucket policy must refuse requests without TLS."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Suspended"
    error_message = "Versioning is off unless chosen."
  }

  assert {
    condition = (
      one([for rule in aws_s3_bucket_lifecycle_configuration.this.rule : rule.expiration[0].days if rule.id == "expire-staged-parts"]) == 7 &&
      one([for rule in aws_s3_bucket_lifecycle_configuration.this.rule : rule.filter[0].prefix if rule.id == "expire-staged-parts"]) == "staging/"
    )
    error_message = "Staged objects must expire under the staging prefix as a safety net."
  }

  assert {
    condition     = one([for rule in aws_s3_bucket_lifecycle_configuration.this.rule : rule.abort_incomplete_multipart_upload[0].days_after_initiation if rule.id == "abort-incomplete-multipart-uploads"]) == 1
    error_message = "Incomplete multipart uploads must be aborted."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0
    error_message = "No access logging unless asked for."
  }

  assert {
    condition = anytrue([
      for statement in data.aws_iam_policy_document.this.statement :
      statement.sid == "DenyOtherKmsKey" && statement.effect == "Deny" && anytrue([
        for condition in statement.condition :
        condition.test == "StringNotEqualsIfExists" && condition.values == [var.kms_key_arn]
      ])
    ])
    error_message = "The bucket policy must refuse objects encrypted with another key."
  }

  assert {
    condition = anytrue([
      for statement in data.aws_iam_policy_document.this.statement :
      statement.sid == "DenyOutsideVpcEndpoint" && statement.effect == "Deny" && anytrue([
        for condition in statement.condition : condition.variable == "aws:PrincipalArn" && condition.values == var.vpc_endpoint_exempt_principal_arns
      ])
    ])
    error_message = "The bucket policy must refuse requests from outside the endpoint, except for the exempt principals."
  }
}

run "access_logs_to_a_created_bucket" {
  command = plan

  variables {
    access_logging_enabled = true
  }

  assert {
    condition = (
      length(aws_s3_bucket.access_logs) == 1 &&
      aws_s3_bucket.access_logs[0].bucket == "aurora-batch-test-staging-access-logs" &&
      length(aws_s3_bucket_logging.this) == 1
    )
    error_message = "Access logging must create its log bucket when none is given."
  }
}

run "versioning_is_a_choice" {
  command = plan

  variables {
    versioning_enabled = true
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "versioning_enabled must turn versioning on."
  }
}

run "prefix_must_end_with_a_slash" {
  command = plan

  variables {
    staging_prefix = "staging"
  }

  expect_failures = [var.staging_prefix]
}
