mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
}

variables {
  name_prefix = "aurora-batch-test"
}

run "rotated_key_that_logs_and_alarms_can_use" {
  command = plan

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The key must rotate."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/aurora-batch-test"
    error_message = "The alias must be alias/<name_prefix>."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_kms_key.this.policy).Statement : try(statement.Principal.Service, null)
      if statement.Sid == "CloudWatchLogsEncryption"
    ]) == "logs.us-east-1.amazonaws.com"
    error_message = "CloudWatch Logs of the stack's region must be allowed to use the key."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_kms_key.this.policy).Statement : try(statement.Principal.Service, null)
      if statement.Sid == "CloudWatchAlarmsPublish"
    ]) == "cloudwatch.amazonaws.com"
    error_message = "CloudWatch alarms must be allowed to publish to the encrypted topic."
  }
}

run "deletion_window_is_bounded" {
  command = plan

  variables {
    deletion_window_in_days = 3
  }

  expect_failures = [var.deletion_window_in_days]
}
