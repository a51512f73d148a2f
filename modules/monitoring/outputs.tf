output "sns_topic_arn" {
  description = "ARN of the alarm topic; subscribe paging or chat integrations to it."
  value       = aws_sns_topic.this.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Name of every alarm, keyed <function>-<errors|duration|throttles|dead-letter-queue> and <schema.table>-<stale|not-running|run-failed>."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name }
}
