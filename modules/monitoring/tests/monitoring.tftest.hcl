mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
}

variables {
  name_prefix = "aurora-batch-test"
  kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  functions = {
    replication = {
      function_name          = "aurora-batch-test-replication"
      timeout_seconds        = 900
      dead_letter_queue_name = "aurora-batch-test-replication-dlq"
    }
    s3_cleanup = {
      function_name          = "aurora-batch-test-s3-cleanup"
      timeout_seconds        = 300
      dead_letter_queue_name = "aurora-batch-test-s3-cleanup-dlq"
    }
  }
  tables = {
    "public.orders" = { staleness_threshold_seconds = 7200 }
  }
  metrics_service_name = "aurora-batch"
}

run "seed_alarms" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["replication-errors"].metric_name == "Errors" &&
      aws_cloudwatch_metric_alarm.this["replication-errors"].threshold == 0 &&
      aws_cloudwatch_metric_alarm.this["replication-errors"].comparison_operator == "GreaterThanThreshold"
    )
    error_message = "Each function must alarm on Errors > 0."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["replication-duration"].threshold == 810000 &&
      aws_cloudwatch_metric_alarm.this["s3_cleanup-duration"].threshold == 270000 &&
      aws_cloudwatch_metric_alarm.this["replication-duration"].statistic == "Maximum"
    )
    error_message = "Each function must alarm when it runs longer than 90% of its timeout (in ms)."
  }

  assert {
    condition = (
      alltrue([for key in ["replication-throttles", "s3_cleanup-throttles"] : aws_cloudwatch_metric_alarm.this[key].metric_name == "Throttles"]) &&
      aws_cloudwatch_metric_alarm.this["replication-dead-letter-queue"].dimensions["QueueName"] == "aurora-batch-test-replication-dlq"
    )
    error_message = "Each function must alarm on throttles and on its failure queue."
  }
}

run "staleness_per_table" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].namespace == "AuroraBatch" &&
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].metric_name == "ReplicationLagSeconds" &&
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].threshold == 7200 &&
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].period == 3600 &&
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.this["public.orders-stale"].treat_missing_data == "notBreaching"
    )
    error_message = "A table on a time watermark must alarm when its lag exceeds its threshold."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["public.orders-not-running"].metric_name == "RunDurationSeconds" &&
      aws_cloudwatch_metric_alarm.this["public.orders-not-running"].statistic == "SampleCount" &&
      aws_cloudwatch_metric_alarm.this["public.orders-not-running"].comparison_operator == "LessThanThreshold" &&
      aws_cloudwatch_metric_alarm.this["public.orders-not-running"].threshold == 1 &&
      aws_cloudwatch_metric_alarm.this["public.orders-not-running"].treat_missing_data == "breaching"
    )
    error_message = "A table that completes no run in its period must alarm."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["public.orders-stale"].dimensions == tomap({ table = "public.orders", service = "aurora-batch" })
    error_message = "Staleness must be read with the dimensions the application emits (table, and Powertools' service)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["public.orders-run-failed"].metric_name == "RunFailed"
    error_message = "Each table must alarm on failed runs."
  }

  assert {
    condition = alltrue([
      for metric in ["RowsExtracted", "RowsLoaded", "ReplicationLagSeconds", "RunDurationSeconds", "RunFailed"] :
      strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "\"${metric}\"")
    ])
    error_message = "The dashboard must show rows, lag, duration and errors per table."
  }
}

run "no_lag_alarm_without_a_time_watermark" {
  command = plan

  variables {
    tables = {
      "public.customers" = { staleness_threshold_seconds = 90000, evaluation_period_seconds = 86400, track_lag = false }
    }
  }

  assert {
    condition = (
      !contains(keys(aws_cloudwatch_metric_alarm.this), "public.customers-stale") &&
      aws_cloudwatch_metric_alarm.this["public.customers-not-running"].period == 86400
    )
    error_message = "A full-mode table reports no lag: it gets the not-running alarm only."
  }
}

run "table_dimension_only" {
  command = plan

  variables {
    metrics_service_name = null
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["public.orders-stale"].dimensions == tomap({ table = "public.orders" })
    error_message = "Without a service name, alarms must use the table dimension alone."
  }
}

run "no_tables" {
  command = plan

  variables {
    tables = {}
  }

  assert {
    condition     = length([for alarm in aws_cloudwatch_metric_alarm.this : alarm if alarm.namespace == "AuroraBatch"]) == 0 && !strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "ReplicationLagSeconds")
    error_message = "Without tables there are no table alarms or table widgets."
  }
}

run "encrypted_topic" {
  command = plan

  assert {
    condition     = aws_sns_topic.this.kms_master_key_id == var.kms_key_arn && aws_sns_topic.this.name == "aurora-batch-test-alarms"
    error_message = "The alarm topic must be encrypted with the key."
  }
}

run "drift_after_repair_per_verified_table" {
  command = plan

  variables {
    tables = {
      "public.orders"    = { staleness_threshold_seconds = 7200, verify = true }
      "public.customers" = { staleness_threshold_seconds = 7200 }
    }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["public.orders-drift-after-repair"].metric_name == "VerifyDriftAfterRepair" &&
      aws_cloudwatch_metric_alarm.this["public.orders-drift-after-repair"].threshold == 0 &&
      aws_cloudwatch_metric_alarm.this["public.orders-drift-after-repair"].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.this["public.orders-drift-after-repair"].dimensions == tomap({ table = "public.orders", service = "aurora-batch" }) &&
      aws_cloudwatch_metric_alarm.this["public.orders-drift-after-repair"].treat_missing_data == "notBreaching"
    )
    error_message = "A verified table must alarm when a repair leaves drift (VerifyDriftAfterRepair > 0, table and service dimensions)."
  }

  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.this), "public.customers-drift-after-repair")
    error_message = "A table without verify gets no drift alarm."
  }

  assert {
    condition = alltrue([
      for title in ["Verify: missing, deleted and changed rows", "Verify: repaired rows and drift left", "Verify duration (s)"] :
      contains([for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : try(widget.properties.title, "")], title)
    ])
    error_message = "The dashboard must show the verify findings, repairs and duration."
  }
}
