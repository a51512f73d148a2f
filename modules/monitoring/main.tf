data "aws_region" "current" {}

locals {
  alarm_actions     = [aws_sns_topic.this.arn]
  service_dimension = var.metrics_service_name == null ? {} : { service = var.metrics_service_name }
  table_dimensions = {
    for table in keys(var.tables) : table => merge({ table = table }, local.service_dimension)
  }
  # Dashboard metric rows: [namespace, metric, dimension name, value, ...].
  table_metric_dimensions = {
    for table, dimensions in local.table_dimensions : table => flatten([for name in sort(keys(dimensions)) : [name, dimensions[name]]])
  }

  table_widgets = [
    for index, widget in [
      { title = "Rows extracted and loaded", metrics = ["RowsExtracted", "RowsLoaded"], stat = "Sum" },
      { title = "Replication lag (s)", metrics = ["ReplicationLagSeconds"], stat = "Maximum" },
      { title = "Run duration (s)", metrics = ["RunDurationSeconds"], stat = "Maximum" },
      { title = "Failed and locked runs", metrics = ["RunFailed", "RunLocked"], stat = "Sum" },
      ] : {
      type   = "metric"
      x      = (index % 2) * 12
      y      = floor(index / 2) * 6
      width  = 12
      height = 6
      properties = {
        title  = widget.title
        region = data.aws_region.current.region
        view   = "timeSeries"
        stat   = widget.stat
        period = 300
        metrics = [
          for pair in setproduct(keys(var.tables), widget.metrics) :
          concat([var.metrics_namespace, pair[1]], local.table_metric_dimensions[pair[0]], [{ label = "${pair[0]} ${pair[1]}" }])
        ]
      }
    }
  ]

  function_widget = {
    type   = "metric"
    x      = 0
    y      = 12
    width  = 24
    height = 6
    properties = {
      title  = "Lambda errors, throttles and duration"
      region = data.aws_region.current.region
      view   = "timeSeries"
      period = 300
      metrics = concat(
        [for key, function in var.functions : ["AWS/Lambda", "Errors", "FunctionName", function.function_name, { stat = "Sum", label = "${key} errors" }]],
        [for key, function in var.functions : ["AWS/Lambda", "Throttles", "FunctionName", function.function_name, { stat = "Sum", label = "${key} throttles" }]],
        [for key, function in var.functions : ["AWS/Lambda", "Duration", "FunctionName", function.function_name, { stat = "Maximum", label = "${key} duration (ms)", yAxis = "right" }]],
      )
    }
  }
}

resource "aws_sns_topic" "this" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "${each.value.function_name} raised errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = var.errors_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-duration"
  alarm_description   = "${each.value.function_name} ran longer than ${var.duration_threshold_percent}% of its ${each.value.timeout_seconds} s timeout"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = each.value.timeout_seconds * 1000 * var.duration_threshold_percent / 100
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = var.functions

  alarm_name          = "${each.value.function_name}-throttles"
  alarm_description   = "${each.value.function_name} was throttled (reserved concurrency reached)"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = var.throttles_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue" {
  for_each = var.functions

  alarm_name          = "${each.value.dead_letter_queue_name}-depth"
  alarm_description   = "Failed asynchronous invocations of ${each.value.function_name} are waiting in ${each.value.dead_letter_queue_name}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.dead_letter_queue_name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = var.dead_letter_queue_depth_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Stale: the lag is above the threshold, or no run reported a lag in the period.
resource "aws_cloudwatch_metric_alarm" "staleness" {
  for_each = var.tables

  alarm_name          = "${var.name_prefix}-${each.key}-stale"
  alarm_description   = "${each.key} is more than ${each.value.staleness_threshold_seconds} s behind its source, or has not run"
  namespace           = var.metrics_namespace
  metric_name         = "ReplicationLagSeconds"
  dimensions          = local.table_dimensions[each.key]
  statistic           = "Maximum"
  period              = each.value.evaluation_period_seconds
  evaluation_periods  = 1
  threshold           = each.value.staleness_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "run_failed" {
  for_each = var.tables

  alarm_name          = "${var.name_prefix}-${each.key}-run-failed"
  alarm_description   = "A replication run of ${each.key} failed"
  namespace           = var.metrics_namespace
  metric_name         = "RunFailed"
  dimensions          = local.table_dimensions[each.key]
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    # Table widgets only when there are tables: a widget without metrics is refused.
    widgets = concat([for widget in local.table_widgets : widget if length(var.tables) > 0], [local.function_widget])
  })
}
