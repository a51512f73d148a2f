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

  # Rule input for each table: the event shape the replication handler accepts.
  # Options left unset (null) are left out, so the function's environment decides them.
  table_inputs = {
    for key, table in var.tables : key => jsonencode({
      tables = [{
        for option, value in merge(table, {
          schema_name = split(".", key)[0]
          table_name  = split(".", key)[1]
          masking     = local.table_masking[key]
        }) : option => value
        if value != null && !contains(local.rule_only_attributes, option)
      }]
    })
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

resource "aws_cloudwatch_event_target" "this" {
  for_each = var.tables

  rule  = aws_cloudwatch_event_rule.this[each.key].name
  arn   = var.replication_alias_arn
  input = local.table_inputs[each.key]

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "this" {
  for_each = var.tables

  statement_id  = "events-${replace(each.key, "/[^A-Za-z0-9_-]/", "_")}"
  action        = "lambda:InvokeFunction"
  function_name = var.replication_function_name
  qualifier     = var.replication_alias_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this[each.key].arn
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
