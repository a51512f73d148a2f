variable "table_name" {
  type        = string
  description = "Name of the DynamoDB state table (STATE_TABLE), e.g. aurora-batch-prod-state."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 letters, digits, underscores, hyphens or dots."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed key for server-side encryption (kms module output key_arn)."
}

variable "point_in_time_recovery_enabled" {
  type        = bool
  description = "Continuous backups: watermarks can be restored to any second of the last 35 days."
  default     = true
}

variable "deletion_protection_enabled" {
  type        = bool
  description = "Refuse to delete the table (its watermarks decide what the next run reads)."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of this module."
  default     = {}
}
