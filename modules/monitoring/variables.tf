variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the environment, e.g. aurora-batch-dev."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "functions" {
  type = map(object({
    function_name          = string
    timeout_seconds        = number
    dead_letter_queue_name = string
  }))
  description = "Functions to alarm on, keyed by role (replication, s3_cleanup, watermark_admin), from the lambda_function module outputs."

  validation {
    condition     = alltrue([for function in values(var.functions) : function.timeout_seconds >= 1 && function.timeout_seconds <= 900])
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "tables" {
  type = map(object({
    staleness_threshold_seconds = number
    evaluation_period_seconds   = optional(number, 3600)
    track_lag                   = optional(bool, true)
    verify                      = optional(bool, false)
  }))
  description = "Replicated tables, keyed \"schema.table\". Each gets a not-running alarm (no run completed within evaluation_period_seconds; make it at least the schedule interval), a failed-run alarm and, with track_lag (incremental tables on a time watermark), a staleness alarm (ReplicationLagSeconds above staleness_threshold_seconds). With verify (tables with row_digest), a drift-after-repair alarm (VerifyDriftAfterRepair above 0: a repair left rows that differ)."
  default     = {}

  validation {
    condition     = alltrue([for table in values(var.tables) : table.staleness_threshold_seconds > 0])
    error_message = "staleness_threshold_seconds must be more than 0."
  }

  validation {
    condition     = alltrue([for table in values(var.tables) : table.evaluation_period_seconds >= 60 && table.evaluation_period_seconds <= 86400 && table.evaluation_period_seconds % 60 == 0])
    error_message = "evaluation_period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the application metrics (POWERTOOLS_METRICS_NAMESPACE)."
  default     = "AuroraBatch"
}

variable "metrics_service_name" {
  type        = string
  description = "Value of the service dimension Powertools adds to every metric (the replication function's POWERTOOLS_SERVICE_NAME). Null if the metrics carry the table dimension only."
  default     = null
}

variable "alarm_period_seconds" {
  type        = number
  description = "Period of the function alarms (errors, duration, throttles, failure queue)."
  default     = 300

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60."
  }
}

variable "errors_threshold" {
  type        = number
  description = "A function alarms when its Errors sum in a period is above this (the seed: above 0)."
  default     = 0
}

variable "duration_threshold_percent" {
  type        = number
  description = "A function alarms when its longest invocation in a period is above this share of its timeout (the seed: 90)."
  default     = 90

  validation {
    condition     = var.duration_threshold_percent > 0 && var.duration_threshold_percent <= 100
    error_message = "duration_threshold_percent must be above 0 and at most 100."
  }
}

variable "throttles_threshold" {
  type        = number
  description = "A function alarms when its Throttles sum in a period is above this."
  default     = 0
}

variable "dead_letter_queue_depth_threshold" {
  type        = number
  description = "A failure queue alarms when it holds more visible messages than this."
  default     = 0
}

variable "kms_key_arn" {
  type        = string
  description = "Key that encrypts the alarm topic (kms module output key_arn); its policy lets CloudWatch publish."
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "Addresses subscribed to the alarm topic (each must confirm the subscription)."
  default     = []

  validation {
    condition     = alltrue([for address in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+$", address))])
    error_message = "alarm_email_addresses must be e-mail addresses."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
