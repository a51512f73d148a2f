variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "replication_function_name" {
  type        = string
  description = "Name of the replication function (lambda_function module output function_name)."
}

variable "replication_alias_name" {
  type        = string
  description = "Alias of the replication function that the rules invoke (lambda_function module output alias_name)."
}

variable "state_machine_arn" {
  type        = string
  description = "ARN of the replication state machine the table schedules start (orchestration module output state_machine_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:states:", var.state_machine_arn))
    error_message = "state_machine_arn must be a Step Functions state machine ARN."
  }
}

variable "replication_alias_arn" {
  type        = string
  description = "ARN of that alias (lambda_function module output alias_arn)."
}

variable "tables" {
  type = map(object({
    schedule_expression = string
    enabled             = optional(bool, true)
    mode                = optional(string, "full")
    incremental_column  = optional(string)
    lookback_seconds    = optional(number)
    lookback_integer    = optional(number)
    merge_keys          = optional(list(string))
    batch_size          = optional(number)
    full_refresh        = optional(bool)
    include_columns     = optional(list(string))
    exclude_columns     = optional(list(string))
    rename_columns      = optional(map(string))
    target_table        = optional(string)
    target_schema       = optional(string)
    masking = optional(map(object({
      rule        = string
      keep_last   = optional(number)
      truncate_to = optional(string)
      keys        = optional(list(string))
    })))
    where                  = optional(string)
    transform              = optional(string)
    on_incompatible_change = optional(string, "fail")
    full_refresh_strategy  = optional(string, "overwrite")
    row_digest             = optional(bool, false)
    delete_mode            = optional(string, "soft")
    verify_schedule        = optional(string)
    verify_repair          = optional(bool, true)
    verify_on_drift        = optional(bool, false)
  }))
  description = "Tables to replicate, keyed \"schema.table\" as PostgreSQL spells them. Each gets its own rule, whose input is {\"tables\": [{schema_name, table_name, mode, ...}]} with the table's options (docs/CUSTOMIZATION.md) minus the unset ones; schedule_expression and enabled stay in Terraform. A disabled table keeps its rule, switched off. A table with verify_schedule (row_digest on) also gets a verify rule, whose input is {\"action\": \"verify\", schema_name, table_name, \"repair\": verify_repair}."
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.tables) : can(regex("^[A-Za-z_][A-Za-z0-9_$]*\\.[A-Za-z_][A-Za-z0-9_$]*$", key))])
    error_message = "Each key of tables must be schema.table, two plain identifiers (letters, digits, _ and $)."
  }

  validation {
    condition     = alltrue([for key in keys(var.tables) : length(key) <= 39])
    error_message = "Each key of tables must be at most 39 characters, so that the rule name fits EventBridge's 64."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : can(regex("^(rate|cron)\\(.+\\)$", table.schedule_expression))])
    error_message = "Each schedule_expression must be rate(...) or cron(...)."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : contains(["full", "incremental"], table.mode)])
    error_message = "Each mode must be full or incremental."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : contains(["fail", "versioned_column"], table.on_incompatible_change)])
    error_message = "Each on_incompatible_change must be fail or versioned_column."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : contains(["overwrite", "swap"], table.full_refresh_strategy)])
    error_message = "Each full_refresh_strategy must be overwrite or swap."
  }

  validation {
    condition = alltrue(flatten([
      for table in values(var.tables) : [
        for lookback in [table.lookback_seconds, table.lookback_integer] :
        lookback == null || try(lookback >= 0 && floor(lookback) == lookback, false)
      ]
    ]))
    error_message = "lookback_seconds and lookback_integer must be whole numbers, 0 or more."
  }

  # The upper bound is TableOptions.batch_size's (shared/aurora_batch/config/tables.py).
  validation {
    condition     = alltrue([for table in values(var.tables) : table.batch_size == null || try(table.batch_size >= 1 && table.batch_size <= 10000000 && floor(table.batch_size) == table.batch_size, false)])
    error_message = "batch_size must be a whole number from 1 to 10000000."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.include_columns == null || try(length(table.include_columns) > 0 && table.exclude_columns == null, false)])
    error_message = "include_columns, when given, must name at least one column, and cannot be set together with exclude_columns."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.transform == null || can(regex("^[A-Za-z_][A-Za-z0-9_.]*[.:][A-Za-z_][A-Za-z0-9_]*$", table.transform))])
    error_message = "transform must be a dotted path such as package.module.function (or package.module:function)."
  }

  validation {
    condition = alltrue(flatten([
      for table in values(var.tables) : [
        for mask in (table.masking == null ? {} : table.masking) :
        contains(["hash", "null", "mask", "truncate_date", "redact_json_keys"], mask.rule)
      ]
    ]))
    error_message = "Each masking rule must be hash, null, mask, truncate_date or redact_json_keys."
  }

  validation {
    condition = alltrue(flatten([
      for table in values(var.tables) : [
        for mask in (table.masking == null ? {} : table.masking) :
        mask.truncate_to == null || try(contains(["month", "year"], mask.truncate_to), false)
      ]
    ]))
    error_message = "Each masking truncate_to must be month or year."
  }

  validation {
    condition = alltrue(flatten([
      for table in values(var.tables) : [
        for mask in (table.masking == null ? {} : table.masking) :
        mask.keep_last == null || try(mask.keep_last >= 0 && floor(mask.keep_last) == mask.keep_last, false)
      ]
    ]))
    error_message = "Each masking keep_last must be a whole number, 0 or more."
  }

  # Each rule takes exactly its own option, as ColumnMask checks (shared/aurora_batch/config/tables.py).
  validation {
    condition = alltrue(flatten([
      for table in values(var.tables) : [
        for mask in (table.masking == null ? {} : table.masking) : (
          (mask.keep_last != null) == (mask.rule == "mask") &&
          (mask.truncate_to != null) == (mask.rule == "truncate_date") &&
          (mask.keys != null) == (mask.rule == "redact_json_keys") &&
          (mask.keys == null || try(length(mask.keys) > 0, false))
        )
      ]
    ]))
    error_message = "Each masking rule takes its own option only: mask needs keep_last, truncate_date needs truncate_to, redact_json_keys needs a non-empty keys; hash and null take none."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.merge_keys == null || try(length(table.merge_keys) > 0, false)])
    error_message = "merge_keys, when given, must name at least one column."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : contains(["soft", "hard", "off"], table.delete_mode)])
    error_message = "Each delete_mode must be soft, hard or off."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.verify_schedule == null || can(regex("^(rate|cron)\\(.+\\)$", table.verify_schedule))])
    error_message = "Each verify_schedule must be rate(...) or cron(...)."
  }

  # As TableOptions checks (shared/aurora_batch/config/tables.py): a verify compares row digests.
  validation {
    condition     = alltrue([for table in values(var.tables) : table.row_digest || (table.verify_schedule == null && !table.verify_on_drift)])
    error_message = "verify_schedule and verify_on_drift need row_digest = true."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : !table.verify_on_drift || (table.verify_repair && table.delete_mode != "off")])
    error_message = "verify_on_drift needs a repairing verify: verify_repair = true and delete_mode soft or hard."
  }
}

variable "cleanup_function_name" {
  type        = string
  description = "Name of the S3 cleanup function."
}

variable "cleanup_alias_name" {
  type        = string
  description = "Alias of the cleanup function that its rule invokes."
}

variable "cleanup_alias_arn" {
  type        = string
  description = "ARN of that alias."
}

variable "cleanup_schedule_expression" {
  type        = string
  description = "When the cleanup runs."
  default     = "rate(6 hours)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.cleanup_schedule_expression))
    error_message = "cleanup_schedule_expression must be rate(...) or cron(...)."
  }
}

variable "cleanup_older_than_hours" {
  type        = number
  description = "The cleanup deletes staged objects older than this, except those of runs still in progress."
  default     = 24

  validation {
    condition     = var.cleanup_older_than_hours >= 1
    error_message = "cleanup_older_than_hours must be 1 or more."
  }
}

variable "cleanup_dry_run" {
  type        = bool
  description = "Makes the scheduled cleanup report what it would delete without deleting."
  default     = false
}

variable "maximum_event_age_in_seconds" {
  type        = number
  description = "How long EventBridge keeps retrying to deliver an event it could not hand to Lambda."
  default     = 3600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 86400
    error_message = "maximum_event_age_in_seconds must be between 60 and 86400."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}

variable "tables_parameter_name" {
  type        = string
  description = "Name of the SSM parameter that holds the TABLES document (the replication function's TABLES_PARAMETER), such as /aurora-batch-prod/tables."

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.tables_parameter_name))
    error_message = "tables_parameter_name must be an SSM parameter path starting with /."
  }
}

variable "replication_role_name" {
  type        = string
  description = "Name of the replication function's execution role, given read on the TABLES parameter only."
}
