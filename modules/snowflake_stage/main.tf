# Snowflake reads the staged parts through a storage integration (an IAM role,
# never keys in SQL) and a named external stage. The provider's classic
# resources are preview features: the environment's provider block enables them.
resource "snowflake_storage_integration" "this" {
  name                      = var.integration_name
  comment                   = var.comment
  type                      = "EXTERNAL_STAGE"
  enabled                   = true
  storage_provider          = "S3"
  storage_aws_role_arn      = var.storage_aws_role_arn
  storage_allowed_locations = [var.staging_url]
}

resource "snowflake_file_format" "this" {
  name        = var.file_format_name
  database    = var.database
  schema      = var.schema
  comment     = var.comment
  format_type = upper(var.staging_format)
  compression = "AUTO"

  # CSV parts quote every text field; the loader's COPY INTO names the rest.
  field_optionally_enclosed_by = var.staging_format == "csv" ? "\"" : null
}

resource "snowflake_stage" "this" {
  name                = var.stage_name
  database            = var.database
  schema              = var.schema
  comment             = var.comment
  url                 = var.staging_url
  storage_integration = snowflake_storage_integration.this.name
  file_format         = "FORMAT_NAME = ${snowflake_file_format.this.fully_qualified_name}"
}
