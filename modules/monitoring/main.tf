data "aws_region" "current" {}

locals {
  alarm_actions = [aws_sns_topic.this.arn]
  # One alarm per entry, evaluated over one period.
  function_alarms = merge([
    for key, function in var.functions : {
      "${key}-errors" = {
        alarm_name          = "${function.function_name}-errors"
        description         = "${function.function_name} raised errors"
        namespace           = "AWS/Lambda"
        metric_name         = "Errors"
        dimensions          = tomap({ FunctionName = function.function_name })
        statistic           = "Sum"
        period              = var.alarm_period_seconds
        threshold           = var.errors_threshold
        treat_missing_data  = "notBreaching"
        comparison_operator = "GreaterThanThreshold"
      }
      "${key}-duration" = {
        alarm_name          = "${function.function_name}-duration"
        description         = "${function.function_name} ran longer than ${var.duration_threshold_percent}% of its ${function.timeout_seconds} s timeout"
        namespace           = "AWS/Lambda"
        metric_name         = "Duration"
        dimensions          = tomap({ FunctionName = function.function_name })
        statistic           = "Maximum"
        period              = var.alarm_period_seconds
        threshold           = function.timeout_seconds * 1000 * var.duration_threshold_percent / 100
        treat_missing_data  = "notBreaching"
        comparison_operator = "GreaterThanThreshold"
      }
      "${key}-throttles" = {
        alarm_name          = "${function.function_name}-throttles"
        description         = "${function.function_name} was throttled (reserved concurrency reached)"
        namespace           = "AWS/Lambda"
        metric_name         = "Throttles"
        dimensions          = tomap({ FunctionName = function.function_name })
        statistic           = "Sum"
        period              = var.alarm_period_seconds
        threshold           = var.throttles_threshold
        treat_missing_data  = "notBreaching"
        comparison_operator = "GreaterThanThreshold"
      }
      "${key}-dead-letter-queue" = {
        alarm_name          = "${function.dead_letter_queue_name}-depth"
        description         = "Failed asynchronous invocations of ${function.function_name} are waiting in ${function.dead_letter_queue_name}"
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateNumberOfMessagesVisible"
        dimensions          = tomap({ QueueName = function.dead_letter_queue_name })
        statistic           = "Maximum"
        period              = var.alarm_period_seconds
        threshold           = var.dead_letter_queue_depth_threshold
        treat_missing_data  = "notBreaching"
        comparison_operator = "GreaterThanThreshold"
      }
    }
  ]...)
  table_alarms = merge([
    for table, settings in var.tables : merge(
      # Only time watermarks report a lag; full and integer-watermark tables rely on the others.
      # A verify with repair reports the drift it left (VerifyDriftAfterRepair, shared/aurora_batch/observability.py).
      settings.verify ? {
        "${table}-drift-after-repair" = {
          alarm_name          = "${var.name_prefix}-${table}-drift-after-repair"
          description         = "A verify of ${table} with repair left rows that still differ from the source"
          namespace           = var.metrics_namespace
          metric_name         = "VerifyDriftAfterRepair"
          dimensions          = tomap(local.table_dimensions[table])
          statistic           = "Maximum"
          period              = var.alarm_period_seconds
          threshold           = 0
          comparison_operator = "GreaterThanThreshold"
          treat_missing_data  = "notBreaching"
        }
      } : {},
      settings.track_lag ? {
        "${table}-stale" = {
          alarm_name          = "${var.name_prefix}-${table}-stale"
          description         = "${table} is more than ${settings.staleness_threshold_seconds} s behind its source"
          namespace           = var.metrics_namespace
          metric_name         = "ReplicationLagSeconds"
          dimensions          = tomap(local.table_dimensions[table])
          statistic           = "Maximum"
          period              = settings.evaluation_period_seconds
          threshold           = settings.staleness_threshold_seconds
          comparison_operator = "GreaterThanThreshold"
          treat_missing_data  = "notBreaching"
        }
      } : {},
      {
        # Every run that was not locked out reports its duration: none in a period means
        # the schedule, the lease or the function is stuck.
        "${table}-not-running" = {
          alarm_name          = "${var.name_prefix}-${table}-not-running"
          description         = "${table} has not completed a run in ${settings.evaluation_period_seconds} s"
          namespace           = var.metrics_namespace
          metric_name         = "RunDurationSeconds"
          dimensions          = tomap(local.table_dimensions[table])
          statistic           = "SampleCount"
          period              = settings.evaluation_period_seconds
          threshold           = 1
          comparison_operator = "LessThanThreshold"
          treat_missing_data  = "breaching"
        }
        "${table}-run-failed" = {
          alarm_name          = "${var.name_prefix}-${table}-run-failed"
          description         = "A replication run of ${table} failed"
          namespace           = var.metrics_namespace
          metric_name         = "RunFailed"
          dimensions          = tomap(local.table_dimensions[table])
          statistic           = "Sum"
          period              = var.alarm_period_seconds
          threshold           = 0
          comparison_operator = "GreaterThanThreshold"
          treat_missing_data  = "notBreaching"
        }
      },
    )
  ]...)
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
      { title = "Verify: missing, deleted and changed rows", metrics = ["VerifyMissingRows", "VerifyDeletedRows", "VerifyChangedRows"], stat = "Sum" },
      { title = "Verify: repaired rows and drift left", metrics = ["VerifyRepairedRows", "VerifyRepairedDeletes", "VerifyDriftAfterRepair"], stat = "Sum" },
      { title = "Verify duration (s)", metrics = ["VerifyDurationSeconds"], stat = "Maximum" },
      { title = "Key count difference, target minus source (drift signal)", metrics = ["KeyCountDifference"], stat = "Maximum" },
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
          for pair in setproduct(keys(var.tables), tolist(widget.metrics)) :
          concat([var.metrics_namespace, pair[1]], local.table_metric_dimensions[pair[0]], [{ label = "${pair[0]} ${pair[1]}" }])
        ]
      }
    }
  ]

  function_widget = {
    type   = "metric"
    x      = 0
    y      = 24
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

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = merge(local.function_alarms, local.table_alarms)

  alarm_name          = each.value.alarm_name
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison_operator
  treat_missing_data  = each.value.treat_missing_data
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
