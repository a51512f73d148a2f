variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "replication_function_arn" {
  type        = string
  description = "ARN of the replication function's alias that every task invokes (lambda_function module output alias_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:", var.replication_function_arn))
    error_message = "replication_function_arn must be a Lambda function or alias ARN."
  }
}

variable "table_max_concurrency" {
  type        = number
  description = "Tables of one execution run at once (the outer Map's MaxConcurrency)."
  default     = 4

  validation {
    condition     = var.table_max_concurrency >= 1 && var.table_max_concurrency <= 100 && floor(var.table_max_concurrency) == var.table_max_concurrency
    error_message = "table_max_concurrency must be a whole number from 1 to 100."
  }
}

variable "slice_max_concurrency" {
  type        = number
  description = "Slices of one table's run extracted at once (the Distributed Map's MaxConcurrency); each holds one source connection."

  validation {
    condition     = var.slice_max_concurrency >= 1 && var.slice_max_concurrency <= 256 && floor(var.slice_max_concurrency) == var.slice_max_concurrency
    error_message = "slice_max_concurrency must be a whole number from 1 to 256."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the state machine's log group (kms module output key_arn)."
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the execution alarms notify (monitoring module output sns_topic_arn)."
}

variable "log_retention_days" {
  type        = number
  description = "Days the execution logs are kept."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "log_level" {
  type        = string
  description = "What the executions log: ALL, ERROR, FATAL or OFF."
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
