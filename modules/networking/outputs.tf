output "lambda_security_group_ids" {
  description = "Security group of each function, keyed replication, s3_cleanup, watermark_admin; each goes in that function's vpc_config."
  value       = { for function, group in aws_security_group.this : function => group.id }
}

output "vpc_endpoint_security_group_id" {
  description = "Security group for the interface VPC endpoints (accepts 443 from the function security groups)."
  value       = aws_security_group.vpc_endpoints.id
}
