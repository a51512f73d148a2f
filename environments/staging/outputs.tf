output "function_names" {
  description = "Name of each Lambda function, keyed replication, s3_cleanup, watermark_admin (Harness deploys to these)."
  value       = local.function_names
}

output "lambda_role_arns" {
  description = "Execution role of each function; bind them in Vault's aws auth roles (VAULT_ROLE)."
  value       = module.iam.lambda_role_arns
}

output "snowflake_storage_role_arn" {
  description = "Role the Snowflake storage integration assumes (STORAGE_AWS_ROLE_ARN)."
  value       = module.iam.snowflake_storage_role_arn
}

output "staging_bucket_name" {
  description = "Staging bucket (STAGING_BUCKET)."
  value       = module.staging_bucket.bucket_name
}

output "staging_url" {
  description = "s3:// URL of the staging prefix, the storage integration's allowed location."
  value       = module.staging_bucket.staging_url
}

output "state_table_name" {
  description = "DynamoDB state table (STATE_TABLE)."
  value       = module.state_table.table_name
}

output "snowflake_vpc_endpoint_id" {
  description = "Snowflake PrivateLink endpoint in use."
  value       = module.privatelink.snowflake_vpc_endpoint_id
}

output "schedule_rule_names" {
  description = "EventBridge rule of each table, keyed schema.table."
  value       = module.scheduling.rule_names
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.monitoring.sns_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the environment."
  value       = module.monitoring.dashboard_name
}
