output "storage_aws_iam_user_arn" {
  description = "IAM user Snowflake assumes the role with; the iam module trusts it."
  value       = snowflake_storage_integration.this.storage_aws_iam_user_arn
}

output "storage_aws_external_id" {
  description = "External ID Snowflake presents; the iam module requires it."
  value       = snowflake_storage_integration.this.storage_aws_external_id
}

output "integration_name" {
  description = "Name of the storage integration."
  value       = snowflake_storage_integration.this.name
}

output "qualified_stage_name" {
  description = "DB.SCHEMA.STAGE, unquoted: the environment's snowflake_stage_name (SNOWFLAKE_STAGE)."
  value       = "${snowflake_stage.this.database}.${snowflake_stage.this.schema}.${snowflake_stage.this.name}"
}

output "file_format_fully_qualified_name" {
  description = "Fully qualified name of the file format."
  value       = snowflake_file_format.this.fully_qualified_name
}
