output "lambda_security_group_id" {
  description = "Security group to put in the vpc_config of every Lambda function."
  value       = aws_security_group.this.id
}

output "vpc_endpoint_security_group_id" {
  description = "Security group for the interface VPC endpoints (accepts 443 from the Lambda security group)."
  value       = aws_security_group.vpc_endpoints.id
}
