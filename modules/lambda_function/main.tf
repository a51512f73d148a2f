resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# Failure records of asynchronous invocations (schedules, self-continuation, fan-out).
# Failure records carry the event (table names, run ids): the environment's key, not SQS's.
resource "aws_sqs_queue" "dead_letter" {
  name                              = "${var.function_name}-dlq"
  message_retention_seconds         = var.dead_letter_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failures go to the on-failure destination below (same queue, richer record than a DLQ).
  #checkov:skip=CKV_AWS_173:The environment holds settings only; secrets come from Vault at run time.
  function_name                  = var.function_name
  description                    = var.description
  role                           = var.role_arn
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  s3_bucket                      = var.s3_bucket
  s3_key                         = var.s3_key
  s3_object_version              = var.s3_object_version
  publish                        = false # Harness publishes versions and moves the alias.
  code_signing_config_arn        = var.code_signing_config_arn # Lambda checks every package against it.

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  dynamic "environment" {
    for_each = length(var.environment_variables) > 0 ? [var.environment_variables] : []

    content {
      variables = environment.value
    }
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = var.tags

  # Lambda would otherwise create the group itself, unencrypted and kept forever.
  depends_on = [aws_cloudwatch_log_group.function]

  lifecycle {
    # Code is deployed by Harness (update-function-code); Terraform owns the configuration only.
    ignore_changes = [s3_bucket, s3_key, s3_object_version, source_code_hash]

    precondition {
      condition     = length(jsonencode(var.environment_variables)) <= 4096
      error_message = "The environment of ${var.function_name} exceeds Lambda's 4 KB limit; move per-table options out of TABLES into the schedule inputs."
    }
  }
}

resource "aws_lambda_alias" "this" {
  name             = var.alias_name
  description      = "Version in service; moved by Harness on each deployment"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

# Asynchronous invocation settings apply per qualifier: schedules invoke the alias,
# the replication function's continuations may invoke it unqualified.
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = toset(["unqualified", "alias"])

  function_name                = aws_lambda_function.this.function_name
  qualifier                    = each.key == "alias" ? aws_lambda_alias.this.name : null
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter.arn
    }
  }
}

# An HTTPS endpoint whose callers AWS authenticates (SigV4): the function reads the signed
# principal from the request context. Only the listed principals may invoke it.
resource "aws_lambda_function_url" "this" {
  count = var.function_url == null ? 0 : 1

  function_name      = aws_lambda_function.this.function_name
  qualifier          = aws_lambda_alias.this.name
  authorization_type = "AWS_IAM"
}

resource "aws_lambda_permission" "function_url" {
  for_each = var.function_url == null ? {} : { for arn in var.function_url.invoker_principal_arns : arn => arn }

  statement_id           = "FunctionUrl-${substr(sha256(each.value), 0, 16)}"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  qualifier              = aws_lambda_alias.this.name
  principal              = each.value
  function_url_auth_type = "AWS_IAM"
}

# Lambda also checks lambda:InvokeFunction for a URL request; granted through the URL only.
resource "aws_lambda_permission" "function_url_invoke" {
  for_each = var.function_url == null ? {} : { for arn in var.function_url.invoker_principal_arns : arn => arn }

  statement_id             = "FunctionUrlInvoke-${substr(sha256(each.value), 0, 16)}"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  qualifier                = aws_lambda_alias.this.name
  principal                = each.value
  invoked_via_function_url = true
}
