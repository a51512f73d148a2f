provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

# Used only when manage_snowflake_stage is true. The connection comes from the
# workspace's environment (SNOWFLAKE_ORGANIZATION_NAME, SNOWFLAKE_ACCOUNT_NAME,
# SNOWFLAKE_USER, SNOWFLAKE_AUTHENTICATOR, and SNOWFLAKE_PRIVATE_KEY as a sensitive
# environment variable), so no credential is a Terraform variable or lands in state.
provider "snowflake" {
  preview_features_enabled = [
    "snowflake_file_format_resource",
    "snowflake_stage_resource",
    "snowflake_storage_integration_resource",
  ]
}
