output "bucket_name" {
  description = "Name of the staging bucket (STAGING_BUCKET)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the staging bucket."
  value       = aws_s3_bucket.this.arn
}

output "staging_prefix" {
  description = "Key prefix the parts are staged under (STAGING_PREFIX)."
  value       = var.staging_prefix
}

output "staging_url" {
  description = "s3:// URL of the staging prefix, for the Snowflake stage and the storage integration's allowed locations."
  value       = "s3://${aws_s3_bucket.this.id}/${var.staging_prefix}"
}

output "access_log_bucket_name" {
  description = "Bucket receiving the server access logs; null when access logging is off."
  value       = var.access_logging_enabled ? local.access_log_bucket_name : null
}
