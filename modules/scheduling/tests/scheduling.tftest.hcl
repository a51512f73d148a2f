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

run "rule_input_carries_masking_and_filter" {
  command = plan

  variables {
    tables = {
      "crm.contacts" = {
        schedule_expression = "cron(0 3 * * ? *)"
        enabled             = false
        full_refresh        = false
        exclude_columns     = ["internal_notes"]
        rename_columns      = { signup_ts = "signed_up_at" }
        target_schema       = "crm_masked"
        masking = {
          email      = { rule = "hash" }
          phone      = { rule = "mask", keep_last = 4 }
          birth_date = { rule = "truncate_date", truncate_to = "year" }
          profile    = { rule = "redact_json_keys", keys = ["passport", "iban"] }
        }
        where     = "deleted_at IS NULL"
        transform = "customer_hooks.normalize_country"
      }
    }
  }

  assert {
    condition = aws_cloudwatch_event_target.this["crm.contacts"].input == jsonencode({
      tables = [{
        schema_name     = "crm"
        table_name      = "contacts"
        mode            = "full"
        full_refresh    = false
        exclude_columns = ["internal_notes"]
        rename_columns  = { signup_ts = "signed_up_at" }
        target_schema   = "crm_masked"
        masking = {
          email      = { rule = "hash" }
          phone      = { rule = "mask", keep_last = 4 }
          birth_date = { rule = "truncate_date", truncate_to = "year" }
          profile    = { rule = "redact_json_keys", keys = ["passport", "iban"] }
        }
        where     = "deleted_at IS NULL"
        transform = "customer_hooks.normalize_country"
      }]
    })
    error_message = "The input must carry masking (without the rules' unset options), the filter and the other options, and neither schedule_expression nor enabled."
  }

  assert {
    condition     = output.table_inputs["crm.contacts"] == aws_cloudwatch_event_target.this["crm.contacts"].input
    error_message = "table_inputs (the environments' TABLES) must be the rules' input."
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

run "rejects_an_unknown_masking_rule" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", masking = { email = { rule = "encrypt" } } } }
  }

  expect_failures = [var.tables]
}

run "rejects_a_mask_without_keep_last" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", masking = { phone = { rule = "mask" } } } }
  }

  expect_failures = [var.tables]
}

run "rejects_an_unknown_truncation" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", masking = { born = { rule = "truncate_date", truncate_to = "week" } } } }
  }

  expect_failures = [var.tables]
}

run "rejects_a_negative_lookback" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", lookback_integer = -1 } }
  }

  expect_failures = [var.tables]
}

run "rejects_a_zero_batch_size" {
  command = plan

  variables {
    tables = { "public.orders" = { schedule_expression = "rate(1 hour)", batch_size = 0 } }
  }

  expect_failures = [var.tables]
}
