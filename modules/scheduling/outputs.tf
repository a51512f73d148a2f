output "rule_arns" {
  description = "ARN of each table's rule, keyed schema.table."
  value       = { for key, rule in aws_cloudwatch_event_rule.this : key => rule.arn }
}

output "rule_names" {
  description = "Name of each table's rule, keyed schema.table."
  value       = { for key, rule in aws_cloudwatch_event_rule.this : key => rule.name }
}

output "table_inputs" {
  description = "JSON input each table's rule sends to the replication function, keyed schema.table."
  value       = local.table_inputs
}

output "cleanup_rule_arn" {
  description = "ARN of the cleanup rule."
  value       = aws_cloudwatch_event_rule.cleanup.arn
}
