output "environment" {
  description = "Environment of the stack, the profile in use."
  value       = var.environment
}

output "function_names" {
  description = "Name of each Lambda function, keyed replication, s3_cleanup, watermark_admin (Harness deploys to these)."
  value       = local.function_names
}

output "lambda_role_arns" {
  description = "Execution role of each function; bind them in Vault's aws auth roles (VAULT_ROLE)."
  value       = module.iam.lambda_role_arns
}

output "lambda_security_group_ids" {
  description = "Security group of each function, keyed like function_names."
  value       = module.networking.lambda_security_group_ids
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

output "access_log_bucket_name" {
  description = "Bucket receiving the staging bucket's access logs; null where the profile keeps logging off."
  value       = module.staging_bucket.access_log_bucket_name
}

output "state_table_name" {
  description = "DynamoDB state table (STATE_TABLE)."
  value       = module.state_table.table_name
}

output "kms_key_arn" {
  description = "The environment's key."
  value       = module.kms.key_arn
}

output "signing_profile_name" {
  description = "AWS Signer profile CI signs the packages with."
  value       = module.code_signing.signing_profile_name
}

output "code_signing_policy" {
  description = "Enforce (prod) or Warn: what Lambda does with a package the profile did not sign."
  value       = module.code_signing.untrusted_artifact_on_deployment
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

output "watermark_admin_function_url" {
  description = "HTTPS endpoint of the watermark admin function (AWS_IAM authentication; sign requests as one of settings.admin_principals), or null without admin_principals."
  value       = module.lambda_function["watermark_admin"].function_url
}
