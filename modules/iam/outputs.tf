output "lambda_role_arns" {
  description = "Execution role ARN of each function, keyed replication, s3_cleanup, watermark_admin. Bind these in Vault's aws auth roles. Known only once the policies are attached, so a function is never created with a role that cannot yet run it."
  value       = { for key, role in aws_iam_role.this : key => role.arn }

  depends_on = [aws_iam_role_policy.runtime, aws_iam_role_policy.data_access]
}

output "lambda_role_names" {
  description = "Execution role name of each function, keyed like lambda_role_arns."
  value       = { for key, role in aws_iam_role.this : key => role.name }
}

output "snowflake_storage_role_arn" {
  description = "ARN of the role the Snowflake storage integration assumes (STORAGE_AWS_ROLE_ARN). Built from the role name, so it is known before the role exists."
  value       = local.snowflake_storage_role_arn
}

output "key_user_arns" {
  description = "Roles that use the environment's key on data: each function's execution role and the Snowflake storage role. Built from the names, so the key policy can name them before they exist."
  value       = concat([for key in sort(keys(local.lambda_role_arns)) : local.lambda_role_arns[key]], [local.snowflake_storage_role_arn])
}
