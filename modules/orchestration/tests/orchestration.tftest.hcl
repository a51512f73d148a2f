mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name_prefix              = "aurora-batch-test"
  replication_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication:live"
  slice_max_concurrency    = 8
  kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  alarm_topic_arn          = "arn:aws:sns:us-east-1:123456789012:aurora-batch-test-alarms"
}

run "standard_traced_and_logged" {
  command = plan

  assert {
    condition     = aws_sfn_state_machine.this.type == "STANDARD"
    error_message = "The state machine must be a Standard one (a run outlasts an Express execution)."
  }

  assert {
    condition     = aws_sfn_state_machine.this.tracing_configuration[0].enabled
    error_message = "X-Ray tracing must be on."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn
    error_message = "The execution logs must be encrypted with the environment's key."
  }
}

run "definition_filled_in" {
  command = plan

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Tables.ItemProcessor.States.ExtractSlices.MaxConcurrency == 8
    error_message = "The slice Map's MaxConcurrency must come from slice_max_concurrency."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).States.Tables.ItemProcessor.States.Plan.Parameters.FunctionName == var.replication_function_arn
    error_message = "Every task must invoke the replication function."
  }
}

run "alarms_on_every_unsuccessful_end" {
  command = plan

  assert {
    condition     = toset([for alarm in aws_cloudwatch_metric_alarm.this : alarm.metric_name]) == toset(["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
    error_message = "Failed, timed-out and aborted executions must each raise an alarm."
  }

  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_actions == toset([var.alarm_topic_arn])])
    error_message = "The alarms must notify the project's topic."
  }
}

run "slice_concurrency_is_bounded" {
  command = plan

  variables {
    slice_max_concurrency = 0
  }

  expect_failures = [var.slice_max_concurrency]
}
