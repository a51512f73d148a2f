output "state_machine_arn" {
  description = "ARN of the replication state machine (the schedules start its executions)."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the replication state machine."
  value       = aws_sfn_state_machine.this.name
}

output "role_arn" {
  description = "ARN of the role the state machine runs as."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the KMS-encrypted log group of the executions."
  value       = aws_cloudwatch_log_group.this.name
}

output "alarm_names" {
  description = "Alarms on failed, timed-out and aborted executions, by kind."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name }
}
