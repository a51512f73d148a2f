output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "alias_name" {
  description = "Name of the alias in service."
  value       = aws_lambda_alias.this.name
}

output "alias_arn" {
  description = "ARN of the alias in service; schedules target it."
  value       = aws_lambda_alias.this.arn
}

output "timeout" {
  description = "Timeout in seconds (the monitoring module alarms at a share of it)."
  value       = aws_lambda_function.this.timeout
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.function.name
}

output "dead_letter_queue_arn" {
  description = "ARN of the on-failure destination queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_name" {
  description = "Name of the on-failure destination queue."
  value       = aws_sqs_queue.dead_letter.name
}

output "function_url" {
  description = "HTTPS endpoint of the function URL (AWS_IAM authentication), or null without one."
  value       = one(aws_lambda_function_url.this[*].function_url)
}
