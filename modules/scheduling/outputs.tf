output "rule_arns" {
  description = "ARN of each table's rule, keyed schema.table."
  value       = { for key, rule in aws_cloudwatch_event_rule.this : key => rule.arn }
}

output "rule_names" {
  description = "Name of each table's rule, keyed schema.table."
  value       = { for key, rule in aws_cloudwatch_event_rule.this : key => rule.name }
}

output "table_inputs" {
  description = "JSON input each table's rule sends to the replication function (the table's name only), keyed schema.table."
  value       = local.table_inputs
}

output "verify_rule_names" {
  description = "Name of each verify rule (tables with a verify_schedule), keyed schema.table."
  value       = { for key, rule in aws_cloudwatch_event_rule.verify : key => rule.name }
}

output "verify_inputs" {
  description = "JSON input each verify rule sends to the replication function ({action = verify, schema_name, table_name, repair}), keyed schema.table."
  value       = local.verify_inputs
}

output "tables_document" {
  description = "The TABLES document (a JSON list of every table's options, sorted by schema.table) the replication function reads from its configuration parameter."
  value       = local.tables_document
}

output "tables_parameter_arn" {
  description = "ARN of the SSM parameter holding the TABLES document (the replication role may read only it)."
  value       = aws_ssm_parameter.tables.arn
}

output "cleanup_rule_arn" {
  description = "ARN of the cleanup rule."
  value       = aws_cloudwatch_event_rule.cleanup.arn
}
