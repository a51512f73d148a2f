output "function_names" {
  description = "Name of each Lambda function."
  value       = module.aurora_batch.function_names
}

output "staging_url" {
  description = "s3:// URL of the staging prefix, for the Snowflake storage integration."
  value       = module.aurora_batch.staging_url
}

output "signing_profile_name" {
  description = "AWS Signer profile to sign the packages with."
  value       = module.aurora_batch.signing_profile_name
}
