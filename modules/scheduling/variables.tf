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

variable "replication_alias_arn" {
  type        = string
  description = "ARN of that alias (lambda_function module output alias_arn)."
}

variable "tables" {
  type = map(object({
    schedule_expression = string
    mode                = optional(string, "full")
    incremental_column  = optional(string)
    lookback_seconds    = optional(number)
    merge_keys          = optional(list(string))
    batch_size          = optional(number)
    enabled             = optional(bool, true)
  }))
  description = "Tables to replicate, keyed \"schema.table\" as PostgreSQL spells them. Each gets its own rule, whose input is {\"tables\": [{schema_name, table_name, mode, ...}]}. A disabled table keeps its rule, switched off."
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
    condition     = alltrue([for table in values(var.tables) : table.lookback_seconds == null || try(table.lookback_seconds >= 0, false)])
    error_message = "lookback_seconds must be 0 or more."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.batch_size == null || try(table.batch_size >= 1 && floor(table.batch_size) == table.batch_size, false)])
    error_message = "batch_size must be a whole number, 1 or more."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.merge_keys == null || try(length(table.merge_keys) > 0, false)])
    error_message = "merge_keys, when given, must name at least one column."
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
