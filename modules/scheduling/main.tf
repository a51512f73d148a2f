locals {
  # Attributes of a tables entry that configure the rule, not the run: the handler
  # rejects unknown keys, so they stay out of the input.
  rule_only_attributes = ["schedule_expression", "enabled"]

  # Each table's masking without the options its rules leave unset.
  table_masking = {
    for key, table in var.tables : key => table.masking == null ? null : {
      for column, mask in table.masking : column => { for option, value in mask : option => value if value != null }
    }
  }

  # Each table's configuration: the TABLES entry the replication function reads from its
  # trusted source. Options left unset (null) are left out, so the function's environment decides them.
  table_options = {
    for key, table in var.tables : key => {
      for option, value in merge(table, {
        schema_name = split(".", key)[0]
        table_name  = split(".", key)[1]
        masking     = local.table_masking[key]
      }) : option => value
      if value != null && !contains(local.rule_only_attributes, option)
    }
  }

  tables_document = jsonencode([for key in sort(keys(local.table_options)) : local.table_options[key]])

  # Rule input for each table: only its name. An event selects; configuration decides.
  table_inputs = {
    for key, table in var.tables : key => jsonencode({
      tables = [{ schema_name = split(".", key)[0], table_name = split(".", key)[1] }]
    })
  }

  # Tables with a verify_schedule get a second rule: the verify action, which takes the table's
  # name and whether to repair (its verify_repair) and nothing else (logic/verify/entry.py).
  verified_tables = { for key, table in var.tables : key => table if table.verify_schedule != null }
  verify_inputs = {
    for key, table in local.verified_tables : key => jsonencode({
      action      = "verify"
      schema_name = split(".", key)[0]
      table_name  = split(".", key)[1]
      repair      = table.verify_repair
    })
  }
  # EventBridge names are at most 64 characters: a long table key falls back to a hash of it.
  verify_rule_names = {
    for key in keys(local.verified_tables) : key => (
      length("${var.name_prefix}-${replace(key, "$", "_")}-verify") <= 64
      ? "${var.name_prefix}-${replace(key, "$", "_")}-verify"
      : "${var.name_prefix}-verify-${substr(sha1(key), 0, 16)}"
    )
  }
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each = var.tables

  name                = "${var.name_prefix}-${replace(each.key, "$", "_")}"
  description         = "Replicate ${each.key} (${each.value.mode})"
  schedule_expression = each.value.schedule_expression
  state               = each.value.enabled ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

# Each schedule starts an execution of the state machine (plan, slices, load, commit); a direct
# invoke of the function stays for manual runs.
resource "aws_cloudwatch_event_target" "this" {
  for_each = var.tables

  rule     = aws_cloudwatch_event_rule.this[each.key].name
  arn      = var.state_machine_arn
  role_arn = aws_iam_role.start_execution.arn
  input    = local.table_inputs[each.key]

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = 3
  }
}

# EventBridge starts executions of exactly the replication state machine.
resource "aws_iam_role" "start_execution" {
  name = "${var.name_prefix}-schedules"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "events.amazonaws.com" }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "start_execution" {
  name = "start-replication-executions"
  role = aws_iam_role.start_execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartReplicationExecutions"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = var.state_machine_arn
    }]
  })
}

resource "aws_cloudwatch_event_rule" "verify" {
  for_each = local.verified_tables

  name                = local.verify_rule_names[each.key]
  description         = "Verify ${each.key} against its source${each.value.verify_repair ? " and repair it" : ""}"
  schedule_expression = each.value.verify_schedule
  state               = each.value.enabled ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "verify" {
  for_each = local.verified_tables

  rule  = aws_cloudwatch_event_rule.verify[each.key].name
  arn   = var.replication_alias_arn
  input = local.verify_inputs[each.key]

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "verify" {
  for_each = local.verified_tables

  statement_id  = "events-verify-${replace(each.key, "/[^A-Za-z0-9_-]/", "_")}"
  action        = "lambda:InvokeFunction"
  function_name = var.replication_function_name
  qualifier     = var.replication_alias_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.verify[each.key].arn
}

# The tables and their options: configuration the replication function trusts (TABLES_SOURCE=ssm),
# read once per cold start. Written here only; the rules send table names.
resource "aws_ssm_parameter" "tables" {
  #checkov:skip=CKV2_AWS_34:Table names and options, no secret; a plain String keeps the deploying role off the data key.
  #checkov:skip=CKV_AWS_337:As above: a String parameter is not encrypted with a key at all.
  name        = var.tables_parameter_name
  description = "TABLES of ${var.name_prefix}: every replicated table and its options (JSON)"
  type        = "String"
  tier        = length(local.tables_document) > 4096 ? "Advanced" : "Standard"
  value       = local.tables_document
  tags        = var.tags
}

# The replication role reads exactly that parameter.
resource "aws_iam_role_policy" "read_tables" {
  name = "read-tables-parameter"
  role = var.replication_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadTablesParameter"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = aws_ssm_parameter.tables.arn
    }]
  })
}

resource "aws_cloudwatch_event_rule" "cleanup" {
  name                = "${var.name_prefix}-s3-cleanup"
  description         = "Delete staged objects older than ${var.cleanup_older_than_hours} hours"
  schedule_expression = var.cleanup_schedule_expression
  state               = "ENABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "cleanup" {
  rule = aws_cloudwatch_event_rule.cleanup.name
  arn  = var.cleanup_alias_arn
  input = jsonencode({
    older_than_hours = var.cleanup_older_than_hours
    dry_run          = var.cleanup_dry_run
  })

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "cleanup" {
  statement_id  = "events-s3-cleanup"
  action        = "lambda:InvokeFunction"
  function_name = var.cleanup_function_name
  qualifier     = var.cleanup_alias_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.cleanup.arn
}
