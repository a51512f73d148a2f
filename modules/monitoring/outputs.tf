output "sns_topic_arn" {
  description = "ARN of the alarm topic; subscribe paging or chat integrations to it."
  value       = aws_sns_topic.this.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of all alarms."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.errors : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.duration : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.throttles : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.dead_letter_queue : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.staleness : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.run_failed : alarm.alarm_name],
  )
}
