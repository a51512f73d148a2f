mock_provider "aws" {}

variables {
  name_prefix               = "aurora-batch-test"
  replication_function_name = "aurora-batch-test-replication"
  replication_alias_name    = "live"
  replication_alias_arn     = "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-replication:live"
  state_machine_arn         = "arn:aws:states:us-east-1:123456789012:stateMachine:aurora-batch-test-replication"
  cleanup_function_name     = "aurora-batch-test-s3-cleanup"
  cleanup_alias_name        = "live"
  cleanup_alias_arn         = "arn:aws:lambda:us-east-1:123456789012:function:aurora-batch-test-s3-cleanup:live"
  tables_parameter_name     = "/aurora-batch-test/tables"
  replication_role_name     = "aurora-batch-test-replication-role"
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
      tables = [{ schema_name = "public", table_name = "orders" }]
    })
    error_message = "The input must be {\"tables\": [...]} with the table's name only: an event selects, configuration decides."
  }

  assert {
    condition = jsondecode(output.tables_document) == jsondecode(jsonencode([
      { schema_name = "public", table_name = "customers", mode = "full" },
      {
        schema_name        = "public"
        table_name         = "orders"
        mode               = "incremental"
        incremental_column = "updated_at"
        lookback_seconds   = 300
        merge_keys         = ["order_id"]
        batch_size         = 10000
      },
      { schema_name = "sales", table_name = "archive", mode = "full" },
    ]))
    error_message = "TABLES must carry every option given, and options left unset must be left out."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this["public.orders"].arn == var.state_machine_arn
    error_message = "Table rules must start the replication state machine."
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
    condition = output.tables_document == jsonencode([{
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
    }])
    error_message = "TABLES must carry masking (without the rules' unset options), the filter and the other options, and neither schedule_expression nor enabled."
  }

  assert {
    condition     = output.table_inputs["crm.contacts"] == aws_cloudwatch_event_target.this["crm.contacts"].input
    error_message = "table_inputs must be the rules' input."
  }

  assert {
    condition = aws_cloudwatch_event_target.this["crm.contacts"].input == jsonencode({
      tables = [{ schema_name = "crm", table_name = "contacts" }]
    })
    error_message = "No option, masking or filter may travel in a rule's input."
  }
}

run "tables_live_in_a_parameter_only_the_replication_role_reads" {
  command = plan

  assert {
    condition = (
      aws_ssm_parameter.tables.name == "/aurora-batch-test/tables" &&
      aws_ssm_parameter.tables.value == output.tables_document &&
      aws_ssm_parameter.tables.tier == "Standard"
    )
    error_message = "The parameter must hold the TABLES document."
  }

  assert {
    condition = (
      aws_iam_role_policy.read_tables.role == "aurora-batch-test-replication-role" &&
      jsondecode(aws_iam_role_policy.read_tables.policy).Statement[0].Action == ["ssm:GetParameter"]
    )
    error_message = "The replication role must be allowed to read the parameter, and nothing else."
  }
}

run "permissions_are_per_rule" {
  command = plan

  assert {
    condition = alltrue([
      for target in aws_cloudwatch_event_target.this : target.role_arn == aws_iam_role.start_execution.arn
    ])
    error_message = "Every table rule must start executions through the schedules' role."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.start_execution.policy).Statement[0].Action == ["states:StartExecution"] && jsondecode(aws_iam_role_policy.start_execution.policy).Statement[0].Resource == var.state_machine_arn
    error_message = "The schedules' role may start executions of the replication state machine only."
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

run "a_verify_schedule_gets_a_verify_rule" {
  command = plan

  variables {
    tables = {
      "public.orders" = {
        schedule_expression = "rate(1 hour)"
        mode                = "incremental"
        incremental_column  = "updated_at"
        row_digest          = true
        verify_schedule     = "cron(0 3 * * ? *)"
      }
      "public.customers" = {
        schedule_expression = "rate(1 day)"
        row_digest          = true
        verify_schedule     = "rate(7 days)"
        verify_repair       = false
      }
      "public.plain" = {
        schedule_expression = "rate(1 day)"
      }
      "a_rather_long_schema_name.a_long_table" = {
        schedule_expression = "rate(1 day)"
        row_digest          = true
        verify_schedule     = "rate(1 day)"
      }
    }
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_event_rule.verify)) == toset(["public.orders", "public.customers", "a_rather_long_schema_name.a_long_table"])
    error_message = "Each table with a verify_schedule, and only those, must get a verify rule."
  }

  assert {
    condition = (
      aws_cloudwatch_event_rule.verify["public.orders"].name == "aurora-batch-test-public.orders-verify" &&
      aws_cloudwatch_event_rule.verify["public.orders"].schedule_expression == "cron(0 3 * * ? *)"
    )
    error_message = "A verify rule must carry the table's verify_schedule."
  }

  assert {
    condition     = alltrue([for rule in values(aws_cloudwatch_event_rule.verify) : length(rule.name) <= 64])
    error_message = "A verify rule's name must fit EventBridge's 64 characters."
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.verify["public.orders"].input == jsonencode({ action = "verify", repair = true, schema_name = "public", table_name = "orders" }) &&
      jsondecode(aws_cloudwatch_event_target.verify["public.customers"].input).repair == false
    )
    error_message = "A verify rule's input must be the verify action with the table's name and its verify_repair (true unless set)."
  }

  assert {
    condition     = aws_lambda_permission.verify["public.orders"].qualifier == "live"
    error_message = "EventBridge must be allowed to invoke the replication alias for the verify rule."
  }
}

run "verify_needs_row_digest" {
  command = plan

  variables {
    tables = {
      "public.orders" = {
        schedule_expression = "rate(1 hour)"
        verify_schedule     = "rate(1 day)"
      }
    }
  }

  expect_failures = [var.tables]
}
