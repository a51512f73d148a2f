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
  name_prefix            = "aurora-batch-test"
  key_administrator_arns = ["arn:aws:iam::123456789012:role/terraform-run"]
  key_user_arns          = ["arn:aws:iam::123456789012:role/aurora-batch-test-replication-role"]
  log_group_arns         = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/aurora-batch-test-replication"]
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

run "administrators_and_users_are_apart" {
  command = plan

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_kms_key.this.policy).Statement :
      !contains(flatten([statement.Action]), "kms:*")
    ])
    error_message = "No statement may grant kms:*."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_kms_key.this.policy).Statement :
      !anytrue([for action in flatten([statement.Action]) : can(regex("^kms:(Decrypt|Encrypt|GenerateDataKey)", action))])
      if statement.Sid == "KeyAdministrators"
    ])
    error_message = "Key administrators must not use the key on data."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_kms_key.this.policy).Statement : statement.Condition.ArnEquals["aws:PrincipalArn"]
      if statement.Sid == "KeyUsers"
    ]) == var.key_user_arns
    error_message = "Only the named roles may use the key."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_kms_key.this.policy).Statement : statement.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"]
      if statement.Sid == "CloudWatchLogsEncryption"
    ]) == var.log_group_arns
    error_message = "CloudWatch Logs may use the key for the stack's log groups only."
  }
}

run "root_is_no_administrator" {
  command = plan

  variables {
    key_administrator_arns = ["arn:aws:iam::123456789012:root"]
  }

  expect_failures = [var.key_administrator_arns]
}

run "deletion_window_is_bounded" {
  command = plan

  variables {
    deletion_window_in_days = 3
  }

  expect_failures = [var.deletion_window_in_days]
}
