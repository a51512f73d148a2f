mock_provider "aws" {}

variables {
  function_name           = "aurora-batch-test-replication"
  role_arn                = "arn:aws:iam::123456789012:role/aurora-batch-test-replication-role"
  s3_bucket               = "example-artifacts"
  s3_key                  = "aurora-batch/bootstrap/replication.zip"
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  security_group_ids      = ["sg-0123456789abcdef0"]
  kms_key_arn             = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  code_signing_config_arn = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
  environment_variables = {
    VAULT_ADDR       = "https://vault.example.internal"
    REPLICATION_MODE = "full"
  }
}

run "defaults" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.this.handler == "handler.lambda_handler" &&
      aws_lambda_function.this.runtime == "python3.12" &&
      contains(aws_lambda_function.this.architectures, "arm64") &&
      length(aws_lambda_function.this.architectures) == 1
    )
    error_message = "Functions run handler.lambda_handler on python3.12, arm64 by default."
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "X-Ray tracing must be active."
  }

  assert {
    condition     = toset(aws_lambda_function.this.vpc_config[0].subnet_ids) == toset(var.subnet_ids)
    error_message = "The function must run in the given subnets."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["VAULT_ADDR"] == "https://vault.example.internal"
    error_message = "The environment must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 10
    error_message = "Concurrency must be reserved by default."
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.function.name == "/aws/lambda/aurora-batch-test-replication" &&
      aws_cloudwatch_log_group.function.retention_in_days == 365 &&
      aws_cloudwatch_log_group.function.kms_key_id == var.kms_key_arn
    )
    error_message = "The function's log group must be created with retention and KMS."
  }

  assert {
    condition     = aws_sqs_queue.dead_letter.name == "aurora-batch-test-replication-dlq" && aws_sqs_queue.dead_letter.kms_master_key_id == var.kms_key_arn
    error_message = "The failure queue must be named after the function and encrypted with the environment's key."
  }

  assert {
    condition     = aws_lambda_function.this.code_signing_config_arn == var.code_signing_config_arn
    error_message = "The function must check its packages against the code-signing config."
  }

  assert {
    condition     = aws_lambda_alias.this.name == "live"
    error_message = "The alias in service must be called live."
  }

  assert {
    condition = (
      toset(keys(aws_lambda_function_event_invoke_config.this)) == toset(["unqualified", "alias"]) &&
      aws_lambda_function_event_invoke_config.this["alias"].qualifier == "live" &&
      aws_lambda_function_event_invoke_config.this["unqualified"].maximum_retry_attempts == 2
    )
    error_message = "Both the function and its alias must send failures to the queue."
  }
}

run "x86_64_is_selectable" {
  command = plan

  variables {
    architecture = "x86_64"
  }

  assert {
    condition     = contains(aws_lambda_function.this.architectures, "x86_64")
    error_message = "architecture must be passed through."
  }
}

run "no_environment_block_when_empty" {
  command = plan

  variables {
    environment_variables = {}
  }

  assert {
    condition     = length(aws_lambda_function.this.environment) == 0
    error_message = "An empty environment must not be sent."
  }
}

run "refuses_secrets_in_the_environment" {
  command = plan

  variables {
    environment_variables = { VAULT_TOKEN = "hvs.not-a-real-token" }
  }

  expect_failures = [var.environment_variables]
}

run "refuses_an_environment_over_4_kb" {
  command = plan

  variables {
    environment_variables = { TABLES = format("%05000d", 0) }
  }

  expect_failures = [aws_lambda_function.this]
}

run "refuses_unknown_architecture" {
  command = plan

  variables {
    architecture = "arm"
  }

  expect_failures = [var.architecture]
}

run "function_url_is_iam_authenticated_and_limited_to_the_given_principals" {
  command = plan

  variables {
    function_url = {
      invoker_principal_arns = ["arn:aws:iam::123456789012:role/DataOps"]
    }
  }

  assert {
    condition     = aws_lambda_function_url.this[0].authorization_type == "AWS_IAM"
    error_message = "A function URL must authenticate its callers with AWS_IAM."
  }

  assert {
    condition = (
      aws_lambda_permission.function_url["arn:aws:iam::123456789012:role/DataOps"].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.function_url["arn:aws:iam::123456789012:role/DataOps"].function_url_auth_type == "AWS_IAM" &&
      aws_lambda_permission.function_url_invoke["arn:aws:iam::123456789012:role/DataOps"].invoked_via_function_url == true &&
      length(aws_lambda_permission.function_url) == 1
    )
    error_message = "Only the given principals may invoke the URL, and InvokeFunction only through it."
  }
}

run "no_function_url_by_default" {
  command = plan

  assert {
    condition     = length(aws_lambda_function_url.this) == 0 && length(aws_lambda_permission.function_url) == 0
    error_message = "A function has no URL unless asked for."
  }
}
