output "config_arn" {
  description = "ARN of the code-signing config; every lambda_function takes it as code_signing_config_arn."
  value       = aws_lambda_code_signing_config.this.arn
}

output "signing_profile_name" {
  description = "Signer profile CI signs the packages with (aws signer start-signing-job --profile-name)."
  value       = aws_signer_signing_profile.this.name
}

output "signing_profile_version_arn" {
  description = "Version ARN of the signing profile, the publisher the config trusts."
  value       = aws_signer_signing_profile.this.version_arn
}

output "untrusted_artifact_on_deployment" {
  description = "Enforce or Warn, as configured."
  value       = aws_lambda_code_signing_config.this.policies[0].untrusted_artifact_on_deployment
}
