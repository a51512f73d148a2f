mock_provider "snowflake" {}

variables {
  database             = "ANALYTICS"
  schema               = "AURORA"
  integration_name     = "AURORA_BATCH_TEST_S3"
  stage_name           = "AURORA_BATCH_STAGE"
  file_format_name     = "AURORA_BATCH_TEST_PARQUET"
  storage_aws_role_arn = "arn:aws:iam::123456789012:role/aurora-batch-test-snowflake-storage"
  staging_url          = "s3://aurora-batch-test-staging/staging/"
}

run "integration_is_limited_to_the_staging_prefix" {
  command = plan

  assert {
    condition = (
      snowflake_storage_integration.this.storage_provider == "S3" &&
      snowflake_storage_integration.this.storage_aws_role_arn == var.storage_aws_role_arn &&
      toset(snowflake_storage_integration.this.storage_allowed_locations) == toset(["s3://aurora-batch-test-staging/staging/"])
    )
    error_message = "The integration must assume the storage role and allow the staging prefix only."
  }

  assert {
    condition = (
      snowflake_stage.this.url == var.staging_url &&
      snowflake_stage.this.storage_integration == "AURORA_BATCH_TEST_S3" &&
      snowflake_stage.this.database == "ANALYTICS"
    )
    error_message = "The stage must read the staging prefix through the integration (no keys)."
  }

  assert {
    condition     = output.qualified_stage_name == "ANALYTICS.AURORA.AURORA_BATCH_STAGE"
    error_message = "SNOWFLAKE_STAGE must be DB.SCHEMA.STAGE, unquoted, as the loader reads it."
  }

  assert {
    condition     = snowflake_file_format.this.format_type == "PARQUET"
    error_message = "Parquet is the default staging format."
  }
}

run "csv_staging" {
  command = plan

  variables {
    staging_format = "csv"
  }

  assert {
    condition     = snowflake_file_format.this.format_type == "CSV" && snowflake_file_format.this.field_optionally_enclosed_by == "\""
    error_message = "CSV parts are read with quoted fields."
  }
}

run "rejects_a_quoted_database" {
  command = plan

  variables {
    database = "\"Analytics\""
  }

  expect_failures = [var.database]
}

run "rejects_an_unknown_format" {
  command = plan

  variables {
    staging_format = "json"
  }

  expect_failures = [var.staging_format]
}
