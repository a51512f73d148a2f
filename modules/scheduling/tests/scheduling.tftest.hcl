mock_provider "aws" {}

variables {
  name_prefix               = "aurora-batch-test"
  replication_function_name = "aurora-batch-test-replication"
  replication_alias_name    = "live"
  replication_alias_arn     = "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication:live"
  cleanup_function_name     = "aurora-batch-test-s3-cleanup"
  cleanup_alias_name        = "live"
  cleanup_alias_arn         = "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-s3-cleanup:live"
  tables = {
    "public.orders" = {
      schedule_expression = "rate(1 hour)"
      mode                = "incremental"
      incremental_column  = "updated_at"
      lookback_seconds    = 300
      merge_keys          = ["order_id"]
      batch_size          = 10000
    }
    "public.customers" = {
      schedule_expression = "cron(0 2 * * ? *)"
    }
    "sales.archive" = {
      schedule_expression = "rate(1 day)"
      enabled             = false
    }
  }
}

run "one_rule_per_table" {
  command = plan

  assert {
    condition     = toset(keys(aws_cloudwatch_event_rule.this)) == toset(["public.orders", "public.customers", "sales.archive"])
    error_message = "Each table must get its own rule."
  }

  assert {
    condition = (
      aws_cloudwatch_event_rule.this["public.orders"].name == "aurora-batch-test-public.orders" &&
      aws_cloudwatch_event_rule.this["public.orders"].schedule_expression == "rate(1 hour)" &&
      aws_cloudwatch_event_rule.this["public.orders"].state == "ENABLED"
    )
    error_message = "A rule must carry the table's schedule."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.this["sales.archive"].state == "DISABLED"
    error_message = "A disabled table keeps its rule, switched off."
  }
}

run "rule_input_is_the_handler_event" {
  command = plan

  assert {
    condition = aws_cloudwatch_event_target.this["public.orders"].input == jsonencode({
      tables = [{
        schema_name        = "public"
        table_name         = "orders"
        mode               = "incremental"
        incremental_column = "updated_at"
        lookback_seconds   = 300
        merge_keys         = ["order_id"]
        batch_size         = 10000
      }]
    })
    error_message = "The input must be {\"tables\": [...]} with every option given."
  }

  assert {
    condition = aws_cloudwatch_event_target.this["public.customers"].input == jsonencode({
      tables = [{ schema_name = "public", table_name = "customers", mode = "full" }]
    })
    error_message = "Options left unset must be left out of the input."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["public.orders"].arn == var.replication_alias_arn
    error_message = "Rules must invoke the replication function's alias."
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.cleanup.input == jsonencode({ older_than_hours = 24, dry_run = false }) &&
      aws_cloudwatch_event_target.cleanup.arn == var.cleanup_alias_arn
    )
    error_message = "The cleanup schedule must send {older_than_hours, dry_run} to the cleanup alias."
  }
}

run "permissions_are_per_rule" {
  command = plan

  assert {
    condition = alltrue([
      for permission in aws_lambda_permission.this :
      permission.principal == "events.amazonaws.com" && permission.qualifier == "live" && permission.function_name == "aurora-batch-test-replication"
    ])
    error_message = "EventBridge must be allowed to invoke the alias."
  }

  assert {
    condition     = aws_lambda_permission.this["public.orders"].statement_id == "events-public_orders"
    error_message = "Statement ids must be derived from the table."
  }

  assert {
    condition     = aws_lambda_permission.cleanup.function_name == "aurora-batch-test-s3-cleanup" && aws_lambda_permission.cleanup.qualifier == "live"
    error_message = "EventBridge must be allowed to invoke the cleanup alias."
  }
}

run "rejects_an_unknown_mode" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", mode = "cdc" } }
  }

  expect_failures = [var.tables]
}

run "rejects_a_key_without_schema" {
  command = plan

  variables {
    tables = { "orders" = { schedule_expression = "rate(1 hour)" } }
  }

  expect_failures = [var.tables]
}

run "rejects_a_bad_schedule" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "every hour" } }
  }

  expect_failures = [var.tables]
}
